package payments

import "strings"

// The environment variables x402-mcp reads its own secrets from: the
// wallet's key and where it is kept, the keystore's passphrase, the MCP
// bearer token. A secret is never a flag: command lines are visible to
// every user of the machine. Every reader of a secret uses these names, and
// SecretEnv lists them all: a catalog's ${ENV} references may read none of
// them (a catalog is often written by someone other than the operator).
const (
	EnvPrivateKey       = "X402_PRIVATE_KEY"
	EnvKeyFile          = "X402_KEY_FILE"
	EnvKeystore         = "X402_KEYSTORE"
	EnvKeystorePassword = "X402_KEYSTORE_PASSWORD"
	EnvKeystorePassFile = "X402_KEYSTORE_PASSWORD_FILE"
	EnvMCPToken         = "X402_MCP_TOKEN"
)

// secretEnv describes each secret variable, for messages.
var secretEnv = []struct{ name, what string }{
	{EnvPrivateKey, "the wallet's private key"},
	{EnvKeyFile, "the path of the wallet's key file"},
	{EnvKeystore, "the path of the wallet's keystore"},
	{EnvKeystorePassword, "the keystore's passphrase"},
	{EnvKeystorePassFile, "the path of the keystore's passphrase file"},
	{EnvMCPToken, "the bearer token of the MCP HTTP transport"},
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
