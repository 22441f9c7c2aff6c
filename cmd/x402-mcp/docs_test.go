package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEToolList: README.md's tool list is the one `x402-mcp docs`
// generates from the tool definitions. When it fails, run
// `go run ./cmd/x402-mcp docs` at the repository root and commit README.md.
func TestREADMEToolList(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := toolDocs()
	if err != nil {
		t.Fatal(err)
	}
	want, err := replaceToolList(readme, list)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if !bytes.Equal(readme, want) {
		t.Fatalf("README.md's tool list is out of date: run `go run ./cmd/x402-mcp docs` at the repository root. It should read:\n%s", list)
	}
	// The list is the real one: every built-in and the example's entries,
	// with their arguments.
	for _, s := range []string{"`x402_wallet`", "`x402_quote`", "`x402_spend_history`", "`x402_tip`", "`x402_find_tools`", "`x402_call`",
		"`weather`", "`tip_jar`", "`city` (string, required)", "listed when the catalog has a `tipping:` section",
		"listed with `defaults.expose: search`", "`outputSchema`"} {
		if !bytes.Contains(list, []byte(s)) {
			t.Errorf("the generated list lacks %s:\n%s", s, list)
		}
	}
}

func TestDocsCommand(t *testing.T) {
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	if err := os.WriteFile(readme, []byte("# x\n\n"+toolsStart+"\nold list\n"+toolsEnd+"\n\nafter\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, nil, "docs", "--readme", readme)
	if err != nil || !strings.Contains(out, "tool list rewritten") {
		t.Fatalf("docs: %q, %v", out, err)
	}
	b, _ := os.ReadFile(readme)
	if strings.Contains(string(b), "old list") || !strings.Contains(string(b), "`x402_wallet`") || !strings.HasSuffix(string(b), toolsEnd+"\n\nafter\n") {
		t.Fatalf("rewritten README:\n%s", b)
	}
	if out, _, err := runCmd(t, nil, "docs", "--readme", readme); err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("second run: %q, %v", out, err)
	}
	if err := os.WriteFile(readme, []byte("no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, nil, "docs", "--readme", readme); err == nil || !strings.Contains(err.Error(), toolsStart) {
		t.Fatalf("a README without markers: %v", err)
	}
}
