package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// The tokens of the principals of principalsRegistry: team-a's and
// team-b's come from the environment, ops's is written as its hash.
const (
	tokenA   = "team-a-token-5d1c9e0f7a2b4c6d"
	tokenB   = "team-b-token-8e3f1a2b9c0d7e6f"
	tokenOps = "ops-token-0a1b2c3d4e5f60718293"
)

func hashHex(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

var principalsRegistry = `
version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.05"
budget:
  total: "1"
  per_session: "0.004"
tools:
  - name: weather
    description: Weather.
    url: "${SELLER}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
  - name: text
    description: Text.
    url: "${SELLER}/v2/text"
    max_price: "0.001"
principals:
  - name: team-a
    token: ${TEAM_A_TOKEN}
    tools: [weather]
    budget:
      total: "0.002"
  - name: team-b
    token: ${TEAM_B_TOKEN}
    budget:
      per_day: "0.003"
  - name: ops
    token: sha256:` + hashHex(tokenOps) + `
    admin: true
`

// principalsServer serves reg over HTTP on loopback with its principals, as
// serve wires them: their budgets in the ledger, their tokens from the
// environment; logs go to the returned buffer.
func principalsServer(t *testing.T, reg string) (*httpServer, *lockedBuffer) {
	t.Helper()
	return principalsServerAt(t, func(string) string { return reg }, nil)
}

// principalsServerAt is principalsServer for a catalog that names the
// server's own URL (reg gets it, e.g. for oauth.resource); tune may change
// the options before the server starts.
func principalsServerAt(t *testing.T, reg func(base string) string, tune func(*server.HTTPOptions)) (*httpServer, *lockedBuffer) {
	t.Helper()
	return gateway(t, gatewaySetup{reg: reg, tune: tune})
}

// gatewaySetup is what gateway serves: the catalog (given the server's own
// URL), the options, the local seller's configuration, and what to change
// in the paying client (given the seller) before the server starts, such
// as another family's key and scheme.
type gatewaySetup struct {
	reg    func(base string) string
	tune   func(*server.HTTPOptions)
	seller localseller.Config
	client func(*payments.Client, *localseller.Running)
	// ledger is where the ledger lives (a SQLite file in a temp dir when
	// nil): a file path or a postgres:// URL.
	ledger func(t *testing.T) string
}

// gateway is principalsServerAt with a seller and client of g's.
func gateway(t *testing.T, g gatewaySetup) (*httpServer, *lockedBuffer) {
	t.Helper()
	reg, tune := g.reg, g.tune
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	seller, err := localseller.Start(g.seller)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	w, err := wallet.GenerateEVMKey()
	if err != nil {
		t.Fatal(err)
	}
	seller.Facilitator.Fund(w.Address(), 1_000_000)
	r, err := tools.Parse("registry.yaml", []byte(reg(base)), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SELLER": seller.URL, "TEAM_A_TOKEN": tokenA, "TEAM_B_TOKEN": tokenB}
	auth, err := server.AuthFrom(r.Gateway, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	pol := r.Policy()
	pol.Budget.Principals = r.Gateway.Budgets()
	loc := filepath.Join(t.TempDir(), "ledger.db")
	if g.ledger != nil {
		loc = g.ledger(t)
	}
	book, err := ledger.Open(context.Background(), loc, pol.Budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { book.Close() })
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: book, Session: "test-session", Warm: &payments.Warm{}, Logger: log}
	if g.client != nil {
		g.client(c, seller)
	}
	srv, err := server.New(server.Config{Registry: r, Client: c, History: book, Books: book, Getenv: func(k string) string { return env[k] }, Logger: log, ProtectedEnv: r.Gateway.Env()})
	if err != nil {
		t.Fatal(err)
	}
	opts := server.HTTPOptions{Auth: auth}
	if tune != nil {
		tune(&opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &httpServer{URL: base, seller: seller, book: book, srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- srv.Serve(ctx, ln, opts) }()
	t.Cleanup(func() { h.stop(t) })
	return h, logs
}

// toolNames lists the tools cli sees, and checks that x402_quote's tool
// argument names exactly the paid tools among them.
func toolNames(t *testing.T, cli *client.Client) []string {
	t.Helper()
	list, err := cli.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var quote string
	for _, tl := range list.Tools {
		out = append(out, tl.Name)
		if tl.Name == server.ToolQuote {
			b, _ := json.Marshal(tl.InputSchema)
			quote = string(b)
		}
	}
	for _, paid := range []string{"weather", "text"} {
		if strings.Contains(quote, `"`+paid+`"`) != slices.Contains(out, paid) {
			t.Errorf("x402_quote's tools (%s) do not match the listed tools %v", quote, out)
		}
	}
	return out
}

// TestPrincipalsHTTP: three principals on one gateway. Each lists and calls
// only its tools; each is refused at its own budget while the others still
// pay; x402_wallet and x402_spend_history show a principal its own budgets
// and payments only, and the admin every principal's; the ledger books each
// payment to its principal; /metrics is the admin's and labels by principal.
func TestPrincipalsHTTP(t *testing.T) {
	h, _ := principalsServer(t, principalsRegistry)
	a := mustConnect(t, "streamable", h.URL, tokenA)
	b := mustConnect(t, "sse", h.URL, tokenB)
	ops := mustConnect(t, "streamable", h.URL, tokenOps)

	if got := toolNames(t, a); slices.Contains(got, "text") || !slices.Contains(got, "weather") || !slices.Contains(got, server.ToolWallet) {
		t.Fatalf("team-a lists %v: want weather and the built-ins, not text", got)
	}
	if got := toolNames(t, b); !slices.Contains(got, "text") || !slices.Contains(got, "weather") {
		t.Fatalf("team-b (every tool) lists %v", got)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "text", map[string]any{}
	if _, err := a.CallTool(context.Background(), req); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("team-a called text: %v", err)
	}
	if res := call(t, a, server.ToolQuote, map[string]any{"tool": "text"}); !res.IsError || !strings.Contains(text(res), "no paid tool named") {
		t.Fatalf("team-a quoted text: %s", text(res))
	}

	// team-a: its total is 0.002, two calls; the third is refused by its own budget.
	for i := range 2 {
		if res := call(t, a, "weather", map[string]any{"city": "Oslo"}); res.IsError {
			t.Fatalf("team-a call %d: %s", i, text(res))
		}
	}
	res := call(t, a, "weather", map[string]any{"city": "Oslo"})
	if !res.IsError || !strings.Contains(text(res), "the total budget of principal team-a") || res.Meta.AdditionalFields[tools.MetaCharged] != "not charged" {
		t.Fatalf("team-a past its budget: %s", text(res))
	}
	// team-b still pays, up to its own per-day budget of 0.003.
	for i := range 3 {
		if res := call(t, b, "text", nil); res.IsError {
			t.Fatalf("team-b call %d: %s", i, text(res))
		}
	}
	if res := call(t, b, "weather", map[string]any{"city": "Oslo"}); !res.IsError || !strings.Contains(text(res), "the per-day budget of principal team-b") {
		t.Fatalf("team-b past its day: %s", text(res))
	}
	// ops has no budget of its own: the gateway's alone.
	if res := call(t, ops, "text", nil); res.IsError {
		t.Fatalf("ops: %s", text(res))
	}

	// The books: each row names its principal and its session.
	rows, err := h.book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range rows {
		count[r.Principal]++
		if !strings.HasPrefix(r.Session, r.Principal+"@") {
			t.Errorf("row %s of %s has session %q", r.ID, r.Principal, r.Session)
		}
	}
	if count["team-a"] != 2 || count["team-b"] != 3 || count["ops"] != 1 || len(rows) != 6 {
		t.Fatalf("rows by principal %v", count)
	}

	// x402_wallet: team-a sees its own budget and payments.
	var wa server.WalletStatus
	structured(t, call(t, a, server.ToolWallet, nil), &wa)
	if wa.Budget.Of != "principal" || wa.Budget.Total != "0.002" || wa.Budget.Settled != "0.002" || wa.Budget.Left != "0" || wa.Budget.Payments != 2 ||
		wa.Principal.Name != "team-a" || wa.Principal.Admin || len(wa.Principals) != 0 || len(wa.Assets) != 0 || wa.Budget.TipsPerDay != nil {
		t.Fatalf("team-a's wallet %+v", wa)
	}
	var wb server.WalletStatus
	structured(t, call(t, b, server.ToolWallet, nil), &wb)
	if wb.Budget.Of != "principal" || wb.Budget.Settled != "0.003" || wb.Budget.Total != "unlimited" || wb.Budget.PerDay == nil ||
		wb.Budget.PerDay.Counted != "0.003" || wb.Budget.PerDay.Left != "0" || wb.Budget.PerSession == nil || wb.Budget.PerSession.Counted != "0.003" {
		t.Fatalf("team-b's wallet %+v %+v", wb.Budget, wb.Budget.PerDay)
	}
	var wo server.WalletStatus
	structured(t, call(t, ops, server.ToolWallet, nil), &wo)
	if wo.Budget.Of != "gateway" || wo.Budget.Settled != "0.006" || len(wo.Principals) != 3 || !wo.Principal.Admin {
		t.Fatalf("ops's wallet %+v", wo)
	}
	for _, p := range wo.Principals {
		want := map[string]string{"team-a": "0.002", "team-b": "0.003", "ops": "0.001"}[p.Name]
		if p.Settled != want {
			t.Errorf("ops sees %s settled %s, want %s", p.Name, p.Settled, want)
		}
	}

	// x402_spend_history: one's own, or everyone's for the admin.
	hist := func(cli *client.Client, args map[string]any) []server.HistoryEntry {
		var out struct{ Payments []server.HistoryEntry }
		structured(t, call(t, cli, server.ToolSpendHistory, args), &out)
		return out.Payments
	}
	for _, e := range hist(a, nil) {
		if e.Principal != "team-a" {
			t.Fatalf("team-a's history holds %+v", e)
		}
	}
	if got := hist(a, nil); len(got) != 2 {
		t.Fatalf("team-a's history: %d payments", len(got))
	}
	if res := call(t, a, server.ToolSpendHistory, map[string]any{"principal": "team-b"}); !res.IsError || !strings.Contains(text(res), "your own payments only") {
		t.Fatalf("team-a asked for team-b's history: %s", text(res))
	}
	if got := hist(ops, nil); len(got) != 6 {
		t.Fatalf("ops's history: %d payments", len(got))
	}
	if got := hist(ops, map[string]any{"principal": "team-b"}); len(got) != 3 || got[0].Principal != "team-b" {
		t.Fatalf("ops's history of team-b: %+v", got)
	}

	// /metrics: the admin's only, labelled by principal.
	req2, _ := http.NewRequest(http.MethodGet, h.URL+server.PathMetrics, nil)
	req2.Header.Set("Authorization", "Bearer "+tokenA)
	r2, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "principal team-a is not an admin") {
		t.Fatalf("team-a read /metrics: %d %s", r2.StatusCode, body)
	}
	m := scrape(t, h.URL, tokenOps)
	for _, want := range []string{
		`x402_payments_total{tool="weather",network="eip155:84532",outcome="charged",principal="team-a"} 2`,
		`x402_payments_total{tool="weather",network="",outcome="not_charged",principal="team-a"} 1`,
		`x402_payments_total{tool="text",network="eip155:84532",outcome="charged",principal="team-b"} 3`,
		`x402_paid_amount_atomic_total{tool="text",network="eip155:84532",asset="USDC",principal="ops"} 1000`,
		`x402_tool_calls_total{tool="x402_wallet",error="false",principal="team-b"} 1`,
		`x402_principal_budget_left_atomic{principal="team-a",asset="USDC"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s\n%s", want, m)
		}
	}
}

// TestPrincipalsAuth: an unknown token gets 401; a session belongs to the
// principal that opened it (another principal naming its id gets 404, on
// Streamable HTTP and on SSE).
func TestPrincipalsAuth(t *testing.T) {
	h, _ := principalsServer(t, principalsRegistry)
	res, body := rawDo(t, http.MethodPost, h.URL+server.PathMCP, map[string]string{"Authorization": "Bearer not-a-token-of-anyone-0000"}, initLegacy)
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("an unknown token: %d %q %s", res.StatusCode, res.Header.Get("WWW-Authenticate"), body)
	}
	res, body = rawDo(t, http.MethodPost, h.URL+server.PathMCP, map[string]string{"Authorization": "Bearer " + tokenA}, initLegacy)
	id := res.Header.Get("Mcp-Session-Id")
	if res.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("team-a's initialize: %d %s", res.StatusCode, body)
	}
	const ping = `{"jsonrpc":"2.0","id":2,"method":"ping"}`
	for _, tc := range []struct {
		tok  string
		want int
	}{{tokenB, http.StatusNotFound}, {tokenA, http.StatusOK}} {
		res, body = rawDo(t, http.MethodPost, h.URL+server.PathMCP, map[string]string{"Authorization": "Bearer " + tc.tok, "Mcp-Session-Id": id,
			"Mcp-Protocol-Version": "2025-06-18"}, ping)
		if res.StatusCode != tc.want {
			t.Fatalf("ping on team-a's session: %d %s, want %d", res.StatusCode, body, tc.want)
		}
	}
	// SSE: team-a opens a stream; team-b posting to its session gets 404.
	sse := openSSE(t, h.URL, tokenA)
	if !strings.Contains(sse.endpoint, "sessionId=") {
		t.Fatalf("endpoint %q", sse.endpoint)
	}
	res, body = rawDo(t, http.MethodPost, h.URL+sse.endpoint, map[string]string{"Authorization": "Bearer " + tokenB}, ping)
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("team-b on team-a's SSE session: %d %s", res.StatusCode, body)
	}
	res, body = rawDo(t, http.MethodPost, h.URL+sse.endpoint, map[string]string{"Authorization": "Bearer " + tokenA}, ping)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("team-a on its SSE session: %d %s", res.StatusCode, body)
	}
}

// TestPrincipalsNoSecrets: no token, and no token's hash (whole or the
// 8-character prefix an earlier version logged), appears in the logs, the
// metrics or any tool output, whatever the principals did.
func TestPrincipalsNoSecrets(t *testing.T) {
	h, logs := principalsServer(t, principalsRegistry)
	var outputs strings.Builder
	for _, tok := range []string{tokenA, tokenB, tokenOps} {
		cli := mustConnect(t, "streamable", h.URL, tok)
		for _, c := range []struct {
			name string
			args map[string]any
		}{{"weather", map[string]any{"city": "Oslo"}}, {server.ToolWallet, nil}, {server.ToolSpendHistory, nil}, {server.ToolQuote, map[string]any{"tool": "weather"}}, {"text", nil}} {
			req := mcp.CallToolRequest{}
			req.Params.Name, req.Params.Arguments = c.name, c.args
			res, err := cli.CallTool(context.Background(), req)
			if err != nil {
				outputs.WriteString(err.Error())
				continue
			}
			b, _ := res.MarshalJSON()
			outputs.Write(b)
		}
	}
	_, body := rawDo(t, http.MethodPost, h.URL+server.PathMCP, map[string]string{"Authorization": "Bearer " + tokenA + "x"}, initLegacy)
	outputs.WriteString(body)
	outputs.WriteString(scrape(t, h.URL, tokenOps))
	all := outputs.String() + logs.String()
	if !strings.Contains(logs.String(), "principal=team-a") || !strings.Contains(logs.String(), "principal=team-b") {
		t.Fatalf("the logs do not name the principals:\n%s", logs.String())
	}
	for _, tok := range []string{tokenA, tokenB, tokenOps} {
		for _, secret := range []string{tok, hashHex(tok), hashHex(tok)[:8]} {
			if strings.Contains(all, secret) {
				t.Errorf("%q appears in the logs, metrics or tool output", secret)
			}
		}
	}
}

// TestReloadKeepsPrincipals: principals and OAuth are fixed while serving:
// a reloaded catalog that changes them is refused (restart needed), and so
// is one that reads a principal's token variable.
func TestReloadKeepsPrincipals(t *testing.T) {
	f := newFixture(t, principalsRegistry, 1_000_000, localseller.Config{}, server.Config{ProtectedEnv: []string{"TEAM_A_TOKEN", "TEAM_B_TOKEN"}})
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"a principal's budget", `total: "0.002"`, `total: "0.02"`, "principals/oauth changed"},
		{"a new principal", "  - name: ops\n", "  - name: intruder\n    token: ${INTRUDER_TOKEN}\n    admin: true\n  - name: ops\n", "principals/oauth changed"},
		{"a tool reading a token", "    max_price: \"0.001\"\n  - name: text", "    headers: {X-Key: \"${TEAM_B_TOKEN}\"}\n    max_price: \"0.001\"\n  - name: text", "reads ${TEAM_B_TOKEN}, a principal's bearer token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(principalsRegistry, tc.from, tc.to, 1)
			if src == principalsRegistry {
				t.Fatal("the edit changed nothing")
			}
			reg, err := tools.Parse("registry.yaml", []byte(src), testFamilies)
			if err != nil {
				// The catalog's own token variables are refused at parse time.
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("parse: %v", err)
				}
				return
			}
			err = f.srv.Reload(reg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("reload: %v, want %q", err, tc.want)
			}
		})
	}
	// A principals file's variables, which the catalog does not name itself.
	src := strings.Replace(principalsRegistry[:strings.Index(principalsRegistry, "principals:")], "url: \"${SELLER}/v2/text\"", "url: \"${SELLER}/v2/text?k=${TEAM_A_TOKEN}\"", 1)
	reg, err := tools.Parse("registry.yaml", []byte(src), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Reload(reg); err == nil || !strings.Contains(err.Error(), "reads ${TEAM_A_TOKEN}") {
		t.Fatalf("a reload that reads a principals file's token variable: %v", err)
	}
}
