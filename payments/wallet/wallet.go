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

// EVMKey is an EVM key held in this process's memory (read from the
// environment, a key file, a keystore or the OS keychain): an evm.Signer
// that signs by computing alone. String, GoString and LogValue show only
// its address.
type EVMKey struct {
	key     *ecdsa.PrivateKey
	address common.Address
	hex     string // address.Hex(), once
}

var (
	_ evm.Signer               = (*EVMKey)(nil)
	_ payments.InProcessSigner = (*EVMKey)(nil)
)

// NewEVMKey wraps key.
func NewEVMKey(key *ecdsa.PrivateKey) *EVMKey {
	a := crypto.PubkeyToAddress(key.PublicKey)
	return &EVMKey{key: key, address: a, hex: a.Hex()}
}

// GenerateEVMKey makes a new random key.
func GenerateEVMKey() (*EVMKey, error) {
	k, err := crypto.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return NewEVMKey(k), nil
}

// ParseHexKey reads a 32-byte key written as 64 hex digits (0x optional).
// Its errors never repeat the input.
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

// Address implements evm.Signer.
func (w *EVMKey) Address() common.Address { return w.address }

// Family implements payments.Signer: "evm".
func (w *EVMKey) Family() string { return evm.Name }

// Payer implements payments.Signer: the checksummed address.
func (w *EVMKey) Payer() string { return w.hex }

// InProcess implements payments.InProcessSigner: the key is in memory.
func (w *EVMKey) InProcess() bool { return true }

func (w EVMKey) String() string { return "wallet(" + w.address.Hex() + ")" }

// GoString shows only the address.
func (w EVMKey) GoString() string { return w.String() }

// LogValue shows only the address.
func (w EVMKey) LogValue() slog.Value { return slog.StringValue(w.address.Hex()) }

// Sign signs an EIP-3009 authorization from this key under d.
func (w *EVMKey) Sign(d evm.Domain, a evm.Authorization) ([]byte, error) {
	if a.From != w.address {
		return nil, fmt.Errorf("authorization is from %s but the wallet is %s", a.From.Hex(), w.address.Hex())
	}
	return signDigest(w.key, evm.Digest(d.Separator(), a.StructHash()))
}

// SignTypedData implements evm.Signer: it signs td's digest.
func (w *EVMKey) SignTypedData(_ context.Context, td evm.TypedData) ([]byte, error) {
	return signDigest(w.key, td.Digest())
}

// SignTransaction implements evm.Signer: it signs tx's signing hash.
func (w *EVMKey) SignTransaction(_ context.Context, tx evm.DynamicFeeTx) ([]byte, error) {
	h, err := tx.SigningHash()
	if err != nil {
		return nil, err
	}
	return signDigest(w.key, h)
}

// SignDigest signs a 32-byte digest and returns r‖s‖v, v = 27 or 28.
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

// Wallet is the wallet's keys, at most one per network family, each with
// where it lives. String and LogValue show addresses and sources, never a
// key.
type Wallet struct {
	keys []Key
}

// Key is one signer of the wallet and where its key lives.
type Key struct {
	Signer payments.Signer
	Source Source
}

// Keys returns the wallet's keys, EVM first.
func (w *Wallet) Keys() []Key {
	if w == nil {
		return nil
	}
	return w.keys
}

// Sources says where each key lives, by its family (Signer.Family): its
// Source as String shows it, what `x402-mcp wallet show` prints. Nil for a
// nil wallet.
func (w *Wallet) Sources() map[string]string {
	if w == nil {
		return nil
	}
	out := make(map[string]string, len(w.keys))
	for _, k := range w.keys {
		out[k.Signer.Family()] = k.Source.String()
	}
	return out
}

// add adds k, refusing a second key of its family.
func (w *Wallet) add(k Key) error {
	for _, x := range w.keys {
		if x.Signer.Family() == k.Signer.Family() {
			return fmt.Errorf("two %s keys are configured (%s and %s): the wallet holds one per family; unset one", familyTitle(k.Signer.Family()), x.Source, k.Source)
		}
	}
	w.keys = append(w.keys, k)
	return nil
}

// EVM returns the EVM signer, or nil.
func (w *Wallet) EVM() evm.Signer {
	for _, k := range w.Keys() {
		if s, ok := k.Signer.(evm.Signer); ok {
			return s
		}
	}
	return nil
}

// Solana returns the Solana signer, or nil.
func (w *Wallet) Solana() svm.Signer {
	for _, k := range w.Keys() {
		if s, ok := k.Signer.(svm.Signer); ok {
			return s
		}
	}
	return nil
}

// Signers returns the signers the paying core uses.
func (w *Wallet) Signers() payments.Signers {
	var s payments.Signers
	for _, k := range w.Keys() {
		s = append(s, k.Signer)
	}
	return s
}

func (w Wallet) String() string {
	parts := make([]string, len(w.keys))
	for i, k := range w.keys {
		parts[i] = k.Signer.Payer() + " (" + k.Source.String() + ")"
	}
	return "wallet(" + strings.Join(parts, ", ") + ")"
}

// GoString shows what String shows.
func (w Wallet) GoString() string { return w.String() }

// LogValue shows each key's address and source.
func (w Wallet) LogValue() slog.Value {
	parts := make([]string, len(w.keys))
	for i, k := range w.keys {
		parts[i] = k.Signer.Payer() + " (" + k.Source.String() + ")"
	}
	return slog.StringValue(strings.Join(parts, ", "))
}

// Load reads the wallet's keys from where the environment says they live.
// The EVM key: from exactly one of X402_PRIVATE_KEY (hex), X402_KEY_FILE (a
// file with a hex key), X402_KEYSTORE (with its passphrase), X402_CLEF (an
// external signer) or X402_AWS_KMS_KEY_ID (a KMS key). The Solana key: from
// exactly one of X402_SOLANA_PRIVATE_KEY (base58), X402_SOLANA_KEYPAIR (a
// solana-keygen keypair file) or X402_SOLANA_KEYSTORE (with its
// passphrase). Or either from an entry of X402_KEYCHAIN (the OS keychain;
// each entry records its family). A remote signer is asked for its address
// within ctx. Two sources for one family are an error, never a silent
// choice. Errors never hold key material.
func Load(ctx context.Context, getenv func(string) string) (*Wallet, error) {
	w := &Wallet{}
	for _, fam := range []struct {
		name    string
		sources []string
		load    func(context.Context, string, func(string) string) (Key, error)
	}{
		{evm.Name, []string{payments.EnvPrivateKey, payments.EnvKeyFile, payments.EnvKeystore, payments.EnvClef, payments.EnvAWSKMSKeyID}, loadEVM},
		{svm.Name, []string{payments.EnvSolanaPrivateKey, payments.EnvSolanaKeypair, payments.EnvSolanaKeystore}, loadSolana},
	} {
		var set []string
		for _, name := range fam.sources {
			if getenv(name) != "" {
				set = append(set, name)
			}
		}
		title := familyTitle(fam.name)
		switch len(set) {
		case 0:
			continue
		case 1:
		case 2:
			return nil, fmt.Errorf("%s and %s are both set: each names where the %s key lives and the wallet holds one; unset one", set[0], set[1], title)
		default:
			return nil, fmt.Errorf("%s and %s are all set: each names where the %s key lives and the wallet holds one; unset all but one", strings.Join(set[:len(set)-1], ", "), set[len(set)-1], title)
		}
		k, err := fam.load(ctx, set[0], getenv)
		if err != nil {
			return nil, err
		}
		if err := w.add(k); err != nil {
			return nil, err
		}
	}
	if v := getenv(payments.EnvKeychain); v != "" {
		keys, err := loadKeychain(ctx, v)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if err := w.add(k); err != nil {
				return nil, fmt.Errorf("%s: %w", payments.EnvKeychain, err)
			}
		}
	}
	if len(w.keys) == 0 {
		return nil, ErrNoWallet
	}
	return w, nil
}

// loadSolana reads the Solana key from the source the variable name names
// (svm.LoadKey reads it: it is the only Solana variable set).
func loadSolana(_ context.Context, name string, getenv func(string) string) (Key, error) {
	k, err := svm.LoadKey(getenv)
	if err != nil {
		return Key{}, err
	}
	src := Source{Kind: SourceEnv, Where: name}
	switch name {
	case payments.EnvSolanaKeypair:
		src = Source{Kind: SourceKeypairFile, Where: getenv(name)}
	case payments.EnvSolanaKeystore:
		src = Source{Kind: SourceKeystore, Where: getenv(name)}
	}
	return Key{Signer: k, Source: src}, nil
}

// loadEVM reads the EVM key from the source the variable name names.
func loadEVM(ctx context.Context, name string, getenv func(string) string) (Key, error) {
	v := getenv(name)
	switch name {
	case payments.EnvPrivateKey:
		k, err := ParseHexKey(v)
		if err != nil {
			return Key{}, fmt.Errorf("%s: %w", name, err)
		}
		return Key{Signer: k, Source: Source{Kind: SourceEnv, Where: name}}, nil
	case payments.EnvKeyFile:
		b, err := os.ReadFile(v)
		if err != nil {
			return Key{}, fmt.Errorf("%s: read key file: %w", name, err)
		}
		defer clear(b)
		k, err := ParseHexKey(string(b))
		if err != nil {
			return Key{}, fmt.Errorf("%s %s: %w", name, v, err)
		}
		return Key{Signer: k, Source: Source{Kind: SourceKeyFile, Where: v}}, nil
	case payments.EnvKeystore:
		pass, err := keystorePassword(getenv)
		if err != nil {
			return Key{}, err
		}
		k, err := OpenKeystore(v, pass)
		if err != nil {
			return Key{}, err
		}
		return Key{Signer: k, Source: Source{Kind: SourceKeystore, Where: v}}, nil
	case payments.EnvClef:
		c, err := DialClef(ctx, v, getenv(payments.EnvClefAccount))
		if err != nil {
			return Key{}, fmt.Errorf("%s: %w", name, err)
		}
		return Key{Signer: c, Source: c.Source()}, nil
	case payments.EnvAWSKMSKeyID:
		k, err := OpenKMS(ctx, v)
		if err != nil {
			return Key{}, fmt.Errorf("%s: %w", name, err)
		}
		return Key{Signer: k, Source: k.Source()}, nil
	}
	return Key{}, fmt.Errorf("%s is not a key source", name)
}

// ErrNoWallet is the error of an environment that names no key.
var ErrNoWallet = fmt.Errorf("no wallet configured: set %s (an OS keychain entry; `x402-mcp wallet new --keychain [--family solana]` creates one); for EVM, %s (a clef signer), %s (an AWS KMS key), %s (encrypted keystore, with %s or %s; `x402-mcp wallet new` creates one), %s (file with a hex key) or %s (hex key); for Solana, %s (encrypted keystore, with %s or %s; `x402-mcp wallet new --family solana` creates one), %s (a solana-keygen keypair file) or %s (base58 secret)",
	payments.EnvKeychain, payments.EnvClef, payments.EnvAWSKMSKeyID, payments.EnvKeystore, payments.EnvKeystorePassword, payments.EnvKeystorePassFile, payments.EnvKeyFile, payments.EnvPrivateKey,
	payments.EnvSolanaKeystore, payments.EnvSolanaKeystorePassword, payments.EnvSolanaKeystorePassFile, payments.EnvSolanaKeypair, payments.EnvSolanaPrivateKey)

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

// familyTitle names a family for messages.
func familyTitle(name string) string {
	switch name {
	case evm.Name:
		return "EVM"
	case svm.Name:
		return "Solana"
	}
	return name
}
