package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
)

// TestMainnetGuard: a catalog that allows a network where money is real
// (Base, eip155:8453; Solana mainnet) while that family's key is in the
// clear (X402_PRIVATE_KEY or X402_KEY_FILE; X402_SOLANA_PRIVATE_KEY or
// X402_SOLANA_KEYPAIR) starts with a warning naming the family's safer
// sources;
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
	k, err := wallet.ParseHexKey(key)
	if err != nil {
		t.Fatal(err)
	}
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
	sol, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	solFile := filepath.Join(dir, "id.json")
	if err := sol.WriteKeypairFile(solFile); err != nil {
		t.Fatal(err)
	}
	solKS, err := sol.WriteKeystore(filepath.Join(dir, "solks"), "correct horse battery", svm.LightScryptN, svm.LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	solEnv := map[string]string{"X402_SOLANA_KEYPAIR": solFile}
	for _, tt := range []struct {
		name     string
		networks string
		extra    string
		env      map[string]string
		flags    []string
		warn     bool
		errLike  string
		// names is what the error names: the network and the safer
		// sources (Base and EVM's when empty).
		names []string
	}{
		{"Solana mainnet, keypair file", "solana, eip155:84532", "", solEnv, nil, true, "", nil},
		{"Solana mainnet, keypair file, flag", "solana", "", solEnv, []string{"--require-protected-key"}, false, "refusing to start (--require-protected-key)",
			[]string{"Solana (" + string(svm.Mainnet) + ")", "the Solana key " + sol.Payer(), "keypair file " + solFile, "X402_KEYCHAIN", "--family solana", "X402_SOLANA_KEYSTORE"}},
		{"Solana devnet only, keypair file", "solana-devnet", "", solEnv, []string{"--require-protected-key"}, false, "", nil},
		{"Solana mainnet, Solana keystore", "solana", "", map[string]string{"X402_SOLANA_KEYSTORE": solKS, "X402_SOLANA_KEYSTORE_PASSWORD": "correct horse battery"}, []string{"--require-protected-key"}, false, "", nil},
		{"Solana mainnet, EVM key in the clear", "solana, eip155:84532", "", plainEnv, []string{"--require-protected-key"}, false, "", nil},
		{"mainnet, key in the environment", "eip155:8453, eip155:84532", "", plainEnv, nil, true, "", nil},
		{"mainnet, key file", "base", "", map[string]string{"X402_KEY_FILE": keyFile}, nil, true, "", nil},
		{"mainnet, key in the clear, flag", "eip155:8453", "", plainEnv, []string{"--require-protected-key"}, false, "refusing to start (--require-protected-key)", nil},
		{"mainnet, key in the clear, catalog", "eip155:8453", "wallet:\n  require_protected_key: true\n", plainEnv, nil, false, "refusing to start (wallet.require_protected_key in ", nil},
		{"testnets only, key in the clear", "eip155:84532, eip155:1337", "", plainEnv, []string{"--require-protected-key"}, false, "", nil},
		{"mainnet, keystore", "eip155:8453", "", map[string]string{"X402_KEYSTORE": ks, "X402_KEYSTORE_PASSWORD": "correct horse battery"}, []string{"--require-protected-key"}, false, "", nil},
		{"an unknown chain counts as real money", "eip155:999999", "", plainEnv, nil, true, "", nil},
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
				names := tt.names
				if names == nil && strings.HasPrefix(tt.errLike, "refusing") {
					names = []string{"Base (eip155:8453)", "X402_KEYCHAIN", "X402_CLEF"}
				}
				if err == nil || !strings.Contains(err.Error(), tt.errLike) {
					t.Fatalf("err = %v, want %q", err, tt.errLike)
				}
				for _, n := range names {
					if !strings.Contains(err.Error(), n) {
						t.Errorf("err = %v, want it to name %q", err, n)
					}
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
