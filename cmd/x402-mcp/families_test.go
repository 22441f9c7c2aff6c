package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/svm"
)

// testFamilies are the network families the tests read catalogs with, as
// the command wires them in.
var testFamilies = payments.Families{evm.Family{}, svm.Family{}}

// TestFamiliesNameTheirSchemes: the schemes each family says it pays
// (Family.Schemes, which the catalog judges scheme: by) are exactly the
// schemes newSchemes wires in for it, so that the catalog refuses at load
// what the paying client could not pay, and nothing it could.
func TestFamiliesNameTheirSchemes(t *testing.T) {
	s := newSchemes(noChains())
	var all []string
	for _, f := range families {
		for _, name := range f.Schemes() {
			if !slices.Contains(all, name) {
				all = append(all, name)
			}
		}
	}
	if len(all) == 0 {
		t.Fatal("no family names a scheme")
	}
	for _, f := range families {
		for _, name := range all {
			says, wired := slices.Contains(f.Schemes(), name), s.Lookup(f.Name(), name) != nil
			if says != wired {
				t.Errorf("%s: Schemes() names %s: %v; newSchemes wires it: %v", f.Title(), name, says, wired)
			}
		}
	}
}

// TestCheckRefusesUptoOnSolana: `check`, and serve when it loads the
// catalog, refuse an upto entry pinned to Solana, whose sellers are paid
// with exact, naming the tool, the field and the fix; the same entry open
// to EVM and Solana networks is accepted.
func TestCheckRefusesUptoOnSolana(t *testing.T) {
	dir := t.TempDir()
	src := "version: 1\ndefaults:\n  networks: [eip155:84532, solana-devnet]\ntools:\n  - name: llm\n    description: Text, by the token.\n    url: https://llm.example/v1/generate\n    max_price: \"0.05\"\n    scheme: upto\n"
	open, pinned := filepath.Join(dir, "open.yaml"), filepath.Join(dir, "pinned.yaml")
	if err := os.WriteFile(open, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pinned, []byte(src+"    family: solana\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCmd(t, nil, "check", open); err != nil || !strings.Contains(out, "llm") {
		t.Fatalf("check refused an upto entry open to EVM: %v\n%s", err, out)
	}
	env := map[string]string{"X402_LEDGER": filepath.Join(dir, "ledger.db")}
	for _, args := range [][]string{{"check", pinned}, {"serve", "--registry", pinned}} {
		_, _, err := runCmd(t, env, args...)
		want := `tools[0] "llm": scheme: upto is an EVM scheme, and family: solana pins Solana devnet`
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "remove scheme:, or pin family: evm instead") {
			t.Errorf("%s: %v, want %q and the fix", args[0], err, want)
		}
	}
}
