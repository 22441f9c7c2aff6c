package wallet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gagliardetto/solana-go/base58"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/svm"
)

// TestWalletHoldsBothFamilies: a wallet holds an EVM key and a Solana key
// at once, each from its own environment variables, and gives the core one
// signer per family. Either alone is a wallet; neither is an error naming
// both families' variables. No way of showing the wallet shows a secret.
func TestWalletHoldsBothFamilies(t *testing.T) {
	sol, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 64)
	// A keypair file written by the key holds its secret; read it back as
	// the base58 secret a wallet exports.
	dir := t.TempDir()
	kp := filepath.Join(dir, "id.json")
	if err := sol.WriteKeypairFile(kp); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(kp)
	if err != nil {
		t.Fatal(err)
	}
	var nums []int
	if err := json.Unmarshal(raw, &nums); err != nil || len(nums) != 64 {
		t.Fatalf("keypair file: %v", err)
	}
	for i, v := range nums {
		seed[i] = byte(v)
	}
	secret58 := base58.Encode(seed)
	evmAddr := "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
	solAddr := sol.Address().String()

	for _, tc := range []struct {
		name     string
		env      map[string]string
		families []string
		errLike  string
	}{
		{"both", map[string]string{payments.EnvPrivateKey: anvil0, svm.EnvPrivateKey: secret58}, []string{"evm", "svm"}, ""},
		{"solana keypair file alone", map[string]string{svm.EnvKeypairFile: kp}, []string{"svm"}, ""},
		{"evm alone", map[string]string{payments.EnvPrivateKey: anvil0}, []string{"evm"}, ""},
		{"neither", map[string]string{}, nil, svm.EnvPrivateKey},
		{"broken solana key", map[string]string{payments.EnvPrivateKey: anvil0, svm.EnvPrivateKey: "0OIl" + secret58[4:]}, nil, svm.EnvPrivateKey + ": the Solana secret key is not base58"},
		{"broken evm key beside a solana key", map[string]string{payments.EnvPrivateKey: "abcd", svm.EnvPrivateKey: secret58}, nil, payments.EnvPrivateKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Load(context.Background(), env(tc.env))
			if tc.errLike != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errLike) {
					t.Fatalf("err = %v, want %q", err, tc.errLike)
				}
				if tc.name == "neither" && (!errors.Is(err, ErrNoWallet) || !strings.Contains(err.Error(), payments.EnvPrivateKey)) {
					t.Errorf("no wallet: %v", err)
				}
				if strings.Contains(err.Error(), secret58[8:30]) || strings.Contains(err.Error(), anvil0[8:24]) {
					t.Fatalf("the error shows key material: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			signers := w.Signers()
			if len(signers) != len(tc.families) {
				t.Fatalf("%d signers, want %v", len(signers), tc.families)
			}
			for i, f := range tc.families {
				if signers[i].Family() != f || signers.For(f) == nil {
					t.Errorf("signer %d is %s, want %s", i, signers[i].Family(), f)
				}
			}
			if s := signers.For(svm.Name); s != nil && s.Payer() != solAddr {
				t.Errorf("Solana payer %s, want %s", s.Payer(), solAddr)
			}
			if s := signers.For("evm"); s != nil && s.Payer() != evmAddr {
				t.Errorf("EVM payer %s, want %s", s.Payer(), evmAddr)
			}
			var logs bytes.Buffer
			slog.New(slog.NewJSONHandler(&logs, nil)).Info("w", "wallet", w, "value", *w)
			shown := fmt.Sprintf("%v %+v %#v %s", w, w, *w, w) + logs.String()
			for _, secret := range []string{secret58[:20], secret58[30:50], anvil0[:20], anvil0[40:]} {
				if strings.Contains(shown, secret) {
					t.Fatalf("the wallet shows a secret: %s", shown)
				}
			}
			for _, f := range tc.families {
				addr := map[string]string{"evm": evmAddr, "svm": solAddr}[f]
				if !strings.Contains(w.String(), addr) || !strings.Contains(logs.String(), addr) {
					t.Errorf("the wallet does not show its %s address %s: %s | %s", f, addr, w, logs.String())
				}
			}
		})
	}
}

// TestSolanaKeySources: each Solana key source is recorded as where the key
// lives (what `wallet show` prints and the mainnet guard judges): the base58
// secret and the keypair file in the clear, the keystore not; a Solana key
// in memory is signed with in the process, as the EVM key is. Two Solana
// sources are an error naming both, never a silent choice.
func TestSolanaKeySources(t *testing.T) {
	k, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kp := filepath.Join(dir, "id.json")
	if err := k.WriteKeypairFile(kp); err != nil {
		t.Fatal(err)
	}
	var secret58 string
	if err := k.UseKeypair(func(b []byte) error { secret58 = base58.Encode(b); return nil }); err != nil {
		t.Fatal(err)
	}
	ks, err := k.WriteKeystore(dir, "correct horse battery", svm.LightScryptN, svm.LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env   map[string]string
		want  Source
		plain bool
	}{
		{map[string]string{svm.EnvPrivateKey: secret58}, Source{Kind: SourceEnv, Where: svm.EnvPrivateKey}, true},
		{map[string]string{svm.EnvKeypairFile: kp}, Source{Kind: SourceKeypairFile, Where: kp}, true},
		{map[string]string{svm.EnvKeystore: ks, svm.EnvKeystorePassword: "correct horse battery"}, Source{Kind: SourceKeystore, Where: ks}, false},
	} {
		w, err := Load(context.Background(), env(tc.env))
		if err != nil {
			t.Fatalf("%v: %v", tc.want, err)
		}
		keys := w.Keys()
		if len(keys) != 1 || keys[0].Source != tc.want || keys[0].Source.Plain() != tc.plain || w.Solana() == nil || w.Solana().Payer() != k.Payer() || w.EVM() != nil {
			t.Errorf("%v: keys %+v", tc.want, keys)
		}
		if ip, ok := keys[0].Signer.(payments.InProcessSigner); !ok || !ip.InProcess() {
			t.Errorf("%v: the Solana key is not signed with in the process", tc.want)
		}
	}
	_, err = Load(context.Background(), env(map[string]string{svm.EnvPrivateKey: secret58, svm.EnvKeypairFile: kp}))
	if err == nil || !strings.Contains(err.Error(), svm.EnvPrivateKey+" and "+svm.EnvKeypairFile+" are both set") || !strings.Contains(err.Error(), "Solana key") || strings.Contains(err.Error(), secret58[:20]) {
		t.Errorf("two Solana sources: %v", err)
	}
}
