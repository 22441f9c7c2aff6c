package payments

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Wallet holds the paying key. Its String, GoString and LogValue show only the
// address, so a wallet logged or printed by mistake leaks nothing.
type Wallet struct {
	key     *ecdsa.PrivateKey
	address common.Address
}

// NewWallet wraps a private key.
func NewWallet(key *ecdsa.PrivateKey) *Wallet {
	return &Wallet{key: key, address: crypto.PubkeyToAddress(key.PublicKey)}
}

// GenerateWallet makes a wallet with a fresh random key.
func GenerateWallet() (*Wallet, error) {
	k, err := crypto.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return NewWallet(k), nil
}

// ParseHexKey reads a hex private key (with or without 0x). Its errors never
// echo the input.
func ParseHexKey(s string) (*Wallet, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 64 {
		return nil, fmt.Errorf("private key must be 32 bytes written as 64 hex characters (got %d characters)", len(s))
	}
	k, err := crypto.HexToECDSA(s)
	if err != nil {
		return nil, errors.New("private key is not valid hex or not a valid secp256k1 key")
	}
	return NewWallet(k), nil
}

// Address returns the wallet's address.
func (w *Wallet) Address() common.Address { return w.address }

// String shows only the address.
func (w Wallet) String() string { return "wallet(" + w.address.Hex() + ")" }

// GoString shows only the address, also under %#v.
func (w Wallet) GoString() string { return w.String() }

// LogValue shows only the address in slog output.
func (w Wallet) LogValue() slog.Value { return slog.StringValue(w.address.Hex()) }

// Sign signs an EIP-3009 authorization under domain and returns r‖s‖v (v=27/28).
func (w *Wallet) Sign(d Domain, a Authorization) ([]byte, error) {
	if a.From != w.address {
		return nil, fmt.Errorf("authorization is from %s but the wallet is %s", a.From.Hex(), w.address.Hex())
	}
	return signDigest(w.key, Digest(d.Separator(), a.StructHash()))
}

// SignDigest signs a precomputed EIP-712 digest.
func (w *Wallet) SignDigest(digest common.Hash) ([]byte, error) { return signDigest(w.key, digest) }

// LoadWallet reads the key from the environment, in this order: X402_PRIVATE_KEY
// (hex), X402_KEY_FILE (a file holding hex), X402_KEYSTORE (an encrypted Web3
// keystore, with X402_KEYSTORE_PASSWORD or X402_KEYSTORE_PASSWORD_FILE).
// getenv is os.Getenv in production. It returns ErrNoWallet when none is set.
func LoadWallet(getenv func(string) string) (*Wallet, error) {
	if v := getenv(EnvPrivateKey); v != "" {
		w, err := ParseHexKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvPrivateKey, err)
		}
		return w, nil
	}
	if path := getenv(EnvKeyFile); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: read key file: %w", EnvKeyFile, err)
		}
		w, err := ParseHexKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", EnvKeyFile, path, err)
		}
		return w, nil
	}
	if path := getenv(EnvKeystore); path != "" {
		pass, err := keystorePassword(getenv)
		if err != nil {
			return nil, err
		}
		return OpenKeystore(path, pass)
	}
	return nil, ErrNoWallet
}

// ErrNoWallet says that no key was configured.
var ErrNoWallet = fmt.Errorf("no wallet configured: set %s (hex key), %s (file with a hex key) or %s (encrypted keystore, with %s or %s); `x402-mcp wallet new` creates a keystore",
	EnvPrivateKey, EnvKeyFile, EnvKeystore, EnvKeystorePassword, EnvKeystorePassFile)

func keystorePassword(getenv func(string) string) (string, error) {
	if p := getenv(EnvKeystorePassword); p != "" {
		return p, nil
	}
	if path := getenv(EnvKeystorePassFile); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s: read passphrase file: %w", EnvKeystorePassFile, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", fmt.Errorf("%s is set but no passphrase: set %s or %s", EnvKeystore, EnvKeystorePassword, EnvKeystorePassFile)
}
