package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/wallet"
)

// TestMainnetGuard: a catalog that allows a network where money is real
// (Base, eip155:8453) while the key is in the clear (X402_PRIVATE_KEY or
// X402_KEY_FILE) starts with a warning naming the safer sources;
// --require-protected-key, or wallet.require_protected_key in the catalog,
// makes it an error and x402-mcp does not start. Test networks only, or a
// key that is not in the clear, get neither.
func TestMainnetGuard(t *testing.T) {
	const key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.hex")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	wallet.ScryptN, wallet.ScryptP = wallet.LightScryptN, wallet.LightScryptP
	t.Cleanup(func() { wallet.ScryptN, wallet.ScryptP = wallet.StandardScryptN, wallet.StandardScryptP })
	k, _ := wallet.ParseHexKey(key)
	ks, err := k.WriteKeystore(filepath.Join(dir, "ks"), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	catalog := func(networks, extra string) string {
		p := filepath.Join(t.TempDir(), "registry.yaml")
		src := "version: 1\ndefaults:\n  networks: [" + networks + "]\n" + extra +
			"tools:\n  - name: weather\n    description: Weather.\n    url: https://api.example.com/v1/weather\n    max_price: \"0.01\"\n"
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plainEnv := map[string]string{"X402_PRIVATE_KEY": key}
	for _, tt := range []struct {
		name     string
		networks string
		extra    string
		env      map[string]string
		flags    []string
		warn     bool
		errLike  string
	}{
		{"mainnet, key in the environment", "eip155:8453, eip155:84532", "", plainEnv, nil, true, ""},
		{"mainnet, key file", "base", "", map[string]string{"X402_KEY_FILE": keyFile}, nil, true, ""},
		{"mainnet, key in the clear, flag", "eip155:8453", "", plainEnv, []string{"--require-protected-key"}, false, "refusing to start (--require-protected-key)"},
		{"mainnet, key in the clear, catalog", "eip155:8453", "wallet:\n  require_protected_key: true\n", plainEnv, nil, false, "refusing to start (wallet.require_protected_key in "},
		{"testnets only, key in the clear", "eip155:84532, eip155:1337", "", plainEnv, []string{"--require-protected-key"}, false, ""},
		{"mainnet, keystore", "eip155:8453", "", map[string]string{"X402_KEYSTORE": ks, "X402_KEYSTORE_PASSWORD": "correct horse battery"}, []string{"--require-protected-key"}, false, ""},
		{"an unknown chain counts as real money", "eip155:999999", "", plainEnv, nil, true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"X402_LEDGER": filepath.Join(t.TempDir(), "ledger.db")}
			for k, v := range tt.env {
				env[k] = v
			}
			args := append([]string{"serve", "--registry", catalog(tt.networks, tt.extra)}, tt.flags...)
			_, stderr, err := runCmd(t, env, args...)
			switch {
			case tt.errLike != "":
				if err == nil || !strings.Contains(err.Error(), tt.errLike) || !strings.Contains(err.Error(), "Base (eip155:8453)") ||
					!strings.Contains(err.Error(), "X402_KEYCHAIN") || !strings.Contains(err.Error(), "X402_CLEF") {
					t.Fatalf("err = %v, want %q naming the network and the safer sources", err, tt.errLike)
				}
			case err != nil:
				t.Fatalf("serve: %v\n%s", err, stderr)
			}
			warned := strings.Contains(stderr, "is in the clear") && strings.Contains(stderr, "X402_KEYCHAIN") && strings.Contains(stderr, "--require-protected-key")
			if warned != tt.warn {
				t.Errorf("warned %v, want %v:\n%s", warned, tt.warn, stderr)
			}
			if err != nil && strings.Contains(err.Error(), key) || strings.Contains(stderr, key) {
				t.Error("the key is shown")
			}
		})
	}
}
