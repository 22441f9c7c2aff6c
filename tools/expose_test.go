package tools_test

import (
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/tools"
)

func TestExpose(t *testing.T) {
	const head = "version: 1\ndefaults:\n"
	const entry = "tools:\n  - {name: a, description: A., url: \"https://a.example/x\", max_price: \"0.01\"}\n"
	for _, tt := range []struct{ defaults, want string }{
		{"", ""}, // the default: tools
		{"  expose: tools\n", tools.ExposeTools},
		{"  expose: search\n", tools.ExposeSearch},
	} {
		reg, err := tools.Parse("r.yaml", []byte(head+tt.defaults+"  timeout: 5s\n"+entry), benchFamilies)
		if err != nil {
			t.Fatal(err)
		}
		if reg.Defaults.Expose != tt.want {
			t.Fatalf("%q: expose %q, want %q", tt.defaults, reg.Defaults.Expose, tt.want)
		}
	}
	// Every mistake is named, the bad expose among them.
	_, err := tools.Parse("r.yaml", []byte(head+"  expose: list\n  max_per_call: \"0\"\n"+entry), benchFamilies)
	if err == nil {
		t.Fatal("expose: list accepted")
	}
	msg := err.Error()
	for _, want := range []string{`r.yaml: defaults.expose: "list" is not a way to list the catalog: write tools`, "or search", "defaults.max_per_call"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q lacks %q", msg, want)
		}
	}
	// A misspelt key lists expose among the allowed ones.
	_, err = tools.Parse("r.yaml", []byte(head+"  exposes: search\n"+entry), benchFamilies)
	if err == nil || !strings.Contains(err.Error(), "approve_above, expose") {
		t.Fatalf("misspelt key: %v", err)
	}
}

func TestEntryMatchesAndNetworks(t *testing.T) {
	reg, err := tools.Parse("r.yaml", []byte("version: 1\ndefaults:\n  networks: [base, base-sepolia]\ntools:\n  - {name: stock_quote, description: The Last trade., url: \"https://a.example/x\", max_price: \"0.01\", network: base}\n  - {name: b, description: B., url: \"https://a.example/x\", max_price: \"0.01\"}\n"), benchFamilies)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := reg.Entry("stock_quote")
	for words, want := range map[string]bool{"": true, "stock": true, "stock quote": true, "last trade": true, "LAST": false, "bond": false} {
		if got := e.Matches(strings.Fields(words)); got != want {
			t.Errorf("Matches(%q) = %v", words, got)
		}
	}
	if ns := e.Networks(); len(ns) != 1 || ns[0] != "eip155:8453" {
		t.Fatalf("pinned networks %v", ns)
	}
	if b, _ := reg.Entry("b"); len(b.Networks()) != 2 {
		t.Fatalf("default networks %v", b.Networks())
	}
}
