package wallet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/gagliardetto/solana-go/base58"
	"github.com/zalando/go-keyring"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/svm"
)

// Keychain is the OS's protected store of secrets: the Secret Service on
// Linux (GNOME Keyring, KWallet), the Keychain on macOS, the Credential
// Manager on Windows (OSKeychain, through go-keyring). A key kept there is
// encrypted by the OS under the user's login and never touches a file of
// x402-mcp's; x402-mcp reads it into memory at start.
type Keychain interface {
	Get(service, account string) (string, error)
	Set(service, account, secret string) error
}

// OSKeychain is the OS keychain, through github.com/zalando/go-keyring.
var OSKeychain Keychain = osKeychain{}

type osKeychain struct{}

func (osKeychain) Get(service, account string) (string, error) { return keyring.Get(service, account) }
func (osKeychain) Set(service, account, secret string) error {
	return keyring.Set(service, account, secret)
}

// KeychainTimeout bounds one request to the OS keychain (it may ask its
// user to unlock it or to allow x402-mcp).
const KeychainTimeout = 2 * time.Minute

// DefaultKeychainService is the keychain service `wallet new --keychain`
// stores keys under.
const DefaultKeychainService = "x402-mcp"

// DefaultKeychainEntry is the entry `wallet new --keychain` stores a key of
// family in unless told another: x402-mcp/default for EVM, x402-mcp/solana
// for Solana, so that one of each can sit side by side.
func DefaultKeychainEntry(family string) KeychainEntry {
	if family == svm.Name {
		return KeychainEntry{Service: DefaultKeychainService, Account: "solana"}
	}
	return KeychainEntry{Service: DefaultKeychainService, Account: "default"}
}

// KeychainEntry names one secret in the keychain: X402_KEYCHAIN writes it
// <service>/<account>.
type KeychainEntry struct {
	Service, Account string
}

func (e KeychainEntry) String() string { return e.Service + "/" + e.Account }

// ParseKeychainEntry reads <service>/<account> (the service has no "/").
func ParseKeychainEntry(s string) (KeychainEntry, error) {
	service, account, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || service == "" || account == "" {
		return KeychainEntry{}, fmt.Errorf("keychain entry %q is not <service>/<account> (such as %s/default)", payments.Sanitize(s, 80), DefaultKeychainService)
	}
	return KeychainEntry{Service: service, Account: account}, nil
}

// keychainSecret is what x402-mcp stores in a keychain entry: the key and
// the family it belongs to, so that one X402_KEYCHAIN can name an EVM key
// and a Solana key. An EVM key is 64 hex digits; a Solana key is its
// 64-byte keypair in base58 (as wallets such as Phantom export it).
type keychainSecret struct {
	X402   int    `json:"x402"` // the format's version: 1
	Family string `json:"family"`
	Key    string `json:"key"`
}

// loadKeychain reads the keys of X402_KEYCHAIN: entries separated by
// commas, each <service>/<account>, each holding one key of a family.
func loadKeychain(ctx context.Context, spec string) ([]Key, error) {
	var keys []Key
	for _, part := range strings.Split(spec, ",") {
		e, err := ParseKeychainEntry(part)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", payments.EnvKeychain, err)
		}
		k, err := OpenKeychain(ctx, OSKeychain, e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", payments.EnvKeychain, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// OpenKeychain reads the key in entry e of kc. Its errors name the entry,
// never its content.
func OpenKeychain(ctx context.Context, kc Keychain, e KeychainEntry) (Key, error) {
	raw, err := withTimeout(ctx, func() (string, error) { return kc.Get(e.Service, e.Account) })
	if errors.Is(err, keyring.ErrNotFound) {
		return Key{}, fmt.Errorf("the OS keychain has no entry %s: create one with `x402-mcp wallet new --keychain --entry %s`", e, e)
	}
	if err != nil {
		return Key{}, fmt.Errorf("read %s from the OS keychain: %w", e, keychainErr(err))
	}
	var s keychainSecret
	if err := json.Unmarshal([]byte(raw), &s); err != nil || s.X402 != 1 || s.Key == "" {
		return Key{}, fmt.Errorf("the OS keychain entry %s does not hold an x402-mcp key (one written by `x402-mcp wallet new --keychain`)", e)
	}
	src := Source{Kind: SourceKeychain, Where: e.String()}
	switch s.Family {
	case evm.Name:
		k, err := ParseHexKey(s.Key)
		if err != nil {
			return Key{}, fmt.Errorf("the OS keychain entry %s: %w", e, err)
		}
		return Key{Signer: k, Source: src}, nil
	case svm.Name:
		k, err := svm.ParseBase58Key(s.Key)
		if err != nil {
			return Key{}, fmt.Errorf("the OS keychain entry %s: %w", e, err)
		}
		return Key{Signer: k, Source: src}, nil
	}
	return Key{}, fmt.Errorf("the OS keychain entry %s holds a key of the %q family, which this x402-mcp does not pay with", e, payments.Sanitize(s.Family, 20))
}

// StoreInKeychain stores the key of s (an *EVMKey or an *svm.Key, a key
// this process holds) in entry e of kc, recording its family. It refuses an
// entry that already exists: overwriting it could lose a funded key. The
// key never touches a file.
func StoreInKeychain(ctx context.Context, kc Keychain, e KeychainEntry, s payments.Signer) error {
	_, err := withTimeout(ctx, func() (string, error) { return kc.Get(e.Service, e.Account) })
	switch {
	case err == nil:
		return fmt.Errorf("the OS keychain already has an entry %s: choose another with --entry (x402-mcp never overwrites a key)", e)
	case !errors.Is(err, keyring.ErrNotFound):
		return fmt.Errorf("read %s from the OS keychain: %w", e, keychainErr(err))
	}
	var secret []byte
	encode := func(family, key string) error {
		secret, err = json.Marshal(keychainSecret{X402: 1, Family: family, Key: key})
		if err != nil {
			return errors.New("encode the keychain entry")
		}
		return nil
	}
	switch k := s.(type) {
	case *EVMKey:
		b := crypto.FromECDSA(k.key)
		err = encode(evm.Name, hex.EncodeToString(b))
		clear(b)
	case *svm.Key:
		err = k.UseKeypair(func(kp []byte) error { return encode(svm.Name, base58.Encode(kp)) })
	default:
		return fmt.Errorf("the %s key %s is not held by x402-mcp: only a key x402-mcp holds can be stored in the OS keychain", familyTitle(s.Family()), s.Payer())
	}
	if err != nil {
		return err
	}
	defer clear(secret)
	if _, err := withTimeout(ctx, func() (string, error) { return "", kc.Set(e.Service, e.Account, string(secret)) }); err != nil {
		return fmt.Errorf("store %s in the OS keychain: %w", e, keychainErr(err))
	}
	return nil
}

// StoreInKeychain stores w in entry e of kc (the package's
// StoreInKeychain).
func (w *EVMKey) StoreInKeychain(ctx context.Context, kc Keychain, e KeychainEntry) error {
	return StoreInKeychain(ctx, kc, e, w)
}

// withTimeout runs f, a keychain request that takes no context, within ctx
// and KeychainTimeout. A request that does not return in time is left to
// finish on its own.
func withTimeout(ctx context.Context, f func() (string, error)) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, KeychainTimeout)
	defer cancel()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := f()
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		return "", fmt.Errorf("no answer in time (is the keychain locked, waiting for its user?): %w", ctx.Err())
	}
}

// keychainErr explains the OS keychain's error. The error itself never
// holds a secret (go-keyring reports D-Bus and OS errors).
func keychainErr(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "org.freedesktop.secrets") || strings.Contains(msg, "DBUS_SESSION_BUS_ADDRESS") || strings.Contains(msg, "dbus") {
		return fmt.Errorf("no Secret Service on the session bus (on Linux, a keyring such as gnome-keyring must run, unlocked, in the user's D-Bus session): %w", err)
	}
	return err
}
