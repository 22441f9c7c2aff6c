package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/internal/plural"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/tools"
)

// The tools listed instead of the catalog's entries with `expose: search`.
const (
	ToolFind = "x402_find_tools"
	ToolCall = "x402_call"
)

// Search limits of x402_find_tools.
const (
	DefaultFindLimit = 20
	MaxFindLimit     = 100
)

// FoundTool is one x402_find_tools match.
type FoundTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	MaxPrice    string          `json:"maxPrice"`
	Currency    string          `json:"currency"`
	Networks    []string        `json:"networks"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

// FindResult is x402_find_tools' structured answer.
type FindResult struct {
	Tools []FoundTool `json:"tools"`
	// Matched counts every match; Tools holds at most limit of them.
	Matched int `json:"matched"`
}

func (s *Server) findTool() mcpserver.ServerTool {
	schema := `{"type":"object","properties":{
"query":{"type":"string","description":"Words that must all appear in the tool's name or description (case-insensitive). Empty matches every tool."},
"max_price":{"type":"string","pattern":` + string(mustJSON(tools.AmountPattern)) + `,"description":"Only tools priced in USDC whose max price per call is at most this, in USDC, as a decimal string such as \"0.01\" (tools priced in other assets are left out when it is set)."},
"network":{"type":"string","description":"Only tools that may pay on this network (CAIP-2 such as eip155:8453, or a name such as base)."},
"limit":{"type":"integer","minimum":1,"maximum":100,"description":"Most tools returned (default 20)."}},
"additionalProperties":false}`
	t := mcp.NewToolWithRawSchema(ToolFind,
		"Search the catalog of paid tools by words, max price and network. Returns each match's name, description, price and input schema; call one with x402_call. Spends nothing.",
		json.RawMessage(schema))
	t.Annotations = readOnly("Find paid tools")
	return mcpserver.ServerTool{Tool: t, Handler: s.handleFind}
}

func (s *Server) handleFind(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args := req.GetArguments()
	query, _ := args["query"].(string)
	words := strings.Fields(strings.ToLower(query))
	var maxPrice payments.Amount
	if v, given := args["max_price"]; given && v != nil {
		// The rule of every amount the model writes (tools.ParseAmountArg).
		a, msg := tools.ParseAmountArg(payments.USDC, "max_price", v)
		if msg != "" {
			return mcp.NewToolResultError("invalid arguments: " + msg + " (not charged)"), nil
		}
		maxPrice = a
	}
	var network payments.Network
	if v, _ := args["network"].(string); v != "" {
		n, err := s.catalog().reg.Families().ParseNetwork(v)
		if err != nil {
			return mcp.NewToolResultError(fmt.Sprintf("invalid arguments: network: %v (not charged)", err)), nil
		}
		network = n
	}
	limit := DefaultFindLimit
	if v, ok := args["limit"].(float64); ok {
		limit = min(max(int(v), 1), MaxFindLimit)
	}
	c := s.catalog()
	who := caller(ctx)
	out := FindResult{Tools: []FoundTool{}}
	for _, st := range c.tools {
		if !who.May(st.Tool.Name) {
			continue // another principal's tool: not found
		}
		// The tools of remote MCP servers (kind: mcp) are not entries.
		e, ok := c.entry(st.Tool.Name)
		if !ok {
			continue
		}
		cur := currencyOf(e.Currency)
		// max_price is in USDC: an amount of another asset is not comparable.
		if maxPrice != 0 && (!cur.IsUSDC() || e.MaxPrice > maxPrice) || !e.Matches(words) {
			continue
		}
		ns := e.Networks()
		if network != "" && !containsNetwork(ns, network) {
			continue
		}
		out.Matched++
		if len(out.Tools) < limit {
			out.Tools = append(out.Tools, FoundTool{Name: e.Name, Description: e.Description, MaxPrice: cur.Decimal(e.MaxPrice), Currency: cur.Symbol,
				Networks: networksOf(ns), InputSchema: st.Tool.RawInputSchema})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", plural.Count(out.Matched, "paid tool", "paid tools"), plural.Verb(out.Matched, "matches", "match"))
	if out.Matched > len(out.Tools) {
		fmt.Fprintf(&b, " (showing %d: narrow the query or raise limit)", len(out.Tools))
	}
	b.WriteString(". Call one with x402_call {\"name\": ..., \"arguments\": {...}}.")
	for _, f := range out.Tools {
		fmt.Fprintf(&b, "\n- %s (up to %s %s on %s): %s Input schema: %s", f.Name, f.MaxPrice, f.Currency, strings.Join(f.Networks, ", "), f.Description, f.InputSchema)
	}
	return mcp.NewToolResultStructured(out, b.String()), nil
}

func containsNetwork(ns []payments.Network, n payments.Network) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}

func (s *Server) callTool() mcpserver.ServerTool {
	schema := `{"type":"object","properties":{
"name":{"type":"string","description":"The paid tool's name, as x402_find_tools returned it."},
"arguments":{"type":"object","description":"The tool's arguments, following its input schema."}},
"required":["name"],"additionalProperties":false}`
	t := mcp.NewToolWithRawSchema(ToolCall,
		"Call a paid tool of the catalog by name (find it with x402_find_tools). The call may spend money from the operator's wallet (in the asset of the tool's price, USDC unless it names another), up to the tool's max price, under the same policy, budgets and approval as any paid tool.",
		json.RawMessage(schema))
	t.Title = "Call a paid tool (paid)"
	t.Annotations = mcp.ToolAnnotation{Title: t.Title, ReadOnlyHint: mcp.ToBoolPtr(false), DestructiveHint: mcp.ToBoolPtr(false),
		IdempotentHint: mcp.ToBoolPtr(false), OpenWorldHint: mcp.ToBoolPtr(true)}
	return mcpserver.ServerTool{Tool: t, Handler: s.handleCall}
}

// handleCall runs the entry's own handler (tools.Entry.Handler): the same
// argument checks, limits, ledger and payment as a direct call. The
// middlewares (approval, progress, metrics, logs) wrap it as they wrap any
// tool.
func (s *Server) handleCall(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args := req.GetArguments()
	name, _ := args["name"].(string)
	h, ok := s.catalog().handlers[name]
	if !ok || !caller(ctx).May(name) {
		return tools.ErrorResult(&tools.ArgumentError{Tool: ToolCall, Problems: []string{
			fmt.Sprintf("name: no paid tool named %q: find one with x402_find_tools", name)}}), nil
	}
	inner := req
	inner.Params.Name = name
	inner.Params.Arguments = args["arguments"]
	return h(ctx, inner)
}

// paidName is the catalog entry a call runs: its own name, or for
// x402_call the entry named in its arguments.
func (s *Server) paidName(req mcp.CallToolRequest) string {
	if req.Params.Name != ToolCall {
		return req.Params.Name
	}
	if name, _ := req.GetArguments()["name"].(string); s.catalog().handlers[name] != nil {
		return name
	}
	return req.Params.Name
}
