package component_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/component"
)

// envHelper selects which helper the child process runs.
const envHelper = "X402_COMPONENT_HELPER"

// TestHelper is the child of TestSkipOrFail: it needs what envHelper names,
// on whatever PATH the parent gave it. It does nothing in an ordinary run.
func TestHelper(t *testing.T) {
	switch os.Getenv(envHelper) {
	case "":
		return
	case "browser":
		component.Missing(t, component.EnvBrowser, "Chromium is not on PATH", "apt-get install chromium, then go test ./test -run TestDashboardInBrowser")
	case "node":
		component.RequireNode(t, component.Node{For: "the thing runs a server", Modules: "test/thing/node_modules",
			Check: filepath.Join(t.TempDir(), "node_modules", "thing", "package.json"), Install: "(cd test/thing && npm ci)", Run: "go test ./test -run Thing"})
	case "solana":
		component.RequireNode(t, component.Node{Env: component.EnvSolana, For: "the thing runs a chain", Modules: "test/chain/node_modules",
			Check: filepath.Join(t.TempDir(), "node_modules", "chain", "package.json"), Install: "(cd test/chain && npm ci)", Run: "go test ./test -run Chain"})
	}
	t.Log("the helper returned") // it must skip or fail first
}

// TestSkipOrFail: a missing component skips a test in a plain go test,
// saying what is missing and how to run it, and fails it when its
// X402_REQUIRE_* variable is set (as .ci/run sets them). Each case runs this
// package's test binary again, as the child, with what it needs missing:
// Chromium, node (an empty PATH), or an npm package (node found, the
// package's file absent), and a component with a variable of its own (the
// real Solana of test/solana: X402_REQUIRE_SOLANA).
func TestSkipOrFail(t *testing.T) {
	empty := t.TempDir()
	// A PATH on which node is found: a stand-in script, since RequireNode
	// only looks for it.
	withNode := t.TempDir()
	if err := os.WriteFile(filepath.Join(withNode, "node"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, helper, path, env, require string
		fail                             bool
		say                              []string
	}{
		{"no Chromium, plain", "browser", empty, component.EnvBrowser, "", false,
			[]string{"--- SKIP", "Chromium is not on PATH, so this test does not run: apt-get install chromium, then go test ./test -run TestDashboardInBrowser", "with X402_REQUIRE_BROWSER=1, as in .ci/run, it fails instead"}},
		{"no Chromium, required", "browser", empty, component.EnvBrowser, "1", true,
			[]string{"--- FAIL", "Chromium is not on PATH, and X402_REQUIRE_BROWSER is set", "go test ./test -run TestDashboardInBrowser"}},
		{"no node, plain", "node", empty, component.EnvNode, "", false,
			[]string{"--- SKIP", "node is not on PATH: the thing runs a server on Node.js", "(cd test/thing && npm ci) && X402_REQUIRE_NODE=1 go test ./test -run Thing", "bash .ci/run"}},
		{"no node, required", "node", empty, component.EnvNode, "1", true,
			[]string{"--- FAIL", "node is not on PATH", "X402_REQUIRE_NODE is set"}},
		{"no package, plain", "node", withNode, component.EnvNode, "", false,
			[]string{"--- SKIP", "test/thing/node_modules is missing: the thing runs a server", "run: (cd test/thing && npm ci)"}},
		{"no package, required", "node", withNode, component.EnvNode, "1", true,
			[]string{"--- FAIL", "test/thing/node_modules is missing", "X402_REQUIRE_NODE is set"}},
		{"no Solana package, plain", "solana", withNode, component.EnvSolana, "", false,
			[]string{"--- SKIP", "test/chain/node_modules is missing: the thing runs a chain", "run: (cd test/chain && npm ci) && X402_REQUIRE_SOLANA=1 go test ./test -run Chain", "with X402_REQUIRE_SOLANA=1, as in .ci/run, it fails instead"}},
		{"no Solana package, required", "solana", withNode, component.EnvSolana, "1", true,
			[]string{"--- FAIL", "test/chain/node_modules is missing", "X402_REQUIRE_SOLANA is set"}},
		{"no node for Solana, required", "solana", empty, component.EnvSolana, "1", true,
			[]string{"--- FAIL", "node is not on PATH: the thing runs a chain", "X402_REQUIRE_SOLANA is set"}},
		// Another component's variable changes nothing.
		{"no node, the browser required", "node", empty, component.EnvBrowser, "1", false, []string{"--- SKIP"}},
		{"no Solana package, Node required", "solana", withNode, component.EnvNode, "1", false, []string{"--- SKIP", "X402_REQUIRE_SOLANA=1"}},
		{"no package, Solana required", "node", withNode, component.EnvSolana, "1", false, []string{"--- SKIP", "X402_REQUIRE_NODE=1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelper$", "-test.v")
			cmd.Env = append(os.Environ(), envHelper+"="+tt.helper, "PATH="+tt.path,
				component.EnvNode+"=", component.EnvBrowser+"=", component.EnvSolana+"=", tt.env+"="+tt.require)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tt.fail {
				t.Fatalf("the child failed: %v, want %v:\n%s", failed, tt.fail, out)
			}
			for _, s := range tt.say {
				if !strings.Contains(string(out), s) {
					t.Errorf("the child's output lacks %q:\n%s", s, out)
				}
			}
			if strings.Contains(string(out), "the helper returned") {
				t.Errorf("the helper went on with its component missing:\n%s", out)
			}
		})
	}
}
