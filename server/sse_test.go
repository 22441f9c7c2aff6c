package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// sseClient speaks the legacy HTTP+SSE transport over raw HTTP: a GET /sse
// stream and POSTs to the endpoint it names. It stands in for a host on
// /sse that answers elicitation/create: mcp-go's SSE client transport
// (v1.2.1) cannot, as it takes every message with an id on its stream for
// the answer to one of its own requests and drops the others.
type sseClient struct {
	t        *testing.T
	base     string
	token    string
	endpoint string
	msgs     chan map[string]any
	close    func() // ends the stream
}

func openSSE(t *testing.T, base, token string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+server.PathSSE, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET /sse: %d", res.StatusCode)
	}
	c := &sseClient{t: t, base: base, token: token, msgs: make(chan map[string]any, 100)}
	endpoint := make(chan string, 1)
	go func() {
		defer close(c.msgs)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var event, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event:"):
				event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			case line == "":
				if event == "endpoint" {
					endpoint <- data
				} else if data != "" {
					var m map[string]any
					if json.Unmarshal([]byte(data), &m) == nil {
						c.msgs <- m
					}
				}
				event, data = "", ""
			}
		}
	}()
	c.close = func() { cancel(); res.Body.Close() }
	t.Cleanup(c.close)
	select {
	case c.endpoint = <-endpoint:
	case <-time.After(10 * time.Second):
		t.Fatal("no endpoint event")
	}
	return c
}

// post sends one JSON-RPC message to the session's endpoint with extra
// headers, and wants 202.
func (c *sseClient) post(msg any, hdr ...string) {
	c.t.Helper()
	b, err := json.Marshal(msg)
	if err != nil {
		c.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.base+c.endpoint, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		c.t.Fatalf("POST %s: %d", c.endpoint, res.StatusCode)
	}
}

// next returns the next message on the stream.
func (c *sseClient) next() map[string]any {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatal("the SSE stream ended")
		}
		return m
	case <-time.After(30 * time.Second):
		c.t.Fatal("no message on the SSE stream within 30s")
		return nil
	}
}

// initialize runs the 2025-06-18 handshake, declaring caps.
func (c *sseClient) initialize(caps map[string]any) {
	c.t.Helper()
	c.post(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-06-18", "capabilities": caps, "clientInfo": map[string]any{"name": "raw-sse", "version": "1"},
	}})
	if m := c.next(); m["id"] != float64(1) || m["result"] == nil {
		c.t.Fatalf("initialize: %v", m)
	}
	c.post(map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"})
}

// callTool sends tools/call with id, answers every elicitation/create on
// the way with answer (nil: no answer), and returns the call's result
// message and the questions asked.
func (c *sseClient) callTool(id int, name string, args map[string]any, answer map[string]any) (map[string]any, []map[string]any) {
	c.t.Helper()
	c.post(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": map[string]any{"name": name, "arguments": args}})
	var asked []map[string]any
	for {
		m := c.next()
		switch {
		case m["method"] == "elicitation/create":
			asked = append(asked, m)
			if answer != nil {
				c.post(map[string]any{"jsonrpc": "2.0", "id": m["id"], "result": answer})
			}
		case m["id"] == float64(id):
			return m, asked
		}
	}
}

// toolResult decodes a tools/call answer.
func toolResult(t *testing.T, m map[string]any) *mcp.CallToolResult {
	t.Helper()
	if m["error"] != nil {
		t.Fatalf("tools/call failed: %v", m["error"])
	}
	b, _ := json.Marshal(m["result"])
	res, err := mcp.ParseCallToolResult(ptr(json.RawMessage(b)))
	if err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return res
}

func ptr[T any](v T) *T { return &v }

// TestSSEApproval: a host on the legacy SSE transport that declared
// elicitation is asked before a payment above approve_above (not told that
// it cannot be asked): after accept the payment is made, after decline
// nothing is signed.
func TestSSEApproval(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer map[string]any
		paid   bool
	}{
		{"accept", map[string]any{"action": "accept", "content": map[string]any{"approve": true}}, true},
		{"decline", map[string]any{"action": "decline"}, false},
		{"accept unchecked", map[string]any{"action": "accept", "content": map[string]any{"approve": false}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHTTPWith(t, approvalRegistry, 1_000_000, server.HTTPOptions{Token: testToken}, localseller.Config{})
			c := openSSE(t, h.URL, testToken)
			c.initialize(map[string]any{"elicitation": map[string]any{}})
			m, asked := c.callTool(2, "weather", map[string]any{"city": "paris"}, tc.answer)
			res := toolResult(t, m)
			if len(asked) != 1 {
				t.Fatalf("asked %d times; result %s", len(asked), text(res))
			}
			params, _ := asked[0]["params"].(map[string]any)
			if msg, _ := params["message"].(string); !strings.Contains(msg, "0.001 USDC") || !strings.Contains(msg, `"weather"`) {
				t.Errorf("the question: %v", params)
			}
			settled := h.seller.Facilitator.SettledCount()
			if tc.paid {
				if res.IsError || res.Meta.AdditionalFields[tools.MetaCharged] != "charged" || settled != 1 {
					t.Fatalf("after accept: %s %v, %d settled", text(res), res.Meta.AdditionalFields, settled)
				}
				return
			}
			pay := paymentError(res)
			if !res.IsError || pay["code"] != string(payments.CodeApprovalDeclined) || pay["charged"] != string(payments.NotCharged) {
				t.Fatalf("after %s: %s %v", tc.name, text(res), pay)
			}
			if n := h.seller.Seller.PaymentHeadersSeen(); n != 0 || settled != 0 {
				t.Fatalf("%d payment headers reached the seller, %d settled", n, settled)
			}
		})
	}
}

// TestSSEApprovalStreamGone: the host's stream closes while it is being
// asked: the call gives up at once (approval_required, nothing signed, the
// reservation released), not at the approval timeout.
func TestSSEApprovalStreamGone(t *testing.T) {
	h := startHTTPWith(t, approvalRegistry, 1_000_000, server.HTTPOptions{Token: testToken}, localseller.Config{})
	c := openSSE(t, h.URL, testToken)
	c.initialize(map[string]any{"elicitation": map[string]any{}})
	c.post(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{"name": "weather", "arguments": map[string]any{"city": "oslo"}}})
	if m := c.next(); m["method"] != "elicitation/create" {
		t.Fatalf("want the question, got %v", m)
	}
	c.close()
	start := time.Now()
	waitFor(t, func() bool {
		rows, err := h.book.List(context.Background(), ledger.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return len(rows) == 1 && rows[0].State == payments.StateReleased && rows[0].Nonce == ""
	}, "the reservation released, unsigned")
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the call gave up after %v", d)
	}
	if n := h.seller.Seller.PaymentHeadersSeen(); n != 0 {
		t.Fatalf("%d payment headers reached the seller", n)
	}
}

// TestSSETipApproval: a tip over SSE is put to the host like a payment.
func TestSSETipApproval(t *testing.T) {
	h := startHTTPWith(t, tipRegistry, 10_000_000, server.HTTPOptions{Token: testToken}, localseller.Config{})
	c := openSSE(t, h.URL, testToken)
	c.initialize(map[string]any{"elicitation": map[string]any{}})
	m, asked := c.callTool(2, server.ToolTip, map[string]any{"recipient": "alice", "amount": "0.5"},
		map[string]any{"action": "accept", "content": map[string]any{"approve": true}})
	res := toolResult(t, m)
	if len(asked) != 1 || res.IsError {
		t.Fatalf("asked %d times: %s", len(asked), text(res))
	}
	if got := h.seller.Facilitator.Balance(tipAlice); got != 500_000 {
		t.Fatalf("alice holds %s, want exactly 0.5", got)
	}
}

// TestSSEModernClient: a client on protocol 2026-07-28 over /sse sends the
// version header but not the Mcp-Method and Mcp-Name headers, which only the
// Streamable HTTP transport defines: it is served, and its approval works
// (multi round-trip, through a real mcp-go SSE client).
func TestSSEModernClient(t *testing.T) {
	h := startHTTPWith(t, approvalRegistry, 1_000_000, server.HTTPOptions{Token: testToken}, localseller.Config{})
	c := openSSE(t, h.URL, testToken)
	meta := map[string]any{
		"io.modelcontextprotocol/protocolVersion":    mcp.ProtocolVersion20260728,
		"io.modelcontextprotocol/clientCapabilities": map[string]any{},
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "raw-sse", "version": "1"},
	}
	c.post(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": map[string]any{"_meta": meta}},
		"Mcp-Protocol-Version", mcp.ProtocolVersion20260728)
	m := c.next()
	if m["id"] != float64(7) || m["error"] != nil || !strings.Contains(fmt.Sprint(m["result"]), "weather") {
		t.Fatalf("tools/list on 2026-07-28 over SSE: %v", m)
	}

	e := &elicitor{action: mcp.ElicitationResponseActionAccept, content: map[string]any{"approve": true}}
	cli, err := connectWith(t, "sse", h.URL, testToken, http.DefaultClient, client.WithElicitationHandler(e))
	if err != nil {
		t.Fatal(err)
	}
	if !mcp.IsModernProtocol(cli.ProtocolVersion()) {
		t.Fatalf("negotiated %q", cli.ProtocolVersion())
	}
	res := call(t, cli, "weather", map[string]any{"city": "paris"})
	if res.IsError || len(e.asked) != 1 || h.seller.Facilitator.SettledCount() != 1 {
		t.Fatalf("asked %d, settled %d: %s", len(e.asked), h.seller.Facilitator.SettledCount(), text(res))
	}
}
