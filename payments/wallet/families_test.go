package wallet

import (
	"bytes"
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
			w, err := Load(env(tc.env))
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
