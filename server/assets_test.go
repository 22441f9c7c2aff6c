package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// assetRegistry pins JPYX, whose decimals are read from the chain at start.
const assetRegistry = `version: 1
defaults:
  networks: [eip155:1337]
rpc:
  eip155:1337: http://127.0.0.1:1
assets:
  - {symbol: JPYX, network: eip155:1337, address: "0x00000000000000000000000000000000000a0002", budget: {total: "30"}}
tools:
  - {name: yen_weather, description: Weather in JPYX., url: "https://a.example/w", max_price: "1.50", asset: JPYX}
`

// TestReloadKeepsAssetDecimals: a reloaded catalog reads its amounts with
// the decimals the chain gave at start (the reload reads no chain), and a
// change to a declared asset is refused until a restart.
func TestReloadKeepsAssetDecimals(t *testing.T) {
	reg, err := tools.Parse("registry.yaml", []byte(assetRegistry), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if reg, err = reg.WithDecimals(map[string]int{reg.Assets[0].Key(): 2}); err != nil {
		t.Fatal(err)
	}
	w, err := wallet.GenerateEVMKey()
	if err != nil {
		t.Fatal(err)
	}
	pol := reg.Policy()
	srv, err := server.New(server.Config{Registry: reg, Getenv: func(string) string { return "" },
		Client: &payments.Client{Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: payments.NewMemoryLedger(pol.Budget, nil), Warm: &payments.Warm{}}})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := client.NewInProcessClient(srv.MCP())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx := context.Background()
	if err := cli.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Initialize(ctx, mcp.InitializeRequest{}); err != nil {
		t.Fatal(err)
	}
	desc := func(name string) string {
		l, err := cli.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tl := range l.Tools {
			if tl.Name == name {
				return tl.Description
			}
		}
		return ""
	}
	if d := desc("yen_weather"); !strings.Contains(d, "up to 1.5 JPYX per call") {
		t.Fatalf("before the reload: %q", d)
	}
	src := strings.Replace(assetRegistry, `max_price: "1.50"`, `max_price: "1.25"`, 1)
	next, err := tools.Parse("registry.yaml", []byte(src), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(next); err != nil {
		t.Fatal(err)
	}
	if d := desc("yen_weather"); !strings.Contains(d, "up to 1.25 JPYX per call") {
		t.Fatalf("after the reload: %q", d)
	}
	wallet := call(t, cli, server.ToolWallet, nil)
	if !strings.Contains(resultText(wallet), "JPYX (2 decimals, 0x00000000000000000000000000000000000A0002 on eip155:1337): budget 30 JPYX total") {
		t.Fatalf("wallet: %s", resultText(wallet))
	}
	bigger, err := tools.Parse("registry.yaml", []byte(strings.Replace(src, `total: "30"`, `total: "300"`, 1)), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(bigger); !errors.Is(err, server.ErrRestartNeeded) || !strings.Contains(err.Error(), "assets changed") {
		t.Fatalf("a change of the asset's budget: %v", err)
	}
}
