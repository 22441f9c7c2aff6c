package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/tools"
)

func TestRegistryAddAndImport(t *testing.T) {
	s, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	out, _, err := runCmd(t, nil, "registry", "add", s.URL+"/v2/weather/Paris", "--name", "paris_weather")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: paris_weather", `From the seller (unverified): "Current weather for Paris"`, "max_price: \"0.001\"", "pay_to: " + s.Seller.PayTo().Hex(), "network: eip155:84532", "in: query"} {
		if !strings.Contains(out, want) {
			t.Errorf("add output lacks %q:\n%s", want, out)
		}
	}

	dir := t.TempDir()
	reg := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(reg, []byte("version: 1\ntools: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCmd(t, nil, "registry", "add", "--method", "POST", "--body", `{"text":"a b"}`, s.URL+"/v2/summarize", "--write", reg); err != nil || !strings.Contains(out, "added summarize to") {
		t.Fatalf("add --write: %q, %v", out, err)
	}
	if _, _, err := runCmd(t, nil, "registry", "add", "--method", "POST", "--body", `{"text":"a b"}`, s.URL+"/v2/summarize", "--write", reg); err == nil || !strings.Contains(err.Error(), "already has a tool") {
		t.Errorf("duplicate add: %v", err)
	}
	if r, err := tools.Load(reg, testFamilies); err != nil || len(r.Tools) != 1 || r.Tools[0].Method != "POST" {
		t.Errorf("written registry: %v", err)
	}
	if _, _, err := runCmd(t, nil, "registry", "add", s.URL+"/free/ping"); err == nil || !strings.Contains(err.Error(), "not 402") {
		t.Errorf("free url: %v", err)
	}

	drafts := filepath.Join(dir, "drafts.yaml")
	out, stderr, err := runCmd(t, nil, "registry", "import", "--from", s.URL, "--max-price", "0.005", "--network", "base-sepolia", "--out", drafts)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "wrote 4 drafts") || !strings.Contains(stderr, "over 0.005 USDC") {
		t.Errorf("import output:\n%s\n%s", out, stderr)
	}
	r, err := tools.Load(drafts, testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tools) != 4 || r.Tools[0].Enabled || len(tools.Build(r, nil, nil)) != 0 {
		t.Errorf("drafts: %d tools, enabled %v", len(r.Tools), r.Tools[0].Enabled)
	}
	if out, _, err := runCmd(t, nil, "check", drafts); err != nil || !strings.Contains(out, "weather (disabled)") {
		t.Errorf("check drafts: %q, %v", out, err)
	}
	if _, _, err := runCmd(t, nil, "registry", "import", "--from", s.URL, "--out", drafts); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("import over an existing file: %v", err)
	}

	for _, args := range [][]string{
		{"registry"}, {"registry", "nope"}, {"registry", "add"}, {"registry", "import"},
		{"registry", "import", "--from", s.URL, "--max-price", "x"}, {"registry", "import", "--from", s.URL, "--network", "tron"},
	} {
		var u usageError
		if _, _, err := runCmd(t, nil, args...); !errors.As(err, &u) {
			t.Errorf("%q: want a usage error, got %v", args, err)
		}
	}
}
