package main

import (
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/svm"
)

// TestWalletNewSolana: `wallet new --family solana` writes an encrypted
// Solana keystore (its passphrase from the Solana keystore's variables),
// prints its base58 address and how to use it, and never the key; `wallet
// address` then shows each family's address, one a line, EVM first, or
// one family's with --family.
func TestWalletNewSolana(t *testing.T) {
	solanaKeystoreCost = [2]int{svm.LightScryptN, svm.LightScryptP}
	t.Cleanup(func() { solanaKeystoreCost = [2]int{svm.StandardScryptN, svm.StandardScryptP} })
	dir := t.TempDir()
	const pass = "correct horse battery"
	if _, _, err := runCmd(t, map[string]string{payments.EnvKeystorePassword: pass}, "wallet", "new", "--family", "solana", "--dir", dir); err == nil || !strings.Contains(err.Error(), payments.EnvSolanaKeystorePassword) {
		t.Fatalf("a Solana keystore under the EVM passphrase variable: %v", err)
	}
	out, _, err := runCmd(t, map[string]string{payments.EnvSolanaKeystorePassword: pass}, "wallet", "new", "--family", "solana", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	var addr, path string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "address:"); ok {
			addr = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "keystore:"); ok {
			path = strings.TrimSpace(v)
		}
	}
	if _, err := svm.ParseAddress("address", addr); err != nil || !strings.HasPrefix(path, dir) || !strings.Contains(out, payments.EnvSolanaKeystore+"="+path) {
		t.Fatalf("wallet new --family solana printed:\n%s", out)
	}
	k, err := svm.OpenKeystore(path, pass)
	if err != nil || k.Address().String() != addr {
		t.Fatalf("the keystore holds %v (%v), want %s", k, err, addr)
	}
	solEnv := map[string]string{payments.EnvSolanaKeystore: path, payments.EnvSolanaKeystorePassword: pass}
	if out, _, err := runCmd(t, solEnv, "wallet", "address"); err != nil || strings.TrimSpace(out) != addr {
		t.Errorf("wallet address with a Solana key = %q, %v", out, err)
	}
	both := map[string]string{payments.EnvPrivateKey: "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"}
	for k, v := range solEnv {
		both[k] = v
	}
	if out, _, err := runCmd(t, both, "wallet", "address"); err != nil || out != "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\n"+addr+"\n" {
		t.Errorf("wallet address with both keys = %q, %v", out, err)
	}
	if out, _, err := runCmd(t, both, "wallet", "address", "--family", "solana"); err != nil || out != addr+"\n" {
		t.Errorf("wallet address --family solana = %q, %v", out, err)
	}
	if _, _, err := runCmd(t, solEnv, "wallet", "address", "--family", "evm"); err == nil || !strings.Contains(err.Error(), "no EVM key") {
		t.Errorf("wallet address --family evm without an EVM key: %v", err)
	}
	var u usageError
	if _, _, err := runCmd(t, solEnv, "wallet", "new", "--family", "tron", "--dir", dir); err == nil || !asUsage(err, &u) {
		t.Errorf("wallet new --family tron: %v", err)
	}
}

func asUsage(err error, u *usageError) bool {
	e, ok := err.(usageError)
	if ok {
		*u = e
	}
	return ok
}
