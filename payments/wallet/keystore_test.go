package wallet

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
)

const (
	testPass  = "correct horse battery"
	wrongPass = "not the passphrase 123"
)

// TestKeystoreInteropWithGeth: a keystore x402-mcp writes is one geth (and
// so MetaMask's import) reads, and the other way round; a wrong passphrase
// fails on both sides. With geth's light scrypt costs it goes through
// geth's key store (which finds keys by file name) both ways.
func TestKeystoreInteropWithGeth(t *testing.T) {
	saved := [2]int{ScryptN, ScryptP}
	t.Cleanup(func() { ScryptN, ScryptP = saved[0], saved[1] })
	if LightScryptN != keystore.LightScryptN || LightScryptP != keystore.LightScryptP ||
		StandardScryptN != keystore.StandardScryptN || StandardScryptP != keystore.StandardScryptP {
		t.Fatal("our scrypt costs differ from geth's")
	}
	ScryptN, ScryptP = LightScryptN, LightScryptP
	w, err := GenerateEVMKey()
	if err != nil {
		t.Fatal(err)
	}
	keyHex := hex.EncodeToString(crypto.FromECDSA(w.key))

	// x402-mcp writes, geth reads: as a file, and as an account of its key
	// store.
	dir := t.TempDir()
	path, err := w.WriteKeystore(dir, testPass)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keystore.DecryptKey(b, testPass)
	if err != nil {
		t.Fatalf("geth cannot decrypt our keystore: %v", err)
	}
	if k.Address != w.Address() || hex.EncodeToString(crypto.FromECDSA(k.PrivateKey)) != keyHex {
		t.Fatalf("geth decrypted %s, want %s", k.Address.Hex(), w.Address().Hex())
	}
	ks := keystore.NewKeyStore(dir, LightScryptN, LightScryptP)
	if !ks.HasAddress(w.Address()) {
		t.Fatalf("geth's key store in %s does not list %s (file %s)", dir, w.Address().Hex(), filepath.Base(path))
	}
	if err := ks.Unlock(accounts.Account{Address: w.Address()}, testPass); err != nil {
		t.Fatalf("geth cannot unlock our keystore: %v", err)
	}
	if _, err := keystore.DecryptKey(b, wrongPass); !errors.Is(err, keystore.ErrDecrypt) {
		t.Fatalf("geth with a wrong passphrase: %v", err)
	}

	// geth writes, x402-mcp reads.
	acct, err := keystore.NewKeyStore(t.TempDir(), LightScryptN, LightScryptP).ImportECDSA(w.key, testPass)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenKeystore(acct.URL.Path, testPass)
	if err != nil {
		t.Fatalf("cannot decrypt geth's keystore: %v", err)
	}
	if got.Address() != w.Address() || hex.EncodeToString(crypto.FromECDSA(got.key)) != keyHex {
		t.Fatalf("decrypted %s, want %s", got.Address().Hex(), w.Address().Hex())
	}
	_, err = OpenKeystore(acct.URL.Path, wrongPass)
	if !errors.Is(err, ErrKeystorePassphrase) || !strings.Contains(err.Error(), "check the passphrase") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	for _, secret := range []string{wrongPass, testPass, keyHex, keyHex[:16]} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error leaks %q: %v", secret, err)
		}
	}
}

// TestKeystoreStandardScrypt is the interop test with geth's standard costs
// (N = 2^18: 256 MiB, about a second each, ten under -race), one scrypt per
// side: geth decrypts ours; we decrypt one geth wrote (testdata, Anvil's
// key #2, passphrase "geth standard scrypt").
func TestKeystoreStandardScrypt(t *testing.T) {
	t.Run("geth reads ours", func(t *testing.T) {
		t.Parallel()
		w, err := ParseHexKey(anvil0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := EncryptKeystore(w.key, testPass, StandardScryptN, StandardScryptP)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"n":262144,"r":8,"p":1`) {
			t.Fatalf("kdfparams of %s", b)
		}
		k, err := keystore.DecryptKey(b, testPass)
		if err != nil || k.Address != w.Address() {
			t.Fatalf("geth decrypted %v, %v", k, err)
		}
	})
	t.Run("we read geth's", func(t *testing.T) {
		t.Parallel()
		w, err := OpenKeystore(filepath.Join("testdata", "geth-standard-scrypt.json"), "geth standard scrypt")
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(crypto.FromECDSA(w.key)); got != "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a" ||
			w.Address().Hex() != "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" {
			t.Fatalf("decrypted %s", w.Address().Hex())
		}
	})
}

// The PBKDF2 test vector of the Web3 Secret Storage definition (as
// go-ethereum's accounts/keystore/testdata/v3_test_vector.json has it; its
// scrypt vector costs as much as TestKeystoreStandardScrypt, which stands
// for it).
func TestKeystoreSpecVectors(t *testing.T) {
	const priv = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
	for name, js := range map[string]string{
		"pbkdf2": `{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"6087dab2f9fdbbfaddc31a909735c1e6"},
			"ciphertext":"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46","kdf":"pbkdf2",
			"kdfparams":{"c":262144,"dklen":32,"prf":"hmac-sha256","salt":"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
			"mac":"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},"id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}`,
	} {
		t.Run(name, func(t *testing.T) {
			w, err := DecryptKeystore([]byte(js), "testpassword")
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(crypto.FromECDSA(w.key)); got != priv {
				t.Fatalf("key %s…, want %s…", got[:8], priv[:8])
			}
			if _, err := DecryptKeystore([]byte(js), "testpassword2"); !errors.Is(err, ErrKeystorePassphrase) {
				t.Fatalf("wrong passphrase: %v", err)
			}
		})
	}
}

// TestKeystoreRejects: a corrupt or hostile keystore fails at once with an
// error naming the problem, allocates nothing big, and leaks nothing.
func TestKeystoreRejects(t *testing.T) {
	w, err := ParseHexKey(anvil0)
	if err != nil {
		t.Fatal(err)
	}
	good, err := EncryptKeystore(w.key, testPass, 1<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	// edit changes one field of the good keystore: path is dot-separated.
	edit := func(path string, v any) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		keys := strings.Split(path, ".")
		cur := m
		for _, k := range keys[:len(keys)-1] {
			cur = cur[k].(map[string]any)
		}
		if v == nil {
			delete(cur, keys[len(keys)-1])
		} else {
			cur[keys[len(keys)-1]] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	otherMAC := strings.Repeat("00", 32)
	tests := []struct {
		name string
		json []byte
		want string
	}{
		{"scrypt n 2^30 (128 GiB)", edit("crypto.kdfparams.n", 1<<30), "would need 1048576 MiB, more than the 512 MiB allowed"},
		{"scrypt n 2^20 r 8 (1 GiB)", edit("crypto.kdfparams.n", 1<<20), "would need 1024 MiB"},
		{"scrypt n not a power of two", edit("crypto.kdfparams.n", 1000), "not a power of two"},
		{"scrypt n 0", edit("crypto.kdfparams.n", 0), "not a power of two"},
		{"scrypt r huge", edit("crypto.kdfparams.r", 1<<20), "r = 1048576 is outside 1..32"},
		{"scrypt p huge", edit("crypto.kdfparams.p", 1<<20), "p = 1048576 is outside 1..16"},
		{"scrypt work", []byte(strings.Replace(string(edit("crypto.kdfparams.p", 16)), `"n":1024`, `"n":524288`, 1)), "more work than"},
		{"dklen 16", edit("crypto.kdfparams.dklen", 16), "dklen = 16 is outside 32..64"},
		{"no salt", edit("crypto.kdfparams.salt", ""), "salt is 0 bytes"},
		{"salt not hex", edit("crypto.kdfparams.salt", "zz"), "kdfparams.salt is not hex"},
		{"kdf params not numbers", edit("crypto.kdfparams.n", "many"), "kdfparams are not scrypt's"},
		{"unknown kdf", edit("crypto.kdf", "argon2id"), `kdf "argon2id" is not supported`},
		{"pbkdf2 sha512", []byte(`{"version":3,"crypto":{"cipher":"aes-128-ctr","kdf":"pbkdf2","kdfparams":{"c":1,"dklen":32,"prf":"hmac-sha512","salt":"00112233445566778899"}}}`), `prf "hmac-sha512" is not supported`},
		{"pbkdf2 c huge", []byte(`{"version":3,"crypto":{"cipher":"aes-128-ctr","kdf":"pbkdf2","kdfparams":{"c":1000000000,"dklen":32,"prf":"hmac-sha256","salt":"00112233445566778899"}}}`), "c = 1000000000 is outside"},
		{"cbc", edit("crypto.cipher", "aes-128-cbc"), `cipher "aes-128-cbc" is not supported`},
		{"version 1", edit("version", "1"), "keystore version 1 is not supported"},
		{"no version", edit("version", nil), "no version"},
		{"mac altered", edit("crypto.mac", otherMAC), "wrong passphrase"},
		{"ciphertext short", edit("crypto.ciphertext", strings.Repeat("11", 31)), "ciphertext is 31 bytes, want 32"},
		{"iv short", edit("crypto.cipherparams.iv", "0011"), "iv is 2 bytes, want 16"},
		{"address of another key", edit("address", "70997970c51812dc3a010c7d01b50e0d17dc79c8"), "says its address is"},
		{"not json", []byte("hello"), "not a keystore file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := DecryptKeystore(tt.json, testPass)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v to refuse", d)
			}
			for _, secret := range []string{testPass, anvil0, anvil0[:16]} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error leaks %q: %v", secret, err)
				}
			}
		})
	}
	// The untouched keystore opens, so every refusal above is the edit's.
	if got, err := DecryptKeystore(good, testPass); err != nil || got.Address() != w.Address() {
		t.Fatalf("good keystore: %v, %v", got, err)
	}
	// A file too large to be a keystore is refused before it is parsed.
	big := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(big, []byte(strings.Repeat(" ", maxKeystoreFile+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeystore(big, testPass); err == nil || !strings.Contains(err.Error(), "larger than 64 KiB") {
		t.Fatalf("huge file: %v", err)
	}
}
