package payments_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
)

// assetSeller is a local seller paid in asset through its own facilitator
// (in memory: it checks every signature by ecrecover and keeps balances),
// with every route at price atomic units.
func assetSeller(t *testing.T, asset payments.Asset, price payments.Amount, payer common.Address) (*localseller.Seller, string) {
	t.Helper()
	fac := localseller.NewFacilitator(localseller.FacilitatorConfig{Network: asset.Network, Asset: common.HexToAddress(asset.Address), Name: asset.Name, Version: asset.Version})
	s := localseller.New(localseller.Config{Facilitator: fac, Prices: localseller.Prices{Weather: price, Summarize: price, Quote: price}})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	fac.Fund(payer, payments.MaxAmount/2)
	return s, srv.URL
}

// TestPayInDeclaredAssets: entries pinned to an 18-decimal and a 2-decimal
// token are paid, capped and budgeted in their own units: 0.04 WETH (4e16
// atomic units) is paid although the USDC per-call cap is 0.10 USDC
// (100000 units); each asset's own total stops it; neither counts against the
// USDC budget, which still allows a USDC payment; receipts name the symbol
// and the decimals.
func TestPayInDeclaredAssets(t *testing.T) {
	ctx := context.Background()
	w, err := wallet.ParseHexKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	weth := payments.Asset{Network: "eip155:1337", Address: common.HexToAddress("0x00000000000000000000000000000000000e7418").Hex(),
		Name: "Wrapped Ether", Version: "1", Symbol: "WETH", Decimals: 18}
	jpyx := payments.Asset{Network: "eip155:1337", Address: common.HexToAddress("0x00000000000000000000000000000000000a0002").Hex(),
		Name: "JPY Coin", Version: "1", Symbol: "JPYX", Decimals: 2}
	wethSeller, wethURL := assetSeller(t, weth, 40_000_000_000_000_000, w.Address()) // 0.04 WETH
	jpyxSeller, jpyxURL := assetSeller(t, jpyx, 150, w.Address())                    // 1.50 JPYX
	usdcSeller, usdcURL := assetSeller(t, payments.Asset{Network: "eip155:84532", Address: common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e").Hex(), Name: "USDC", Version: "2"}, 1000, w.Address())

	wc, jc := weth.Currency(), jpyx.Currency()
	pol := payments.Policy{
		Networks: []payments.Network{"eip155:1337", "eip155:84532"}, PerCall: 100_000,
		Assets: []payments.AssetPolicy{{Asset: weth, PerCall: 50_000_000_000_000_000}, {Asset: jpyx}},
		Budget: payments.Budget{Total: 1_000_000, Assets: map[string]payments.AssetBudget{
			wc.Budget: {Currency: wc, Total: 100_000_000_000_000_000, Setting: "assets[0]"}, // 0.1 WETH: two payments
			jc.Budget: {Currency: jc, Total: 300, Setting: "assets[1]"},                     // 3.00 JPYX: two payments
		}},
	}
	c := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: payments.NewMemoryLedger(pol.Budget, nil)}
	wethLim := payments.Limit{Tool: "eth_weather", Asset: weth.Address, Network: weth.Network, Currency: wc, MaxPrice: 50_000_000_000_000_000}
	jpyxLim := payments.Limit{Tool: "yen_weather", Asset: jpyx.Address, Network: jpyx.Network, Currency: jc, MaxPrice: 200}

	for i := 0; i < 2; i++ {
		res, err := c.Do(ctx, get(t, wethURL+"/v2/weather/oslo"), wethLim)
		if err != nil {
			t.Fatalf("WETH payment %d: %v", i+1, err)
		}
		rc := res.Receipt
		if res.Charged != payments.Charged || rc.Amount != 40_000_000_000_000_000 || rc.Symbol != "WETH" || rc.Decimals != 18 ||
			!strings.HasPrefix(rc.Line(), "Paid 0.04 WETH (40000000000000000 atomic) on eip155:1337") {
			t.Fatalf("WETH payment %d: %s %+v %q", i+1, res.Charged, rc, rc.Line())
		}
		if js, err := json.Marshal(rc); err != nil || !strings.Contains(string(js), `"amount":"0.04"`) || !strings.Contains(string(js), `"symbol":"WETH","decimals":18`) {
			t.Fatalf("receipt JSON %s, %v", js, err)
		}
		res, err = c.Do(ctx, get(t, jpyxURL+"/v2/weather/osaka"), jpyxLim)
		if err != nil {
			t.Fatalf("JPYX payment %d: %v", i+1, err)
		}
		if rc := res.Receipt; rc.Symbol != "JPYX" || rc.Decimals != 2 || !strings.HasPrefix(rc.Line(), "Paid 1.5 JPYX (150 atomic)") {
			t.Fatalf("JPYX payment %d: %+v %q", i+1, rc, rc.Line())
		}
	}
	// Each asset's total is reached in its own units.
	_, err = c.Do(ctx, get(t, wethURL+"/v2/weather/oslo"), wethLim)
	if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodeOverBudget || !strings.Contains(pe.Message, "the total budget of WETH has 0.08 WETH counted of its 0.1 WETH limit") {
		t.Fatalf("third WETH payment: %v", err)
	}
	_, err = c.Do(ctx, get(t, jpyxURL+"/v2/weather/osaka"), jpyxLim)
	if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodeOverBudget || !strings.Contains(pe.Message, "3 JPYX counted of its 3 JPYX limit") {
		t.Fatalf("third JPYX payment: %v", err)
	}
	if n := wethSeller.Facilitator().SettledCount() + jpyxSeller.Facilitator().SettledCount(); n != 4 {
		t.Fatalf("%d settlements, want 4", n)
	}
	// The USDC budget counted none of it, and still pays USDC.
	sum, err := c.Ledger.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counted() != 0 || sum.Payments != 0 {
		t.Fatalf("USDC summary %+v after paying only WETH and JPYX", sum)
	}
	byAsset := map[string]payments.AssetSummary{}
	for _, a := range sum.Assets {
		byAsset[a.Currency.Symbol] = a
	}
	if a := byAsset["WETH"]; a.Settled != 80_000_000_000_000_000 || a.Payments != 2 || a.Left() != 20_000_000_000_000_000 {
		t.Fatalf("WETH summary %+v", a)
	}
	if a := byAsset["JPYX"]; a.Settled != 300 || a.Payments != 2 || a.Left() != 0 {
		t.Fatalf("JPYX summary %+v", a)
	}
	res, err := c.Do(ctx, get(t, usdcURL+"/v2/weather/lima"), payments.Limit{Tool: "usdc_weather", MaxPrice: 1000})
	if err != nil || res.Receipt.Symbol != "USDC" || res.Receipt.Decimals != 6 || usdcSeller.Facilitator().SettledCount() != 1 {
		t.Fatalf("USDC payment after the others: %v %+v", err, res)
	}
}
