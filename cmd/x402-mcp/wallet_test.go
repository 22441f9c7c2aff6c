package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
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

// TestWalletShowsWhereKeysLive: `wallet show` prints each key's family,
// address and where it lives (an EVM key, a Solana key, or both), and for a
// key in the clear a line naming its family's safer sources; no wallet
// subcommand ever prints a key.
func TestWalletShowsWhereKeysLive(t *testing.T) {
	const key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
	const addr = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.hex")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	wallet.ScryptN, wallet.ScryptP = wallet.LightScryptN, wallet.LightScryptP
	t.Cleanup(func() { wallet.ScryptN, wallet.ScryptP = wallet.StandardScryptN, wallet.StandardScryptP })
	k, err := wallet.ParseHexKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := k.WriteKeystore(filepath.Join(dir, "ks"), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	sol, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	solFile := filepath.Join(dir, "id.json")
	if err := sol.WriteKeypairFile(solFile); err != nil {
		t.Fatal(err)
	}
	solSecret, err := os.ReadFile(solFile)
	if err != nil {
		t.Fatal(err)
	}
	solKS, err := sol.WriteKeystore(filepath.Join(dir, "solks"), "correct horse battery", svm.LightScryptN, svm.LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	evmLine := func(where string) []string { return []string{"EVM", addr, where} }
	solLine := func(where string) []string { return []string{"Solana", sol.Payer(), where} }
	const evmSafer, solSafer = "X402_AWS_KMS_KEY_ID", "--family solana"
	for _, tt := range []struct {
		name  string
		env   map[string]string
		lines [][]string // each key's line: family, address, where it lives
		warns []string   // the safer sources each warning names
	}{
		{"environment", map[string]string{"X402_PRIVATE_KEY": key}, [][]string{evmLine("environment variable X402_PRIVATE_KEY")}, []string{evmSafer}},
		{"key file", map[string]string{"X402_KEY_FILE": keyFile}, [][]string{evmLine("key file " + keyFile)}, []string{evmSafer}},
		{"keystore", map[string]string{"X402_KEYSTORE": ks, "X402_KEYSTORE_PASSWORD": "correct horse battery"}, [][]string{evmLine("keystore " + ks)}, nil},
		{"Solana keypair file", map[string]string{"X402_SOLANA_KEYPAIR": solFile}, [][]string{solLine("keypair file " + solFile)}, []string{solSafer}},
		{"EVM keystore and Solana keystore", map[string]string{"X402_KEYSTORE": ks, "X402_KEYSTORE_PASSWORD": "correct horse battery",
			"X402_SOLANA_KEYSTORE": solKS, "X402_SOLANA_KEYSTORE_PASSWORD": "correct horse battery"}, [][]string{evmLine("keystore " + ks), solLine("keystore " + solKS)}, nil},
		{"EVM in the environment and Solana keypair file", map[string]string{"X402_PRIVATE_KEY": key, "X402_SOLANA_KEYPAIR": solFile},
			[][]string{evmLine("environment variable X402_PRIVATE_KEY"), solLine("keypair file " + solFile)}, []string{evmSafer, solSafer}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := runCmd(t, tt.env, "wallet", "show")
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(out, "\n")
			if !strings.Contains(lines[0], "the key lives in") {
				t.Errorf("wallet show:\n%s", out)
			}
			for i, want := range tt.lines {
				if !strings.HasPrefix(lines[1+i], want[0]) || !strings.Contains(lines[1+i], want[1]) || !strings.HasSuffix(lines[1+i], want[2]) {
					t.Errorf("line %d of wallet show, want %q:\n%s", 1+i, want, out)
				}
			}
			var warnings []string
			for _, l := range lines {
				if strings.Contains(l, "is in the clear") && strings.Contains(l, "X402_KEYCHAIN") {
					warnings = append(warnings, l)
				}
			}
			if len(warnings) != len(tt.warns) {
				t.Fatalf("%d warnings, want %d:\n%s", len(warnings), len(tt.warns), out)
			}
			for i, w := range tt.warns {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %q does not name %s", warnings[i], w)
				}
			}
			shown := out + stderr
			for _, args := range [][]string{{"wallet", "address"}, {"wallet", "show", "--help"}} {
				o, e, _ := runCmd(t, tt.env, args...)
				shown += o + e
			}
			if strings.Contains(strings.ToLower(shown), key) || strings.Contains(shown, string(solSecret)) || strings.Contains(shown, string(solSecret[1:40])) {
				t.Errorf("a wallet command printed a key:\n%s", shown)
			}
		})
	}
}
