package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// searchRegistry is registry with expose: search and one more entry, pinned
// to Base mainnet.
const searchRegistry = `
version: 1
defaults:
  networks: [eip155:84532, eip155:8453]
  max_per_call: "0.05"
  expose: search
tools:
  - name: weather
    description: Weather now in a city.
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
  - name: stock_quote
    description: A stock's last trade price.
    url: "${SELLER}/v2/stock/{symbol}"
    params:
      - {name: symbol, in: path, type: string, required: true, description: Ticker}
    max_price: "0.002"
    network: eip155:8453
`

func listNames(t *testing.T, ctx context.Context, cli interface {
	ListTools(context.Context, mcp.ListToolsRequest) (*mcp.ListToolsResult, error)
}) []string {
	t.Helper()
	list, err := cli.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

func TestSearchModeListsOnlyBuiltins(t *testing.T) {
	f := newFixture(t, searchRegistry, 1_000_000, localseller.Config{}, server.Config{})
	cli := f.inProcess(t)
	got := listNames(t, context.Background(), cli)
	want := []string{server.ToolCall, server.ToolFind, server.ToolQuote, "x402_spend_history", server.ToolWallet}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("tools %v, want %v", got, want)
	}
}

func TestFindTools(t *testing.T) {
	f := newFixture(t, searchRegistry, 1_000_000, localseller.Config{}, server.Config{})
	cli := f.inProcess(t)
	for _, tt := range []struct {
		name string
		args map[string]any
		want []string
	}{
		{"everything", map[string]any{}, []string{"weather", "weather_cheap", "stock_quote"}},
		{"words in description", map[string]any{"query": "WEATHER city"}, []string{"weather"}},
		{"words in name", map[string]any{"query": "cheap"}, []string{"weather_cheap"}},
		{"name with spaces", map[string]any{"query": "stock quote"}, []string{"stock_quote"}},
		{"max price", map[string]any{"max_price": "0.001"}, []string{"weather", "weather_cheap"}},
		{"network", map[string]any{"network": "eip155:8453"}, []string{"weather", "weather_cheap", "stock_quote"}},
		{"network excludes a pin", map[string]any{"network": "eip155:84532"}, []string{"weather", "weather_cheap"}},
		{"limit", map[string]any{"limit": 1}, []string{"weather"}},
		{"no match", map[string]any{"query": "horoscope"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := call(t, cli, server.ToolFind, tt.args)
			if res.IsError {
				t.Fatal(resultText(res))
			}
			var out server.FindResult
			structured(t, res, &out)
			var got []string
			for _, ft := range out.Tools {
				got = append(got, ft.Name)
				if ft.MaxPrice == "" || len(ft.Networks) == 0 || !strings.Contains(string(ft.InputSchema), `"city"`) && !strings.Contains(string(ft.InputSchema), `"symbol"`) {
					t.Fatalf("incomplete match %+v", ft)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("found %v, want %v (%s)", got, tt.want, resultText(res))
			}
		})
	}
	if res := call(t, cli, server.ToolFind, map[string]any{"max_price": "lots"}); !res.IsError || !strings.Contains(resultText(res), "max_price") {
		t.Fatalf("bad max_price: %s", resultText(res))
	}
}

func TestCallPaysLikeADirectCall(t *testing.T) {
	f := newFixture(t, searchRegistry, 1_000_000, localseller.Config{}, server.Config{})
	cli := f.inProcess(t)
	res := call(t, cli, server.ToolCall, map[string]any{"name": "weather", "arguments": map[string]any{"city": "oslo"}})
	if res.IsError || res.Meta == nil || res.Meta.AdditionalFields[tools.MetaCharged] != "charged" {
		t.Fatalf("x402_call weather: %s %+v", resultText(res), res.Meta)
	}
	if rc, _ := res.Meta.AdditionalFields[tools.MetaPaymentResponse].(map[string]any); rc["transaction"] == nil {
		t.Fatalf("no receipt: %+v", res.Meta.AdditionalFields)
	}
	sum, err := f.book.Summary(context.Background())
	if err != nil || sum.Settled != 1000 {
		t.Fatalf("ledger settled %v, %v; want 0.001", sum.Settled, err)
	}

	// Unknown name: a clear error, nothing paid.
	res = call(t, cli, server.ToolCall, map[string]any{"name": "horoscope", "arguments": map[string]any{}})
	if !res.IsError || !strings.Contains(resultText(res), `no paid tool named "horoscope"`) || !strings.Contains(resultText(res), server.ToolFind) {
		t.Fatalf("unknown tool: %s", resultText(res))
	}
	// Bad arguments are the entry's own checks.
	res = call(t, cli, server.ToolCall, map[string]any{"name": "weather", "arguments": map[string]any{}})
	if !res.IsError || !strings.Contains(resultText(res), "city") {
		t.Fatalf("missing argument: %s", resultText(res))
	}

	// Over max_price: the refusal a direct call gets.
	direct := newFixture(t, registry, 1_000_000, localseller.Config{}, server.Config{})
	want := call(t, direct.inProcess(t), "weather_cheap", map[string]any{"city": "oslo"})
	got := call(t, cli, server.ToolCall, map[string]any{"name": "weather_cheap", "arguments": map[string]any{"city": "oslo"}})
	if !got.IsError || got.Meta.AdditionalFields[tools.MetaCharged] != "not charged" {
		t.Fatalf("over max_price: %s", resultText(got))
	}
	if g, w := paymentError(got)["code"], paymentError(want)["code"]; g != w || g == nil {
		t.Fatalf("x402_call refusal code %v, direct %v", g, w)
	}
	if g, w := resultText(got), resultText(want); g != w {
		t.Fatalf("x402_call refusal %q\ndirect %q", g, w)
	}
	sum, _ = f.book.Summary(context.Background())
	if sum.Settled != 1000 || sum.Payments != 1 {
		t.Fatalf("ledger after refusals: %+v", sum)
	}
}
