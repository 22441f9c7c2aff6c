package payments

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
)

// The environment variables x402-mcp reads its own secrets from: the
// wallet's keys (EVM and Solana) and where they are kept (the OS keychain,
// clef, AWS KMS with the AWS credentials), the keystores' passphrases, the
// MCP bearer token, and the PostgreSQL ledger's password and pass file
// (which pgx reads itself, as libpq does). A secret is never a flag:
// command lines are visible to every user of the machine. Every reader of a
// secret uses these names, and SecretEnv lists them all: a catalog's ${ENV}
// references may read none of them (a catalog is often written by someone
// other than the operator).
const (
	EnvPrivateKey       = "X402_PRIVATE_KEY"
	EnvKeyFile          = "X402_KEY_FILE"
	EnvKeystore         = "X402_KEYSTORE"
	EnvKeystorePassword = "X402_KEYSTORE_PASSWORD"
	EnvKeystorePassFile = "X402_KEYSTORE_PASSWORD_FILE"
	EnvMCPToken         = "X402_MCP_TOKEN"
	// Keys that never sit in the clear: the OS keychain's entries; clef (an
	// external signer) and the account it pays from; an AWS KMS key, and the
	// AWS credentials the KMS signer uses (the AWS SDK reads them itself;
	// they are listed so that no catalog can read them).
	EnvKeychain           = "X402_KEYCHAIN"
	EnvClef               = "X402_CLEF"
	EnvClefAccount        = "X402_CLEF_ACCOUNT"
	EnvAWSKMSKeyID        = "X402_AWS_KMS_KEY_ID"
	EnvAWSAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvAWSSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvAWSSessionToken    = "AWS_SESSION_TOKEN"

	// The PostgreSQL ledger's password, and the file that holds it.
	EnvPGPassword = "PGPASSWORD"
	EnvPGPassFile = "PGPASSFILE"

	// The Solana key (package svm reads them): a base58 secret, a Solana
	// CLI keypair file, or an encrypted keystore and its passphrase.
	EnvSolanaPrivateKey       = "X402_SOLANA_PRIVATE_KEY"
	EnvSolanaKeypair          = "X402_SOLANA_KEYPAIR"
	EnvSolanaKeystore         = "X402_SOLANA_KEYSTORE"
	EnvSolanaKeystorePassword = "X402_SOLANA_KEYSTORE_PASSWORD"
	EnvSolanaKeystorePassFile = "X402_SOLANA_KEYSTORE_PASSWORD_FILE"
)

// secretEnv describes each secret variable, for messages.
var secretEnv = []struct{ name, what string }{
	{EnvPrivateKey, "the wallet's private key"},
	{EnvKeyFile, "the path of the wallet's key file"},
	{EnvKeystore, "the path of the wallet's keystore"},
	{EnvKeystorePassword, "the keystore's passphrase"},
	{EnvKeystorePassFile, "the path of the keystore's passphrase file"},
	{EnvMCPToken, "the bearer token of the MCP HTTP transport"},
	{EnvKeychain, "the OS keychain entries of the wallet's keys"},
	{EnvClef, "the endpoint of the clef signer that holds the wallet's key"},
	{EnvClefAccount, "the clef account the wallet pays from"},
	{EnvAWSKMSKeyID, "the AWS KMS key that signs for the wallet"},
	{EnvAWSAccessKeyID, "the AWS access key id of the KMS signer"},
	{EnvAWSSecretAccessKey, "the AWS secret access key of the KMS signer"},
	{EnvAWSSessionToken, "the AWS session token of the KMS signer"},
	{EnvPGPassword, "the PostgreSQL ledger's password"},
	{EnvPGPassFile, "the path of the PostgreSQL ledger's password file"},
	{EnvSolanaPrivateKey, "the Solana wallet's private key"},
	{EnvSolanaKeypair, "the path of the Solana wallet's keypair file"},
	{EnvSolanaKeystore, "the path of the Solana wallet's keystore"},
	{EnvSolanaKeystorePassword, "the Solana keystore's passphrase"},
	{EnvSolanaKeystorePassFile, "the path of the Solana keystore's passphrase file"},
}

// SecretEnv lists the environment variables x402-mcp reads its own secrets
// from.
func SecretEnv() []string {
	out := make([]string, len(secretEnv))
	for i, s := range secretEnv {
		out[i] = s.name
	}
	return out
}

// SecretEnvWhat says what x402-mcp keeps in the environment variable name
// ("the wallet's private key"), and whether name is one of its secrets. Case
// is ignored: on Windows ${x402_private_key} reads X402_PRIVATE_KEY.
func SecretEnvWhat(name string) (string, bool) {
	for _, s := range secretEnv {
		if strings.EqualFold(s.name, name) {
			return s.what, true
		}
	}
	return "", false
}

// minSecretText is the shortest value Redaction.Text replaces in free
// text: a shorter one is too common a string to replace everywhere (and
// too short to be a credential). A URL hides every value, however short.
const minSecretText = 6

// Redaction says how to show a request or endpoint whose URL or headers
// carry values expanded from the catalog's ${ENV} references. The catalog
// (tools) builds it when it expands a template, knowing which parts came
// from the environment; payments uses it wherever the request is shown,
// logged, stored or signed: errors, the approval question, the ledger's
// resource, the signed payload's resource, logs. A nil *Redaction hides
// nothing but a URL's query and user info.
type Redaction struct {
	// URL is the URL as shown: each ${ENV} value in its path, query or
	// fragment written ${NAME}, and no user info. The scheme and host are
	// shown as they are (they say where money goes).
	URL string
	// sent is the URL as sent, as Go's HTTP client quotes it in errors.
	sent    string
	secrets []secretValue
}

type secretValue struct {
	name  string
	forms []string // the value as written and escaped, longest first
}

// NewRedaction returns the redaction of a URL sent as sent and shown as
// shown.
func NewRedaction(sent, shown string) *Redaction {
	return &Redaction{URL: shown, sent: sent}
}

// SetURL sets the URL as sent (as Go's HTTP client quotes it in errors)
// and as shown.
func (r *Redaction) SetURL(sent, shown string) {
	r.sent, r.URL = sent, shown
}

// AddSecret records that value came from ${name} (in the URL or a header):
// Text replaces it, as written, URL-escaped or JSON-escaped, with ${name}.
func (r *Redaction) AddSecret(name, value string) {
	if r == nil || len(value) < minSecretText {
		return
	}
	forms := []string{value, url.PathEscape(value), url.QueryEscape(value), (&url.URL{Path: value}).EscapedPath()}
	if b, err := json.Marshal(value); err == nil {
		forms = append(forms, string(b[1:len(b)-1]))
	}
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	var uniq []string
	for _, f := range forms {
		if len(uniq) == 0 || uniq[len(uniq)-1] != f {
			uniq = append(uniq, f)
		}
	}
	r.secrets = append(r.secrets, secretValue{name: name, forms: uniq})
	// Longer values first, so that a value inside another is not replaced
	// first and the other left half shown.
	sort.SliceStable(r.secrets, func(i, j int) bool { return len(r.secrets[i].forms[0]) > len(r.secrets[j].forms[0]) })
}

// Text returns s with the URL as sent replaced by the URL as shown, and
// every recorded secret value replaced by ${NAME}.
func (r *Redaction) Text(s string) string {
	if r == nil {
		return s
	}
	if r.sent != "" && r.sent != r.URL {
		s = strings.ReplaceAll(s, r.sent, r.URL)
	}
	for _, sv := range r.secrets {
		for _, f := range sv.forms {
			s = strings.ReplaceAll(s, f, "${"+sv.name+"}")
		}
	}
	return s
}

// Err returns err with its text passed through Text; it still unwraps to
// err (for errors.Is and errors.As), so only its own Error is redacted.
func (r *Redaction) Err(err error) error {
	if r == nil || err == nil {
		return err
	}
	msg := err.Error()
	if red := r.Text(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

// redactedError is an error whose text hides secrets.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// shownURL is the URL of req as shown: the Redaction's URL, or req's
// without its query and user info.
func (r *Redaction) shownURL(sent *url.URL) string {
	if r != nil && r.URL != "" {
		return r.URL
	}
	u := *sent
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// resource returns a v2 challenge's resource object as the payment echoes
// it: its url is the request's as shown, and every other string hides the
// secrets (a seller may quote the request in its description). raw is
// returned as it is when nothing changes or it is not an object.
func (r *Redaction) resource(raw json.RawMessage, shown string) json.RawMessage {
	if len(raw) == 0 || r == nil {
		return raw
	}
	var res map[string]any
	if err := json.Unmarshal(raw, &res); err != nil {
		return raw
	}
	before, err := json.Marshal(res)
	if err != nil {
		return raw
	}
	for k, v := range res {
		if k == "url" {
			res[k] = shown
			continue
		}
		res[k] = r.value(v)
	}
	after, err := json.Marshal(res)
	if err != nil || string(after) == string(before) {
		return raw
	}
	return after
}

// value hides the secrets in every string of a decoded JSON value.
func (r *Redaction) value(v any) any {
	switch v := v.(type) {
	case string:
		return r.Text(v)
	case map[string]any:
		for k, e := range v {
			v[k] = r.value(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = r.value(e)
		}
		return v
	}
	return v
}
