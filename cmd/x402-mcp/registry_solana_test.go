package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/tools"
)

// TestRegistryAddAndImportSolana: `registry add` of a Solana-priced
// endpoint drafts an entry pinned to the seller's Solana network, payee
// and USDC mint, in base58, and `registry import` drafts the same from a
// facilitator's discovery listing; both parse as a catalog. No payment is
// made, so no chain is needed.
func TestRegistryAddAndImportSolana(t *testing.T) {
	const payee = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
	s, err := localseller.Start(localseller.Config{Solana: &localseller.SolanaConfig{
		PayTo: payee, FeePayer: "2wKupLR9q6wXYppw8Gr2NvWxKBUqm4PPJKkQfoxHDBg4",
		Facilitator: localseller.NewRemote("http://127.0.0.1:1"), Only: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, stderr, err := runCmd(t, nil, "registry", "add", s.URL+"/v2/weather/Paris", "--name", "paris_weather")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"max_price: \"0.001\"", "pay_to: " + payee, "network: " + string(svm.Devnet), "asset: " + svm.USDCDevnet.String()} {
		if !strings.Contains(out, want) {
			t.Errorf("add output lacks %q:\n%s", want, out)
		}
	}
	dir := t.TempDir()
	reg := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(reg, []byte("version: 1\ndefaults:\n  networks: [solana-devnet]\ntools: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := runCmd(t, nil, "registry", "add", s.URL+"/v2/weather/Paris", "--name", "paris_weather", "--write", reg); err != nil {
		t.Fatalf("add --write: %q, %v\n%s", out, err, stderr)
	}
	r, err := tools.Load(reg, testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if lim := r.Tools[0].Limit("c"); lim.PayTo != payee || lim.Network != payments.Network(svm.Devnet) || lim.Asset != svm.USDCDevnet.String() {
		t.Errorf("the written entry's pins: %+v", lim)
	}

	drafts := filepath.Join(dir, "drafts.yaml")
	if out, stderr, err := runCmd(t, nil, "registry", "import", "--from", s.URL, "--network", "solana-devnet", "--out", drafts); err != nil || !strings.Contains(out, "wrote") {
		t.Fatalf("import: %q %v\n%s", out, err, stderr)
	}
	r, err = tools.Load(drafts, testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tools) == 0 {
		t.Fatal("no drafts")
	}
	for _, e := range r.Tools {
		if lim := e.Limit("c"); lim.PayTo != payee || lim.Network != payments.Network(svm.Devnet) {
			t.Errorf("draft %s pins %+v", e.Name, lim)
		}
	}
}
