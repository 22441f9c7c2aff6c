package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/oauthtest"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
)

// oauthRegistry is a catalog whose principals sign in with access tokens
// from issuer (team-a only so; team-b also has a static token), for the
// resource base + /mcp.
func oauthRegistry(issuer string) func(base string) string {
	return func(base string) string {
		return principalsRegistry[:strings.Index(principalsRegistry, "principals:")] + `principals:
  - name: team-a
    tools: [weather]
  - name: team-b
    token: ${TEAM_B_TOKEN}
oauth:
  issuer: ` + issuer + `
  resource: ` + base + `/mcp
  subjects:
    team-a-client: team-a
    team-b-client: team-b
  scopes: [mcp:tools]
`
	}
}

// TestOAuthResourceServer: against a real authorization server
// (oidc-provider), x402-mcp publishes its Protected Resource Metadata,
// answers 401 with a WWW-Authenticate that points at it, accepts the access
// tokens the issuer made for this resource and books each principal's
// payments to it; it refuses an expired token, one for another audience,
// one from another issuer, one without the required scope (403
// insufficient_scope) and one whose subject maps to no principal (403); a
// principal's static token still works beside OAuth.
func TestOAuthResourceServer(t *testing.T) {
	iss := oauthtest.Start(t)
	other := oauthtest.Start(t)
	h, logs := principalsServerAt(t, oauthRegistry(iss.URL), nil)
	resource := h.URL + "/mcp"
	meta := h.URL + server.PathProtectedResource + "/mcp"

	// The metadata, at the root and path-suffixed forms, without a token.
	for _, path := range []string{server.PathProtectedResource, server.PathProtectedResource + "/mcp"} {
		res, body := rawDo(t, http.MethodGet, h.URL+path, nil, "")
		var prm struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
			Scopes               []string `json:"scopes_supported"`
			Bearer               []string `json:"bearer_methods_supported"`
		}
		if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &prm) != nil || prm.Resource != resource ||
			len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != iss.URL || len(prm.Scopes) != 1 || prm.Scopes[0] != oauthtest.Scope {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
		}
	}
	// The authorization server's own paths are not ours: 404 naming it.
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/register", "/token"} {
		res, body := rawDo(t, http.MethodGet, h.URL+path, nil, "")
		if res.StatusCode != http.StatusNotFound || !strings.Contains(body, iss.URL) {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
		}
	}
	// No token: 401 pointing at the metadata.
	res, body := rawDo(t, http.MethodPost, resource, nil, initLegacy)
	if ch := res.Header.Get("WWW-Authenticate"); res.StatusCode != http.StatusUnauthorized || !strings.Contains(ch, `resource_metadata="`+meta+`"`) {
		t.Fatalf("no token: %d %q %s", res.StatusCode, ch, body)
	}

	// Valid tokens: each principal pays, and the books say who.
	a := mustConnect(t, "streamable", h.URL, iss.Token(t, oauthtest.TeamA, resource, oauthtest.Scope))
	if res := call(t, a, "weather", map[string]any{"city": "Oslo"}); res.IsError {
		t.Fatalf("team-a with an access token: %s", text(res))
	}
	if got := toolNames(t, a); strings.Contains(strings.Join(got, ","), "text") {
		t.Fatalf("team-a (tools: [weather]) lists %v", got)
	}
	b := mustConnect(t, "sse", h.URL, iss.Token(t, oauthtest.TeamB, resource, oauthtest.Scope))
	if res := call(t, b, "text", nil); res.IsError {
		t.Fatalf("team-b with an access token: %s", text(res))
	}
	bStatic := mustConnect(t, "streamable", h.URL, tokenB)
	if res := call(t, bStatic, "text", nil); res.IsError {
		t.Fatalf("team-b with its static token: %s", text(res))
	}
	rows, err := h.book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]int{}
	for _, r := range rows {
		by[r.Principal]++
	}
	if by["team-a"] != 1 || by["team-b"] != 2 || len(rows) != 3 {
		t.Fatalf("rows by principal %v", by)
	}

	expiring := iss.Token(t, oauthtest.Expiring, resource, oauthtest.Scope)
	refused := []struct {
		name, token string
		status      int
		challenge   string // in WWW-Authenticate
		says        string // in the body
	}{
		{"for another resource", iss.Token(t, oauthtest.TeamA, "https://other.example/mcp", oauthtest.Scope), 401, `error="invalid_token"`, "not for this resource: request it with resource=" + resource},
		// Its key is not among this issuer's: refused before its iss is read.
		{"from another issuer", other.Token(t, oauthtest.TeamA, resource, oauthtest.Scope), 401, `error="invalid_token"`, "signature does not verify with the keys of " + iss.URL},
		{"without the scope", iss.Token(t, oauthtest.NoScope, resource, "other"), 403, `error="insufficient_scope", scope="mcp:tools"`, "lacks the scope mcp:tools"},
		{"of a subject no principal maps", iss.Token(t, oauthtest.Stranger, resource, oauthtest.Scope), 403, "", `sub \"stranger-client\" names no principal`},
		{"unsigned (alg none)", "eyJhbGciOiJub25lIn0.e30.", 401, `error="invalid_token"`, "not a JWT signed with an algorithm x402-mcp accepts"},
		{"forged (another key, this issuer's claims)", forge(t, other.Token(t, oauthtest.TeamA, resource, oauthtest.Scope), iss.URL), 401, `error="invalid_token"`, "signature does not verify with the keys of " + iss.URL},
	}
	time.Sleep(2500 * time.Millisecond) // the expiring client's tokens live 2 seconds
	refused = append(refused, struct {
		name, token string
		status      int
		challenge   string
		says        string
	}{"expired", expiring, 401, `error="invalid_token"`, "the access token expired at"})
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			res, body := rawDo(t, http.MethodPost, resource, map[string]string{"Authorization": "Bearer " + tc.token}, initLegacy)
			ch := res.Header.Get("WWW-Authenticate")
			if res.StatusCode != tc.status || !strings.Contains(ch, tc.challenge) || !strings.Contains(ch, `resource_metadata="`+meta+`"`) || !strings.Contains(body, tc.says) {
				t.Fatalf("%d %q %s", res.StatusCode, ch, body)
			}
			if strings.Contains(body, tc.token) || strings.Contains(logs.String(), tc.token) {
				t.Fatal("the answer or the log shows the token")
			}
		})
	}
	if strings.Contains(logs.String(), tokenB) {
		t.Fatal("the log shows a static token")
	}
}

// TestOAuthKeyRotation: after the issuer rotates its signing key, a token
// signed with the new key (a kid x402-mcp has not seen) is accepted: the
// key set is fetched again; tokens of the old key still verify.
func TestOAuthKeyRotation(t *testing.T) {
	iss := oauthtest.Start(t)
	h, _ := principalsServerAt(t, oauthRegistry(iss.URL), func(o *server.HTTPOptions) { o.Auth.OAuth.KeysEvery = 50 * time.Millisecond })
	resource := h.URL + "/mcp"
	old := iss.Token(t, oauthtest.TeamA, resource, oauthtest.Scope)
	if res, body := rawDo(t, http.MethodPost, resource, map[string]string{"Authorization": "Bearer " + old}, initLegacy); res.StatusCode != http.StatusOK {
		t.Fatalf("before the rotation: %d %s", res.StatusCode, body)
	}
	iss.Rotate(t)
	fresh := iss.Token(t, oauthtest.TeamA, resource, oauthtest.Scope)
	if oauthtest.KeyID(fresh) == oauthtest.KeyID(old) || oauthtest.KeyID(fresh) == "" {
		t.Fatalf("the issuer did not rotate: kid %q, then %q", oauthtest.KeyID(old), oauthtest.KeyID(fresh))
	}
	time.Sleep(100 * time.Millisecond) // past KeysEvery since the first fetch
	for name, tok := range map[string]string{"new key": fresh, "old key": old} {
		if res, body := rawDo(t, http.MethodPost, resource, map[string]string{"Authorization": "Bearer " + tok}, initLegacy); res.StatusCode != http.StatusOK {
			t.Fatalf("after the rotation, a token of the %s: %d %s", name, res.StatusCode, body)
		}
	}
}

// forge rewrites a token's payload to claim issuer iss, keeping the header
// and signature of another issuer's key: its signature cannot verify.
func forge(t *testing.T, tok, iss string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	claims := map[string]any{}
	b, err := jsonSegment(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	claims["iss"] = iss
	parts[1] = encodeSegment(t, claims)
	return strings.Join(parts, ".")
}

func jsonSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestOAuthBrowser: a page from an allowed origin can read the metadata
// (its preflight included) and the WWW-Authenticate of a 401, which a
// browser hides unless the answer allows its origin and exposes the header.
// (No token is checked here, so the issuer is never contacted.)
func TestOAuthBrowser(t *testing.T) {
	const origin = "https://app.example"
	h, _ := principalsServerAt(t, oauthRegistry("http://127.0.0.1:1"), func(o *server.HTTPOptions) { o.CORSOrigins = []string{origin} })
	res, body := rawDo(t, http.MethodGet, h.URL+server.PathProtectedResource+"/mcp", map[string]string{"Origin": origin}, "")
	if res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("the metadata from %s: %d %q %s", origin, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"), body)
	}
	res, body = rawDo(t, http.MethodOptions, h.URL+server.PathProtectedResource+"/mcp",
		map[string]string{"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "mcp-protocol-version"}, "")
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != origin ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Mcp-Protocol-Version") {
		t.Fatalf("the metadata's preflight: %d %v %s", res.StatusCode, res.Header, body)
	}
	res, body = rawDo(t, http.MethodPost, h.URL+"/mcp", map[string]string{"Origin": origin}, initLegacy)
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Access-Control-Allow-Origin") != origin ||
		res.Header.Get("Access-Control-Expose-Headers") != "WWW-Authenticate" || !strings.Contains(res.Header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Fatalf("a 401 to %s: %d %v %s", origin, res.StatusCode, res.Header, body)
	}
	if res, _ := rawDo(t, http.MethodGet, h.URL+server.PathProtectedResource, map[string]string{"Origin": "https://evil.example"}, ""); res.StatusCode != http.StatusForbidden {
		t.Fatalf("the metadata from another origin: %d", res.StatusCode)
	}
}
