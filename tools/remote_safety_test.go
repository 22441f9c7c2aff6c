package tools

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// paidRemote is a remote MCP server (mcp-go's Streamable HTTP server on a
// real socket) that charges per call of each of its tools through x402's
// MCP transport, verifying and settling through a local facilitator
// (signatures checked by ecrecover).
type paidRemote struct {
	url      string
	fac      *localseller.Facilitator
	price    payments.Amount
	payments atomic.Int32 // calls that carried _meta["x402/payment"]
}

// startPaidRemote serves tools names at price; wrap, when set, stands in
// front of the MCP handler (a misbehaving proxy or server).
func startPaidRemote(t *testing.T, price payments.Amount, wrap func(http.Handler) http.Handler, names ...string) *paidRemote {
	t.Helper()
	p := &paidRemote{fac: localseller.NewFacilitator(localseller.FacilitatorConfig{}), price: price}
	s := mcpserver.NewMCPServer("paid", "1", mcpserver.WithToolCapabilities(false))
	for _, name := range names {
		s.AddTool(mcp.NewTool(name, mcp.WithDescription("A paid job.")), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return p.serve(ctx, req, name), nil
		})
	}
	var h http.Handler = mcpserver.NewStreamableHTTPServer(s)
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	p.url = srv.URL + "/mcp"
	return p
}

func (p *paidRemote) requirement() x402.Requirement {
	extra, _ := json.Marshal(evm.Extra{Name: "USDC", Version: "2"})
	rq := x402.Requirement{Scheme: "exact", Network: string(p.fac.Network()), Amount: p.price.Atomic(),
		Asset: p.fac.Asset().Hex(), PayTo: localseller.DefaultPayTo.Hex(), MaxTimeoutSeconds: 60, Extra: extra}
	rq.Raw, _ = json.Marshal(rq)
	return rq
}

func (p *paidRemote) challenge(tool, reason string) *mcp.CallToolResult {
	pr := map[string]any{"x402Version": 2, "resource": map[string]any{"url": "mcp://tool/" + tool}, "accepts": []json.RawMessage{p.requirement().Raw}}
	if reason != "" {
		pr["error"] = reason
	}
	b, _ := json.Marshal(pr)
	return &mcp.CallToolResult{IsError: true, StructuredContent: pr, Content: []mcp.Content{mcp.NewTextContent(string(b))}}
}

func (p *paidRemote) serve(ctx context.Context, req mcp.CallToolRequest, tool string) *mcp.CallToolResult {
	var raw any
	if req.Params.Meta != nil {
		raw = req.Params.Meta.AdditionalFields[MetaPayment]
	}
	if raw == nil {
		return p.challenge(tool, "")
	}
	p.payments.Add(1)
	b, _ := json.Marshal(raw)
	var payload x402.PaymentPayload
	if err := json.Unmarshal(b, &payload); err != nil {
		return p.challenge(tool, "invalid_payload")
	}
	rq := p.requirement()
	if v := p.fac.Verify(ctx, &payload, rq); !v.IsValid {
		return p.challenge(tool, v.InvalidReason)
	}
	settle := p.fac.Settle(ctx, &payload, rq)
	if !settle.Success {
		return p.challenge(tool, settle.ErrorReason)
	}
	out := mcp.NewToolResultText("done: " + tool)
	out.Meta = &mcp.Meta{AdditionalFields: map[string]any{MetaPaymentResponse: settle}}
	return out
}

// remoteClient returns a paying client with a funded wallet (Hardhat key
// #0) and the real SQLite ledger, under reg's policy and budgets.
func remoteClient(t *testing.T, reg *Registry, fac *localseller.Facilitator) (*payments.Client, *ledger.Ledger) {
	t.Helper()
	w, err := wallet.ParseHexKey("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
	if err != nil {
		t.Fatal(err)
	}
	if fac != nil {
		fac.Fund(w.Address(), 1_000_000)
	}
	pol := reg.Policy()
	book, err := ledger.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), pol.Budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = book.Close() })
	return &payments.Client{Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: book}, book
}

func listedTool(t *testing.T, ts []mcpserver.ServerTool, name string) mcpserver.ServerTool {
	t.Helper()
	for _, st := range ts {
		if st.Tool.Name == name {
			return st
		}
	}
	t.Fatalf("tool %s not listed among %d", name, len(ts))
	return mcpserver.ServerTool{}
}

func callRemote(t *testing.T, st mcpserver.ServerTool) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = st.Tool.Name
	res, err := st.Handler(context.Background(), req)
	if err != nil {
		t.Fatalf("handler error: %v", err)
	}
	return res
}

// TestRemoteBudgetPerEntry: an entry's `budget:` and `budget.per_tool` cap
// the kind: mcp entry as a whole, not each of its remote tools.
func TestRemoteBudgetPerEntry(t *testing.T) {
	for _, tc := range []struct{ name, catalog string }{
		{"entry budget", "version: 1\ntools:\n  - name: remote\n    kind: mcp\n    url: %q\n    prefix: fk_\n    max_price: \"0.01\"\n    budget: \"0.0015\"\n"},
		{"budget.per_tool", "version: 1\nbudget:\n  per_tool: \"0.0015\"\ntools:\n  - name: remote\n    kind: mcp\n    url: %q\n    prefix: fk_\n    max_price: \"0.01\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			remote := startPaidRemote(t, 1000, nil, "a", "b")
			reg, err := Parse("r.yaml", []byte(fmt.Sprintf(tc.catalog, remote.url)), testFamilies)
			if err != nil {
				t.Fatal(err)
			}
			c, book := remoteClient(t, reg, remote.fac)
			ts := BuildRemote(context.Background(), reg, c, nil, nil)
			res := callRemote(t, listedTool(t, ts, "fk_a"))
			if res.IsError || meta(res)[MetaCharged] != "charged" {
				t.Fatalf("first call: %s %v", resultText(res), meta(res))
			}
			// 1000 counted for the entry; another 1000 is over its 1500.
			res = callRemote(t, listedTool(t, ts, "fk_b"))
			xe, _ := meta(res)[MetaError].(map[string]any)
			if !res.IsError || xe["code"] != string(payments.CodeOverBudget) || xe["charged"] != "not charged" {
				t.Fatalf("second remote tool of the entry: %s %v; want over_budget: the budget is the entry's", resultText(res), meta(res))
			}
			if !strings.Contains(resultText(res), "remote") {
				t.Errorf("the refusal does not name the entry: %s", resultText(res))
			}
			if n := remote.payments.Load(); n != 1 {
				t.Fatalf("the remote saw %d payments, want 1", n)
			}
			if got := remote.fac.SettledTotal(); got != 1000 {
				t.Fatalf("%d settled, want 1000", got)
			}
			rows, err := book.List(context.Background(), ledger.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 || rows[0].Tool != "remote" || !strings.Contains(rows[0].Resource, "MCP tool a ") {
				t.Fatalf("ledger rows %+v: want one, booked under the entry, naming the remote tool", rows)
			}
		})
	}
}

// TestRemoteNeverFollowsRedirects: a remote MCP server that answers 307 or
// 308 to another host gets no request followed there: neither the entry's
// secret header nor a payment reaches the other host.
func TestRemoteNeverFollowsRedirects(t *testing.T) {
	const key = "k3y-s3cret"
	var (
		mu   sync.Mutex
		seen []string // what reached the other host
	)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s %v %s", r.Method, r.URL, r.Header, body))
		mu.Unlock()
		http.Error(w, "not here", http.StatusInternalServerError)
	}))
	t.Cleanup(other.Close)
	for _, tc := range []struct {
		name   string
		status int
		when   func(body []byte) bool
	}{
		{"307 on every request", http.StatusTemporaryRedirect, func([]byte) bool { return true }},
		{"308 on the paid call", http.StatusPermanentRedirect, func(b []byte) bool { return bytes.Contains(b, []byte(MetaPayment)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			redirect := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					r.Body = io.NopCloser(bytes.NewReader(body))
					if r.Method == http.MethodPost && tc.when(body) {
						w.Header().Set("Location", other.URL+"/mcp")
						w.WriteHeader(tc.status)
						return
					}
					next.ServeHTTP(w, r)
				})
			}
			remote := startPaidRemote(t, 1000, redirect, "job")
			reg, err := Parse("r.yaml", []byte(fmt.Sprintf("version: 1\ntools:\n  - name: remote\n    kind: mcp\n    url: %q\n    prefix: fk_\n    headers: {X-Api-Key: \"${REMOTE_KEY}\"}\n    max_price: \"0.01\"\n", remote.url)), testFamilies)
			if err != nil {
				t.Fatal(err)
			}
			c, _ := remoteClient(t, reg, remote.fac)
			getenv := func(k string) string {
				if k == "REMOTE_KEY" {
					return key
				}
				return ""
			}
			ts := BuildRemote(context.Background(), reg, c, getenv, nil)
			if tc.status == http.StatusTemporaryRedirect {
				if len(ts) != 0 {
					t.Fatalf("%d tools listed from a server that only redirects", len(ts))
				}
			} else {
				res := callRemote(t, listedTool(t, ts, "fk_job"))
				text := resultText(res)
				if !res.IsError || meta(res)[MetaCharged] != "unknown" || !strings.Contains(text, "redirect") || strings.Contains(text, key) || strings.Contains(text, "Paid ") {
					t.Fatalf("paid call redirected: %s %v; want an unknown outcome that names the redirect", text, meta(res))
				}
				if rc, _ := meta(res)[MetaPaymentResponse].(map[string]any); rc["state"] != "unknown" {
					t.Errorf("receipt %v, want the payment in _meta, unknown", rc)
				}
				if remote.fac.SettledTotal() != 0 {
					t.Fatal("the redirected payment settled")
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 0 {
				t.Fatalf("the redirect was followed; the other host received:\n%s", strings.Join(seen, "\n"))
			}
		})
	}
}

// TestRemoteAnswerLimit: a remote answer is limited in bytes before it is
// decoded, after HTTP decompression: a gzip bomb (a few hundred KiB that
// inflate to 64 MiB of JSON) is refused with a clear error, without
// inflating past the limit.
func TestRemoteAnswerLimit(t *testing.T) {
	const inflated = 64 << 20
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	for range inflated / len(chunk) {
		_, _ = zw.Write(chunk)
	}
	_ = zw.Close()
	member := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return b.Bytes()
	}
	bombing := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var msg struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
			}
			if json.Unmarshal(body, &msg) != nil || msg.Method != "tools/call" {
				next.ServeHTTP(w, r)
				return
			}
			if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				t.Errorf("the client did not offer gzip (Accept-Encoding %q): the test would prove nothing", r.Header.Get("Accept-Encoding"))
			}
			// Three gzip members, read as one stream: a JSON-RPC result
			// whose text is the inflated bomb.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(member(`{"jsonrpc":"2.0","id":` + string(msg.ID) + `,"result":{"content":[{"type":"text","text":"`))
			_, _ = w.Write(bomb.Bytes())
			_, _ = w.Write(member(`"}]}}`))
		})
	}
	remote := startPaidRemote(t, 1000, bombing, "job")
	reg, err := Parse("r.yaml", []byte(fmt.Sprintf("version: 1\ntools:\n  - name: remote\n    kind: mcp\n    url: %q\n    prefix: fk_\n    max_price: \"0.01\"\n", remote.url)), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := remoteClient(t, reg, remote.fac)
	st := listedTool(t, BuildRemote(context.Background(), reg, c, nil, nil), "fk_job")

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res := callRemote(t, st)
	runtime.ReadMemStats(&after)
	text := resultText(res)
	if !res.IsError || meta(res)[MetaCharged] != "not charged" || !strings.Contains(text, "bytes") {
		t.Fatalf("bomb: %.300s %v; want an error that names the size limit", text, meta(res))
	}
	// The limit is 10 MiB; decoding up to it may allocate about twice that.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 48<<20 {
		t.Fatalf("the call allocated %d MiB for a %d MiB answer: it was inflated past the limit", alloc>>20, inflated>>20)
	}
}

// TestRemoteSaysWhatAnswered: when a remote MCP server answered (a
// JSON-RPC error, an isError result), the result says that it answered and
// passes its message along, instead of "could not reach"; a payment whose
// outcome is unknown or did not settle gets no "Paid …" line.
func TestRemoteSaysWhatAnswered(t *testing.T) {
	receipt := func(success bool, reason string) func() (*mcp.CallToolResult, error) {
		return func() (*mcp.CallToolResult, error) {
			r := mcp.NewToolResultText("done")
			r.Meta = &mcp.Meta{AdditionalFields: map[string]any{MetaPaymentResponse: map[string]any{
				"success": success, "errorReason": reason, "transaction": "0xabc", "network": "eip155:84532"}}}
			return r, nil
		}
	}
	for _, tc := range []struct {
		name    string
		url     func(t *testing.T) string
		charged string
		want    []string
		not     []string
	}{
		{"JSON-RPC error before paying", func(t *testing.T) string { return failingRemote(t, "rate limited: try again in 5 s") },
			"not charged", []string{"answered", "rate limited: try again in 5 s"}, []string{"could not reach", "Paid "}},
		{"JSON-RPC error after paying", func(t *testing.T) string {
			u, _ := fakeRemote(t, false, func() (*mcp.CallToolResult, error) { return nil, errors.New("database down") })
			return u
		}, "unknown", []string{"answered", "database down", "may have settled"}, []string{"could not reach", "Paid "}},
		{"isError result after paying", func(t *testing.T) string {
			u, _ := fakeRemote(t, false, func() (*mcp.CallToolResult, error) { return mcp.NewToolResultError("quota exceeded for this key"), nil })
			return u
		}, "unknown", []string{"answered", "quota exceeded for this key", "may have settled"}, []string{"could not reach", "Paid "}},
		{"failed settlement receipt", func(t *testing.T) string {
			u, _ := fakeRemote(t, false, receipt(false, "insufficient_funds"))
			return u
		}, "unknown", []string{"done", "insufficient_funds", "unknown"}, []string{"Paid "}},
		{"settled", func(t *testing.T) string {
			u, _ := fakeRemote(t, false, receipt(true, ""))
			return u
		}, "charged", []string{"done", "Paid 0.001", "Charged and delivered"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := Parse("r.yaml", []byte(fmt.Sprintf("version: 1\ntools:\n  - name: remote\n    kind: mcp\n    url: %q\n    prefix: fk_\n    max_price: \"0.01\"\n", tc.url(t))), testFamilies)
			if err != nil {
				t.Fatal(err)
			}
			c, _ := remoteClient(t, reg, nil)
			res := callRemote(t, listedTool(t, BuildRemote(context.Background(), reg, c, nil, nil), "fk_job"))
			text := resultText(res)
			if meta(res)[MetaCharged] != tc.charged {
				t.Errorf("charged %v, want %s", meta(res)[MetaCharged], tc.charged)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("result lacks %q:\n%s", w, text)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(text, w) {
					t.Errorf("result says %q:\n%s", w, text)
				}
			}
		})
	}
}

// failingRemote is a remote MCP server whose tool "job" answers every call
// with a JSON-RPC error carrying msg.
func failingRemote(t *testing.T, msg string) string {
	t.Helper()
	s := mcpserver.NewMCPServer("failing", "1")
	s.AddTool(mcp.NewTool("job", mcp.WithDescription("A job.")), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return nil, errors.New(msg)
	})
	srv := httptest.NewServer(mcpserver.NewStreamableHTTPServer(s))
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp"
}
