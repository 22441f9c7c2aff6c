package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// rawDo sends one HTTP request with the given headers (a "" value is not
// sent) and returns the answer with its body read.
func rawDo(t *testing.T, method, url string, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	// GET /sse and GET /mcp stream: read what is there within a moment.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	var b []byte
	if res.Header.Get("Content-Type") == "text/event-stream" {
		buf := make([]byte, 4096)
		n, _ := res.Body.Read(buf)
		b = buf[:n]
	} else {
		b, _ = io.ReadAll(res.Body)
	}
	return res, string(b)
}

const initLegacy = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},"clientInfo":{"name":"raw","version":"1"}}}`

// TestHTTPOrigin: a request that carries an Origin not given with
// --cors-origin is refused with 403 on every endpoint, before auth and
// whatever its method; loopback origins are not trusted for being loopback.
// A request without an Origin (not a browser) goes on to auth as before.
func TestHTTPOrigin(t *testing.T) {
	const allowed = "https://app.example"
	h := startHTTP(t, server.HTTPOptions{Token: testToken, CORSOrigins: []string{allowed}}, localseller.Config{})
	self := h.URL // the server's own origin: it serves no page, so no page of it can call
	for _, tc := range []struct {
		name, method, path, origin string
		token                      bool
		want                       int
	}{
		{"other site, POST /mcp with the token", http.MethodPost, server.PathMCP, "https://evil.example", true, http.StatusForbidden},
		{"other site, POST /mcp without the token", http.MethodPost, server.PathMCP, "https://evil.example", false, http.StatusForbidden},
		{"other site, preflight", http.MethodOptions, server.PathMCP, "https://evil.example", false, http.StatusForbidden},
		{"other site, GET /sse", http.MethodGet, server.PathSSE, "https://evil.example", true, http.StatusForbidden},
		{"other site, POST /message", http.MethodPost, server.PathMessage + "?sessionId=x", "https://evil.example", true, http.StatusForbidden},
		{"other site, GET /metrics", http.MethodGet, server.PathMetrics, "https://evil.example", true, http.StatusForbidden},
		{"other site, DELETE /mcp", http.MethodDelete, server.PathMCP, "https://evil.example", true, http.StatusForbidden},
		{"a subdomain of the allowed origin", http.MethodPost, server.PathMCP, "https://x.app.example", true, http.StatusForbidden},
		{"the allowed host over http", http.MethodPost, server.PathMCP, "http://app.example", true, http.StatusForbidden},
		{"a loopback page", http.MethodPost, server.PathMCP, "http://localhost:6274", true, http.StatusForbidden},
		{"the server's own origin", http.MethodPost, server.PathMCP, self, true, http.StatusForbidden},
		{"an opaque origin (file://, sandbox)", http.MethodPost, server.PathMCP, "null", true, http.StatusForbidden},
		{"the allowed origin", http.MethodPost, server.PathMCP, allowed, true, http.StatusOK},
		{"the allowed origin, no token", http.MethodPost, server.PathMCP, allowed, false, http.StatusUnauthorized},
		{"no Origin (not a browser)", http.MethodPost, server.PathMCP, "", true, http.StatusOK},
		{"no Origin, no token", http.MethodPost, server.PathMCP, "", false, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Origin": tc.origin}
			if tc.token {
				hdr["Authorization"] = "Bearer " + testToken
			}
			if tc.method == http.MethodOptions {
				hdr["Access-Control-Request-Method"] = "POST"
			}
			body := ""
			if tc.method == http.MethodPost {
				body = initLegacy
			}
			res, b := rawDo(t, tc.method, h.URL+tc.path, hdr, body)
			if res.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", res.StatusCode, b, tc.want)
			}
			if tc.want == http.StatusForbidden {
				if !strings.Contains(b, "--cors-origin") || res.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Fatalf("403 body %q (it should name --cors-origin), Access-Control-Allow-Origin %q", b, res.Header.Get("Access-Control-Allow-Origin"))
				}
				if strings.Contains(b, testToken) {
					t.Fatal("the answer shows the token")
				}
			}
		})
	}
}

// TestHTTPOriginLoopbackBind: bound to loopback without a token or any
// --cors-origin, a page from any origin, loopback ones included, is refused;
// clients that send no Origin work as before.
func TestHTTPOriginLoopbackBind(t *testing.T) {
	h := startHTTP(t, server.HTTPOptions{}, localseller.Config{})
	for _, origin := range []string{"http://localhost:3000", "http://127.0.0.1:8080", h.URL, "https://evil.example"} {
		res, b := rawDo(t, http.MethodPost, h.URL+server.PathMCP, map[string]string{"Origin": origin}, initLegacy)
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %s: %d %s, want 403", origin, res.StatusCode, b)
		}
	}
	if res, b := rawDo(t, http.MethodPost, h.URL+server.PathMCP, nil, initLegacy); res.StatusCode != http.StatusOK {
		t.Fatalf("no Origin: %d %s", res.StatusCode, b)
	}
	cli := mustConnect(t, "streamable", h.URL, "")
	if _, err := cli.ListTools(context.Background(), mcp.ListToolsRequest{}); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPCORSNeedsToken: --cors-origin without a token is refused at start
// (a page from that origin could otherwise spend the wallet), as are origins
// that are not exact browser origins.
func TestHTTPCORSNeedsToken(t *testing.T) {
	for _, tc := range []struct {
		name    string
		origins []string
		token   string
		errLike string
	}{
		{"no token", []string{"https://app.example"}, "", "X402_MCP_TOKEN"},
		{"any origin", []string{"*"}, testToken, "exact origin"},
		{"a path", []string{"https://app.example/page"}, testToken, "https://app.example/page"},
		{"no scheme", []string{"app.example"}, testToken, "app.example"},
		{"another scheme", []string{"ftp://app.example"}, testToken, "ftp://app.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := server.CheckOrigins(tc.origins, tc.token); err == nil || !strings.Contains(err.Error(), tc.errLike) {
				t.Fatalf("CheckOrigins: %v, want an error naming %q", err, tc.errLike)
			}
			srv, err := server.New(server.Config{Registry: &tools.Registry{}, Client: &payments.Client{}})
			if err != nil {
				t.Fatal(err)
			}
			err = srv.ListenAndServe(context.Background(), "127.0.0.1:0", server.HTTPOptions{Token: tc.token, CORSOrigins: tc.origins})
			if err == nil || !strings.Contains(err.Error(), tc.errLike) {
				t.Fatalf("ListenAndServe: %v, want an error naming %q", err, tc.errLike)
			}
		})
	}
	for _, ok := range [][]string{nil, {"https://app.example"}, {"http://localhost:6274", "https://App.Example:443/"}} {
		if err := server.CheckOrigins(ok, testToken); err != nil {
			t.Errorf("CheckOrigins(%q): %v", ok, err)
		}
	}
}

// TestHTTPNoOAuth: x402-mcp has no OAuth, so the discovery documents and the
// registration endpoint OAuth-aware clients probe are 404, with or without
// the token (not 401, which sends those clients into a dynamic client
// registration that cannot succeed). /mcp without the token still says 401
// with a plain Bearer challenge.
func TestHTTPNoOAuth(t *testing.T) {
	h := startHTTP(t, server.HTTPOptions{Token: testToken}, localseller.Config{})
	for _, path := range []string{
		"/.well-known/oauth-protected-resource",
		"/.well-known/oauth-protected-resource/mcp",
		"/.well-known/oauth-protected-resource/sse",
		"/.well-known/oauth-authorization-server",
		"/.well-known/oauth-authorization-server/mcp",
		"/.well-known/openid-configuration",
		"/.well-known/openid-configuration/mcp",
		"/mcp/.well-known/openid-configuration",
		"/mcp/.well-known/oauth-protected-resource",
		"/register",
		"/authorize",
		"/token",
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			for _, token := range []string{"", testToken} {
				hdr := map[string]string{}
				if token != "" {
					hdr["Authorization"] = "Bearer " + token
				}
				body := ""
				if method == http.MethodPost {
					body = `{"redirect_uris":["http://localhost:1/cb"]}`
				}
				res, b := rawDo(t, method, h.URL+path, hdr, body)
				var oauthErr struct {
					ErrorDescription string `json:"error_description"`
				}
				if res.StatusCode != http.StatusNotFound || json.Unmarshal([]byte(b), &oauthErr) != nil ||
					!strings.Contains(oauthErr.ErrorDescription, "Authorization: Bearer <token>") {
					t.Errorf("%s %s (token %v): %d %s, want 404 with an OAuth error that names the bearer token", method, path, token != "", res.StatusCode, b)
				}
			}
		}
	}
	res, _ := rawDo(t, http.MethodPost, h.URL+server.PathMCP, nil, initLegacy)
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != `Bearer realm="x402-mcp"` {
		t.Fatalf("POST /mcp without the token: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
}

// TestHTTPSessions: a Streamable HTTP session lives from initialize to
// DELETE; an id never issued, or deleted, is refused with 404 on POST, GET
// and DELETE, as the transport spec says, and a DELETE without an id is 400.
func TestHTTPSessions(t *testing.T) {
	h := startHTTP(t, server.HTTPOptions{Token: testToken}, localseller.Config{})
	auth := "Bearer " + testToken
	res, b := rawDo(t, http.MethodPost, h.URL+server.PathMCP, map[string]string{"Authorization": auth}, initLegacy)
	sid := res.Header.Get("Mcp-Session-Id")
	if res.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d %q %s", res.StatusCode, sid, b)
	}
	hdr := func(id string) map[string]string {
		return map[string]string{"Authorization": auth, "Mcp-Session-Id": id, "Mcp-Protocol-Version": "2025-06-18"}
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	if res, b := rawDo(t, http.MethodPost, h.URL+server.PathMCP, hdr(sid), `{"jsonrpc":"2.0","method":"notifications/initialized"}`); res.StatusCode != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", res.StatusCode, b)
	}
	if res, b := rawDo(t, http.MethodPost, h.URL+server.PathMCP, hdr(sid), list); res.StatusCode != http.StatusOK || !strings.Contains(b, `"weather"`) {
		t.Fatalf("tools/list in the session: %d %s", res.StatusCode, b)
	}
	// Shaped like an id x402-mcp issues, but never issued.
	forged := sid[:len(sid)-4] + "0000"
	if forged == sid {
		forged = sid[:len(sid)-4] + "1111"
	}
	for _, id := range []string{forged, "mcp-session-6f1c2a44-1f7e-4a36-9a57-1d1f0e0c2b11", "nonsense"} {
		for _, m := range []struct{ method, body string }{{http.MethodPost, list}, {http.MethodGet, ""}, {http.MethodDelete, ""}} {
			if res, b := rawDo(t, m.method, h.URL+server.PathMCP, hdr(id), m.body); res.StatusCode != http.StatusNotFound {
				t.Errorf("%s with the never-issued session %q: %d %s, want 404", m.method, id, res.StatusCode, b)
			}
		}
	}
	if res, b := rawDo(t, http.MethodDelete, h.URL+server.PathMCP, hdr(""), ""); res.StatusCode != http.StatusBadRequest {
		t.Errorf("DELETE without a session id: %d %s, want 400", res.StatusCode, b)
	}
	if res, b := rawDo(t, http.MethodDelete, h.URL+server.PathMCP, hdr(sid), ""); res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", res.StatusCode, b)
	}
	for _, m := range []struct{ method, body string }{{http.MethodPost, list}, {http.MethodGet, ""}, {http.MethodDelete, ""}} {
		if res, b := rawDo(t, m.method, h.URL+server.PathMCP, hdr(sid), m.body); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s with the deleted session: %d %s, want 404", m.method, res.StatusCode, b)
		}
	}

	// A real client on 2025-06-18 (2026-07-28 has no sessions): Close ends
	// its session with DELETE, after which its id is refused. (mcp-go's
	// Close sends DELETE without the client's extra headers, so without the
	// token: this server has none, as on loopback.)
	open := startHTTP(t, server.HTTPOptions{}, localseller.Config{})
	tr, err := transport.NewStreamableHTTP(open.URL + server.PathMCP)
	if err != nil {
		t.Fatal(err)
	}
	cli := client.NewClient(tr, client.WithProtocolVersion("2025-06-18"))
	ctx := context.Background()
	if err := cli.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-06-18"
	init.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "1"}
	if _, err := cli.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ListTools(ctx, mcp.ListToolsRequest{}); err != nil {
		t.Fatal(err)
	}
	id := cli.GetSessionId()
	if id == "" {
		t.Fatal("the client got no session id")
	}
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
	noToken := map[string]string{"Mcp-Session-Id": id, "Mcp-Protocol-Version": "2025-06-18"}
	if res, b := rawDo(t, http.MethodPost, open.URL+server.PathMCP, noToken, list); res.StatusCode != http.StatusNotFound {
		t.Fatalf("after the client closed its session: %d %s, want 404", res.StatusCode, b)
	}
}

// TestServerCapabilities: initialize answers with the server's capabilities
// only; elicitation (like sampling and roots) is the client's to declare.
func TestServerCapabilities(t *testing.T) {
	check := func(t *testing.T, caps map[string]any) {
		t.Helper()
		for _, client := range []string{"elicitation", "sampling", "roots"} {
			if _, ok := caps[client]; ok {
				t.Errorf("the server advertises the client capability %q: %v", client, caps)
			}
		}
		for _, own := range []string{"tools", "logging"} {
			if _, ok := caps[own]; !ok {
				t.Errorf("the server does not advertise %q: %v", own, caps)
			}
		}
	}
	t.Run("http", func(t *testing.T) {
		h := startHTTP(t, server.HTTPOptions{Token: testToken}, localseller.Config{})
		res, b := rawDo(t, http.MethodPost, h.URL+server.PathMCP, map[string]string{"Authorization": "Bearer " + testToken}, initLegacy)
		var msg struct {
			Result struct {
				Capabilities map[string]any `json:"capabilities"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(b), &msg); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("initialize: %d %v %s", res.StatusCode, err, b)
		}
		check(t, msg.Result.Capabilities)
	})
	t.Run("in process", func(t *testing.T) {
		f := newFixture(t, registry, 0, localseller.Config{}, server.Config{})
		cli := f.inProcess(t)
		b, err := json.Marshal(cli.GetServerCapabilities())
		if err != nil {
			t.Fatal(err)
		}
		var caps map[string]any
		if err := json.Unmarshal(b, &caps); err != nil {
			t.Fatal(err)
		}
		check(t, caps)
	})
}
