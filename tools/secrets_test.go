package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/payments"
)

// TestCatalogCannotReadOwnSecrets: a ${ENV} reference to one of x402-mcp's
// own secrets (the wallet key and where it is kept, the keystore's
// passphrase, the MCP bearer token, the PostgreSQL ledger's password and
// its pass file), in any field that expands references,
// in any spelling, is a load error naming the file, the line, the place and
// the fix. A catalog is often written by someone other than the operator.
func TestCatalogCannotReadOwnSecrets(t *testing.T) {
	const head = "version: 1\ndefaults:\n  networks: [eip155:84532]\n"
	tool := func(lines string) string {
		return head + "tools:\n  - name: weather\n    description: Weather.\n    max_price: \"0.01\"\n" + lines
	}
	tests := []struct {
		name  string
		src   string
		line  int
		where string // the place named before the message
		ref   string
	}{
		{"url", tool("    url: https://api.example.com/v1/${X402_PRIVATE_KEY}\n"), 8, `tools[0] "weather": url`, "X402_PRIVATE_KEY"},
		{"url query with default", tool("    url: https://api.example.com/v1?k=${X402_KEY_FILE:-none}\n"), 8, `tools[0] "weather": url`, "X402_KEY_FILE"},
		{"header", tool("    url: https://api.example.com/v1\n    headers:\n      X-Api-Key: \"${X402_KEYSTORE_PASSWORD}\"\n"), 10, `tools[0] "weather": headers.X-Api-Key`, "X402_KEYSTORE_PASSWORD"},
		{"header, lower case (Windows reads names in any case)", tool("    url: https://api.example.com/v1\n    headers:\n      Authorization: \"Bearer ${x402_mcp_token}\"\n"), 10, `tools[0] "weather": headers.Authorization`, "x402_mcp_token"},
		{"keystore path", tool("    url: https://api.example.com/v1/${X402_KEYSTORE}\n"), 8, `tools[0] "weather": url`, "X402_KEYSTORE"},
		{"passphrase file", tool("    url: https://api.example.com/v1?f=${X402_KEYSTORE_PASSWORD_FILE}\n"), 8, `tools[0] "weather": url`, "X402_KEYSTORE_PASSWORD_FILE"},
		{"remote MCP header", head + "tools:\n  - name: acme\n    kind: mcp\n    prefix: acme_\n    url: https://mcp.acme.example/mcp\n    max_price: \"0.01\"\n    headers: {Authorization: \"Bearer ${X402_MCP_TOKEN}\"}\n",
			10, `tools[0] "acme": headers.Authorization`, "X402_MCP_TOKEN"},
		{"tipping facilitator_url", head + "tipping:\n  facilitator_url: https://fac.example/${X402_PRIVATE_KEY}\n  per_day: \"1\"\n", 5, "tipping.facilitator_url", "X402_PRIVATE_KEY"},
		{"rpc", head + "rpc:\n  eip155:84532: https://node.example/v2/${X402_KEYSTORE_PASSWORD}\n", 5, "rpc.eip155:84532", "X402_KEYSTORE_PASSWORD"},
		{"the PostgreSQL ledger's password", tool("    url: https://api.example.com/v1\n    headers:\n      X-Api-Key: \"${PGPASSWORD}\"\n"), 10, `tools[0] "weather": headers.X-Api-Key`, "PGPASSWORD"},
		{"the PostgreSQL ledger's pass file", tool("    url: https://api.example.com/v1?f=${PGPASSFILE}\n"), 8, `tools[0] "weather": url`, "PGPASSFILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("cat.yaml", []byte(tt.src), testFamilies)
			if err == nil {
				t.Fatalf("a catalog reading ${%s} loaded", tt.ref)
			}
			var line string
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.Contains(l, "${"+tt.ref) {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("no error names ${%s}:\n%v", tt.ref, err)
			}
			prefix := fmt.Sprintf("cat.yaml:%d: %s: ", tt.line, tt.where)
			if !strings.HasPrefix(line, prefix) {
				t.Errorf("the error does not start with %q:\n%s", prefix, line)
			}
			for _, want := range []string{"x402-mcp's own secret", "remove"} {
				if !strings.Contains(line, want) {
					t.Errorf("the error does not say %q:\n%s", want, line)
				}
			}
		})
	}

	// Other variables, including ones that merely look alike, stay usable.
	for _, ok := range []string{"X402_SELLER_URL", "WEATHER_API_KEY", "X402_PRIVATE_KEY_HINT", "MY_X402_MCP_TOKEN"} {
		if _, err := Parse("cat.yaml", []byte(tool("    url: https://api.example.com/v1/${"+ok+"}\n")), testFamilies); err != nil {
			t.Errorf("${%s} refused: %v", ok, err)
		}
	}
}

// TestRemoteHeaderSecretsHidden: a kind: mcp entry's header secrets are
// sent to the remote MCP server and never shown: not when the server
// refuses the connection quoting them (the log), not when a tool's answer
// quotes them (the result).
func TestRemoteHeaderSecretsHidden(t *testing.T) {
	const token = "remotetoken5e9a0c"
	s := mcpserver.NewMCPServer("remote", "1")
	s.AddTool(mcp.NewTool("whoami", mcp.WithDescription("Says who called.")), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultError("you called with " + req.Header.Get("Authorization")), nil
	})
	h := mcpserver.NewStreamableHTTPServer(s)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized: "+r.Header.Get("Authorization"), http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	reg := mustParse(t, "version: 1\ntools:\n  - name: remote\n    kind: mcp\n    url: \""+srv.URL+"/mcp\"\n    prefix: rm_\n    headers: {Authorization: \"Bearer ${TOKEN}\"}\n    max_price: \"0.01\"\n")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	w, _ := wallet.GenerateEVMKey()
	c := &payments.Client{Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: reg.Policy(), Ledger: payments.NewMemoryLedger(reg.Policy().Budget, nil)}

	ts := BuildRemote(context.Background(), reg, c, env(map[string]string{"TOKEN": token}), log)
	if len(ts) != 1 {
		t.Fatalf("tools %+v\n%s", ts, logs.String())
	}
	res, _ := ts[0].Handler(context.Background(), callReq("rm_whoami", nil))
	shown, _ := json.Marshal(res)
	if !strings.Contains(string(shown), "you called with Bearer ${TOKEN}") {
		t.Errorf("the remote answer is not shown with the secret as ${TOKEN}: %s", shown)
	}

	const wrong = "wrongremotetoken77d1"
	if ts := BuildRemote(context.Background(), reg, c, env(map[string]string{"TOKEN": wrong}), log); len(ts) != 0 {
		t.Fatalf("listed with a wrong token: %+v", ts)
	}
	if !strings.Contains(logs.String(), "remote MCP server unavailable") {
		t.Fatalf("the refusal is not logged:\n%s", logs.String())
	}
	for _, secret := range []string{token, wrong} {
		if strings.Contains(string(shown)+logs.String(), secret) {
			t.Errorf("%s is shown:\n%s\n%s", secret, shown, logs.String())
		}
	}
}

// TestRedactedRequest: the request as sent carries every ${ENV} value; as
// shown (the Redaction's URL) each value past the origin is ${NAME}, the
// arguments' query follows, and the scheme and host stay readable.
func TestRedactedRequest(t *testing.T) {
	environ := env(map[string]string{"BASE": "https://api.example.com", "BASE_PATH": "https://api.example.com/v1/tenantkey-88", "KEY": "pathkey-123456", "SIG": "sig+value/77", "TOK": "headertok-999"})
	for _, tt := range []struct {
		url, sent, shown string
	}{
		{"${BASE}/v1/${KEY}/w/{city}?sig=${SIG}", "https://api.example.com/v1/pathkey-123456/w/paris?sig=sig+value/77&units=metric", "https://api.example.com/v1/${KEY}/w/paris?sig=${SIG}&units=metric"},
		{"https://api.example.com/w/{city}", "https://api.example.com/w/paris?units=metric", "https://api.example.com/w/paris?units=metric"},
		{"https://api.example.com/w/{city}?", "https://api.example.com/w/paris?units=metric", "https://api.example.com/w/paris?units=metric"},
		{"${BASE_PATH}/w/{city}", "https://api.example.com/v1/tenantkey-88/w/paris?units=metric", "https://api.example.com${BASE_PATH}/w/paris?units=metric"},
	} {
		t.Run(tt.url, func(t *testing.T) {
			e := entry(t, "version: 1\ntools:\n  - name: w\n    description: W.\n    url: \""+tt.url+"\"\n    headers: {X-Key: \"t=${TOK}\"}\n    params:\n      - {name: city, required: true}\n      - {name: units, default: metric}\n    max_price: \"0.01\"\n", "w")
			req, red, err := e.NewRedactedRequest(context.Background(), map[string]any{"city": "paris"}, environ)
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.String() != tt.sent || req.Header.Get("X-Key") != "t=headertok-999" {
				t.Errorf("sent %s with X-Key %q", req.URL, req.Header.Get("X-Key"))
			}
			if red.URL != tt.shown {
				t.Errorf("shown %s, want %s", red.URL, tt.shown)
			}
			msg := red.Text(fmt.Sprintf("Get %q: refused; key headertok-999", req.URL.String()))
			if want := fmt.Sprintf("Get %q: refused; key ${TOK}", tt.shown); msg != want {
				t.Errorf("Text: %s, want %s", msg, want)
			}
		})
	}
	// Credentials expanded into the user info are refused, not shown.
	e := entry(t, "version: 1\ntools:\n  - name: w\n    description: W.\n    url: \"${BASE}/w\"\n    params: []\n    max_price: \"0.01\"\n", "w")
	_, _, err := e.NewRedactedRequest(context.Background(), nil, env(map[string]string{"BASE": "https://user:pw-secret-1@api.example.com"}))
	if _, ok := asConfigError(err); !ok || strings.Contains(err.Error(), "pw-secret-1") {
		t.Errorf("user info: %v", err)
	}
}
