package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/simchain"
	"github.com/x402-mcp/x402-mcp/payments"
)

// tokenSeller is a local seller paid in tok on the simulated chain: its
// facilitator settles every payment with a real transferWithAuthorization,
// and its weather costs price atomic units of tok.
func tokenSeller(t *testing.T, tok *simchain.Token, price payments.Amount) *localseller.Running {
	t.Helper()
	s, err := localseller.Start(localseller.Config{Facilitator: localseller.NewFacilitator(localseller.FacilitatorConfig{Chain: tok}),
		Prices: localseller.Prices{Weather: price}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// structuredAs decodes a result's structured content into v.
func structuredAs(t *testing.T, res *mcp.CallToolResult, v any) {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
}

// TestAssetsInTheirOwnUnits: the built binary pays entries pinned to an
// 18-decimal token (WETH, decimals declared and checked on chain) and a
// 2-decimal one (JPYX, decimals read from the chain), both settled on a
// real EVM. Each is capped and budgeted in its own units, never counted
// against the USDC budget (which still pays two USDC calls and refuses a
// third), booked with its symbol and decimals, and shown in its own units
// in receipts, the approval question, x402_wallet, x402_spend_history,
// `ledger list`, the CSV and `check`.
func TestAssetsInTheirOwnUnits(t *testing.T) {
	ctx := context.Background()
	sim, err := simchain.Start(ctx, simchain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	weth, err := sim.DeployToken(ctx, simchain.TokenOptions{Name: "Wrapped Ether", Version: "1", Symbol: "WETH", Decimals: 18})
	if err != nil {
		t.Fatal(err)
	}
	jpyx, err := sim.DeployToken(ctx, simchain.TokenOptions{Name: "JPY Coin", Version: "1", Symbol: "JPYX", Decimals: 2})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(weth.Mint(ctx, payer, 1_000_000_000_000_000_000))     // 1 WETH
	must(jpyx.Mint(ctx, payer, 100_000))                       // 1000 JPYX
	wethSeller := tokenSeller(t, weth, 40_000_000_000_000_000) // 0.04 WETH
	jpyxSeller := tokenSeller(t, jpyx, 150)                    // 1.50 JPYX
	usdcSeller := fundedSeller(t, localseller.Config{})        // 0.001 USDC, in memory

	cat := catalog(fmt.Sprintf(`version: 1
defaults:
  networks: [eip155:1337, eip155:84532]
  max_per_call: "0.01"
budget:
  total: "0.002"
rpc:
  eip155:1337: %s
assets:
  - symbol: WETH
    network: eip155:1337
    address: %q
    decimals: 18
    eip712: {name: Wrapped Ether, version: "1"}
    max_per_call: "0.05"
    budget: {total: "0.1"}
  - symbol: JPYX
    network: eip155:1337
    address: %q
    approve_above: "1"
    budget: {total: "3", per_day: "3"}
tools:
  - name: eth_weather
    description: Weather, paid in WETH.
    url: %s/v2/weather/{city}
    params: [{name: city, in: path, required: true}]
    max_price: "0.05"
    asset: WETH
  - name: yen_weather
    description: Weather, paid in JPYX.
    url: %s/v2/weather/{city}
    params: [{name: city, in: path, required: true}]
    max_price: "2"
    asset: JPYX
  - name: usdc_weather
    description: Weather, paid in USDC.
    url: "{{URL}}/v2/weather/{city}"
    params: [{name: city, in: path, required: true}]
    max_price: "0.001"
    network: eip155:84532
`, sim.URL(), weth.Address().Hex(), jpyx.Address().Hex(), wethSeller.URL, jpyxSeller.URL))
	book := filepath.Join(t.TempDir(), "ledger.db")
	ans := &switchAnswer{approve: true}
	s := startSession(t, usdcSeller, cat, sessionOptions{env: []string{"X402_LEDGER=" + book}, client: []client.ClientOption{client.WithElicitationHandler(ans)}})

	// WETH: 0.04 is 4e16 atomic units, far over the USDC cap of 0.01
	// (10000 units); the WETH budget of 0.1 takes two.
	wethBefore, _ := weth.Balance(ctx, payer)
	for i := 0; i < 2; i++ {
		res := s.call("eth_weather", map[string]any{"city": "oslo"})
		rc := meta(res, "x402/payment-response")
		if res.IsError || rc["amount"] != "0.04" || rc["amountAtomic"] != "40000000000000000" || rc["symbol"] != "WETH" || rc["decimals"] != float64(18) ||
			!strings.Contains(text(res), "Paid 0.04 WETH (40000000000000000 atomic) on eip155:1337") {
			t.Fatalf("WETH call %d: %s %v", i+1, text(res), rc)
		}
	}
	res := s.call("eth_weather", map[string]any{"city": "oslo"})
	if over := meta(res, "x402/error"); !res.IsError || over["code"] != "over_budget" ||
		!strings.Contains(text(res), "the total budget of WETH has 0.08 WETH counted of its 0.1 WETH limit (0.02 WETH left), and this payment costs 0.04 WETH") {
		t.Fatalf("third WETH call: %s %v", text(res), over)
	}
	if after, _ := weth.Balance(ctx, payer); wethBefore-after != 80_000_000_000_000_000 {
		t.Fatalf("the wallet paid %d WETH units on chain, want 8e16", wethBefore-after)
	}

	// JPYX: decimals from the chain; 1.50 is above its approval threshold of
	// 1, and the question says so in JPYX.
	for i := 0; i < 2; i++ {
		res := s.call("yen_weather", map[string]any{"city": "osaka"})
		if rc := meta(res, "x402/payment-response"); res.IsError || rc["amount"] != "1.5" || rc["symbol"] != "JPYX" || rc["decimals"] != float64(2) ||
			!strings.Contains(text(res), "Paid 1.5 JPYX (150 atomic)") {
			t.Fatalf("JPYX call %d: %s", i+1, text(res))
		}
	}
	if len(ans.asked) != 2 || !strings.Contains(ans.asked[0], `Approve a payment of 1.5 JPYX for the tool "yen_weather"?`) ||
		!strings.Contains(ans.asked[0], "Token: JPYX at "+jpyx.Address().Hex()+" (2 decimals)") || !strings.Contains(ans.asked[0], "approval threshold of 1 JPYX") {
		t.Fatalf("questions %q", ans.asked)
	}
	if res := s.call("yen_weather", map[string]any{"city": "osaka"}); !res.IsError || !strings.Contains(text(res), "has 3 JPYX counted of its 3 JPYX limit") {
		t.Fatalf("third JPYX call: %s", text(res))
	}
	if got, _ := jpyx.Balance(ctx, jpyxSeller.Seller.PayTo()); got != 300 {
		t.Fatalf("the JPYX seller holds %d units on chain, want 300", got)
	}

	// USDC: its budget of 0.002 counted none of the above.
	for i := 0; i < 2; i++ {
		if res := s.call("usdc_weather", map[string]any{"city": "lima"}); res.IsError || !strings.Contains(text(res), "Paid 0.001 USDC (1000 atomic)") {
			t.Fatalf("USDC call %d after the others: %s", i+1, text(res))
		}
	}
	if res := s.call("usdc_weather", map[string]any{"city": "lima"}); !res.IsError || !strings.Contains(text(res), "the total budget has 0.002 USDC counted of its 0.002 USDC limit") {
		t.Fatalf("third USDC call: %s", text(res))
	}

	// x402_wallet: USDC's budget, and each asset's in its own units.
	res = s.call("x402_wallet", nil)
	var w struct {
		Budget struct{ Settled, Left string }
		Assets []struct {
			Symbol, Network, Address, PerCallCap, Total, Settled, Pending, Left string
			Decimals, Payments                                                  int
		}
	}
	structuredAs(t, res, &w)
	if w.Budget.Settled != "0.002" || w.Budget.Left != "0" || len(w.Assets) != 2 {
		t.Fatalf("wallet %+v\n%s", w, text(res))
	}
	if a := w.Assets[0]; a.Symbol != "JPYX" || a.Decimals != 2 || a.Settled != "3" || a.Left != "0" || a.Payments != 2 || a.Address != jpyx.Address().Hex() {
		t.Fatalf("JPYX in the wallet %+v", a)
	}
	if a := w.Assets[1]; a.Symbol != "WETH" || a.Decimals != 18 || a.Settled != "0.08" || a.Left != "0.02" || a.PerCallCap != "0.05" || a.Total != "0.1" {
		t.Fatalf("WETH in the wallet %+v", a)
	}
	if !strings.Contains(text(res), "WETH (18 decimals, "+weth.Address().Hex()+" on eip155:1337): budget 0.1 WETH total, 0.08 settled, 0 pending, 0.02 left (2 payments)") {
		t.Fatalf("wallet text: %s", text(res))
	}

	// x402_spend_history: each payment in its own units.
	res = s.call("x402_spend_history", map[string]any{"limit": 20})
	var h struct {
		Payments []struct {
			Tool, Amount, AmountAtomic, Symbol, State string
			Decimals                                  int
		}
	}
	structuredAs(t, res, &h)
	seen := map[string]int{}
	for _, p := range h.Payments {
		if p.State != "settled" {
			continue
		}
		seen[fmt.Sprintf("%s %s %s %d %s", p.Tool, p.Amount, p.Symbol, p.Decimals, p.AmountAtomic)]++
	}
	for k, n := range map[string]int{"eth_weather 0.04 WETH 18 40000000000000000": 2, "yen_weather 1.5 JPYX 2 150": 2, "usdc_weather 0.001 USDC 6 1000": 2} {
		if seen[k] != n {
			t.Fatalf("history has %d × %q, want %d: %v\n%s", seen[k], k, n, seen, text(res))
		}
	}
	if !strings.Contains(text(res), " eth_weather 0.04 WETH to ") || !strings.Contains(text(res), " yen_weather 1.5 JPYX to ") {
		t.Fatalf("history text: %s", text(res))
	}
	s.close()

	// The books, from the ledger file: list and CSV.
	env := []string{"X402_LEDGER=" + book, "X402_REGISTRY=" + writeCatalog(t, cat, usdcSeller.URL)}
	out, stderr, err := run(t, env, "ledger", "list")
	if err != nil {
		t.Fatalf("ledger list: %v\n%s", err, stderr)
	}
	for _, want := range []string{"0.04 WETH", "1.5 JPYX", "0.001 USDC", "0.002 USDC settled", "WETH (eip155:1337/" + weth.Address().Hex() + "): 0.08 WETH settled, 0 WETH pending, 0.02 WETH left of 0.1 WETH total.",
		"JPYX (eip155:1337/" + jpyx.Address().Hex() + "): 3 JPYX settled"} {
		if !strings.Contains(out, want) {
			t.Fatalf("ledger list lacks %q:\n%s", want, out)
		}
	}
	out, _, err = run(t, env, "ledger", "export", "--csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, hd := range recs[0] {
		col[hd] = i
	}
	rows := map[string]int{}
	for _, r := range recs[1:] {
		if r[col["state"]] == "settled" {
			rows[strings.Join([]string{r[col["tool"]], r[col["amount"]], r[col["symbol"]], r[col["decimals"]], r[col["amount_atomic"]], r[col["amount_usdc"]]}, " ")]++
		}
	}
	for k, n := range map[string]int{"eth_weather 0.04 WETH 18 40000000000000000 ": 2, "yen_weather 1.5 JPYX 2 150 ": 2, "usdc_weather 0.001 USDC 6 1000 0.001": 2} {
		if rows[k] != n {
			t.Fatalf("csv has %d × %q, want %d: %v", rows[k], k, n, rows)
		}
	}

	// check shows each asset and each price in its own units.
	out, stderr, err = run(t, env, "check")
	if err != nil || !strings.Contains(out, "eth_weather   0.05 WETH") || !strings.Contains(out, "yen_weather   JPYX (decimals read at start)") ||
		!strings.Contains(out, "asset assets[0]: WETH on eip155:1337") {
		t.Fatalf("check (%v):\n%s\n%s", err, out, stderr)
	}
}
