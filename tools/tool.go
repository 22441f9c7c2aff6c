package tools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	"github.com/x402-mcp/x402-mcp/payments"
)

// Payer sends a request and pays its 402 under a limit. *payments.Client is
// the production Payer.
type Payer interface {
	Do(ctx context.Context, req *http.Request, lim payments.Limit) (*payments.Result, error)
}

// Tool returns the MCP tool definition: the entry's name, its description
// followed by the price, the input schema and annotations that make hosts
// ask before calling (not read-only, open world). The price is also in _meta
// under "x402/price".
func (e *Entry) Tool() mcp.Tool {
	cur := e.currency()
	desc := fmt.Sprintf("%s\n\nPaid tool: up to %s per call on %s. Each call may spend money from the operator's wallet.",
		e.Description, cur.Format(e.MaxPrice), networkNames(e.fams, e.networks))
	if e.AmountFrom != "" {
		desc = fmt.Sprintf("%s\n\nPaid tool: pays the amount you give in %q (a decimal %s string), up to %s per call, on %s; the seller must ask exactly that amount or nothing is paid. Each call spends money from the operator's wallet.",
			e.Description, e.AmountFrom, cur.Symbol, cur.Format(e.MaxPrice), networkNames(e.fams, e.networks))
	}
	if e.Scheme == SchemeUpto {
		desc = fmt.Sprintf("%s\n\nPaid tool, priced by usage: each call authorizes up to %s on %s and is charged what it used, possibly nothing. Each call may spend money from the operator's wallet.",
			e.Description, cur.Format(e.MaxPrice), networkNames(e.fams, e.networks))
	}
	t := mcp.NewToolWithRawSchema(e.Name, desc, e.schema)
	title := e.title()
	t.Title = title
	t.Annotations = mcp.ToolAnnotation{
		Title:           title,
		ReadOnlyHint:    mcp.ToBoolPtr(false),
		DestructiveHint: mcp.ToBoolPtr(false),
		IdempotentHint:  mcp.ToBoolPtr(false),
		OpenWorldHint:   mcp.ToBoolPtr(true),
	}
	price := map[string]any{
		"maxPrice":       cur.Decimal(e.MaxPrice),
		"maxPriceAtomic": e.MaxPrice.Atomic(),
		"currency":       cur.Symbol,
		"decimals":       cur.Decimals,
		"networks":       networkIDs(e.networks),
	}
	if e.PayTo != "" {
		price["payTo"] = e.PayTo
	}
	if e.Asset != "" {
		price["asset"] = e.Asset
	}
	if e.AmountFrom != "" {
		price["amountFrom"] = e.AmountFrom
	}
	if e.Scheme == SchemeUpto {
		price["scheme"] = SchemeUpto
	}
	if e.TransferMethod != "" {
		price["transferMethod"] = e.TransferMethod
	}
	t.Meta = &mcp.Meta{AdditionalFields: map[string]any{MetaPrice: price}}
	return t
}

// currency returns what the entry pays in: its Currency, USDC when unset.
func (e *Entry) currency() payments.Currency {
	if e.Currency == (payments.Currency{}) {
		return payments.USDC
	}
	return e.Currency
}

// title turns get_weather into "Get weather (paid)".
func (e *Entry) title() string {
	s := strings.ReplaceAll(e.Name, "_", " ")
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s + " (paid)"
}

func networkIDs(ns []payments.Network) []string {
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = string(n)
	}
	return ids
}

// networkNames renders "Base (eip155:8453)", "Base (eip155:8453) or Base Sepolia (eip155:84532)", ….
func networkNames(fams payments.Families, ns []payments.Network) string {
	names := make([]string, len(ns))
	for i, n := range ns {
		names[i] = fams.NetworkName(n)
		if names[i] != string(n) {
			names[i] += " (" + string(n) + ")"
		}
	}
	switch len(names) {
	case 0:
		return "no network"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Limit is what a call to this entry may pay, on top of the registry's
// policy: its max_price and pins, and the call's id.
func (e *Entry) Limit(callID string) payments.Limit {
	return payments.Limit{
		Tool:       e.Name,
		MaxPrice:   e.MaxPrice,
		PayTo:      e.PayTo,
		Network:    e.Network,
		Family:     e.Family,
		Asset:      e.Asset,
		Currency:   e.Currency,
		CallID:     callID,
		ToolBudget: e.Budget,
		// upto: MaxPrice caps the maximum the seller asks.
		Scheme:         e.Scheme,
		TransferMethod: e.TransferMethod,
		// The approval question shows what the call buys.
		ApproveAbove: e.ApproveAbove,
		Description:  e.Description,
		// The warm path's entry: its cold state and its one warm payment
		// in flight. Terms are remembered per entry and concrete request
		// (payments keys them on this, the method and the resolved URL).
		WarmKey: e.Name + " " + e.Method + " " + e.URL,
	}
}

// NewCallID returns a fresh identifier for one tool call: "call_" and 32
// random hex digits, which is also a valid x402 payment identifier.
func NewCallID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return "call_" + hex.EncodeToString(b[:])
}

// Handler returns the MCP handler of the entry: it bounds the call with the
// entry's timeout, builds the request, pays through p and shapes the answer.
// Every outcome is a tool result; the handler never returns a Go error.
func (e *Entry) Handler(p Payer, maxResultBytes int, getenv func(string) string) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, call mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var args map[string]any
		switch a := call.Params.Arguments.(type) {
		case nil:
		case map[string]any:
			args = a
		default:
			return ErrorResult(&ArgumentError{Tool: e.Name, Problems: []string{"arguments must be a JSON object"}}), nil
		}
		ctx, cancel := context.WithTimeout(ctx, e.Timeout)
		defer cancel()
		req, red, err := e.NewRedactedRequest(ctx, args, getenv)
		if err != nil {
			return ErrorResult(err), nil
		}
		lim, err := e.CallLimit(NewCallID(), args)
		if err != nil {
			return ErrorResult(err), nil
		}
		lim.Redaction = red
		res, err := p.Do(ctx, req, lim)
		if err != nil {
			return redactResult(ErrorResult(red.Err(err)), red), nil
		}
		return redactResult(Shape(e, res, maxResultBytes), red), nil
	}
}

// Build turns every enabled entry of the registry into an MCP tool paid
// through p. Drafts (`enabled: false`) are skipped.
func Build(r *Registry, p Payer, getenv func(string) string) []mcpserver.ServerTool {
	out := make([]mcpserver.ServerTool, 0, len(r.Tools))
	for _, e := range r.Tools {
		if !e.Enabled || e.Kind == KindMCP {
			continue // kind: mcp entries are listed by BuildRemote
		}
		out = append(out, mcpserver.ServerTool{Tool: e.Tool(), Handler: e.Handler(p, r.Defaults.MaxResultBytes, getenv)})
	}
	return out
}
