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
)

type EVMKey struct {
	key     *ecdsa.PrivateKey
	address common.Address
	hex     string // address.Hex(), once
}

var _ evm.Signer = (*EVMKey)(nil)

func NewEVMKey(key *ecdsa.PrivateKey) *EVMKey {
	a := crypto.PubkeyToAddress(key.PublicKey)
	return &EVMKey{key: key, address: a, hex: a.Hex()}
}

func GenerateEVMKey() (*EVMKey, error) {
	k, err := crypto.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return NewEVMKey(k), nil
}

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

func (w *EVMKey) Address() common.Address { return w.address }

func (w *EVMKey) Family() string { return evm.Name }

func (w *EVMKey) Payer() string { return w.hex }

func (w EVMKey) String() string { return "wallet(" + w.address.Hex() + ")" }

func (w EVMKey) GoString() string { return w.String() }

func (w EVMKey) LogValue() slog.Value { return slog.StringValue(w.address.Hex()) }

func (w *EVMKey) Sign(d evm.Domain, a evm.Authorization) ([]byte, error) {
	if a.From != w.address {
		return nil, fmt.Errorf("authorization is from %s but the wallet is %s", a.From.Hex(), w.address.Hex())
	}
	return signDigest(w.key, evm.Digest(d.Separator(), a.StructHash()))
}

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

type Wallet struct {
	// EVM is the EVM key, or nil.
	EVM *EVMKey
	// A Solana key (package svm's signer) takes a field beside it when
	// the Solana family is wired in.
}

func (w *Wallet) Signers() payments.Signers {
	var s payments.Signers
	if w != nil && w.EVM != nil {
		s = append(s, w.EVM)
	}
	return s
}

func (w Wallet) String() string {
	if w.EVM == nil {
		return "wallet()"
	}
	return w.EVM.String()
}

func (w Wallet) LogValue() slog.Value {
	if w.EVM == nil {
		return slog.StringValue("")
	}
	return w.EVM.LogValue()
}

func Load(getenv func(string) string) (*Wallet, error) {
	k, err := loadEVM(getenv)
	if err != nil {
		return nil, err
	}
	return &Wallet{EVM: k}, nil
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

var ErrNoWallet = fmt.Errorf("no wallet configured: set %s (hex key), %s (file with a hex key) or %s (encrypted keystore, with %s or %s); `x402-mcp wallet new` creates a keystore",
	payments.EnvPrivateKey, payments.EnvKeyFile, payments.EnvKeystore, payments.EnvKeystorePassword, payments.EnvKeystorePassFile)

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
