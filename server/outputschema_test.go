package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/server"
)

// outputRegistry sets every budget, tipping (tips to alice up to 1 USDC go
// without asking) and tools that pay, are refused, are rejected by the seller
// and are free, so that the built-ins' answers carry every field they can.
const outputRegistry = `
version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.05"
budget:
  total: "10"
  per_day: "5"
  day: calendar
  timezone: Europe/Paris
  per_session: "4"
  per_tool: "3"
  per_host: "3"
  per_network: {eip155:84532: "6"}
tipping:
  facilitator_url: ${SELLER}/facilitator
  per_day: "3"
  max_tip: "2"
  auto_approve_up_to: "1"
  recipients:
    alice: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
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
  - name: stock
    description: A v1 stock quote.
    url: "${SELLER}/v1/quote"
    params:
      - {name: symbol, in: query, type: string, required: true}
    max_price: "0.002"
  - name: ping
    description: Free.
    url: "${SELLER}/free/ping"
    max_price: "0.001"
  - name: refused
    description: The seller answers 402 to the paid request.
    url: "${SELLER}/v2/misbehave/second_402"
    max_price: "0.01"
`

// rawToolsList is tools/list as the server writes it (the client's decoded
// mcp.Tool keeps only part of an outputSchema).
func rawToolsList(t *testing.T, srv *server.Server) map[string]json.RawMessage {
	t.Helper()
	ctx := context.Background()
	srv.MCP().HandleMessage(ctx, json.RawMessage(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	resp := srv.MCP().HandleMessage(ctx, json.RawMessage(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Result struct {
			Tools []struct {
				Name         string          `json:"name"`
				OutputSchema json.RawMessage `json:"outputSchema"`
			} `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal(b, &msg); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	out := map[string]json.RawMessage{}
	for _, tl := range msg.Result.Tools {
		out[tl.Name] = tl.OutputSchema
	}
	return out
}

// compileSchema compiles a tool's declared outputSchema with a real JSON
// Schema validator (the one mcp-go itself uses).
func compileSchema(t *testing.T, name string, raw json.RawMessage) *jsonschema.Schema {
	t.Helper()
	if len(raw) == 0 {
		t.Fatalf("%s declares no outputSchema", name)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: outputSchema is not JSON: %v", name, err)
	}
	if m, _ := doc.(map[string]any); m["type"] != "object" {
		t.Fatalf("%s: an outputSchema must be an object schema (MCP): %s", name, raw)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	url := "mem://" + name + ".json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("%s: outputSchema does not compile: %v", name, err)
	}
	return sch
}

// validates checks that res carries structured content that sch accepts.
func validates(t *testing.T, sch *jsonschema.Schema, what string, res *mcp.CallToolResult) {
	t.Helper()
	if res.IsError {
		t.Fatalf("%s: error result %v", what, res.Content)
	}
	if res.StructuredContent == nil {
		t.Fatalf("%s: no structuredContent", what)
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s: structuredContent does not match the declared outputSchema: %v\n%s", what, err, b)
	}
}

// TestBuiltinOutputSchemas: x402_wallet, x402_spend_history and x402_quote
// declare an outputSchema, and every answer's structuredContent (before and
// after payments, tips, refusals and rejections; quotes that would pay, would
// not, on v1 and v2, and free) validates against it.
func TestBuiltinOutputSchemas(t *testing.T) {
	f := newFixture(t, outputRegistry, 10_000_000, localseller.Config{}, server.Config{})
	schemas := rawToolsList(t, f.srv)
	wallet := compileSchema(t, server.ToolWallet, schemas[server.ToolWallet])
	history := compileSchema(t, server.ToolSpendHistory, schemas[server.ToolSpendHistory])
	quote := compileSchema(t, server.ToolQuote, schemas[server.ToolQuote])

	cli := f.inProcess(t)
	validates(t, wallet, "wallet before any payment", call(t, cli, server.ToolWallet, nil))
	validates(t, history, "empty history", call(t, cli, server.ToolSpendHistory, nil))

	for _, q := range []struct {
		what string
		args map[string]any
	}{
		{"quote that would pay (v2)", map[string]any{"tool": "weather", "arguments": map[string]any{"city": "rome"}}},
		{"quote that would pay (v1)", map[string]any{"tool": "stock", "arguments": map[string]any{"symbol": "ACME"}}},
		{"quote above max_price", map[string]any{"tool": "weather_cheap", "arguments": map[string]any{"city": "rome"}}},
		{"quote of a free endpoint", map[string]any{"tool": "ping"}},
	} {
		validates(t, quote, q.what, call(t, cli, server.ToolQuote, q.args))
	}

	paid := func(tool string, args map[string]any, wantErr bool) {
		t.Helper()
		if res := call(t, cli, tool, args); res.IsError != wantErr {
			t.Fatalf("%s: isError %v: %v", tool, res.IsError, res.Content)
		}
	}
	paid("weather", map[string]any{"city": "oslo"}, false)
	paid("stock", map[string]any{"symbol": "ACME"}, false)
	paid("refused", nil, true)
	paid(server.ToolTip, map[string]any{"recipient": "alice", "amount": "0.5", "note": "thanks"}, false)

	res := call(t, cli, server.ToolWallet, nil)
	validates(t, wallet, "wallet after payments and a tip", res)
	b, _ := json.Marshal(res.StructuredContent)
	for _, field := range []string{"perDay", "perSession", "perTool", "perHost", "perNetwork", "tipsPerDay", "resets", "window"} {
		if !bytes.Contains(b, []byte(`"`+field+`"`)) {
			t.Errorf("the wallet's answer lacks %s (the test meant to cover it): %s", field, b)
		}
	}
	res = call(t, cli, server.ToolSpendHistory, nil)
	validates(t, history, "history of payments, a rejection and a tip", res)
	text := mcp.GetTextFromContent(res.Content[0])
	for _, want := range []string{"tip to alice", "rejected", "settled"} {
		if !strings.Contains(text, want) {
			t.Errorf("history text lacks %q (the test meant to cover it):\n%s", want, text)
		}
	}
	validates(t, history, "filtered history", call(t, cli, server.ToolSpendHistory, map[string]any{"kind": "tip"}))
	validates(t, quote, "quote after payments", call(t, cli, server.ToolQuote, map[string]any{"tool": "weather", "arguments": map[string]any{"city": "rome"}}))
}

// TestPrincipalOutputSchemas: over HTTP with named principals, what
// x402_wallet and x402_spend_history answer a principal that is not an
// admin (its own budgets, total, per day and per tool, and its tools) and
// the admin (every principal, each with its budgets) validates against the
// declared outputSchemas, and holds the principal fields the test means to
// cover.
func TestPrincipalOutputSchemas(t *testing.T) {
	own := "    budget:\n      total: \"0.002\"\n"
	reg := strings.Replace(principalsRegistry, own, own+"      per_day: \"0.002\"\n      per_tool: \"0.001\"\n", 1)
	if reg == principalsRegistry {
		t.Fatal("team-a's budget is not in principalsRegistry as the test expects")
	}
	h, _ := principalsServer(t, reg)
	schemas := rawToolsList(t, h.srv)
	wallet := compileSchema(t, server.ToolWallet, schemas[server.ToolWallet])
	history := compileSchema(t, server.ToolSpendHistory, schemas[server.ToolSpendHistory])
	a := mustConnect(t, "streamable", h.URL, tokenA)
	b := mustConnect(t, "sse", h.URL, tokenB)
	ops := mustConnect(t, "streamable", h.URL, tokenOps)
	for _, c := range []struct {
		cli  *client.Client
		tool string
		args map[string]any
	}{{a, "weather", map[string]any{"city": "Oslo"}}, {b, "text", nil}, {ops, "text", nil}} {
		if res := call(t, c.cli, c.tool, c.args); res.IsError {
			t.Fatalf("%s: %s", c.tool, text(res))
		}
	}
	for _, tt := range []struct {
		who    string
		cli    *client.Client
		fields []string
	}{
		{"team-a", a, []string{`"of":"principal"`, `"tools":["weather"]`, `"perTool":"0.001"`, `"perDay":{`, `"total":{`}},
		{"team-b", b, []string{`"of":"principal"`, `"perDay":{`, `"perSession":{`}},
		{"ops", ops, []string{`"of":"gateway"`, `"admin":true`, `"principals":[`, `"name":"team-a"`, `"perTool":"0.001"`}},
	} {
		res := call(t, tt.cli, server.ToolWallet, nil)
		validates(t, wallet, tt.who+"'s wallet", res)
		j, _ := json.Marshal(res.StructuredContent)
		for _, f := range tt.fields {
			if !bytes.Contains(j, []byte(f)) {
				t.Errorf("%s's wallet lacks %s (the test meant to cover it): %s", tt.who, f, j)
			}
		}
		res = call(t, tt.cli, server.ToolSpendHistory, nil)
		validates(t, history, tt.who+"'s history", res)
		if j, _ := json.Marshal(res.StructuredContent); !bytes.Contains(j, []byte(`"principal":"`+tt.who+`"`)) {
			t.Errorf("%s's history names no principal: %s", tt.who, j)
		}
	}
	validates(t, history, "the admin's history of team-b", call(t, ops, server.ToolSpendHistory, map[string]any{"principal": "team-b"}))
}
