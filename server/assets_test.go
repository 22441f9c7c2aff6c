package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
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

// tokenRegistry pays a weather entry and tips in TOK, an 18-decimal token
// the catalog declares (the local seller's facilitator settles it).
const tokenRegistry = `version: 1
defaults:
  networks: [eip155:84532]
budget:
  total: "1"
assets:
  - symbol: TOK
    network: eip155:84532
    address: "0x00000000000000000000000000000000000a0018"
    decimals: 18
    eip712: {name: TOK, version: "1"}
    budget: {total: "5"}
tipping:
  facilitator_url: ${SELLER}/facilitator
  asset: TOK
  per_day: "3"
  max_tip: "1"
  auto_approve_up_to: "1"
  recipients:
    alice: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
tools:
  - name: tok_weather
    description: Weather, paid in TOK.
    url: "${SELLER}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
    asset: TOK
  - name: tok_no_receipt
    description: Delivers without a settlement receipt.
    url: "${SELLER}/v2/misbehave/no_receipt"
    max_price: "0.001"
    asset: TOK
`

// TestDeclaredAssetShownInItsUnits: what the host is told of a payment in a
// declared asset names that asset, never USDC: the logging notification of
// a paid call, and x402_wallet's answer (its text, and the tip budget of a
// tipping asset other than USDC, in its structured content and its
// outputSchema); and the wallet's counts read naturally.
func TestDeclaredAssetShownInItsUnits(t *testing.T) {
	tok := common.HexToAddress("0x00000000000000000000000000000000000a0018")
	fac := localseller.NewFacilitator(localseller.FacilitatorConfig{Asset: tok, Name: "TOK", Version: "1"})
	f := newFixture(t, tokenRegistry, 2_000_000_000_000_000_000, localseller.Config{Facilitator: fac}, server.Config{})
	cli := f.inProcess(t, client.WithProtocolVersion("2025-06-18"))
	var mu sync.Mutex
	var logged []string
	cli.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/message" {
			mu.Lock()
			logged = append(logged, toString(n.Params.AdditionalFields["data"]))
			mu.Unlock()
		}
	})
	if err := cli.SetLevel(context.Background(), mcp.SetLevelRequest{Params: mcp.SetLevelParams{Level: mcp.LoggingLevelInfo}}); err != nil {
		t.Fatal(err)
	}
	if res := call(t, cli, "tok_weather", map[string]any{"city": "oslo"}); res.IsError {
		t.Fatalf("paid call in TOK: %v", res.Content)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := len(logged)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	got := strings.Join(logged, "\n")
	mu.Unlock()
	if !strings.Contains(got, "tok_weather paid 0.000000000000001 TOK") || strings.Contains(got, "USDC") {
		t.Errorf("the logging notification of a payment of 1000 atomic TOK says %q", got)
	}
	// Delivered without a receipt: charged, but not called paid.
	if res := call(t, cli, "tok_no_receipt", nil); res.IsError {
		t.Fatalf("delivered without a receipt: %v", res.Content)
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(logged)
		mu.Unlock()
		if n > 1 {
			break
		}
	}
	mu.Lock()
	got = strings.Join(logged[1:], "\n")
	mu.Unlock()
	if strings.Contains(got, "paid") || !strings.Contains(got, "no settlement was confirmed") || !strings.Contains(got, " TOK ") {
		t.Errorf("the logging notification of a payment delivered without a receipt says %q", got)
	}

	walletText := func() (string, []byte) {
		res := call(t, cli, server.ToolWallet, nil)
		b, _ := json.Marshal(res.StructuredContent)
		return mcp.GetTextFromContent(res.Content[0]), b
	}
	if text, _ := walletText(); !strings.Contains(text, "(1 payment)") {
		t.Errorf("the wallet counts one settled payment in TOK as: %s", text)
	}

	if res := call(t, cli, server.ToolTip, map[string]any{"recipient": "alice", "amount": "0.0000001"}); res.IsError {
		t.Fatalf("tip in TOK: %v", res.Content)
	}
	wallet := compileSchema(t, server.ToolWallet, rawToolsList(t, f.srv)[server.ToolWallet])
	validates(t, wallet, "wallet with a tip budget in TOK", call(t, cli, server.ToolWallet, nil))
	var st server.WalletStatus
	structured(t, call(t, cli, server.ToolWallet, nil), &st)
	if tp := st.Budget.TipsPerDay; tp == nil || tp.Symbol != "TOK" || tp.Counted != "0.0000001" || tp.Limit != "3" {
		t.Errorf("tipsPerDay %+v: want 0.0000001 of 3 TOK counted, named TOK", tp)
	}
	if text, _ := walletText(); !strings.Contains(text, "0.0000001 of 3 TOK counted") || !strings.Contains(text, "(2 payments)") {
		t.Errorf("the wallet's text: %s", text)
	}

	// /metrics: amounts of two assets never share a series.
	rec := httptest.NewRecorder()
	f.srv.HTTPHandler(server.HTTPOptions{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/metrics", nil))
	m := rec.Body.String()
	for _, want := range []string{
		`x402_paid_amount_atomic_total{tool="tok_weather",network="eip155:84532",asset="TOK",principal="default"} 1000`,
		`x402_budget_left_atomic{asset="USDC",unit="USDC"} 1000000`,
		`x402_budget_left_atomic{asset="TOK",unit="eip155:84532/0x00000000000000000000000000000000000A0018"} 4999999899999998000`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, m)
		}
	}
}
