package svm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/base58"
)

// A fixed test key: seed 0x01…0x20.
func testSeed() []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(i + 1)
	}
	return s
}

func TestKeySources(t *testing.T) {
	seed := testSeed()
	priv := ed25519.NewKeyFromSeed(seed)
	addr := solana.PublicKeyFromBytes(priv[32:])
	dir := t.TempDir()

	keypairFile := filepath.Join(dir, "id.json")
	k, err := NewKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.WriteKeypairFile(keypairFile); err != nil {
		t.Fatal(err)
	}
	if err := k.WriteKeypairFile(keypairFile); err == nil {
		t.Error("WriteKeypairFile overwrote an existing file")
	}
	ks, err := k.WriteKeystore(dir, "correct horse", LightScryptN, LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	corrupt := append(append([]byte{}, priv[:32]...), make([]byte, 32)...)
	evm := write("evm.json", `{"version":3,"address":"2c7536e3605d9c16a7a3d7b1898e529396a65c23","crypto":{"cipher":"aes-128-ctr","ciphertext":"00","cipherparams":{"iv":"00"},"kdf":"scrypt","kdfparams":{"n":2,"r":8,"p":1,"dklen":32,"salt":"00"},"mac":"00"}}`)

	for _, tc := range []struct {
		name   string
		env    map[string]string
		errHas string
	}{
		{"base58 keypair", map[string]string{EnvPrivateKey: base58.Encode(priv)}, ""},
		{"base58 seed", map[string]string{EnvPrivateKey: base58.Encode(seed)}, ""},
		{"base58 with spaces", map[string]string{EnvPrivateKey: " " + base58.Encode(priv) + "\n"}, ""},
		{"keypair file", map[string]string{EnvKeypairFile: keypairFile}, ""},
		{"keystore", map[string]string{EnvKeystore: ks, EnvKeystorePassword: "correct horse"}, ""},
		{"keystore pass file", map[string]string{EnvKeystore: ks, EnvKeystorePassFile: passFile}, ""},
		{"none", map[string]string{}, "no Solana key configured"},
		{"not base58", map[string]string{EnvPrivateKey: "0x" + strings.Repeat("ab", 32)}, "not base58"},
		{"wrong length", map[string]string{EnvPrivateKey: base58.Encode(seed[:31])}, "not 31"},
		{"corrupt keypair", map[string]string{EnvPrivateKey: base58.Encode(corrupt)}, "not the public key"},
		{"too long", map[string]string{EnvPrivateKey: strings.Repeat("2", 200)}, "200 characters"},
		{"keypair file missing", map[string]string{EnvKeypairFile: filepath.Join(dir, "nope.json")}, EnvKeypairFile},
		{"keypair file not json", map[string]string{EnvKeypairFile: write("bad.json", base58.Encode(priv))}, "not a JSON array"},
		{"keypair file short", map[string]string{EnvKeypairFile: write("short.json", "[1,2,3]")}, "holds 3 numbers"},
		{"keypair file range", map[string]string{EnvKeypairFile: write("range.json", "[256"+strings.Repeat(",1", 63)+"]")}, "outside 0…255"},
		{"keypair file huge", map[string]string{EnvKeypairFile: write("huge.json", "["+strings.Repeat("1,", 5000)+"1]")}, "larger than 4 KiB"},
		{"keystore no pass", map[string]string{EnvKeystore: ks}, "no passphrase"},
		{"keystore wrong pass", map[string]string{EnvKeystore: ks, EnvKeystorePassword: "wrong"}, "check the passphrase"},
		{"evm keystore", map[string]string{EnvKeystore: evm, EnvKeystorePassword: "x"}, "EVM (secp256k1) keystore"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadKey(func(k string) string { return tc.env[k] })
			if tc.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Address() != addr {
					t.Errorf("address = %s, want %s", got.Address(), addr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("LoadKey = %v, want an error with %q", err, tc.errHas)
			}
			if tc.name == "none" && !errors.Is(err, ErrNoKey) {
				t.Errorf("want ErrNoKey, got %v", err)
			}
			for _, secret := range []string{base58.Encode(priv), base58.Encode(seed), "correct horse", fmt.Sprint(priv[0:8])} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows key material or the passphrase: %v", err)
				}
			}
		})
	}
}

func TestKeystoreTampered(t *testing.T) {
	k, err := NewKey(testSeed())
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncryptKeystore(k, "pw", LightScryptN, LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"curve": "ed25519"`)) || !bytes.Contains(b, []byte(k.Address().String())) {
		t.Errorf("keystore lacks its curve or address:\n%s", b)
	}
	other, _ := GenerateKey()
	for _, tc := range []struct {
		name, from, to, errHas string
	}{
		{"address of another key", k.Address().String(), other.Address().String(), "the file is corrupt"},
		{"huge scrypt", `"n": 4096`, `"n": 1073741824`, "more than 512 MiB"},
		{"scrypt n not a power of two", `"n": 4096`, `"n": 4095`, "power of two"},
		{"other kdf", `"kdf": "scrypt"`, `"kdf": "pbkdf2"`, `kdf "pbkdf2"`},
		{"other curve", `"curve": "ed25519"`, `"curve": "secp256k1"`, `curve "secp256k1"`},
		{"version", `"version": 3`, `"version": 4`, "version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Replace(b, []byte(tc.from), []byte(tc.to), 1)
			if bytes.Equal(bad, b) {
				t.Fatalf("%q is not in the keystore:\n%s", tc.from, b)
			}
			if _, err := DecryptKeystore(bad, "pw"); err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("DecryptKeystore = %v, want %q", err, tc.errHas)
			}
		})
	}
	if _, err := DecryptKeystore(b, "pw"); err != nil {
		t.Errorf("the untampered keystore: %v", err)
	}
}

// TestKeyNeverPrintsSecret: every way a Key can be printed or logged shows
// its address and nothing of its secret.
func TestKeyNeverPrintsSecret(t *testing.T) {
	k, err := NewKey(testSeed())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("paying", "wallet", k, "ptr", *k)
	outs := []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k), fmt.Sprintf("%+v", *k), fmt.Sprintf("%#v", struct{ K *Key }{k}), logs.String()}
	for _, out := range outs {
		if !strings.Contains(out, k.Address().String()) {
			t.Errorf("output lacks the address: %s", out)
		}
		for _, secret := range []string{base58.Encode(k.priv), base58.Encode(k.priv.Seed()), fmt.Sprint([]byte(k.priv[:8])), fmt.Sprintf("%x", k.priv[:8])} {
			if strings.Contains(out, secret) {
				t.Errorf("output shows the secret: %s", out)
			}
		}
	}
	sig, err := k.SignMessage(context.Background(), []byte("message"))
	if err != nil || !k.Address().Verify([]byte("message"), sig) {
		t.Errorf("SignMessage: %v, verifies %v", err, k.Address().Verify([]byte("message"), sig))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := k.SignMessage(ctx, []byte("m")); err == nil {
		t.Error("SignMessage signed under a cancelled context")
	}
}
