package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
)

const registry = `
version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.05"
budget:
  total: "0.0015"
  per_day: "0.01"
  per_session: "0.002"
tools:
  - name: weather
    description: Weather.
    url: "${SELLER}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
  - name: weather_cheap
    description: Weather below the price.
    url: "${SELLER}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.0005"
`

// newSession serves the registry in process to a real mcp-go client (the
// in-process transport; the stdio path is tested in test/).
func newSession(t *testing.T) (*client.Client, *localseller.Running) {
	t.Helper()
	cli, seller, _ := newSessionWith(t)
	return cli, seller
}

func newSessionWith(t *testing.T, opts ...client.ClientOption) (*client.Client, *localseller.Running, *ledger.Ledger) {
	t.Helper()
	f := newFixture(t, registry, 1_000_000, localseller.Config{}, server.Config{})
	return f.inProcess(t, opts...), f.seller, f.book
}

func call(t *testing.T, cli *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, err := cli.CallTool(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func structured(t *testing.T, res *mcp.CallToolResult, v any) {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}

func TestBuiltinsListed(t *testing.T) {
	cli, _ := newSession(t)
	list, err := cli.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]mcp.Tool{}
	for _, tl := range list.Tools {
		got[tl.Name] = tl
	}
	for _, name := range []string{server.ToolWallet, server.ToolQuote, "weather", "weather_cheap"} {
		if _, ok := got[name]; !ok {
			t.Fatalf("tool %s missing from %v", name, got)
		}
	}
	for _, name := range []string{server.ToolWallet, server.ToolQuote} {
		if a := got[name].Annotations; a.ReadOnlyHint == nil || !*a.ReadOnlyHint {
			t.Errorf("%s spends nothing and should be readOnlyHint:true", name)
		}
	}
	if a := got["weather"].Annotations; a.ReadOnlyHint == nil || *a.ReadOnlyHint {
		t.Error("a paid tool must not be readOnlyHint:true")
	}
}

func TestWalletReportsBudget(t *testing.T) {
	cli, _ := newSession(t)
	var before, after server.WalletStatus
	structured(t, call(t, cli, server.ToolWallet, nil), &before)
	if before.Budget.Total != "0.0015" || before.Budget.Left != "0.0015" || before.PerCallCap != "0.05" || len(before.Networks) != 1 || before.Networks[0].Name != "Base Sepolia" {
		t.Fatalf("before: %+v", before)
	}
	if res := call(t, cli, "weather", map[string]any{"city": "oslo"}); res.IsError {
		t.Fatal(res.Content)
	}
	structured(t, call(t, cli, server.ToolWallet, nil), &after)
	if after.Budget.Settled != "0.001" || after.Budget.Left != "0.0005" || after.Budget.Payments != 1 || after.Address != before.Address {
		t.Fatalf("after: %+v", after)
	}
	res := call(t, cli, "weather", map[string]any{"city": "oslo"})
	if !res.IsError || !strings.Contains(mcp.GetTextFromContent(res.Content[0]), "over_budget") {
		t.Fatalf("second call should be over budget: %+v", res.Content)
	}
}

func TestQuote(t *testing.T) {
	cli, seller := newSession(t)
	tests := []struct {
		name     string
		args     map[string]any
		isError  bool
		wouldPay bool
		says     string
	}{
		{"payable", map[string]any{"tool": "weather", "arguments": map[string]any{"city": "rome"}}, false, true, "would pay"},
		{"above max_price", map[string]any{"tool": "weather_cheap", "arguments": map[string]any{"city": "rome"}}, false, false, "max_price"},
		{"unknown tool", map[string]any{"tool": "nope"}, true, false, "no paid tool named"},
		{"bad arguments", map[string]any{"tool": "weather", "arguments": map[string]any{}}, true, false, "city"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := call(t, cli, server.ToolQuote, tt.args)
			text := mcp.GetTextFromContent(res.Content[0])
			if res.IsError != tt.isError || !strings.Contains(text, tt.says) {
				t.Fatalf("isError %v text %q", res.IsError, text)
			}
			if tt.isError {
				return
			}
			var q struct {
				WouldPay bool   `json:"wouldPay"`
				Price    string `json:"price"`
			}
			structured(t, res, &q)
			if q.WouldPay != tt.wouldPay || tt.wouldPay && q.Price != "0.001" {
				t.Fatalf("quote %+v", q)
			}
		})
	}
	if n := seller.Seller.PaymentHeadersSeen(); n != 0 {
		t.Fatalf("quotes sent %d payments", n)
	}
}

func TestSpendHistory(t *testing.T) {
	cli, _, _ := newSessionWith(t)
	if res := call(t, cli, "weather", map[string]any{"city": "oslo"}); res.IsError {
		t.Fatal(res.Content)
	}
	if res := call(t, cli, "weather_cheap", map[string]any{"city": "oslo"}); !res.IsError {
		t.Fatal("weather_cheap should be refused")
	}
	var h struct {
		Payments []server.HistoryEntry `json:"payments"`
	}
	structured(t, call(t, cli, server.ToolSpendHistory, nil), &h)
	if len(h.Payments) != 1 {
		t.Fatalf("history %+v: a refusal before reserving leaves no row", h)
	}
	p := h.Payments[0]
	if p.Tool != "weather" || p.Amount != "0.001" || p.State != "settled" || !strings.HasPrefix(p.Transaction, "0x") || p.Network != "eip155:84532" {
		t.Fatalf("history entry %+v", p)
	}
	for _, tt := range []struct {
		args map[string]any
		n    int
	}{
		{map[string]any{"tool": "weather"}, 1}, {map[string]any{"tool": "other"}, 0},
		{map[string]any{"state": "unknown"}, 0}, {map[string]any{"state": "settled"}, 1},
		{map[string]any{"since": "1h"}, 1}, {map[string]any{"since": "2999-01-01T00:00:00Z"}, 0},
	} {
		structured(t, call(t, cli, server.ToolSpendHistory, tt.args), &h)
		if len(h.Payments) != tt.n {
			t.Errorf("%v: %d payments, want %d", tt.args, len(h.Payments), tt.n)
		}
	}
	if res := call(t, cli, server.ToolSpendHistory, map[string]any{"since": "yesterday"}); !res.IsError {
		t.Fatal("a bad since was accepted")
	}
}

func TestWalletReportsSessionAndDay(t *testing.T) {
	cli, _, _ := newSessionWith(t)
	call(t, cli, "weather", map[string]any{"city": "rome"})
	var st server.WalletStatus
	structured(t, call(t, cli, server.ToolWallet, nil), &st)
	if st.Budget.PerSession == nil || st.Budget.PerSession.Counted != "0.001" || st.Budget.PerSession.Left != "0.001" {
		t.Fatalf("session budget %+v", st.Budget.PerSession)
	}
	if st.Budget.PerDay == nil || st.Budget.PerDay.Counted != "0.001" || st.Budget.PerDay.Window != "rolling 24 hours" {
		t.Fatalf("day budget %+v", st.Budget.PerDay)
	}
}
