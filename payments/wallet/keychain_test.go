package wallet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/x402-mcp/x402-mcp/internal/keytest"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/svm"
)

// TestKeychainHoldsTheKey runs against a real GNOME Keyring (the Secret
// Service, on a private D-Bus session): a new key stored in an entry reads
// back as the same signer, in memory, from the keychain; an existing entry
// is never overwritten; X402_KEYCHAIN selects entries, each of its family;
// an EVM and a Solana key sit side by side, each entry recording its
// family; a missing entry, an entry that is not x402-mcp's, one of a family
// this x402-mcp does not pay with, a broken Solana key, and a second key of
// a family are errors that name the entry and never its content. No file is
// written.
func TestKeychainHoldsTheKey(t *testing.T) {
	if !keytest.InKeychainSession(t) {
		return
	}
	ctx := context.Background()
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	files := func() []string {
		var out []string
		// A folder that vanishes or cannot be read mid-walk is passed
		// over (the daemon writes under HOME meanwhile); the walk itself
		// failing is not.
		if err := filepath.WalkDir(home, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.Contains(p, "keyrings") {
				out = append(out, p)
			}
			return nil
		}); err != nil {
			t.Fatalf("listing the files under %s: %v", home, err)
		}
		return out
	}
	before := files()

	k, err := GenerateEVMKey()
	if err != nil {
		t.Fatal(err)
	}
	e := KeychainEntry{Service: DefaultKeychainService, Account: "default"}
	if err := k.StoreInKeychain(ctx, OSKeychain, e); err != nil {
		t.Fatalf("store: %v", err)
	}
	got, err := OpenKeychain(ctx, OSKeychain, e)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if got.Signer.Payer() != k.Payer() || got.Source != (Source{Kind: SourceKeychain, Where: "x402-mcp/default"}) || got.Source.Plain() || got.Source.Remote() {
		t.Fatalf("read back %s from %+v, stored %s", got.Signer.Payer(), got.Source, k.Payer())
	}
	if _, ok := got.Signer.(payments.InProcessSigner); !ok {
		t.Error("a keychain key is not signed with in the process")
	}

	other, _ := GenerateEVMKey()
	if err := other.StoreInKeychain(ctx, OSKeychain, e); err == nil || !strings.Contains(err.Error(), "already has an entry x402-mcp/default") {
		t.Fatalf("overwrite: %v", err)
	}
	if again, _ := OpenKeychain(ctx, OSKeychain, e); again.Signer.Payer() != k.Payer() {
		t.Fatal("the entry was overwritten")
	}

	// A Solana key, in an entry of its own (the family's default), reads
	// back as the same Solana signer.
	sol, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	se := DefaultKeychainEntry(svm.Name)
	if se.String() != "x402-mcp/solana" {
		t.Fatalf("Solana's default entry is %s", se)
	}
	if err := StoreInKeychain(ctx, OSKeychain, se, sol); err != nil {
		t.Fatalf("store a Solana key: %v", err)
	}
	gotSol, err := OpenKeychain(ctx, OSKeychain, se)
	if err != nil || gotSol.Signer.Family() != svm.Name || gotSol.Signer.Payer() != sol.Payer() || gotSol.Source != (Source{Kind: SourceKeychain, Where: "x402-mcp/solana"}) {
		t.Fatalf("read back a Solana key: %v %+v, stored %s", err, gotSol, sol.Payer())
	}
	sol2, _ := svm.GenerateKey()
	if err := StoreInKeychain(ctx, OSKeychain, KeychainEntry{"x402-mcp", "solana2"}, sol2); err != nil {
		t.Fatal(err)
	}

	secret := "not-a-key-8f2c1a"
	if err := keyring.Set("x402-mcp", "foreign", secret); err != nil {
		t.Fatal(err)
	}
	if err := keyring.Set("x402-mcp", "tron", `{"x402":1,"family":"tron","key":"5J8f"}`); err != nil {
		t.Fatal(err)
	}
	if err := keyring.Set("x402-mcp", "broken-solana", `{"x402":1,"family":"svm","key":"5J8f0OIl"}`); err != nil {
		t.Fatal(err)
	}
	if err := other.StoreInKeychain(ctx, OSKeychain, KeychainEntry{"x402-mcp", "second"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		spec, want string
		solana     bool // the Solana key is in the wallet too
	}{
		{"x402-mcp/default", "", false},
		{"x402-mcp/default,x402-mcp/solana", "", true},
		{"x402-mcp/nobody", "has no entry x402-mcp/nobody: create one with `x402-mcp wallet new --keychain --entry x402-mcp/nobody`", false},
		{"x402-mcp/foreign", "entry x402-mcp/foreign does not hold an x402-mcp key", false},
		{"x402-mcp/tron", `holds a key of the "tron" family, which this x402-mcp does not pay with`, false},
		{"x402-mcp/broken-solana", "entry x402-mcp/broken-solana: the Solana secret key is not base58", false},
		{"x402-mcp/default,x402-mcp/second", "two EVM keys are configured (OS keychain x402-mcp/default and OS keychain x402-mcp/second)", false},
		{"x402-mcp/solana,x402-mcp/solana2", "two Solana keys are configured (OS keychain x402-mcp/solana and OS keychain x402-mcp/solana2)", false},
		{"x402-mcp", "is not <service>/<account>", false},
	} {
		w, err := Load(ctx, env(map[string]string{payments.EnvKeychain: tt.spec}))
		if tt.want == "" {
			if err != nil || w.EVM() == nil || w.EVM().Address() != k.Address() {
				t.Errorf("%s: %v", tt.spec, err)
			} else if got := w.Solana(); tt.solana != (got != nil) || got != nil && got.Payer() != sol.Payer() {
				t.Errorf("%s: the Solana key is %v", tt.spec, got)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), payments.EnvKeychain) {
			t.Errorf("%s: err = %v, want %q", tt.spec, err, tt.want)
		} else if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "5J8f") {
			t.Errorf("%s: the error shows the entry's content: %v", tt.spec, err)
		}
	}
	// A Solana key in the keychain and another in the environment: two.
	kp := filepath.Join(t.TempDir(), "id.json")
	if err := sol2.WriteKeypairFile(kp); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, env(map[string]string{payments.EnvKeychain: "x402-mcp/solana", payments.EnvSolanaKeypair: kp})); err == nil ||
		!strings.Contains(err.Error(), "two Solana keys are configured (keypair file "+kp+" and OS keychain x402-mcp/solana)") {
		t.Errorf("a Solana key in the keychain beside X402_SOLANA_KEYPAIR: %v", err)
	}
	if after := files(); len(after) != len(before) {
		t.Errorf("files written outside the keyring: %v (before: %v)", after, before)
	}
}
