// Package keytest starts the real components that hold keys for x402-mcp
// in tests: go-ethereum's clef (an external signer, headless: its rules
// file approves or refuses, its credential store holds the account's
// password), local-kms (an AWS KMS emulator with secp256k1 keys) and a
// GNOME Keyring on a private D-Bus session (the Secret Service of the OS
// keychain). It is internal: only tests use it.
//
// The component rule (internal/component): a test that needs a component
// that is not installed skips in a plain `go test ./...`, with a message
// naming the command that installs it (scripts/keys-tools.sh, which .ci/run
// runs), and fails when X402_REQUIRE_KEYS=1 (set by .ci/run) or CI=1 (or
// true) is set.
package keytest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/component"
)

// Required reports whether a missing component fails the test rather than
// skipping it: X402_REQUIRE_KEYS=1 (component.EnvKeys, which .ci/run sets),
// or CI=1 or CI=true.
func Required() bool {
	if os.Getenv(component.EnvKeys) != "" {
		return true
	}
	switch os.Getenv("CI") {
	case "1", "true":
		return true
	}
	return false
}

// missing ends t under the component rule (component.Missing): what is
// missing, and the command that installs it and runs the test.
func missing(t testing.TB, what string) {
	t.Helper()
	run := "run scripts/keys-tools.sh (it builds clef and local-kms into " + ToolsDir() +
		" and installs gnome-keyring, dbus and libsecret-tools), then " + component.EnvKeys + "=1 go test ./payments/wallet ./test; `bash .ci/run` does both"
	if Required() && os.Getenv(component.EnvKeys) == "" {
		t.Fatalf("%s, and CI is set, so the test fails instead of skipping: %s", what, run)
	}
	component.Missing(t, component.EnvKeys, what, run)
}

// ToolsDir is where scripts/keys-tools.sh builds clef and local-kms:
// $X402_TOOLS_DIR, else x402-mcp/tools in the user's cache folder
// (~/.cache/x402-mcp/tools on Linux).
func ToolsDir() string {
	if d := os.Getenv("X402_TOOLS_DIR"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "x402-mcp-tools")
	}
	return filepath.Join(d, "x402-mcp", "tools")
}

// Tool returns the path of the program name: in ToolsDir, else on PATH. A
// missing one skips t (or fails it, under the component rule).
func Tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(ToolsDir(), name)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	missing(t, name+" is not installed (not in "+ToolsDir()+" nor on PATH)")
	return ""
}

// errNotReady is the error of a component that did not start in time.
var errNotReady = errors.New("did not start in time")

// stopProcess interrupts a test's helper process, waits up to grace for it
// to exit (exited is closed by the goroutine that waits on cmd), then kills
// it. A process that cannot be signalled or killed is logged, naming it:
// the test's result stands either way, but a leftover daemon should show.
func stopProcess(t testing.TB, name string, cmd *exec.Cmd, exited <-chan struct{}, grace time.Duration) {
	if err := cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Logf("keytest: interrupting %s: %v", name, err)
	}
	select {
	case <-exited:
	case <-time.After(grace):
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Logf("keytest: killing %s: %v", name, err)
		}
		<-exited
	}
}
