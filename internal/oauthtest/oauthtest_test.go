package oauthtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// envHelper makes TestRequireHelper run: only TestRequireWithoutNode's
// child process sets it.
const envHelper = "X402_OAUTHTEST_HELPER"

// TestRequireHelper is TestRequireWithoutNode's child: it calls Require on a
// PATH without node. It does nothing in an ordinary run.
func TestRequireHelper(t *testing.T) {
	if os.Getenv(envHelper) == "" {
		return
	}
	Require(t)
	t.Log("Require returned") // it must skip or fail first
}

// TestRequireWithoutNode: where Node.js is missing, a plain go test skips an
// OAuth test, naming what to install and the command that runs it, and the
// README's test command (.ci/run, which sets X402_REQUIRE_NODE) fails it.
// The test runs this package's test binary again, on a PATH that holds no
// node, as the child.
func TestRequireWithoutNode(t *testing.T) {
	for _, tt := range []struct {
		name    string
		require string
		fail    bool
		say     []string
	}{
		{"plain go test: skip", "", false, []string{"--- SKIP: TestRequireHelper", "node is not on PATH", "(cd test/oauth && npm ci)", "go test ./server ./test -run OAuth", "X402_REQUIRE_NODE=1"}},
		{"X402_REQUIRE_NODE set: fail", "1", true, []string{"--- FAIL: TestRequireHelper", "node is not on PATH", "X402_REQUIRE_NODE is set", "(cd test/oauth && npm ci)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRequireHelper$", "-test.v")
			cmd.Env = append(os.Environ(), envHelper+"=1", "PATH="+t.TempDir(), "X402_REQUIRE_NODE="+tt.require)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tt.fail {
				t.Fatalf("the child failed: %v, want %v:\n%s", failed, tt.fail, out)
			}
			for _, s := range tt.say {
				if !strings.Contains(string(out), s) {
					t.Errorf("the child's output lacks %q:\n%s", s, out)
				}
			}
			if strings.Contains(string(out), "Require returned") {
				t.Errorf("Require returned without node:\n%s", out)
			}
		})
	}
}
