package wallet

// Fuzz tests of what reads others' files: keystores. Run one with
//
//	go test -run='^$' -fuzz='^FuzzDecryptKeystore$' -fuzztime=60s ./payments/wallet

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/fuzzcheck"
)

// FuzzDecryptKeystore: any keystore file decrypts or fails with a short
// error that never holds the passphrase; it never panics.
func FuzzDecryptKeystore(f *testing.F) {
	w, err := ParseHexKey(anvil0)
	if err != nil {
		f.Fatal(err)
	}
	good, err := EncryptKeystore(w.key, testPass, 1<<4, 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"6087dab2f9fdbbfaddc31a909735c1e6"},
		"ciphertext":"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46","kdf":"pbkdf2",
		"kdfparams":{"c":16,"dklen":32,"prf":"hmac-sha256","salt":"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
		"mac":"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},"id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}`))
	f.Add([]byte(`{"version":3}`))
	f.Fuzz(func(t *testing.T, keyJSON []byte) {
		// The KDF's cost limits (TestKeystoreRejects) allow seconds of work
		// and 512 MiB; a fuzzer that found them would only run slowly.
		var k struct {
			Crypto struct {
				KDFParams struct{ N, R, P, C int64 } `json:"kdfparams"`
			} `json:"crypto"`
		}
		_ = json.Unmarshal(keyJSON, &k) // fills what it can
		if kp := k.Crypto.KDFParams; kp.N > 1<<10 || kp.R > 8 || kp.P > 2 || kp.C > 1<<10 {
			t.Skip("a costly KDF")
		}
		_, err := DecryptKeystore(keyJSON, testPass)
		fuzzcheck.ErrorText(t, err)
		if err != nil && strings.Contains(err.Error(), testPass) {
			t.Fatalf("the error holds the passphrase: %v", err)
		}
	})
}
