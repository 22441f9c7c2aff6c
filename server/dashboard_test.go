package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/pgtest"
	"github.com/x402-mcp/x402-mcp/internal/simchain"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
)

// dashRegistry pays USDC through the local seller's in-memory facilitator
// (no rpc endpoint for its network) and JPYX, a 2-decimal token declared
// under assets:, on a simulated chain.
const dashRegistry = `version: 1
defaults:
  networks: [eip155:84532, eip155:1337]
  max_per_call: "0.05"
budget:
  total: "1"
  per_day: "0.5"
  per_tool: "0.2"
  per_session: "0.3"
  per_network:
    eip155:84532: "0.9"
rpc:
  eip155:1337: %s
assets:
  - symbol: JPYX
    network: eip155:1337
    address: "%s"
    decimals: 2
    eip712: {name: JPY Coin, version: "1"}
    budget: {total: "30", per_day: "10"}
tools:
  - name: weather
    description: Weather.
    url: "${SELLER}/v2/weather/{city}"
    params: [{name: city, in: path, type: string, required: true, description: City}]
    max_price: "0.001"
  - name: summarize
    description: Summaries.
    method: POST
    url: "${SELLER}/v2/summarize"
    params: [{name: text, in: body, type: string, required: true, description: Text}]
    max_price: "0.01"
  - name: lost
    description: A seller that settles and never sends its receipt.
    url: "${SELLER}/v2/misbehave/error_no_receipt"
    max_price: "0.001"
  - name: yen_weather
    description: Weather, paid in JPYX.
    url: "%s/v2/weather/{city}"
    params: [{name: city, in: path, type: string, required: true, description: City}]
    max_price: "2"
    asset: JPYX
    budget: "5"
`

// dashGateway is a server over HTTP with the token, that has paid 0.003
// USDC for weather (3 calls), 0.01 for summarize, 0.001 for lost (of
// unknown outcome: the seller settled and sent no receipt) and 3 JPYX for
// yen_weather (2 calls, settled on the simulated chain), all through real
// sellers whose facilitators check every signature.
type dashGateway struct {
	*httpServer
	book *ledger.Ledger
}

func startDashGateway(t *testing.T) *dashGateway {
	t.Helper()
	ctx := context.Background()
	sim, err := simchain.Start(ctx, simchain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	jpyx, err := sim.DeployToken(ctx, simchain.TokenOptions{Name: "JPY Coin", Version: "1", Symbol: "JPYX", Decimals: 2})
	if err != nil {
		t.Fatal(err)
	}
	jpyxSeller, err := localseller.Start(localseller.Config{Facilitator: localseller.NewFacilitator(localseller.FacilitatorConfig{Chain: jpyx}),
		Prices: localseller.Prices{Weather: 150}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jpyxSeller.Close() })
	reg := fmt.Sprintf(dashRegistry, sim.URL(), jpyx.Address().Hex(), jpyxSeller.URL)
	f := newFixture(t, reg, 1_000_000, localseller.Config{}, server.Config{ReconcileEvery: 5 * time.Minute})
	if err := jpyx.Mint(ctx, f.wallet.Address(), 100_000); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	h := &httpServer{URL: "http://" + ln.Addr().String(), seller: f.seller, book: f.book, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- f.srv.Serve(sctx, ln, server.HTTPOptions{Token: testToken}) }()
	t.Cleanup(func() { h.stop(t) })

	cli := mustConnect(t, "streamable", h.URL, testToken)
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"weather", map[string]any{"city": "Paris"}}, {"weather", map[string]any{"city": "Oslo"}}, {"weather", map[string]any{"city": "Lima"}},
		{"summarize", map[string]any{"text": "One. Two."}}, {"lost", nil},
		{"yen_weather", map[string]any{"city": "Osaka"}}, {"yen_weather", map[string]any{"city": "Kyoto"}},
	} {
		res := call(t, cli, c.tool, c.args)
		if c.tool == "lost" {
			if got := res.Meta.AdditionalFields["x402/charged"]; got != "unknown" {
				t.Fatalf("lost: charged %v: %s", got, text(res))
			}
			continue
		}
		if res.IsError {
			t.Fatalf("%s: %s", c.tool, text(res))
		}
	}
	return &dashGateway{httpServer: h, book: f.book}
}

// get fetches a dashboard path with the token (none when token is "").
func get(t *testing.T, url, token string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func dashState(t *testing.T, base, token, window string) server.DashboardState {
	t.Helper()
	res, body := get(t, base+"/dashboard/api/state?window="+window, token)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("state: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	var st server.DashboardState
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("state is not JSON: %v\n%s", err, body)
	}
	return st
}

func findBudget(t *testing.T, st server.DashboardState, scope, key, unit string) server.BudgetRow {
	t.Helper()
	for _, b := range st.Budgets {
		if b.Scope == scope && b.Key == key && b.Unit == unit {
			return b
		}
	}
	t.Fatalf("no budget %s/%s in %s; budgets: %+v", scope, key, unit, st.Budgets)
	return server.BudgetRow{}
}

func findChart(t *testing.T, st server.DashboardState, by, unit string) server.SpendChart {
	t.Helper()
	for _, c := range st.Spend {
		if c.By == by && c.Unit == unit {
			return c
		}
	}
	t.Fatalf("no chart by %s in %s: %+v", by, unit, st.Spend)
	return server.SpendChart{}
}

// counted sums what the ledger's rows count, per key and unit: the
// figures the dashboard must show, computed here from the rows themselves.
func counted(rows []ledger.Row, key func(ledger.Row) string) map[[2]string]payments.Amount {
	out := map[[2]string]payments.Amount{}
	for _, r := range rows {
		if r.Counted() {
			out[[2]string{key(r), r.Unit}] += r.Amount
		}
	}
	return out
}

// TestDashboardData: the gateway's /dashboard/api/state, after real paid
// calls, shows exactly what the ledger holds: every budget with what counts
// against it, its limit and when it resets; what counted by tool,
// principal, session and network, one chart per asset; the recent payments with receipts and
// explorer links; the open payment and what reconciliation will do.
func TestDashboardData(t *testing.T) {
	g := startDashGateway(t)
	ctx := context.Background()
	rows, err := g.book.List(ctx, ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 {
		t.Fatalf("the ledger has %d rows, want 7", len(rows))
	}
	st := dashState(t, g.URL, testToken, "24h")
	// No signed authorization (spendable until it expires) in the data.
	_, raw := get(t, g.URL+"/dashboard/api/state", testToken)
	for _, r := range rows {
		if r.Payload != "" && strings.Contains(string(raw), r.Payload[:40]) {
			t.Fatalf("the state shows payment %s's signed header", r.ID)
		}
	}
	usdc, jp := payments.USDC, rows[0].Currency()
	if jp.Symbol != "JPYX" || jp.Decimals != 2 {
		t.Fatalf("newest row is %+v, want JPYX", jp)
	}
	money := func(cur payments.Currency, a payments.Amount) server.Money {
		return server.Money{Amount: cur.Decimal(a), Atomic: a.Atomic(), Symbol: cur.Symbol, Decimals: cur.Decimals}
	}

	t.Run("budgets", func(t *testing.T) {
		sum, err := g.book.Summary(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byTool := counted(rows, func(r ledger.Row) string { return r.Tool })
		for _, tt := range []struct {
			scope, key, unit string
			counted, limit   server.Money
			resets           string
		}{
			{"total", "", "USDC", money(usdc, sum.Counted()), money(usdc, 1_000_000), "Never: raise budget.total in registry.yaml."},
			{"day", "", "USDC", money(usdc, sum.Day), money(usdc, 500_000), "Frees up as payments leave the rolling 24-hour window, first at " +
				rows[6].CreatedAt.Add(24*time.Hour).UTC().Format(time.RFC3339) + "."},
			{"total", "", jp.Budget, money(jp, sum.Assets[0].Counted()), money(jp, 3000), "Never: raise assets[0].budget.total in registry.yaml."},
			{"day", "", jp.Budget, money(jp, 300), money(jp, 1000), "Frees up as payments leave the rolling 24-hour window, first at " +
				rows[1].CreatedAt.Add(24*time.Hour).UTC().Format(time.RFC3339) + "."},
			{"tool", "weather", "USDC", money(usdc, byTool[[2]string{"weather", "USDC"}]), money(usdc, 200_000), "Never: raise budget.per_tool in registry.yaml."},
			{"tool", "lost", "USDC", money(usdc, 1000), money(usdc, 200_000), "Never: raise budget.per_tool in registry.yaml."},
			{"tool", "yen_weather", jp.Budget, money(jp, byTool[[2]string{"yen_weather", jp.Budget}]), money(jp, 500),
				"Never: raise the budget of the yen_weather entry in registry.yaml."},
			{"session", rows[0].Session, "USDC", money(usdc, 14_000), money(usdc, 300_000),
				"When the session ends: a new x402-mcp process over stdio, a restart of the server over HTTP."},
			{"network", "eip155:84532", "USDC", money(usdc, 14_000), money(usdc, 900_000), "Never: raise budget.per_network[eip155:84532] in registry.yaml."},
		} {
			b := findBudget(t, st, tt.scope, tt.key, tt.unit)
			if b.Counted != tt.counted || b.Limit != tt.limit || b.ResetText != tt.resets {
				t.Errorf("%s %s %s:\n got counted %+v limit %+v resets %q\nwant counted %+v limit %+v resets %q",
					tt.scope, tt.key, tt.unit, b.Counted, b.Limit, b.ResetText, tt.counted, tt.limit, tt.resets)
			}
		}
		// The figures themselves, as a reader checks them.
		if b := findBudget(t, st, "total", "", "USDC"); b.Counted.Amount != "0.014" || b.Left.Amount != "0.986" || b.Counted.Symbol != "USDC" {
			t.Errorf("USDC total %+v", b)
		}
		if b := findBudget(t, st, "total", "", jp.Budget); b.Counted.Amount != "3" || b.Left.Amount != "27" || b.Counted.Symbol != "JPYX" || b.Counted.Decimals != 2 {
			t.Errorf("JPYX total %+v", b)
		}
		if b := findBudget(t, st, "tool", "yen_weather", jp.Budget); b.Counted.Amount != "3" || b.Limit.Amount != "5" {
			t.Errorf("yen_weather's own budget %+v", b)
		}
		for _, c := range []struct{ scope, key, unit, counts string }{
			{"total", "", "USDC", "Every USDC payment ever."},
			{"day", "", jp.Budget, "JPYX payments reserved in the rolling 24 hours window."},
			{"tool", "weather", "USDC", "Payments of this tool, lifetime."},
		} {
			if got := findBudget(t, st, c.scope, c.key, c.unit).Counts; got != c.counts {
				t.Errorf("what %s %s %s counts: %q, want %q", c.scope, c.key, c.unit, got, c.counts)
			}
		}
	})

	t.Run("spend", func(t *testing.T) {
		for _, tt := range []struct {
			by  string
			key func(ledger.Row) string
		}{
			{"tool", func(r ledger.Row) string { return r.Tool }},
			{"principal", func(r ledger.Row) string { return r.Principal }},
			{"session", func(r ledger.Row) string { return r.Session }},
			{"network", func(r ledger.Row) string { return r.Network }},
		} {
			want := counted(rows, tt.key)
			shown := 0
			for _, cur := range []payments.Currency{usdc, jp} {
				c := findChart(t, st, tt.by, cur.Budget)
				var total payments.Amount
				for _, k := range c.Keys {
					w := want[[2]string{k.Key, cur.Budget}]
					if k.Counted != money(cur, w) || k.Other {
						t.Errorf("by %s, %s, %s: %+v, want %s", tt.by, cur.Symbol, k.Key, k.Counted, cur.Format(w))
					}
					total += w
					shown++
				}
				if c.Total != money(cur, total) {
					t.Errorf("by %s, %s: total %+v, want %s", tt.by, cur.Symbol, c.Total, cur.Format(total))
				}
			}
			if shown != len(want) {
				t.Errorf("by %s: %d keys shown, the ledger has %d", tt.by, shown, len(want))
			}
		}
		c := findChart(t, st, "tool", "USDC")
		if len(c.Keys) != 3 || c.Keys[0].Key != "summarize" || c.Keys[0].Counted.Amount != "0.01" || c.Keys[1].Key != "weather" ||
			c.Keys[1].Counted.Amount != "0.003" || c.Keys[1].Payments != 3 || c.Keys[1].Settled.Amount != "0.003" ||
			c.Keys[2].Key != "lost" || c.Keys[2].Settled.Amount != "0" || c.Total.Amount != "0.014" {
			t.Errorf("by tool in USDC: %+v", c)
		}
		if n := findChart(t, st, "network", "USDC").Keys[0]; n.Label != "Base Sepolia (eip155:84532)" {
			t.Errorf("network label %q", n.Label)
		}
		// The single token's calls are the implicit principal's.
		if p := findChart(t, st, "principal", "USDC"); len(p.Keys) != 1 || p.Keys[0].Key != server.DefaultPrincipal || p.Total.Amount != "0.014" {
			t.Errorf("by principal in USDC: %+v", p)
		}
		if len(st.Spend) != 8 {
			t.Errorf("%d charts, want 8 (tool, principal, session, network × USDC, JPYX)", len(st.Spend))
		}

		// The chart: an SVG with one bar part per key that counted.
		res, body := get(t, g.URL+server.PathDashboard+c.Chart, testToken)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" {
			t.Fatalf("chart: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		// One bar part per hour and tool that counted; the scale's top is
		// the tallest bar, exactly.
		parts, bars := map[string]bool{}, map[int64]payments.Amount{}
		for _, r := range rows {
			if r.Unit == "USDC" && r.Counted() {
				h := r.CreatedAt.Unix() / 3600
				parts[fmt.Sprint(h, r.Tool)] = true
				bars[h] += r.Amount
			}
		}
		var tallest payments.Amount
		for _, a := range bars {
			tallest = max(tallest, a)
		}
		svg := string(body)
		if !strings.HasPrefix(svg, "<svg") || strings.Count(svg, "<rect") != len(parts) || strings.Contains(svg, "<script") ||
			!strings.Contains(svg, "max "+usdc.Format(tallest)+" per bar") || !strings.Contains(svg, "summarize: 0.01 USDC") {
			t.Errorf("chart SVG, want %d bar parts and max %s:\n%s", len(parts), usdc.Format(tallest), svg)
		}
	})

	t.Run("recent", func(t *testing.T) {
		if len(st.Recent) != len(rows) {
			t.Fatalf("%d recent payments, want %d", len(st.Recent), len(rows))
		}
		for i, p := range st.Recent {
			r := rows[i]
			if p.ID != r.ID || p.Amount != money(r.Currency(), r.Amount) || p.State != string(r.State) || p.Transaction != r.Transaction || p.Tool != r.Tool ||
				p.Principal != r.Principal || p.Principal != server.DefaultPrincipal {
				t.Errorf("recent %d: %+v, ledger %+v", i, p, r)
			}
			explorer := ""
			if r.Network == "eip155:84532" && r.Transaction != "" {
				explorer = "https://sepolia.basescan.org/tx/" + r.Transaction
			}
			if p.Explorer != explorer {
				t.Errorf("recent %d on %s: explorer %q, want %q", i, r.Network, p.Explorer, explorer)
			}
		}
		if p := st.Recent[0]; p.Amount.Amount != "1.5" || p.Amount.Symbol != "JPYX" || p.Transaction == "" || p.NetworkName != "local dev chain" {
			t.Errorf("newest: %+v", p)
		}
	})

	t.Run("open", func(t *testing.T) {
		if st.OpenCount != 1 || len(st.Open) != 1 {
			t.Fatalf("open: %+v", st.Open)
		}
		o := st.Open[0]
		if o.Tool != "lost" || o.State != "unknown" || o.Amount.Amount != "0.001" || o.AgeSeconds < 0 || o.Age == "" ||
			!strings.Contains(o.Next, "No rpc endpoint for eip155:84532: it stays counted until `x402-mcp ledger reconcile` can reach a chain") {
			t.Errorf("open payment %+v", o)
		}
		if !strings.Contains(st.Reconciler, "every 5m0s") || st.ReadOnly {
			t.Errorf("reconciler %q, read-only %v", st.Reconciler, st.ReadOnly)
		}
	})

	t.Run("windows", func(t *testing.T) {
		for _, w := range []string{"7d", "30d"} {
			st := dashState(t, g.URL, testToken, w)
			if st.Window.Name != w || findChart(t, st, "tool", "USDC").Total.Amount != "0.014" {
				t.Errorf("window %s: %+v", w, st.Window)
			}
		}
		res, body := get(t, g.URL+"/dashboard/api/state?window=1y", testToken)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `window \"1y\": use one of 24h, 7d, 30d`) {
			t.Errorf("window 1y: %d %s", res.StatusCode, body)
		}
		res, body = get(t, g.URL+"/dashboard/api/chart.svg?by=tool&unit=EURC", testToken)
		if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `nothing counted in unit \"EURC\" by tool in the last 24h`) {
			t.Errorf("chart of a unit with nothing: %d %s", res.StatusCode, body)
		}
		res, body = get(t, g.URL+"/dashboard/api/chart.svg?by=payee&unit=USDC", testToken)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "chart by one of tool, principal, session, network") {
			t.Errorf("chart by payee: %d %s", res.StatusCode, body)
		}
	})
}

// TestDashboardPage: the page and its files come from the binary, under a
// Content-Security-Policy that allows only the page's own origin.
func TestDashboardPage(t *testing.T) {
	h := startHTTP(t, server.HTTPOptions{Token: testToken}, localseller.Config{})
	for _, tt := range []struct{ path, ctype, has string }{
		{"/dashboard/", "text/html; charset=utf-8", `<script src="static/app.js" defer></script>`},
		{"/dashboard/static/app.js", "text/javascript; charset=utf-8", "api/state?window="},
		{"/dashboard/static/app.css", "text/css; charset=utf-8", "@media (max-width: 640px)"},
	} {
		res, body := get(t, h.URL+tt.path, testToken)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != tt.ctype || !strings.Contains(string(body), tt.has) {
			t.Errorf("%s: %d %s", tt.path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") ||
			!strings.Contains(csp, "frame-ancestors 'none'") || res.Header.Get("X-Content-Type-Options") != "nosniff" ||
			res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: CSP %q, headers %v", tt.path, csp, res.Header)
		}
		// Nothing is loaded from another origin: the only URL the files
		// hold is the check that an explorer link is https.
		want := 0
		if tt.path == "/dashboard/static/app.js" {
			want = 1
		}
		if n := strings.Count(string(body), "://"); n != want {
			t.Errorf("%s names %d URLs, want %d", tt.path, n, want)
		}
	}
	res, _ := get(t, h.URL+"/dashboard?window=7d", testToken)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/dashboard/?window=7d" {
		t.Errorf("/dashboard: %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestDashboardAuth: the dashboard is behind the token, as /mcp is; a
// browser may give it as HTTP Basic's password. The Origin rule of every
// endpoint holds, and a rebound Host is refused.
func TestDashboardAuth(t *testing.T) {
	h := startHTTP(t, server.HTTPOptions{Token: testToken}, localseller.Config{})
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for _, tt := range []struct {
		name   string
		path   string
		token  string
		hdr    []string
		status int
		body   string
	}{
		{"no token, page", "/dashboard/", "", nil, http.StatusUnauthorized, "needs the server's bearer token"},
		{"no token, data", "/dashboard/api/state", "", nil, http.StatusUnauthorized, "needs the server's bearer token"},
		{"no token, chart", "/dashboard/api/chart.svg?by=tool", "", nil, http.StatusUnauthorized, ""},
		{"no token, files", "/dashboard/static/app.js", "", nil, http.StatusUnauthorized, ""},
		{"wrong token", "/dashboard/api/state", "wrong-token-0123456789", nil, http.StatusUnauthorized, ""},
		{"token", "/dashboard/api/state", testToken, nil, http.StatusOK, `"budgets"`},
		{"basic, token as password", "/dashboard/api/state", "", []string{"Authorization", basic("admin", testToken)}, http.StatusOK, `"budgets"`},
		{"basic, wrong password", "/dashboard/api/state", "", []string{"Authorization", basic("admin", "nope-0123456789abcdef")}, http.StatusUnauthorized, ""},
		{"basic, token as user", "/dashboard/api/state", "", []string{"Authorization", basic(testToken, "")}, http.StatusUnauthorized, ""},
		{"another site's page", "/dashboard/api/state", testToken, []string{"Origin", "https://evil.example"}, http.StatusForbidden, "may not call this server"},
		{"a loopback page", "/dashboard/api/state", testToken, []string{"Origin", "http://127.0.0.1:9"}, http.StatusForbidden, "may not call this server"},
		{"rebound host", "/dashboard/api/state", testToken, []string{"Host", "evil.example"}, http.StatusForbidden, "is not this machine's loopback address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := get(t, h.URL+tt.path, tt.token, tt.hdr...)
			if res.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
				t.Fatalf("%d %s, want %d with %q", res.StatusCode, body, tt.status, tt.body)
			}
			if strings.Contains(string(body), testToken) {
				t.Fatal("the answer shows the token")
			}
			if tt.status == http.StatusUnauthorized {
				if got := res.Header.Values("WWW-Authenticate"); len(got) != 2 || got[0] != `Basic realm="x402-mcp dashboard", charset="UTF-8"` {
					t.Fatalf("WWW-Authenticate %q", got)
				}
			}
		})
	}
	// The Basic form stays the dashboard's: /mcp does not take it.
	req, _ := http.NewRequest(http.MethodPost, h.URL+server.PathMCP, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", basic("admin", testToken))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/mcp with the token as Basic's password: %d", res.StatusCode)
	}
	// A write method is not served.
	req, _ = http.NewRequest(http.MethodPost, h.URL+"/dashboard/api/state", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", res.StatusCode)
	}
}

// TestDashboardNoToken: a server on loopback without a token (as /mcp, open
// to this machine) serves the dashboard to this machine only.
func TestDashboardNoToken(t *testing.T) {
	h := startHTTP(t, server.HTTPOptions{}, localseller.Config{})
	if res, body := get(t, h.URL+"/dashboard/api/state", ""); res.StatusCode != http.StatusOK {
		t.Fatalf("no token configured: %d %s", res.StatusCode, body)
	}
	if res, _ := get(t, h.URL+"/dashboard/api/state", "", "Host", "rebound.example:80"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("rebound host without a token: %d", res.StatusCode)
	}
}

// TestDashboardAdminOnly: on a gateway with named principals, the
// dashboard (page, data, charts and files) is for admin principals only: a
// principal that is not an admin gets 403 with its bearer token and with
// its token as HTTP Basic's password, an admin gets the page either way,
// and anything else (no credentials, an unknown token, a token's hash
// given as the password) gets 401. No answer and no log line shows a
// token or its hash.
func TestDashboardAdminOnly(t *testing.T) {
	h, logs := principalsServer(t, principalsRegistry)
	basic := func(pass string) []string {
		return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("someone:"+pass))}
	}
	var answers strings.Builder
	for _, tt := range []struct {
		name   string
		token  string
		hdr    []string
		status int
		body   string
	}{
		{"team-a, page", tokenA, nil, http.StatusForbidden, "principal team-a is not an admin"},
		{"team-a, data", tokenA, nil, http.StatusForbidden, "principal team-a is not an admin"},
		{"team-a, chart", tokenA, nil, http.StatusForbidden, "principal team-a is not an admin"},
		{"team-a, files", tokenA, nil, http.StatusForbidden, "principal team-a is not an admin"},
		{"team-a as Basic's password", "", basic(tokenA), http.StatusForbidden, "principal team-a is not an admin"},
		{"team-b as Basic's password", "", basic(tokenB), http.StatusForbidden, "principal team-b is not an admin"},
		{"ops, the admin", tokenOps, nil, http.StatusOK, ""},
		{"ops as Basic's password", "", basic(tokenOps), http.StatusOK, ""},
		{"nothing", "", nil, http.StatusUnauthorized, "needs an admin principal's token"},
		{"an unknown token", "not-a-token-of-anyone-0000", nil, http.StatusUnauthorized, "not one this server knows"},
		{"an unknown Basic password", "", basic("not-a-token-of-anyone-0000"), http.StatusUnauthorized, "not one this server knows"},
		{"ops's hash as the password", "", basic(hashHex(tokenOps)), http.StatusUnauthorized, "not one this server knows"},
	} {
		for _, path := range []string{"/dashboard/", "/dashboard/api/state", "/dashboard/api/chart.svg?by=tool&unit=USDC", "/dashboard/static/app.js"} {
			res, body := get(t, h.URL+path, tt.token, tt.hdr...)
			answers.Write(body)
			answers.WriteString(strings.Join(res.Header.Values("WWW-Authenticate"), " "))
			want := tt.status
			if want == http.StatusOK && strings.Contains(path, "chart.svg") {
				want = http.StatusNotFound // nothing paid yet: no chart, as the admin is told
			}
			if res.StatusCode != want || !strings.Contains(string(body), tt.body) {
				t.Errorf("%s, %s: %d %s, want %d with %q", tt.name, path, res.StatusCode, body, want, tt.body)
			}
			if tt.status == http.StatusUnauthorized {
				if got := res.Header.Values("WWW-Authenticate"); len(got) != 2 || got[0] != `Basic realm="x402-mcp dashboard", charset="UTF-8"` {
					t.Errorf("%s, %s: WWW-Authenticate %q", tt.name, path, got)
				}
			}
		}
	}
	all := answers.String() + logs.String()
	for _, tok := range []string{tokenA, tokenB, tokenOps} {
		for _, secret := range []string{tok, hashHex(tok), hashHex(tok)[:8]} {
			if strings.Contains(all, secret) {
				t.Errorf("%q appears in an answer or the logs", secret)
			}
		}
	}
	if !strings.Contains(logs.String(), "principal=team-a") {
		t.Errorf("the refusal of team-a is not logged with its name:\n%s", logs.String())
	}
}

// TestDashboardByPrincipal: on a gateway with named principals, the admin's
// dashboard charts what each principal's paid calls counted, exactly as the
// ledger books them, and names each payment's principal.
func TestDashboardByPrincipal(t *testing.T) {
	h, _ := principalsServer(t, principalsRegistry)
	a := mustConnect(t, "streamable", h.URL, tokenA)
	b := mustConnect(t, "sse", h.URL, tokenB)
	ops := mustConnect(t, "streamable", h.URL, tokenOps)
	for _, c := range []struct {
		cli  *client.Client
		tool string
		args map[string]any
	}{
		{a, "weather", map[string]any{"city": "Oslo"}}, {a, "weather", map[string]any{"city": "Rome"}},
		{b, "text", nil}, {b, "text", nil}, {b, "weather", map[string]any{"city": "Lima"}},
		{ops, "text", nil},
	} {
		if res := call(t, c.cli, c.tool, c.args); res.IsError {
			t.Fatalf("%s: %s", c.tool, text(res))
		}
	}
	rows, err := h.book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := counted(rows, func(r ledger.Row) string { return r.Principal })
	if len(rows) != 6 || want[[2]string{"team-a", "USDC"}] != 2000 || want[[2]string{"team-b", "USDC"}] != 3000 || want[[2]string{"ops", "USDC"}] != 1000 {
		t.Fatalf("the ledger books %v over %d rows", want, len(rows))
	}
	st := dashState(t, h.URL, tokenOps, "24h")
	c := findChart(t, st, "principal", "USDC")
	if len(c.Keys) != 3 || c.Total.Amount != "0.006" {
		t.Fatalf("by principal: %+v", c)
	}
	for i, name := range []string{"team-b", "team-a", "ops"} { // the most counted first
		k := c.Keys[i]
		w := want[[2]string{name, "USDC"}]
		if k.Key != name || k.Label != name || k.Counted.Atomic != w.Atomic() || k.Settled.Atomic != w.Atomic() || k.Payments != int(w/1000) {
			t.Errorf("key %d: %+v, want %s with %s USDC", i, k, name, payments.USDC.Decimal(w))
		}
	}
	res, body := get(t, h.URL+server.PathDashboard+c.Chart, tokenOps)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "team-b: 0.003 USDC") || !strings.Contains(string(body), "ops: 0.001 USDC") {
		t.Errorf("the chart by principal: %d %s", res.StatusCode, body)
	}
	for i, p := range st.Recent {
		if p.Principal != rows[i].Principal || p.Principal == "" {
			t.Errorf("recent %d names principal %q, the ledger %q", i, p.Principal, rows[i].Principal)
		}
	}
}

// TestServeDashboardLocal: the local dashboard reads a ledger opened
// read-only, on loopback only, for whoever has the key its URL carries.
func TestServeDashboardLocal(t *testing.T) {
	g := startDashGateway(t)
	ctx := context.Background()
	ro, err := ledger.OpenReadOnly(ctx, g.book.Path(), g.book.Budget())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	const key = "local-key-0123456789abcdef"

	// Not on loopback: refused.
	if ln, err := net.Listen("tcp", "0.0.0.0:0"); err == nil {
		err := server.ServeDashboard(ctx, ln, server.DashboardOptions{Books: ro, Key: key})
		if err == nil || !strings.Contains(err.Error(), "it is for this machine only") {
			t.Fatalf("0.0.0.0: %v", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := server.ServeDashboard(ctx, ln, server.DashboardOptions{Books: ro, Key: "short"}); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("a short key: %v", err)
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cookie := server.DashboardCookie(ln)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- server.ServeDashboard(sctx, ln, server.DashboardOptions{Books: ro, Key: key}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeDashboard: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()

	res, _ := get(t, base+"/dashboard/?key="+key+"&window=7d", "")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/dashboard/?window=7d" {
		t.Fatalf("the key URL: %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	var set *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == cookie {
			set = c
		}
	}
	if set == nil || set.Value != key || !set.HttpOnly || set.SameSite != http.SameSiteStrictMode || set.Path != "/dashboard" {
		t.Fatalf("cookie %+v", set)
	}
	for _, tt := range []struct {
		name   string
		path   string
		token  string
		hdr    []string
		status int
	}{
		{"nothing", "/dashboard/api/state", "", nil, http.StatusUnauthorized},
		{"wrong key", "/dashboard/?key=nope", "", nil, http.StatusUnauthorized},
		{"the cookie", "/dashboard/api/state", "", []string{"Cookie", cookie + "=" + key}, http.StatusOK},
		{"another port's cookie", "/dashboard/api/state", "", []string{"Cookie", "x402_dashboard_1=" + key}, http.StatusUnauthorized},
		{"bearer", "/dashboard/api/state", key, nil, http.StatusOK},
		{"another site's page", "/dashboard/api/state", key, []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"rebound host", "/dashboard/api/state", key, []string{"Host", "evil.example"}, http.StatusForbidden},
	} {
		res, body := get(t, base+tt.path, tt.token, tt.hdr...)
		if res.StatusCode != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, res.StatusCode, body, tt.status)
		}
	}
	// The same figures as the gateway's, read-only.
	st := dashState(t, base, key, "24h")
	if !st.ReadOnly || !strings.Contains(st.Reconciler, "only reads the ledger") || len(st.Recent) != 7 ||
		findBudget(t, st, "total", "", "USDC").Counted.Amount != "0.014" || findChart(t, st, "tool", "USDC").Total.Amount != "0.014" {
		t.Fatalf("local state: %+v", st)
	}
	if filepath.Clean(ro.Path()) != filepath.Clean(g.book.Path()) {
		t.Fatal("not the same ledger")
	}
}

// principalBudgetsRegistry gives two agents budgets of their own: team-a a
// total and a per-tool limit that its calls bring near (and to) their end,
// team-b a per-day limit it is far from; ops, the admin, has none.
var principalBudgetsRegistry = `
version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.05"
budget:
  total: "1"
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
    budget:
      total: "0.0035"
      per_tool: "0.002"
  - name: team-b
    token: ${TEAM_B_TOKEN}
    budget:
      per_day: "0.01"
  - name: ops
    token: sha256:` + hashHex(tokenOps) + `
    admin: true
`

// TestDashboardPrincipalBudgets: on a gateway whose principals have budgets
// of their own, on SQLite and on PostgreSQL, the admin's
// /dashboard/api/state lists each principal's budgets (total, per day, per
// tool) with what counts against it, its limit and what is left, in USDC
// with its decimals and atomic units, exactly as the ledger's rows add up;
// the one near its limit first; a principal without budgets has no row.
func TestDashboardPrincipalBudgets(t *testing.T) {
	for _, backend := range []struct {
		name   string
		ledger func(t *testing.T) string
	}{
		{"sqlite", nil},
		{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			h, _ := gateway(t, gatewaySetup{reg: func(string) string { return principalBudgetsRegistry }, ledger: backend.ledger})
			a := mustConnect(t, "streamable", h.URL, tokenA)
			b := mustConnect(t, "streamable", h.URL, tokenB)
			for _, c := range []struct {
				cli  *client.Client
				tool string
				args map[string]any
			}{
				{a, "weather", map[string]any{"city": "Oslo"}}, {a, "weather", map[string]any{"city": "Rome"}}, {a, "text", nil},
				{b, "text", nil},
			} {
				if res := call(t, c.cli, c.tool, c.args); res.IsError {
					t.Fatalf("%s: %s", c.tool, text(res))
				}
			}
			// team-a's weather is at its per-tool limit: the third is refused.
			if res := call(t, a, "weather", map[string]any{"city": "Lima"}); !res.IsError || !strings.Contains(text(res), "principal team-a for tool weather") {
				t.Fatalf("team-a's third weather: %s", text(res))
			}
			rows, err := h.book.List(context.Background(), ledger.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			// What the ledger's rows count, per principal and per principal
			// and tool: the figures the page must show.
			byPrincipal := counted(rows, func(r ledger.Row) string { return r.Principal })
			byTool := counted(rows, func(r ledger.Row) string { return r.Principal + "/" + r.Tool })
			if len(rows) != 4 || byPrincipal[[2]string{"team-a", "USDC"}] != 3000 || byPrincipal[[2]string{"team-b", "USDC"}] != 1000 {
				t.Fatalf("the ledger books %v over %d rows", byPrincipal, len(rows))
			}
			st := dashState(t, h.URL, tokenOps, "24h")
			for _, tt := range []struct {
				scope, key, principal string
				counted, limit        payments.Amount
				setting               string
			}{
				{"principal_total", "team-a", "team-a", byPrincipal[[2]string{"team-a", "USDC"}], 3500, "registry.yaml: principals[0] (team-a).budget.total"},
				{"principal_tool", "team-a/weather", "team-a", byTool[[2]string{"team-a/weather", "USDC"}], 2000, "registry.yaml: principals[0] (team-a).budget.per_tool"},
				{"principal_tool", "team-a/text", "team-a", byTool[[2]string{"team-a/text", "USDC"}], 2000, "registry.yaml: principals[0] (team-a).budget.per_tool"},
				{"principal_day", "team-b", "team-b", byPrincipal[[2]string{"team-b", "USDC"}], 10000, "registry.yaml: principals[1] (team-b).budget.per_day"},
			} {
				r := findBudget(t, st, tt.scope, tt.key, "USDC")
				left := tt.limit - min(tt.counted, tt.limit)
				for _, m := range []struct {
					name string
					got  server.Money
					want payments.Amount
				}{{"counted", r.Counted, tt.counted}, {"limit", r.Limit, tt.limit}, {"left", r.Left, left}} {
					if m.got.Atomic != m.want.Atomic() || m.got.Amount != payments.USDC.Decimal(m.want) || m.got.Symbol != "USDC" || m.got.Decimals != 6 {
						t.Errorf("%s %s: %s %+v, want %s atomic units of USDC (6 decimals)", tt.scope, tt.key, m.name, m.got, m.want.Atomic())
					}
				}
				if r.Principal != tt.principal || r.Setting != tt.setting || !strings.Contains(r.Name, tt.principal) || !strings.Contains(r.ResetText, tt.setting) && tt.scope != "principal_day" {
					t.Errorf("%s %s: %+v", tt.scope, tt.key, r)
				}
			}
			// team-b's day is a rolling window: it frees up 24 hours after its
			// oldest payment in it.
			day := findBudget(t, st, "principal_day", "team-b", "USDC")
			var oldest time.Time
			for _, r := range rows {
				if r.Principal == "team-b" && (oldest.IsZero() || r.CreatedAt.Before(oldest)) {
					oldest = r.CreatedAt
				}
			}
			if want := oldest.Add(24 * time.Hour).UTC(); !day.Resets.Equal(want) || !strings.Contains(day.ResetText, want.Format(time.RFC3339)) {
				t.Errorf("team-b's day resets %s (%q), want %s", day.Resets, day.ResetText, want)
			}
			// Near its limit first: team-a's weather (nothing left) before
			// its text.
			var order []string
			for _, r := range st.Budgets {
				if strings.HasPrefix(r.Scope, "principal") {
					order = append(order, r.Scope+" "+r.Key)
				}
			}
			if want := []string{"principal_total team-a", "principal_day team-b", "principal_tool team-a/weather", "principal_tool team-a/text"}; !slices.Equal(order, want) {
				t.Errorf("the principals' budgets in the order %q, want %q", order, want)
			}
		})
	}
}
