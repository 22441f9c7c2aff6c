package wallet

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/x402-mcp/x402-mcp/payments"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadWallet(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.hex")
	if err := os.WriteFile(keyFile, []byte("0x"+anvil0+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ScryptN, ScryptP = keystore.LightScryptN, keystore.LightScryptP
	w0, _ := ParseHexKey(anvil0)
	ks, err := w0.WriteKeystore(filepath.Join(dir, "ks"), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	passFile := filepath.Join(dir, "pass")
	os.WriteFile(passFile, []byte("correct horse\n"), 0o600)
	want := "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
	tests := []struct {
		name    string
		env     map[string]string
		errLike string
	}{
		{"hex env", map[string]string{payments.EnvPrivateKey: anvil0}, ""},
		{"hex env 0x", map[string]string{payments.EnvPrivateKey: "0x" + anvil0}, ""},
		{"key file", map[string]string{payments.EnvKeyFile: keyFile}, ""},
		{"keystore+password", map[string]string{payments.EnvKeystore: ks, payments.EnvKeystorePassword: "correct horse"}, ""},
		{"keystore+password file", map[string]string{payments.EnvKeystore: ks, payments.EnvKeystorePassFile: passFile}, ""},
		{"keystore wrong password", map[string]string{payments.EnvKeystore: ks, payments.EnvKeystorePassword: "nope"}, "check the passphrase"},
		{"keystore no password", map[string]string{payments.EnvKeystore: ks}, "no passphrase"},
		{"short hex", map[string]string{payments.EnvPrivateKey: "abcd"}, "64 hex characters"},
		{"bad hex", map[string]string{payments.EnvPrivateKey: strings.Repeat("zz", 32)}, "not valid hex"},
		{"missing file", map[string]string{payments.EnvKeyFile: filepath.Join(dir, "nope")}, "read key file"},
		{"nothing", map[string]string{}, "no wallet configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lw, err := Load(env(tt.env))
			if tt.errLike != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errLike) {
					t.Fatalf("err = %v, want %q", err, tt.errLike)
				}
				if strings.Contains(err.Error(), anvil0[8:24]) || strings.Contains(err.Error(), "zzzz") {
					t.Fatalf("error echoes key material: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := lw.EVM
			if w.Address().Hex() != want {
				t.Fatalf("address %s", w.Address().Hex())
			}
		})
	}
	if fi, err := os.Stat(ks); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("keystore file mode %v, %v", fi.Mode(), err)
	}
}

// TestWalletNeverPrintsKey: every way a wallet can be formatted shows only the address.
func TestWalletNeverPrintsKey(t *testing.T) {
	w, _ := ParseHexKey(anvil0)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("w", "wallet", w, "ptr", *w)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("w", "wallet", w)
	out := fmt.Sprintf("%v %+v %#v %s", w, w, w, w) + logs.String()
	dValue := fmt.Sprintf("%x", w.key.D.Bytes())
	for _, secret := range []string{anvil0, dValue, w.key.D.String()} {
		if strings.Contains(out, secret) {
			t.Fatalf("key material in %q", out)
		}
	}
	if !strings.Contains(out, w.Address().Hex()) {
		t.Fatal("address not shown")
	}
}

const anvil0 = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
