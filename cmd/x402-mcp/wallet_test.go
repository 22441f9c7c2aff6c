package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/wallet"
)

// TestWalletShowsWhereKeysLive: `wallet show` prints each key's family,
// address and where it lives, and for a key in the clear a line naming the
// safer sources; no wallet subcommand ever prints the key.
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
	for _, tt := range []struct {
		name  string
		env   map[string]string
		where string
		plain bool
	}{
		{"environment", map[string]string{"X402_PRIVATE_KEY": key}, "environment variable X402_PRIVATE_KEY", true},
		{"key file", map[string]string{"X402_KEY_FILE": keyFile}, "key file " + keyFile, true},
		{"keystore", map[string]string{"X402_KEYSTORE": ks, "X402_KEYSTORE_PASSWORD": "correct horse battery"}, "keystore " + ks, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := runCmd(t, tt.env, "wallet", "show")
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(out, "\n")
			if !strings.Contains(lines[0], "the key lives in") || !strings.Contains(lines[1], "EVM") || !strings.Contains(lines[1], addr) || !strings.HasSuffix(lines[1], tt.where) {
				t.Errorf("wallet show:\n%s", out)
			}
			warned := strings.Contains(out, "is in the clear") && strings.Contains(out, "X402_KEYCHAIN") && strings.Contains(out, "X402_CLEF") && strings.Contains(out, "X402_AWS_KMS_KEY_ID")
			if warned != tt.plain {
				t.Errorf("warned %v, want %v:\n%s", warned, tt.plain, out)
			}
			shown := out + stderr
			for _, args := range [][]string{{"wallet", "address"}, {"wallet", "show", "--help"}} {
				o, e, _ := runCmd(t, tt.env, args...)
				shown += o + e
			}
			if strings.Contains(strings.ToLower(shown), key) {
				t.Errorf("a wallet command printed the key:\n%s", shown)
			}
		})
	}
}
