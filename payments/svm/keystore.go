package svm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gagliardetto/solana-go"
	"golang.org/x/crypto/scrypt"
	"golang.org/x/crypto/sha3"
)

// A Solana keystore is a Web3 Secret Storage v3 file (the format of geth's
// and MetaMask's keystores) around the 32-byte ed25519 seed, with two
// fields of its own: "curve": "ed25519" marks it as a Solana key (an EVM
// keystore has no such field and holds a secp256k1 key), and "address" is
// the base58 public key. The seed is encrypted with AES-128-CTR under the
// first 16 bytes of an scrypt key of the passphrase; the MAC is
// keccak256(derived[16:32] ‖ ciphertext), as in v3, so a wrong passphrase is
// told from a corrupt file. Only scrypt is read and written.
//
//	{"version":3,"curve":"ed25519","address":"<base58>","id":"<uuid>",
//	 "crypto":{"cipher":"aes-128-ctr","ciphertext":"<hex 32 bytes>",
//	  "cipherparams":{"iv":"<hex 16 bytes>"},"kdf":"scrypt",
//	  "kdfparams":{"n":262144,"r":8,"p":1,"dklen":32,"salt":"<hex 32 bytes>"},
//	  "mac":"<hex 32 bytes>"}}

// KeystoreCurve is the curve field of a Solana keystore.
const KeystoreCurve = "ed25519"

// Bounds of what a keystore may ask for, as the EVM keystore reader's: a
// corrupt or hostile file must not make x402-mcp allocate gigabytes.
const (
	maxKeystoreFile = 64 << 10
	maxScryptMemory = 512 << 20 // 128·N·r bytes
	maxScryptWork   = 1 << 25   // N·r·p
	maxScryptR      = 32
	maxScryptP      = 16
)

// Scrypt costs of keystores this package writes: geth's standard (about 1 s,
// 256 MiB) and a light one for tests.
const (
	StandardScryptN = 1 << 18
	StandardScryptP = 1
	LightScryptN    = 1 << 12
	LightScryptP    = 6
)

// ErrKeystorePassphrase is wrapped by the error of a keystore whose MAC does
// not match: the passphrase is wrong (or the file was altered).
var ErrKeystorePassphrase = errors.New("wrong passphrase: the keystore's MAC does not match")

type keystoreFile struct {
	Version json.Number `json:"version"`
	Curve   string      `json:"curve"`
	Address string      `json:"address"`
	ID      string      `json:"id"`
	Crypto  struct {
		Cipher       string `json:"cipher"`
		CipherText   string `json:"ciphertext"`
		CipherParams struct {
			IV string `json:"iv"`
		} `json:"cipherparams"`
		KDF       string `json:"kdf"`
		KDFParams struct {
			N     int    `json:"n"`
			R     int    `json:"r"`
			P     int    `json:"p"`
			DKLen int    `json:"dklen"`
			Salt  string `json:"salt"`
		} `json:"kdfparams"`
		MAC string `json:"mac"`
	} `json:"crypto"`
}

// OpenKeystore decrypts a Solana keystore file.
func OpenKeystore(path, passphrase string) (*Key, error) {
	b, err := readBounded(path, maxKeystoreFile, "keystore")
	if err != nil {
		return nil, err
	}
	k, err := DecryptKeystore(b, passphrase)
	if err != nil {
		if errors.Is(err, ErrKeystorePassphrase) {
			return nil, fmt.Errorf("decrypt keystore %s: %w (check the passphrase)", path, err)
		}
		return nil, fmt.Errorf("decrypt keystore %s: %w", path, err)
	}
	return k, nil
}

// DecryptKeystore decrypts a Solana keystore's JSON. Its errors never
// contain the passphrase or key material.
func DecryptKeystore(keyJSON []byte, passphrase string) (*Key, error) {
	var k keystoreFile
	dec := json.NewDecoder(strings.NewReader(string(keyJSON)))
	dec.UseNumber()
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("not a keystore file (invalid JSON: %v)", err)
	}
	if k.Version.String() != "3" {
		return nil, fmt.Errorf("keystore version %q is not supported: a Solana keystore is version 3 with \"curve\": %q", clip(k.Version.String()), KeystoreCurve)
	}
	if k.Curve != KeystoreCurve {
		if k.Curve == "" {
			return nil, fmt.Errorf("this keystore has no \"curve\": %q field: it is an EVM (secp256k1) keystore, not a Solana one (set it as X402_KEYSTORE instead)", KeystoreCurve)
		}
		return nil, fmt.Errorf("keystore curve %q is not supported: a Solana keystore's is %q", clip(k.Curve), KeystoreCurve)
	}
	c := k.Crypto
	if c.Cipher != "aes-128-ctr" {
		return nil, fmt.Errorf("keystore cipher %q is not supported: only aes-128-ctr is", clip(c.Cipher))
	}
	if c.KDF != "scrypt" {
		return nil, fmt.Errorf("keystore kdf %q is not supported: a Solana keystore uses scrypt", clip(c.KDF))
	}
	p := c.KDFParams
	switch {
	case p.N < 2 || p.N&(p.N-1) != 0:
		return nil, fmt.Errorf("keystore scrypt n = %d is not a power of two above 1", p.N)
	case p.R < 1 || p.R > maxScryptR || p.P < 1 || p.P > maxScryptP:
		return nil, fmt.Errorf("keystore scrypt r = %d, p = %d are outside 1…%d and 1…%d", p.R, p.P, maxScryptR, maxScryptP)
	case int64(p.N)*int64(p.R)*128 > maxScryptMemory || int64(p.N)*int64(p.R)*int64(p.P) > maxScryptWork:
		return nil, fmt.Errorf("keystore scrypt n = %d, r = %d, p = %d ask for more than %d MiB or more work than x402-mcp allows", p.N, p.R, p.P, maxScryptMemory>>20)
	case p.DKLen != 32:
		return nil, fmt.Errorf("keystore scrypt dklen = %d, want 32", p.DKLen)
	}
	salt, err := hexField("kdfparams.salt", p.Salt, 0)
	if err != nil {
		return nil, err
	}
	if len(salt) < 8 || len(salt) > 1024 {
		return nil, fmt.Errorf("keystore kdfparams.salt is %d bytes, want 8 to 1024", len(salt))
	}
	ct, err := hexField("ciphertext", c.CipherText, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	iv, err := hexField("cipherparams.iv", c.CipherParams.IV, aes.BlockSize)
	if err != nil {
		return nil, err
	}
	mac, err := hexField("mac", c.MAC, 32)
	if err != nil {
		return nil, err
	}
	derived, err := scrypt.Key([]byte(passphrase), salt, p.N, p.R, p.P, 32)
	if err != nil {
		return nil, fmt.Errorf("keystore scrypt: %v", err)
	}
	defer clear(derived)
	if subtle.ConstantTimeCompare(keystoreMAC(derived, ct), mac) != 1 {
		return nil, ErrKeystorePassphrase
	}
	seed, err := aesCTR(derived[:16], iv, ct)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	key, err := NewKey(seed)
	if err != nil {
		return nil, err
	}
	if k.Address != "" {
		want, err := solana.PublicKeyFromBase58(k.Address)
		if err != nil || want != key.addr {
			return nil, fmt.Errorf("the keystore says its address is %q but its key is %s's: the file is corrupt", clip(k.Address), key.addr)
		}
	}
	return key, nil
}

// EncryptKeystore writes k as a Solana keystore's JSON, with scrypt costs n
// and p.
func EncryptKeystore(k *Key, passphrase string, n, p int) ([]byte, error) {
	salt := make([]byte, 32)
	iv := make([]byte, aes.BlockSize)
	id := make([]byte, 16)
	for _, b := range [][]byte{salt, iv, id} {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("keystore randomness: %w", err)
		}
	}
	derived, err := scrypt.Key([]byte(passphrase), salt, n, 8, p, 32)
	if err != nil {
		return nil, fmt.Errorf("keystore scrypt: %w", err)
	}
	defer clear(derived)
	ct, err := aesCTR(derived[:16], iv, k.priv.Seed())
	if err != nil {
		return nil, err
	}
	var f keystoreFile
	f.Version = "3"
	f.Curve = KeystoreCurve
	f.Address = k.addr.String()
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	f.ID = fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:])
	f.Crypto.Cipher = "aes-128-ctr"
	f.Crypto.CipherText = hex.EncodeToString(ct)
	f.Crypto.CipherParams.IV = hex.EncodeToString(iv)
	f.Crypto.KDF = "scrypt"
	f.Crypto.KDFParams.N, f.Crypto.KDFParams.R, f.Crypto.KDFParams.P, f.Crypto.KDFParams.DKLen = n, 8, p, 32
	f.Crypto.KDFParams.Salt = hex.EncodeToString(salt)
	f.Crypto.MAC = hex.EncodeToString(keystoreMAC(derived, ct))
	return json.MarshalIndent(f, "", "  ")
}

// WriteKeystore writes k encrypted under passphrase into dir, as
// "solana-<address>.json" (mode 0600), with the standard scrypt costs, and
// returns its path.
func (k *Key) WriteKeystore(dir, passphrase string, n, p int) (string, error) {
	b, err := EncryptKeystore(k, passphrase, n, p)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("keystore directory: %w", err)
	}
	path := filepath.Join(dir, "solana-"+k.addr.String()+".json")
	if err := writeNewFile(path, b, "keystore"); err != nil {
		return "", err
	}
	return path, nil
}

func keystoreMAC(derived, ct []byte) []byte {
	h := sha3.NewLegacyKeccak256()
	h.Write(derived[16:32])
	h.Write(ct)
	return h.Sum(nil)
}

func aesCTR(key, iv, in []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keystore cipher: %w", err)
	}
	out := make([]byte, len(in))
	cipher.NewCTR(block, iv).XORKeyStream(out, in)
	return out, nil
}

// hexField decodes a hex field of the keystore; want > 0 is its length.
func hexField(name, s string, want int) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		return nil, fmt.Errorf("keystore %s is not hex", name)
	}
	if want > 0 && len(b) != want {
		return nil, fmt.Errorf("keystore %s is %d bytes, want %d", name, len(b), want)
	}
	return b, nil
}
