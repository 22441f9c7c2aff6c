package wallet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/x402-mcp/x402-mcp/payments/jsonlimit"
	"golang.org/x/crypto/scrypt"
)

// This file reads and writes Web3 Secret Storage v3 keystores, the
// encrypted key files of geth, MetaMask and most wallets, without
// go-ethereum's accounts/keystore (which links go-ethereum's transaction
// types and their KZG cryptography into the binary).
//
// A v3 file holds the key encrypted with AES-128-CTR under the first 16
// bytes of a key derived from the passphrase (scrypt or PBKDF2-SHA256), and
// a MAC, keccak256(derived[16:32] ‖ ciphertext), that tells a wrong
// passphrase from a corrupt file.

// Bounds of what a keystore file may ask for. A keystore comes from the
// user's disk, but a hostile or corrupt one must not make x402-mcp allocate
// gigabytes or spin for minutes. geth's standard scrypt (N = 2^18, r = 8,
// p = 1: 256 MiB) and every common wallet's settings are within them.
const (
	maxKeystoreFile   = 64 << 10
	maxScryptMemory   = 512 << 20 // 128·N·r bytes
	maxScryptWork     = 1 << 25   // N·r·p
	maxScryptR        = 32
	maxScryptP        = 16
	maxPBKDF2Rounds   = 10_000_000
	minKDFSaltLen     = 8
	maxKDFSaltLen     = 1024
	keystoreVersion   = 3
	keystoreCipher    = "aes-128-ctr"
	keystoreScryptR   = 8
	keystoreDKLen     = 32
	keystoreKeyLength = 32
)

// Standard (geth's default, about 1 s and 256 MiB) and light (about 4 MiB)
// scrypt costs of keystores written by x402-mcp.
const (
	StandardScryptN = 1 << 18
	StandardScryptP = 1
	LightScryptN    = 1 << 12
	LightScryptP    = 6
)

// ScryptN and ScryptP are the scrypt costs WriteKeystore uses; tests lower them.
var (
	ScryptN = StandardScryptN
	ScryptP = StandardScryptP
)

// ErrKeystorePassphrase is wrapped by the error of a keystore whose MAC
// does not match: the passphrase is wrong (or the file was altered).
var ErrKeystorePassphrase = errors.New("wrong passphrase: the keystore's MAC does not match")

type keystoreJSON struct {
	Address string         `json:"address"`
	Crypto  keystoreCrypto `json:"crypto"`
	ID      string         `json:"id"`
	Version json.Number    `json:"version"`
}

type keystoreCrypto struct {
	Cipher       string `json:"cipher"`
	CipherText   string `json:"ciphertext"`
	CipherParams struct {
		IV string `json:"iv"`
	} `json:"cipherparams"`
	KDF       string          `json:"kdf"`
	KDFParams json.RawMessage `json:"kdfparams"`
	MAC       string          `json:"mac"`
}

type scryptParams struct {
	N     int    `json:"n"`
	R     int    `json:"r"`
	P     int    `json:"p"`
	DKLen int    `json:"dklen"`
	Salt  string `json:"salt"`
}

type pbkdf2Params struct {
	C     int    `json:"c"`
	PRF   string `json:"prf"`
	DKLen int    `json:"dklen"`
	Salt  string `json:"salt"`
}

// OpenKeystore decrypts a Web3 secret-storage (v3) keystore file.
func OpenKeystore(path, passphrase string) (*EVMKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read keystore: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeystoreFile+1))
	if err != nil {
		return nil, fmt.Errorf("read keystore: %w", err)
	}
	if len(b) > maxKeystoreFile {
		return nil, fmt.Errorf("keystore %s is larger than %d KiB: it is not a keystore file", path, maxKeystoreFile>>10)
	}
	w, err := DecryptKeystore(b, passphrase)
	if err != nil {
		if errors.Is(err, ErrKeystorePassphrase) {
			return nil, fmt.Errorf("decrypt keystore %s: %w (check the passphrase)", path, err)
		}
		return nil, fmt.Errorf("decrypt keystore %s: %w", path, err)
	}
	return w, nil
}

// DecryptKeystore decrypts the JSON of a v3 keystore. Its errors never
// contain the passphrase or key material.
func DecryptKeystore(keyJSON []byte, passphrase string) (*EVMKey, error) {
	var k keystoreJSON
	if err := jsonlimit.CheckDepth(keyJSON); err != nil {
		return nil, fmt.Errorf("not a keystore file (%v)", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(keyJSON)))
	dec.UseNumber()
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("not a keystore file (invalid JSON: %v)", err)
	}
	if v := k.Version.String(); v != "3" {
		if v == "" {
			return nil, errors.New("not a Web3 keystore: no version")
		}
		return nil, fmt.Errorf("keystore version %s is not supported: only version 3 (geth, MetaMask, ethers) is", v)
	}
	c := k.Crypto
	if c.Cipher != keystoreCipher {
		return nil, fmt.Errorf("keystore cipher %q is not supported: only %s is", c.Cipher, keystoreCipher)
	}
	derived, err := deriveKey(c.KDF, c.KDFParams, passphrase)
	if err != nil {
		return nil, err
	}
	ct, err := hexField("ciphertext", c.CipherText)
	if err != nil {
		return nil, err
	}
	if len(ct) != keystoreKeyLength {
		return nil, fmt.Errorf("keystore ciphertext is %d bytes, want %d (a secp256k1 key)", len(ct), keystoreKeyLength)
	}
	iv, err := hexField("cipherparams.iv", c.CipherParams.IV)
	if err != nil {
		return nil, err
	}
	if len(iv) != aes.BlockSize {
		return nil, fmt.Errorf("keystore cipherparams.iv is %d bytes, want %d", len(iv), aes.BlockSize)
	}
	mac, err := hexField("mac", c.MAC)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(crypto.Keccak256(derived[16:32], ct), mac) != 1 {
		return nil, ErrKeystorePassphrase
	}
	key, err := aesCTR(derived[:16], iv, ct)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	priv, err := crypto.ToECDSA(key)
	if err != nil {
		return nil, errors.New("the keystore decrypts to an invalid secp256k1 key")
	}
	w := NewEVMKey(priv)
	if k.Address != "" {
		want := strings.TrimPrefix(strings.TrimPrefix(k.Address, "0x"), "0X")
		if !common.IsHexAddress(want) || !strings.EqualFold(want, hex.EncodeToString(w.address[:])) {
			return nil, fmt.Errorf("the keystore says its address is %q but its key is %s's: the file is corrupt", clipText(k.Address), w.address.Hex())
		}
	}
	return w, nil
}

// deriveKey runs the keystore's KDF within the bounds above.
func deriveKey(kdf string, raw json.RawMessage, passphrase string) ([]byte, error) {
	switch kdf {
	case "scrypt":
		var p scryptParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("keystore kdfparams are not scrypt's (n, r, p, dklen, salt): %v", err)
		}
		salt, err := kdfSalt(p.Salt)
		if err != nil {
			return nil, err
		}
		if err := checkDKLen(p.DKLen); err != nil {
			return nil, err
		}
		switch {
		case p.N < 2 || p.N&(p.N-1) != 0:
			return nil, fmt.Errorf("keystore scrypt n = %d is not a power of two greater than 1", p.N)
		case p.R < 1 || p.R > maxScryptR:
			return nil, fmt.Errorf("keystore scrypt r = %d is outside 1..%d", p.R, maxScryptR)
		case p.P < 1 || p.P > maxScryptP:
			return nil, fmt.Errorf("keystore scrypt p = %d is outside 1..%d", p.P, maxScryptP)
		case uint64(p.N) > maxScryptMemory/128/uint64(p.R):
			return nil, fmt.Errorf("keystore scrypt n = %d, r = %d would need %d MiB, more than the %d MiB allowed", p.N, p.R, uint64(p.N)*uint64(p.R)*128>>20, maxScryptMemory>>20)
		case uint64(p.N)*uint64(p.R)*uint64(p.P) > maxScryptWork:
			return nil, fmt.Errorf("keystore scrypt n·r·p = %d is more work than the %d allowed", uint64(p.N)*uint64(p.R)*uint64(p.P), maxScryptWork)
		}
		dk, err := scrypt.Key([]byte(passphrase), salt, p.N, p.R, p.P, p.DKLen)
		if err != nil {
			return nil, fmt.Errorf("keystore scrypt: %v", err)
		}
		return dk, nil
	case "pbkdf2":
		var p pbkdf2Params
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("keystore kdfparams are not pbkdf2's (c, prf, dklen, salt): %v", err)
		}
		if p.PRF != "hmac-sha256" {
			return nil, fmt.Errorf("keystore pbkdf2 prf %q is not supported: only hmac-sha256 is", p.PRF)
		}
		if p.C < 1 || p.C > maxPBKDF2Rounds {
			return nil, fmt.Errorf("keystore pbkdf2 c = %d is outside 1..%d", p.C, maxPBKDF2Rounds)
		}
		salt, err := kdfSalt(p.Salt)
		if err != nil {
			return nil, err
		}
		if err := checkDKLen(p.DKLen); err != nil {
			return nil, err
		}
		dk, err := pbkdf2.Key(sha256.New, passphrase, salt, p.C, p.DKLen)
		if err != nil {
			return nil, fmt.Errorf("keystore pbkdf2: %v", err)
		}
		return dk, nil
	}
	return nil, fmt.Errorf("keystore kdf %q is not supported: use scrypt or pbkdf2", kdf)
}

func kdfSalt(s string) ([]byte, error) {
	salt, err := hexField("kdfparams.salt", s)
	if err != nil {
		return nil, err
	}
	if len(salt) < minKDFSaltLen || len(salt) > maxKDFSaltLen {
		return nil, fmt.Errorf("keystore kdfparams.salt is %d bytes, want %d to %d", len(salt), minKDFSaltLen, maxKDFSaltLen)
	}
	return salt, nil
}

// checkDKLen accepts the derived key lengths a v3 keystore can use: 16
// bytes of AES key and 16 of MAC key, and at most 64.
func checkDKLen(n int) error {
	if n < 32 || n > 64 {
		return fmt.Errorf("keystore kdfparams.dklen = %d is outside 32..64", n)
	}
	return nil
}

// hexField decodes a hex field of the keystore (0x optional). Its error
// names the field, never its content.
func hexField(name, s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		return nil, fmt.Errorf("keystore %s is not hex", name)
	}
	return b, nil
}

func aesCTR(key, iv, in []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %v", err)
	}
	out := make([]byte, len(in))
	cipher.NewCTR(block, iv).XORKeyStream(out, in)
	return out, nil
}

// clipText shortens a keystore field quoted in an error.
func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// EncryptKeystore returns the v3 keystore JSON of key encrypted with
// passphrase, with scrypt costs n and p (r = 8), as geth writes it.
func EncryptKeystore(key *ecdsa.PrivateKey, passphrase string, n, p int) ([]byte, error) {
	salt := make([]byte, 32)
	iv := make([]byte, aes.BlockSize)
	id := make([]byte, 16)
	for _, b := range [][]byte{salt, iv, id} {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("random: %w", err)
		}
	}
	derived, err := scrypt.Key([]byte(passphrase), salt, n, keystoreScryptR, p, keystoreDKLen)
	if err != nil {
		return nil, fmt.Errorf("scrypt: %w", err)
	}
	plain := crypto.FromECDSA(key)
	defer clear(plain)
	ct, err := aesCTR(derived[:16], iv, plain)
	if err != nil {
		return nil, err
	}
	id[6] = id[6]&0x0f | 0x40 // a version 4 (random) UUID
	id[8] = id[8]&0x3f | 0x80
	addr := crypto.PubkeyToAddress(key.PublicKey)
	params, err := json.Marshal(scryptParams{N: n, R: keystoreScryptR, P: p, DKLen: keystoreDKLen, Salt: hex.EncodeToString(salt)})
	if err != nil {
		return nil, err
	}
	k := keystoreJSON{
		Address: hex.EncodeToString(addr[:]),
		Crypto: keystoreCrypto{
			Cipher: keystoreCipher, CipherText: hex.EncodeToString(ct),
			KDF: "scrypt", KDFParams: params,
			MAC: hex.EncodeToString(crypto.Keccak256(derived[16:32], ct)),
		},
		ID:      fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:]),
		Version: json.Number("3"),
	}
	k.Crypto.CipherParams.IV = hex.EncodeToString(iv)
	return json.Marshal(k)
}

// WriteKeystore encrypts the key with passphrase into a new file in
// dir (created 0700) and returns its path. The file is written 0600 and
// named as geth names its keys (UTC--<time>--<address>), so geth,
// MetaMask's import and other wallets read it.
func (w *EVMKey) WriteKeystore(dir, passphrase string) (string, error) {
	b, err := EncryptKeystore(w.key, passphrase, ScryptN, ScryptP)
	if err != nil {
		return "", fmt.Errorf("write keystore: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create keystore dir: %w", err)
	}
	t := time.Now().UTC()
	name := fmt.Sprintf("UTC--%s--%s", t.Format("2006-01-02T15-04-05.000000000Z"), hex.EncodeToString(w.address[:]))
	path := filepath.Join(dir, name)
	// Write a temporary file and rename it, so no reader sees half a key.
	f, err := os.CreateTemp(dir, "."+name+".tmp")
	if err != nil {
		return "", fmt.Errorf("write keystore: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	// After a failed step, the file is closed and removed: that step's
	// error is the one to report.
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("write keystore: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("write keystore: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("write keystore: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write keystore: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		return "", fmt.Errorf("write keystore: %s already exists", path)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write keystore: %w", err)
	}
	return path, nil
}
