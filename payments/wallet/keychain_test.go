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
)

// TestKeychainHoldsTheKey runs against a real GNOME Keyring (the Secret
// Service, on a private D-Bus session): a new key stored in an entry reads
// back as the same signer, in memory, from the keychain; an existing entry
// is never overwritten; X402_KEYCHAIN selects entries, each of its family;
// a missing entry, an entry that is not x402-mcp's, one of a family this
// x402-mcp does not pay with, and a second EVM key are errors that name the
// entry and never its content. No file is written.
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
		_ = filepath.WalkDir(home, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.Contains(p, "keyrings") {
				out = append(out, p)
			}
			return nil
		})
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

	secret := "not-a-key-8f2c1a"
	if err := keyring.Set("x402-mcp", "foreign", secret); err != nil {
		t.Fatal(err)
	}
	if err := keyring.Set("x402-mcp", "solana", `{"x402":1,"family":"svm","key":"5J8f"}`); err != nil {
		t.Fatal(err)
	}
	if err := other.StoreInKeychain(ctx, OSKeychain, KeychainEntry{"x402-mcp", "second"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ spec, want string }{
		{"x402-mcp/default", ""},
		{"x402-mcp/nobody", "has no entry x402-mcp/nobody: create one with `x402-mcp wallet new --keychain --entry x402-mcp/nobody`"},
		{"x402-mcp/foreign", "entry x402-mcp/foreign does not hold an x402-mcp key"},
		{"x402-mcp/solana", `holds a key of the "svm" family, which this x402-mcp does not pay with`},
		{"x402-mcp/default,x402-mcp/second", "two EVM keys are configured (OS keychain x402-mcp/default and OS keychain x402-mcp/second)"},
		{"x402-mcp", "is not <service>/<account>"},
	} {
		w, err := Load(ctx, env(map[string]string{payments.EnvKeychain: tt.spec}))
		if tt.want == "" {
			if err != nil || w.EVM() == nil || w.EVM().Address() != k.Address() {
				t.Errorf("%s: %v", tt.spec, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), payments.EnvKeychain) {
			t.Errorf("%s: err = %v, want %q", tt.spec, err, tt.want)
		} else if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "5J8f") {
			t.Errorf("%s: the error shows the entry's content: %v", tt.spec, err)
		}
	}
	if after := files(); len(after) != len(before) {
		t.Errorf("files written outside the keyring: %v (before: %v)", after, before)
	}
}
