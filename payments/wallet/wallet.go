package wallet

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/svm"
)

// EVMKey is an EVM key held in memory: an evm.Signer and a payments.Signer
// of the "evm" family. String, GoString and LogValue show only its address.
type EVMKey struct {
	key     *ecdsa.PrivateKey
	address common.Address
	hex     string // address.Hex(), once
}

var _ evm.Signer = (*EVMKey)(nil)

// NewEVMKey wraps a secp256k1 key.
func NewEVMKey(key *ecdsa.PrivateKey) *EVMKey {
	a := crypto.PubkeyToAddress(key.PublicKey)
	return &EVMKey{key: key, address: a, hex: a.Hex()}
}

// GenerateEVMKey makes a new random EVM key.
func GenerateEVMKey() (*EVMKey, error) {
	k, err := crypto.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return NewEVMKey(k), nil
}

// ParseHexKey reads a 32-byte key written as 64 hex characters (0x
// optional). Its errors never repeat the input.
func ParseHexKey(s string) (*EVMKey, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 64 {
		return nil, fmt.Errorf("private key must be 32 bytes written as 64 hex characters (got %d characters)", len(s))
	}
	k, err := crypto.HexToECDSA(s)
	if err != nil {
		return nil, errors.New("private key is not valid hex or not a valid secp256k1 key")
	}
	return NewEVMKey(k), nil
}

// Address is the key's address.
func (w *EVMKey) Address() common.Address { return w.address }

// Family implements payments.Signer: "evm".
func (w *EVMKey) Family() string { return evm.Name }

// Payer implements payments.Signer: the EIP-55 address.
func (w *EVMKey) Payer() string { return w.hex }

// String shows only the address.
func (w EVMKey) String() string { return "wallet(" + w.address.Hex() + ")" }

// GoString shows only the address.
func (w EVMKey) GoString() string { return w.String() }

// LogValue shows only the address.
func (w EVMKey) LogValue() slog.Value { return slog.StringValue(w.address.Hex()) }

// Sign signs an EIP-3009 authorization from the key's address.
func (w *EVMKey) Sign(d evm.Domain, a evm.Authorization) ([]byte, error) {
	if a.From != w.address {
		return nil, fmt.Errorf("authorization is from %s but the wallet is %s", a.From.Hex(), w.address.Hex())
	}
	return signDigest(w.key, evm.Digest(d.Separator(), a.StructHash()))
}

// SignDigest implements evm.Signer: a 65-byte signature of digest, v 27
// or 28.
func (w *EVMKey) SignDigest(_ context.Context, digest common.Hash) ([]byte, error) {
	return signDigest(w.key, digest)
}

func signDigest(key *ecdsa.PrivateKey, digest common.Hash) ([]byte, error) {
	sig, err := crypto.Sign(digest[:], key)
	if err != nil {
		return nil, fmt.Errorf("sign digest: %w", err)
	}
	sig[64] += 27
	return sig, nil
}

// Wallet is x402-mcp's keys: at most one per network family, each a
// signer that never shows its key. String, GoString and LogValue show only
// addresses.
type Wallet struct {
	// EVM is the EVM key, or nil.
	EVM *EVMKey
	// Solana is the Solana key, or nil.
	Solana *svm.Key
}

// Signers returns the wallet's keys as the core's signers, EVM first.
func (w *Wallet) Signers() payments.Signers {
	var s payments.Signers
	if w != nil && w.EVM != nil {
		s = append(s, w.EVM)
	}
	if w != nil && w.Solana != nil {
		s = append(s, w.Solana)
	}
	return s
}

// String shows the wallet's addresses: "wallet(0x…, solana 9Wz…)".
func (w Wallet) String() string {
	var parts []string
	if w.EVM != nil {
		parts = append(parts, w.EVM.address.Hex())
	}
	if w.Solana != nil {
		parts = append(parts, "solana "+w.Solana.Payer())
	}
	return "wallet(" + strings.Join(parts, ", ") + ")"
}

// GoString shows only the addresses.
func (w Wallet) GoString() string { return w.String() }

// LogValue shows the addresses: the EVM one, and the Solana one as
// "solana".
func (w Wallet) LogValue() slog.Value {
	switch {
	case w.EVM != nil && w.Solana != nil:
		return slog.GroupValue(slog.String("evm", w.EVM.hex), slog.String("solana", w.Solana.Payer()))
	case w.EVM != nil:
		return w.EVM.LogValue()
	case w.Solana != nil:
		return slog.StringValue(w.Solana.Payer())
	}
	return slog.StringValue("")
}

// Load reads the wallet's keys from the environment (getenv is os.Getenv
// in production): the EVM key (X402_PRIVATE_KEY, X402_KEY_FILE or
// X402_KEYSTORE) and the Solana key (svm.LoadKey: X402_SOLANA_PRIVATE_KEY,
// X402_SOLANA_KEYPAIR or X402_SOLANA_KEYSTORE), either or both. A key
// whose source is set but unusable is an error naming the variable, never
// its value; with no key at all the error (ErrNoWallet) names every
// source.
func Load(getenv func(string) string) (*Wallet, error) {
	k, err := loadEVM(getenv)
	if err != nil && !errors.Is(err, ErrNoWallet) {
		return nil, err
	}
	sol, serr := svm.LoadKey(getenv)
	if serr != nil && !errors.Is(serr, svm.ErrNoKey) {
		return nil, serr
	}
	if k == nil && sol == nil {
		return nil, ErrNoWallet
	}
	return &Wallet{EVM: k, Solana: sol}, nil
}

func loadEVM(getenv func(string) string) (*EVMKey, error) {
	if v := getenv(payments.EnvPrivateKey); v != "" {
		w, err := ParseHexKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", payments.EnvPrivateKey, err)
		}
		return w, nil
	}
	if path := getenv(payments.EnvKeyFile); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: read key file: %w", payments.EnvKeyFile, err)
		}
		w, err := ParseHexKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", payments.EnvKeyFile, path, err)
		}
		return w, nil
	}
	if path := getenv(payments.EnvKeystore); path != "" {
		pass, err := keystorePassword(getenv)
		if err != nil {
			return nil, err
		}
		return OpenKeystore(path, pass)
	}
	return nil, ErrNoWallet
}

// ErrNoWallet says that no key of any family is configured.
var ErrNoWallet = fmt.Errorf("no wallet configured: for EVM set %s (hex key), %s (file with a hex key) or %s (encrypted keystore, with %s or %s); for Solana set %s (base58 secret), %s (a solana-keygen keypair file) or %s (encrypted keystore, with %s or %s); `x402-mcp wallet new [--family solana]` creates a keystore",
	payments.EnvPrivateKey, payments.EnvKeyFile, payments.EnvKeystore, payments.EnvKeystorePassword, payments.EnvKeystorePassFile,
	payments.EnvSolanaPrivateKey, payments.EnvSolanaKeypair, payments.EnvSolanaKeystore, payments.EnvSolanaKeystorePassword, payments.EnvSolanaKeystorePassFile)

func keystorePassword(getenv func(string) string) (string, error) {
	if p := getenv(payments.EnvKeystorePassword); p != "" {
		return p, nil
	}
	if path := getenv(payments.EnvKeystorePassFile); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s: read passphrase file: %w", payments.EnvKeystorePassFile, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", fmt.Errorf("%s is set but no passphrase: set %s or %s", payments.EnvKeystore, payments.EnvKeystorePassword, payments.EnvKeystorePassFile)
}
