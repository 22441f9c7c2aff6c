package server_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

const httpRegistry = `
version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.05"
budget:
  total: "1"
  per_session: "0.002"
tools:
  - name: weather
    description: Weather.
    url: "${SELLER}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
`

const testToken = "test-token-0123456789abcdef"

// httpServer is x402-mcp served over HTTP on a real loopback port.
type httpServer struct {
	URL    string
	seller *localseller.Running
	book   *ledger.Ledger
	// srv is the server (set by principalsServerAt).
	srv    *server.Server
	cancel context.CancelFunc
	done   chan error
}

func startHTTP(t testing.TB, opts server.HTTPOptions, sellerCfg localseller.Config) *httpServer {
	t.Helper()
	return startHTTPWith(t, httpRegistry, 1_000_000, opts, sellerCfg)
}

// startHTTPWith serves the catalog reg with a wallet funded with funds.
func startHTTPWith(t testing.TB, reg string, funds payments.Amount, opts server.HTTPOptions, sellerCfg localseller.Config) *httpServer {
	t.Helper()
	f := newFixture(t, reg, funds, sellerCfg, server.Config{})
	srv, seller, book := f.srv, f.seller, f.book
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &httpServer{URL: "http://" + ln.Addr().String(), seller: seller, book: book, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- srv.Serve(ctx, ln, opts) }()
	t.Cleanup(func() { h.stop(t) })
	return h
}

// stop shuts the server down and waits for Serve to return.
func (h *httpServer) stop(t testing.TB) error {
	t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // later callers see it too
		return err
	case <-time.After(40 * time.Second):
		t.Fatal("Serve did not return after its context ended")
		return nil
	}
}

// connect opens an initialized mcp-go client over "streamable" or "sse".
func connect(t testing.TB, kind, base, token string) (*client.Client, error) {
	t.Helper()
	return connectWith(t, kind, base, token, http.DefaultClient)
}

// connectWith is connect over hc, with the client options opts.
func connectWith(t testing.TB, kind, base, token string, hc *http.Client, opts ...client.ClientOption) (*client.Client, error) {
	t.Helper()
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	var tr transport.Interface
	var err error
	switch kind {
	case "streamable":
		tr, err = transport.NewStreamableHTTP(base+server.PathMCP, transport.WithHTTPHeaders(hdr), transport.WithHTTPBasicClient(hc))
	case "sse":
		tr, err = transport.NewSSE(base+server.PathSSE, transport.WithHeaders(hdr), transport.WithHTTPClient(hc))
	default:
		t.Fatalf("unknown transport %q", kind)
	}
	if err != nil {
		return nil, err
	}
	cli := client.NewClient(tr, opts...)
	// The SSE stream lives as long as Start's context: not a timeout's.
	if err := cli.Start(context.Background()); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Cleanup(func() { cli.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "1"}
	if _, err := cli.Initialize(ctx, init); err != nil {
		return nil, err
	}
	return cli, nil
}

func mustConnect(t testing.TB, kind, base, token string) *client.Client {
	t.Helper()
	cli, err := connect(t, kind, base, token)
	if err != nil {
		t.Fatalf("connect over %s: %v", kind, err)
	}
	return cli
}

func receipt(t *testing.T, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	if res.Meta == nil {
		t.Fatalf("no _meta in %+v", res)
	}
	rc, _ := res.Meta.AdditionalFields[tools.MetaPaymentResponse].(map[string]any)
	if rc == nil {
		t.Fatalf("no receipt in _meta: %+v", res.Meta.AdditionalFields)
	}
	return rc
}

func TestHTTPPaidCallEveryTransport(t *testing.T) {
	h := startHTTP(t, server.HTTPOptions{Token: testToken}, localseller.Config{})
	for _, kind := range []string{"streamable", "sse"} {
		t.Run(kind, func(t *testing.T) {
			cli := mustConnect(t, kind, h.URL, testToken)
			list, err := cli.ListTools(context.Background(), mcp.ListToolsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, tl := range list.Tools {
				names[tl.Name] = true
			}
			if !names["weather"] || !names[server.ToolWallet] {
				t.Fatalf("tools/list: %v", names)
			}
			res := call(t, cli, "weather", map[string]any{"city": "Paris"})
			if res.IsError {
				t.Fatalf("paid call failed: %+v", res.Content)
			}
			if got := res.Meta.AdditionalFields[tools.MetaCharged]; got != "charged" {
				t.Fatalf("x402/charged = %v", got)
			}
			rc := receipt(t, res)
			if rc["amountAtomic"] != "1000" || rc["state"] != "settled" {
				t.Fatalf("receipt: %v", rc)
			}
		})
	}
	if n := h.seller.Facilitator.SettledCount(); n != 2 {
		t.Fatalf("seller settled %d payments, want 2", n)
	}
}

func rawPost(t *testing.T, url, token string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func TestHTTPAuth(t *testing.T) {
	h := startHTTP(t, server.HTTPOptions{Token: testToken, MaxRequestBytes: 64 << 10}, localseller.Config{})
	initBody := []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	for _, tc := range []struct{ name, path, token string }{
		{"no token", server.PathMCP, ""},
		{"wrong token", server.PathMCP, "wrong-token-0123456789abcdef"},
		{"no token sse", server.PathMessage + "?sessionId=x", ""},
	} {
		res := rawPost(t, h.URL+tc.path, tc.token, initBody)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") ||
			!strings.Contains(string(body), `"jsonrpc":"2.0"`) {
			t.Errorf("%s: %d %q %s", tc.name, res.StatusCode, res.Header.Get("WWW-Authenticate"), body)
		}
		if strings.Contains(string(body), testToken) {
			t.Errorf("%s: the answer shows the token", tc.name)
		}
	}
	for _, path := range []string{server.PathMetrics, server.PathSSE} {
		res, err := http.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d", path, res.StatusCode)
		}
	}
	// CORS is off without --cors-origin, on the SSE stream too (mcp-go's
	// stream says "*" unless told otherwise). A page's request, with an
	// Origin, is refused outright (TestHTTPOrigin).
	sreq, _ := http.NewRequest(http.MethodGet, h.URL+server.PathSSE, nil)
	sreq.Header.Set("Authorization", "Bearer "+testToken)
	sres, err := http.DefaultClient.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	sres.Body.Close()
	if sres.StatusCode != http.StatusOK || sres.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET /sse: %d, Access-Control-Allow-Origin %q", sres.StatusCode, sres.Header.Get("Access-Control-Allow-Origin"))
	}
	if _, err := connect(t, "streamable", h.URL, "wrong-token-0123456789abcdef"); err == nil {
		t.Error("a client with the wrong token connected")
	}
	res, err := http.Get(h.URL + server.PathHealth)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("healthz: %d %q", res.StatusCode, body)
	}
	// The right token works.
	if res := rawPost(t, h.URL+server.PathMCP, testToken, initBody); res.StatusCode != http.StatusOK {
		t.Errorf("initialize with the token: %d", res.StatusCode)
	}
	// Oversized bodies get 413, with a length or streamed.
	big := append([]byte(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"`), bytes.Repeat([]byte("x"), 128<<10)...)
	big = append(big, `"}}`...)
	if res := rawPost(t, h.URL+server.PathMCP, testToken, big); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, h.URL+server.PathMCP, io.MultiReader(bytes.NewReader(big)))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.ContentLength = -1
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized chunked body: %d", res.StatusCode)
	}
}

func TestHTTPCORS(t *testing.T) {
	const origin = "https://app.example"
	h := startHTTP(t, server.HTTPOptions{Token: testToken, CORSOrigins: []string{origin}}, localseller.Config{})
	req, _ := http.NewRequest(http.MethodOptions, h.URL+server.PathMCP, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode >= 300 || res.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("preflight: %d %v", res.StatusCode, res.Header)
	}
	// The actual request still needs the token.
	req.Method = http.MethodPost
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST without a token, CORS on: %d", res.StatusCode)
	}
}

func TestHTTPBindNeedsToken(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		loopback bool
	}{
		{"127.0.0.1:8402", true}, {"127.1.2.3:0", true}, {"[::1]:8402", true}, {"localhost:8402", true},
		{"0.0.0.0:8402", false}, {":8402", false}, {"192.168.1.5:8402", false}, {"[::]:8402", false}, {"example.com:80", false},
	} {
		if got := server.IsLoopback(tc.addr); got != tc.loopback {
			t.Errorf("IsLoopback(%q) = %v", tc.addr, got)
		}
		err := server.CheckBind(tc.addr, "")
		if (err == nil) != tc.loopback {
			t.Errorf("CheckBind(%q, no token) = %v", tc.addr, err)
		}
		if err := server.CheckBind(tc.addr, testToken); err != nil {
			t.Errorf("CheckBind(%q, token) = %v", tc.addr, err)
		}
	}
	if err := server.CheckBind("127.0.0.1:0", "short"); err == nil {
		t.Error("a 5-character token was accepted")
	}
	srv, err := server.New(server.Config{Registry: &tools.Registry{}, Client: &payments.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.ListenAndServe(context.Background(), "0.0.0.0:0", server.HTTPOptions{})
	if err == nil || !strings.Contains(err.Error(), "without a bearer token") || !strings.Contains(err.Error(), "X402_MCP_TOKEN") {
		t.Fatalf("non-loopback bind without a token: %v", err)
	}
}

func scrape(t *testing.T, base, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+server.PathMetrics, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d %s", res.StatusCode, b)
	}
	return string(b)
}

func TestHTTPMetricsAndSessionBudget(t *testing.T) {
	h := startHTTP(t, server.HTTPOptions{Token: testToken}, localseller.Config{})
	a := mustConnect(t, "streamable", h.URL, testToken)
	b := mustConnect(t, "sse", h.URL, testToken)
	// per_session is 0.002 and a call costs 0.001: two clients with one
	// token are one principal, so they share those two calls.
	for i, cli := range []*client.Client{a, b} {
		if res := call(t, cli, "weather", map[string]any{"city": "Oslo"}); res.IsError {
			t.Fatalf("call %d: %+v", i, res.Content)
		}
	}
	res := call(t, a, "weather", map[string]any{"city": "Oslo"})
	if !res.IsError || res.Meta.AdditionalFields[tools.MetaCharged] != "not charged" || !strings.Contains(text(res), "per-session") {
		t.Fatalf("third call on one token: %s %+v", text(res), res.Meta)
	}
	rows, err := h.book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if !strings.HasPrefix(r.Session, server.DefaultPrincipal+"@") || len(r.Session) != len(server.DefaultPrincipal)+1+16 || r.Principal != server.DefaultPrincipal {
			t.Errorf("ledger row session %q principal %q, want %s@<run> and %s", r.Session, r.Principal, server.DefaultPrincipal, server.DefaultPrincipal)
		}
	}
	m := scrape(t, h.URL, testToken)
	for _, want := range []string{
		`x402_payments_total{tool="weather",network="eip155:84532",outcome="charged",principal="default"} 2`,
		`x402_payments_total{tool="weather",network="",outcome="not_charged",principal="default"} 1`,
		`x402_paid_amount_atomic_total{tool="weather",network="eip155:84532",asset="USDC",principal="default"} 2000`,
		`x402_upstream_request_seconds_count{tool="weather"} 3`,
		`x402_upstream_request_seconds_bucket{tool="weather",le="+Inf"} 3`,
		`x402_tool_calls_total{tool="weather",error="false",principal="default"} 2`,
		`x402_tool_calls_total{tool="weather",error="true",principal="default"} 1`,
		`x402_budget_left_atomic{asset="USDC",unit="USDC"} 998000`,
		// The second call paid the terms the first one learned: one round trip.
		`x402_warm_payments_total{outcome="sent"} 1`,
		`x402_warm_payments_total{outcome="fallback"} 0`,
		"# TYPE x402_upstream_request_seconds histogram",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s\n%s", want, m)
		}
	}
	if strings.Contains(m, testToken) {
		t.Error("metrics show the token")
	}
}

func TestHTTPGracefulShutdown(t *testing.T) {
	for _, kind := range []string{"streamable", "sse"} {
		t.Run(kind, func(t *testing.T) { testGracefulShutdown(t, kind) })
	}
}

// testGracefulShutdown cancels the server while a paid call waits at the
// seller: the call must finish, answer, and leave a settled ledger row.
func testGracefulShutdown(t *testing.T, kind string) {
	paid := make(chan struct{})
	var once sync.Once
	h := startHTTP(t, server.HTTPOptions{Token: testToken, DrainTimeout: 20 * time.Second}, localseller.Config{
		Delay:     time.Second,
		OnPayment: func(localseller.Received) { once.Do(func() { close(paid) }) },
	})
	cli := mustConnect(t, kind, h.URL, testToken)
	type answer struct {
		res *mcp.CallToolResult
		err error
	}
	got := make(chan answer, 1)
	go func() {
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = "weather", map[string]any{"city": "Lima"}
		res, err := cli.CallTool(context.Background(), req)
		got <- answer{res, err}
	}()
	select {
	case <-paid: // the paid request is at the seller, held for a second
	case <-time.After(20 * time.Second):
		t.Fatal("the seller never saw the payment")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- h.stop(t) }()
	a := <-got
	if a.err != nil {
		t.Fatalf("the call in flight failed during shutdown: %v", a.err)
	}
	if a.res.IsError || receipt(t, a.res)["state"] != "settled" {
		t.Fatalf("call in flight: %s %+v", text(a.res), a.res.Meta)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	rows, err := h.book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].State != payments.StateSettled {
		t.Fatalf("ledger after shutdown: %+v", rows)
	}
	// The listener is closed.
	if _, err := http.Get(h.URL + server.PathHealth); err == nil {
		t.Error("the server still answers after shutdown")
	}
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}
