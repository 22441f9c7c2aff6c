// Package component decides what a test does when something it needs
// beyond Go is not installed: Node.js with an npm package (the TypeScript
// MCP SDK client, the OAuth authorization server, the benchmark's reference
// server, the offline Solana of test/solana), Chromium (the dashboard's
// browser test), a PostgreSQL server (the ledger's second backend, through
// internal/pgtest) or the components that hold keys (clef, local-kms,
// GNOME Keyring: internal/keytest). A plain `go test
// ./...` skips the test, saying what is missing and which command runs it;
// the README's test command (.ci/run, which installs every component and
// sets the X402_REQUIRE_* variables) fails it instead, so that a broken
// setup never passes as a skip.
package component

import (
	"os"
	"os/exec"
	"testing"
)

// The variables that make a missing component a failure; .ci/run sets
// them all.
const (
	// EnvNode covers Node.js and the npm packages of test/ts, test/oauth
	// and bench/ref.
	EnvNode = "X402_REQUIRE_NODE"
	// EnvBrowser covers Chromium.
	EnvBrowser = "X402_REQUIRE_BROWSER"
	// EnvSolana covers Node.js and test/solana's packages: Surfnet, an
	// offline Solana whose npm package carries a native binary for a few
	// platforms only, and the reference x402 Solana facilitator
	// (internal/solanatest runs both). It has a variable of its own so that
	// requiring Node.js does not require a platform Surfnet runs on.
	EnvSolana = "X402_REQUIRE_SOLANA"
	// EnvPostgres covers PostgreSQL (internal/pgtest).
	EnvPostgres = "X402_REQUIRE_POSTGRES"
	// EnvKeys covers what the key sources' tests run against: clef,
	// local-kms, GNOME Keyring and D-Bus (internal/keytest).
	EnvKeys = "X402_REQUIRE_KEYS"
)

// Missing ends t because a component is not here: it fails t when the
// variable env is set, and skips it otherwise. what says what is missing
// and what it is for; run is how to install it and run the test.
func Missing(t testing.TB, env, what, run string) {
	t.Helper()
	if os.Getenv(env) != "" {
		t.Fatalf("%s, and %s is set (as .ci/run sets it), so the test fails instead of skipping: %s", what, env, run)
	}
	t.Skipf("%s, so this test does not run: %s (with %s=1, as in .ci/run, it fails instead)", what, run, env)
}

// Node is a test's need of Node.js and one npm package.
type Node struct {
	// Env is the variable that makes its absence a failure: EnvNode when
	// empty.
	Env string
	// For says what the test runs on Node.js, e.g. "the OAuth tests run a
	// real authorization server (oidc-provider, test/oauth)".
	For string
	// Modules names the directory npm installs into, as a person reads it
	// (test/oauth/node_modules); Check is a file the install leaves there,
	// whose absence says the package is missing (the package's
	// package.json).
	Modules, Check string
	// Install installs the package, e.g. "(cd test/oauth && npm ci)".
	Install string
	// Run is the command that runs the tests that need it.
	Run string
}

// RequireNode returns when node is on PATH and n's package is installed
// (n.Check exists);
// otherwise it ends t with Missing (n.Env, else EnvNode), naming what to
// install and n.Run.
func RequireNode(t testing.TB, n Node) {
	t.Helper()
	env := n.Env
	if env == "" {
		env = EnvNode
	}
	if _, err := exec.LookPath("node"); err != nil {
		Missing(t, env, "node is not on PATH: "+n.For+" on Node.js 20.19 or later",
			"install Node.js, then run: "+n.Install+" && "+env+"=1 "+n.Run+"; `bash .ci/run` does both")
		return
	}
	if _, err := os.Stat(n.Check); err != nil {
		Missing(t, env, n.Modules+" is missing: "+n.For,
			"run: "+n.Install+" && "+env+"=1 "+n.Run+"; `bash .ci/run` does both")
	}
}
