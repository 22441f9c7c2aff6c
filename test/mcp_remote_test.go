package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
)

// paidMCP is a remote MCP server that charges per tool through x402's MCP
// transport (x402-protocol.md §5), settling through a local facilitator.
type paidMCP struct {
	url string
	// settler verifies and settles; rq is the one payment option offered.
	settler localseller.Settler
	rq      x402.Requirement

	mu       sync.Mutex
	payments int // calls that carried _meta["x402/payment"]
}

const paidMCPPrice payments.Amount = 2000 // 0.002 USDC

func startPaidMCP(t *testing.T, fac *localseller.Facilitator) *paidMCP {
	t.Helper()
	extra, _ := json.Marshal(evm.Extra{Name: "USDC", Version: "2"})
	rq := x402.Requirement{Scheme: "exact", Network: string(fac.Network()), Amount: paidMCPPrice.Atomic(),
		Asset: fac.Asset().Hex(), PayTo: localseller.DefaultPayTo.Hex(), MaxTimeoutSeconds: 60, Extra: extra}
	return startPaidMCPWith(t, fac, rq)
}

// startPaidMCPWith starts a paid MCP server offering rq, settled by s.
func startPaidMCPWith(t *testing.T, s localseller.Settler, rq x402.Requirement) *paidMCP {
	t.Helper()
	rq.Raw, _ = json.Marshal(rq)
	p := &paidMCP{settler: s, rq: rq}
	p.start(t)
	return p
}

func (p *paidMCP) start(t *testing.T) {
	s := mcpserver.NewMCPServer("paid-mcp", "1", mcpserver.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("echo", mcp.WithDescription("Echoes a message back."),
		mcp.WithString("message", mcp.Required(), mcp.Description("What to echo"))),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return p.paid(ctx, req, "echo", func() *mcp.CallToolResult {
				return mcp.NewToolResultText("echo: " + req.GetString("message", ""))
			}), nil
		})
	srv := httptest.NewServer(mcpserver.NewStreamableHTTPServer(s))
	t.Cleanup(srv.Close)
	p.url = srv.URL + "/mcp"
}

func (p *paidMCP) requirement() x402.Requirement { return p.rq }

func (p *paidMCP) challenge(tool, reason string) *mcp.CallToolResult {
	rq := p.requirement()
	pr := map[string]any{
		"x402Version": 2,
		"resource":    map[string]any{"url": "mcp://tool/" + tool, "description": "a paid tool", "mimeType": "application/json"},
		"accepts":     []json.RawMessage{rq.Raw},
	}
	if reason != "" {
		pr["error"] = reason
	}
	b, _ := json.Marshal(pr)
	return &mcp.CallToolResult{IsError: true, StructuredContent: pr, Content: []mcp.Content{mcp.NewTextContent(string(b))}}
}

func (p *paidMCP) paid(ctx context.Context, req mcp.CallToolRequest, tool string, run func() *mcp.CallToolResult) *mcp.CallToolResult {
	var raw any
	if req.Params.Meta != nil {
		raw = req.Params.Meta.AdditionalFields["x402/payment"]
	}
	if raw == nil {
		return p.challenge(tool, "")
	}
	p.mu.Lock()
	p.payments++
	p.mu.Unlock()
	b, _ := json.Marshal(raw)
	var payload x402.PaymentPayload
	if err := json.Unmarshal(b, &payload); err != nil {
		return p.challenge(tool, "invalid_payload")
	}
	rq := p.requirement()
	if v := p.settler.Verify(ctx, &payload, rq); !v.IsValid {
		return p.challenge(tool, v.InvalidReason)
	}
	settle := p.settler.Settle(ctx, &payload, rq)
	if !settle.Success {
		return p.challenge(tool, settle.ErrorReason)
	}
	out := run()
	out.Meta = &mcp.Meta{AdditionalFields: map[string]any{"x402/payment-response": settle}}
	return out
}

func (p *paidMCP) paymentsSeen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.payments
}

const remoteCatalog = `
version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.05"
  timeout: 10s
budget:
  total: "1.00"
tools:
  - name: remote
    kind: mcp
    url: "%s"
    prefix: acme_
    max_price: "0.005"
  - name: remote_cheap
    kind: mcp
    url: "%s"
    prefix: cheap_
    max_price: "0.001"
  - name: remote_down
    kind: mcp
    url: "http://127.0.0.1:1/mcp"
    prefix: down_
    max_price: "0.005"
`

func TestRemotePaidMCPServer(t *testing.T) {
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	seller.Facilitator.Fund(payer, walletFunding)
	remote := startPaidMCP(t, seller.Facilitator)
	book := filepath.Join(t.TempDir(), "ledger.db")
	s := startWith(t, seller, catalog(fmt.Sprintf(remoteCatalog, remote.url, remote.url)), "X402_LEDGER="+book)

	list, err := s.cli.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]mcp.Tool{}
	for _, tl := range list.Tools {
		names[tl.Name] = tl
	}
	echo, ok := names["acme_echo"]
	if !ok || names["cheap_echo"].Name == "" {
		t.Fatalf("remote tools not listed: %v\nstderr:\n%s", keys(names), s.stderr.String())
	}
	if _, ok := names["down_echo"]; ok {
		t.Fatal("a tool of an unreachable server is listed")
	}
	if !strings.Contains(echo.Description, "Echoes a message back.") || !strings.Contains(echo.Description, "0.005 USDC") {
		t.Errorf("description %q", echo.Description)
	}
	if !strings.Contains(string(mustJSON(t, echo.InputSchema))+string(echo.RawInputSchema), "message") {
		t.Errorf("remote input schema lost: %+v", echo)
	}
	// x402_quote prices catalog entries (it asks an HTTP seller without
	// paying): a remote server's tools are not among its choices.
	if q := names["x402_quote"]; strings.Contains(string(mustJSON(t, q.InputSchema))+string(q.RawInputSchema), "acme_echo") {
		t.Errorf("x402_quote offers a remote tool it cannot price: %s", q.RawInputSchema)
	}

	payeeBefore := seller.Facilitator.Balance(localseller.DefaultPayTo)
	res := s.call("acme_echo", map[string]any{"message": "hi"})
	if res.IsError {
		t.Fatalf("paid call failed: %s\nstderr:\n%s", text(res), s.stderr.String())
	}
	if !strings.Contains(text(res), "echo: hi") || !strings.Contains(text(res), "Paid 0.002") {
		t.Errorf("result text %q", text(res))
	}
	rc := meta(res, "x402/payment-response")
	if rc == nil || rc["success"] != true || rc["transaction"] == "" || rc["amountAtomic"] != "2000" {
		t.Errorf("receipt %v", rc)
	}
	if moved := seller.Facilitator.Balance(localseller.DefaultPayTo) - payeeBefore; moved != paidMCPPrice {
		t.Errorf("the facilitator moved %s, want %s", moved.USDC(), paidMCPPrice.USDC())
	}
	if remote.paymentsSeen() != 1 {
		t.Errorf("the paid server saw %d payments, want 1", remote.paymentsSeen())
	}

	// Over max_price: refused before signing; the server sees no payment.
	res = s.call("cheap_echo", map[string]any{"message": "hi"})
	if !res.IsError || meta(res, "x402/error")["charged"] != "not charged" {
		t.Errorf("over max_price: %s %v", text(res), meta(res, "x402/error"))
	}
	if remote.paymentsSeen() != 1 {
		t.Errorf("the paid server saw %d payments after a refusal, want 1", remote.paymentsSeen())
	}
	s.close()

	rows := readLedger(t, book)
	// Booked under the catalog entry, whose budgets cap all its remote
	// tools together; the resource names the remote tool.
	if len(rows) != 1 || rows[0].Tool != "remote" || !strings.Contains(rows[0].Resource, "MCP tool echo ") ||
		rows[0].State != payments.StateSettled || rows[0].Amount != paidMCPPrice ||
		!strings.HasPrefix(rows[0].Host, "127.0.0.1:") {
		t.Fatalf("ledger rows %+v", rows)
	}
}

func keys(m map[string]mcp.Tool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRemoteToolsListedInSearchMode: with expose: search the catalog's
// entries hide behind x402_find_tools and x402_call, but a remote server's
// tools, which are not catalog entries, stay listed and payable.
func TestRemoteToolsListedInSearchMode(t *testing.T) {
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	seller.Facilitator.Fund(payer, walletFunding)
	remote := startPaidMCP(t, seller.Facilitator)
	cat := strings.Replace(fmt.Sprintf(remoteCatalog, remote.url, remote.url), "  timeout: 10s\n", "  timeout: 10s\n  expose: search\n", 1)
	s := startWith(t, seller, catalog(cat))
	list, err := s.cli.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tl := range list.Tools {
		names[tl.Name] = true
	}
	if !names["acme_echo"] || !names["x402_find_tools"] || !names["x402_call"] {
		t.Fatalf("search mode lists %v", names)
	}
	// x402_find_tools searches the catalog's entries; the remote tools
	// beside them are not entries, and must not break the search.
	found := s.call("x402_find_tools", map[string]any{"query": ""})
	if found.IsError || strings.Contains(text(found), "acme_echo") || !strings.Contains(text(found), "0 paid tools match") {
		t.Fatalf("x402_find_tools beside remote tools: %s", text(found))
	}
	res := s.call("acme_echo", map[string]any{"message": "hi"})
	if res.IsError || meta(res, "x402/payment-response") == nil || remote.paymentsSeen() != 1 {
		t.Fatalf("remote call in search mode: %s (payments seen %d)", text(res), remote.paymentsSeen())
	}
}
