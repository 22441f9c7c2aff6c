package svm

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/base58"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Signer is a Solana wallet that signs transaction messages without ever
// showing its key: the payer of Client.Sign, and the wallet's signer of this
// family for the core (payments.Signer, Family "svm"). Its errors never
// contain key material.
type Signer interface {
	payments.Signer
	// Address is the wallet's public key, the payer and authority of the
	// token transfer.
	Address() solana.PublicKey
	// SignMessage signs a serialized transaction message (ed25519).
	SignMessage(ctx context.Context, message []byte) (solana.Signature, error)
}

var (
	_ Signer                   = (*Key)(nil)
	_ payments.InProcessSigner = (*Key)(nil)
)

// Key is a Signer over an ed25519 key held in memory. String, GoString,
// Format and LogValue show only its address.
type Key struct {
	priv ed25519.PrivateKey
	addr solana.PublicKey
}

// NewKey makes a Key from a 32-byte ed25519 seed or a 64-byte keypair
// (seed ‖ public key, the Solana CLI's form), whose public half must match.
func NewKey(secret []byte) (*Key, error) {
	var priv ed25519.PrivateKey
	switch len(secret) {
	case ed25519.SeedSize:
		priv = ed25519.NewKeyFromSeed(secret)
	case ed25519.PrivateKeySize:
		priv = ed25519.NewKeyFromSeed(secret[:ed25519.SeedSize])
		if !bytesEqual(priv[ed25519.SeedSize:], secret[ed25519.SeedSize:]) {
			clear(priv)
			return nil, errors.New("the keypair's last 32 bytes are not the public key of its first 32: the key is corrupt")
		}
	default:
		return nil, fmt.Errorf("a Solana secret key is 64 bytes (a keypair) or 32 (a seed), not %d", len(secret))
	}
	return &Key{priv: priv, addr: solana.PublicKeyFromBytes(priv[ed25519.SeedSize:])}, nil
}

// GenerateKey makes a new random Key.
func GenerateKey() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate a Solana key: %w", err)
	}
	return &Key{priv: priv, addr: solana.PublicKeyFromBytes(priv[ed25519.SeedSize:])}, nil
}

// ParseBase58Key reads a base58 secret: a 64-byte keypair (what wallets such
// as Phantom export) or a 32-byte seed. Its errors never repeat the input.
func ParseBase58Key(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("the Solana secret key is empty")
	}
	if len(s) > 100 {
		return nil, fmt.Errorf("the Solana secret key is %d characters: a base58 keypair is at most 88", len(s))
	}
	for _, c := range s {
		if !strings.ContainsRune(base58Alphabet, c) {
			return nil, errors.New("the Solana secret key is not base58 (a keypair file's JSON array goes in a keypair file instead)")
		}
	}
	b, err := base58.Decode(s)
	if err != nil {
		return nil, errors.New("the Solana secret key is not base58")
	}
	defer clear(b)
	return NewKey(b)
}

// maxKeypairFile bounds a keypair file: 64 numbers in a JSON array are
// under 300 bytes.
const maxKeypairFile = 4 << 10

// ReadKeypairFile reads a Solana CLI keypair file (solana-keygen's JSON
// array of 64 numbers). Its errors name the file, never its content.
func ReadKeypairFile(path string) (*Key, error) {
	b, err := readBounded(path, maxKeypairFile, "keypair file")
	if err != nil {
		return nil, err
	}
	defer clear(b)
	var nums []int
	if err := json.Unmarshal(b, &nums); err != nil {
		return nil, fmt.Errorf("keypair file %s is not a JSON array of 64 numbers (what solana-keygen writes)", path)
	}
	secret := make([]byte, len(nums))
	defer clear(secret)
	for i, v := range nums {
		if v < 0 || v > 255 {
			return nil, fmt.Errorf("keypair file %s holds a number outside 0…255 at position %d", path, i)
		}
		secret[i] = byte(v)
	}
	clear(nums)
	if len(secret) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("keypair file %s holds %d numbers, want 64 (a Solana keypair)", path, len(secret))
	}
	k, err := NewKey(secret)
	if err != nil {
		return nil, fmt.Errorf("keypair file %s: %w", path, err)
	}
	return k, nil
}

// WriteKeypairFile writes k as a Solana CLI keypair file (mode 0600). The
// file must not exist yet.
func (k *Key) WriteKeypairFile(path string) error {
	nums := make([]int, len(k.priv))
	for i, b := range k.priv {
		nums[i] = int(b)
	}
	b, err := json.Marshal(nums)
	clear(nums)
	if err != nil {
		return fmt.Errorf("encode keypair: %w", err)
	}
	defer clear(b)
	return writeNewFile(path, b, "keypair file")
}

// writeNewFile writes b to a new file at path, readable by its owner only,
// refusing to replace a file there. A write that fails removes what it
// wrote: a partial key file would hold part of a key and block the next
// try at the same path.
func writeNewFile(path string, b []byte, what string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if rerr := os.Remove(path); rerr != nil {
			return fmt.Errorf("write %s %s: %w (and the partial file could not be removed: %v)", what, path, err, rerr)
		}
		return fmt.Errorf("write %s %s: %w", what, path, err)
	}
	return nil
}

// readBounded reads a small file of the user's, refusing one larger than
// max bytes.
func readBounded(path string, max int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, path, err)
	}
	if int64(len(b)) > max {
		clear(b)
		return nil, fmt.Errorf("%s %s is larger than %d KiB: it is not a %s", what, path, max>>10, what)
	}
	return b, nil
}

// UseKeypair calls f with a copy of the key as a 64-byte keypair (seed ‖
// public key, the Solana CLI's form), cleared when f returns: for storing
// the key in a protected store (the OS keychain) without a file. f must
// not keep, show or log it.
func (k *Key) UseKeypair(f func(keypair []byte) error) error {
	b := make([]byte, len(k.priv))
	copy(b, k.priv)
	defer clear(b)
	return f(b)
}

// Address is the key's public key.
func (k *Key) Address() solana.PublicKey { return k.addr }

// Family implements payments.Signer: "svm".
func (k *Key) Family() string { return Name }

// Payer implements payments.Signer: the address in base58.
func (k *Key) Payer() string { return k.addr.String() }

// InProcess implements payments.InProcessSigner: the key is in memory, so
// the core may sign with it inside the ledger's write transaction.
func (k *Key) InProcess() bool { return true }

// SignMessage signs message with the key.
func (k *Key) SignMessage(ctx context.Context, message []byte) (solana.Signature, error) {
	if err := ctx.Err(); err != nil {
		return solana.Signature{}, err
	}
	return solana.SignatureFromBytes(ed25519.Sign(k.priv, message)), nil
}

// String shows only the address.
func (k Key) String() string { return "solana-wallet(" + k.addr.String() + ")" }

// GoString shows only the address.
func (k Key) GoString() string { return k.String() }

// Format shows only the address, whatever the verb. (A Format method
// cannot return an error: fmt records a failed write itself.)
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue shows only the address.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.addr.String()) }

// Environment variables of the Solana key. A key is never a flag. They are
// the core's (payments.SecretEnv lists them: a catalog's ${ENV} may not read
// them).
const (
	EnvPrivateKey       = payments.EnvSolanaPrivateKey
	EnvKeypairFile      = payments.EnvSolanaKeypair
	EnvKeystore         = payments.EnvSolanaKeystore
	EnvKeystorePassword = payments.EnvSolanaKeystorePassword
	EnvKeystorePassFile = payments.EnvSolanaKeystorePassFile
)

// SecretEnv lists the environment variables this family reads secrets (or
// where they are kept) from; every one is in payments.SecretEnv.
func SecretEnv() []string {
	return []string{EnvPrivateKey, EnvKeypairFile, EnvKeystore, EnvKeystorePassword, EnvKeystorePassFile}
}

// ErrNoKey says that no Solana key is configured.
var ErrNoKey = fmt.Errorf("no Solana key configured: set %s (base58 secret), %s (a solana-keygen keypair file) or %s (encrypted keystore, with %s or %s)",
	EnvPrivateKey, EnvKeypairFile, EnvKeystore, EnvKeystorePassword, EnvKeystorePassFile)

// LoadKey reads the Solana key from the environment, in this order:
// X402_SOLANA_PRIVATE_KEY (base58), X402_SOLANA_KEYPAIR (a keypair file),
// X402_SOLANA_KEYSTORE (an encrypted keystore, with its passphrase in
// X402_SOLANA_KEYSTORE_PASSWORD or X402_SOLANA_KEYSTORE_PASSWORD_FILE).
// getenv is os.Getenv in production. It returns ErrNoKey when none is set.
func LoadKey(getenv func(string) string) (*Key, error) {
	if v := getenv(EnvPrivateKey); v != "" {
		k, err := ParseBase58Key(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvPrivateKey, err)
		}
		return k, nil
	}
	if path := getenv(EnvKeypairFile); path != "" {
		k, err := ReadKeypairFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKeypairFile, err)
		}
		return k, nil
	}
	if path := getenv(EnvKeystore); path != "" {
		pass := getenv(EnvKeystorePassword)
		if pass == "" {
			if pf := getenv(EnvKeystorePassFile); pf != "" {
				b, err := readBounded(pf, 4<<10, "passphrase file")
				if err != nil {
					return nil, fmt.Errorf("%s: %w", EnvKeystorePassFile, err)
				}
				pass = strings.TrimRight(string(b), "\r\n")
				clear(b)
			}
		}
		if pass == "" {
			return nil, fmt.Errorf("%s is set but no passphrase: set %s or %s", EnvKeystore, EnvKeystorePassword, EnvKeystorePassFile)
		}
		return OpenKeystore(path, pass)
	}
	return nil, ErrNoKey
}

func bytesEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := range a {
		d |= a[i] ^ b[i]
	}
	return d == 0
}
