package wallet

import (
	"net/url"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments/svm"
)

// Source says where a key lives: what `wallet show` prints and what the
// mainnet guard judges. It never holds the key, a passphrase or a
// credential: Where is a variable's name, a path, a keychain entry, a
// signer's endpoint without user info or query, or a KMS key id.
type Source struct {
	Kind SourceKind
	// Where names the key within its kind.
	Where string
}

// SourceKind is how a key is kept.
type SourceKind string

// The key sources, from the plainest to the most protected.
const (
	// SourceEnv: a hex key in an environment variable, in the clear.
	SourceEnv SourceKind = "environment variable"
	// SourceKeyFile: a hex key in a file, in the clear.
	SourceKeyFile SourceKind = "key file"
	// SourceKeypairFile: a Solana CLI keypair file (solana-keygen's JSON
	// array), in the clear.
	SourceKeypairFile SourceKind = "keypair file"
	// SourceKeystore: a Web3 v3 keystore, encrypted under a passphrase
	// that x402-mcp reads from the environment or a file.
	SourceKeystore SourceKind = "keystore"
	// SourceKeychain: the OS keychain (Secret Service, macOS Keychain,
	// Windows Credential Manager), read into memory at start; never in a
	// file of x402-mcp's.
	SourceKeychain SourceKind = "OS keychain"
	// SourceClef: go-ethereum's clef holds the key in its own encrypted
	// store and signs under its own rules; x402-mcp never sees the key.
	SourceClef SourceKind = "clef"
	// SourceKMS: an AWS KMS key that never leaves KMS.
	SourceKMS SourceKind = "AWS KMS"
	// SourceMemory: a throwaway key generated in memory, as `x402-mcp demo`
	// makes one; it is gone when the process ends.
	SourceMemory SourceKind = "memory"
)

// String says where the key lives, as `wallet show` and x402_wallet show
// it: the kind, then Where. A Where that is a URL is shown without its user
// info, query and fragment, where a credential could sit.
func (s Source) String() string {
	if s.Where == "" {
		return string(s.Kind)
	}
	return string(s.Kind) + " " + shownWhere(s.Where)
}

// shownWhere is w without the user info, query and fragment of a URL.
func shownWhere(w string) string {
	if !strings.Contains(w, "://") {
		return w
	}
	u, err := url.Parse(w)
	if err != nil {
		// Not a URL we can read: show no more than its scheme.
		return w[:strings.Index(w, "://")] + "://(a URL that does not parse)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// Plain reports a key kept in the clear: in an environment variable, a hex
// key file or a Solana keypair file, readable by anything that reads the
// process's environment or the file.
func (s Source) Plain() bool {
	return s.Kind == SourceEnv || s.Kind == SourceKeyFile || s.Kind == SourceKeypairFile
}

// Remote reports a key x402-mcp never holds: an external signer or a KMS
// signs for it.
func (s Source) Remote() bool { return s.Kind == SourceClef || s.Kind == SourceKMS }

// SaferSources names the key sources of a family (its Name: "evm",
// "svm") that keep a key out of the clear, for messages: the mainnet
// guard's warning, `wallet show`.
func SaferSources(family string) string {
	if family == svm.Name {
		return "the OS keychain (X402_KEYCHAIN; `x402-mcp wallet new --keychain --family solana`) or an encrypted keystore (X402_SOLANA_KEYSTORE; `x402-mcp wallet new --family solana`)"
	}
	return "the OS keychain (X402_KEYCHAIN; `x402-mcp wallet new --keychain`), an external signer (X402_CLEF) or an AWS KMS key (X402_AWS_KMS_KEY_ID)"
}
