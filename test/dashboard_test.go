package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/component"
	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/simchain"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// EnvRequireBrowser, when set (as .ci/run sets it), makes a missing
// Chromium a failure of TestDashboardInBrowser instead of a skip.
const EnvRequireBrowser = component.EnvBrowser

// EnvArtifacts names the directory the browser test writes its screenshots
// to; without it, a new temporary directory that is kept.
const EnvArtifacts = "X402_ARTIFACTS"

// chromiumPath finds Debian's Chromium (package chromium, /usr/bin/chromium).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const how = "install Debian's Chromium (apt-get install -y --no-install-recommends chromium) and run " +
		EnvRequireBrowser + "=1 go test ./test -run TestDashboardInBrowser; `bash .ci/run` does both"
	component.Missing(t, EnvRequireBrowser, "Chromium is not on PATH: the dashboard's browser test drives it", how)
	return ""
}

// artifactDir is where the screenshots go.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		d, err := os.MkdirTemp("", "x402-artifacts-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is a headless Chromium tab that answers an HTTP Basic prompt
// with the given password, as a person types the token into the prompt
// once, and records every request the page makes and every error it logs.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	errors   []string
	prompts  int
}

func newBrowser(t *testing.T, password string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		// As root on CI, and with this machine's closed network (env/machines/go.md).
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancel)
	b := &browser{ctx: ctx}
	b.watch(t, password)
	return b
}

// watch answers the tab's requests and prompts and records them.
func (b *browser) watch(t *testing.T, password string) {
	t.Helper()
	ctx := b.ctx
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	auth := chromedp.Events(ctx, fetch.AuthRequired)
	logged := chromedp.Events(ctx, cdplog.EntryAdded)
	thrown := chromedp.Events(ctx, runtime.ExceptionThrown)
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: ptr(true)}); err != nil {
		t.Fatalf("start Chromium (%s): %v", chromiumPath(t), err)
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.requests = append(b.requests, ev.Request.URL)
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		for ev, err := range auth {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.prompts++
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID,
				AuthChallengeResponse: &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: "admin", Password: password}})
		}
	}()
	go func() {
		for ev, err := range logged {
			if err != nil {
				return
			}
			if ev.Entry.Level == cdplog.EntryLevelError {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
				b.mu.Unlock()
			}
		}
	}()
	go func() {
		for ev, err := range thrown {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.errors = append(b.errors, "exception: "+ev.ExceptionDetails.Text)
			b.mu.Unlock()
		}
	}()
}

func ptr[T any](v T) *T { return &v }

// page is what the dashboard shows, read from its DOM: each figure as the
// text a person reads, located by the data attributes the page sets.
type page struct {
	State   string
	Updated string
	Budgets []struct {
		Scope, Key, Unit, Principal string
		Cells                       map[string]string
		// Atomic is the line under each amount: its atomic units and the
		// asset's decimals.
		Atomic map[string]string
	}
	Legends []struct {
		By, Unit, Key, Counted string
		Other                  bool
	}
	Charts []struct {
		By, Unit, Total string
		Loaded          bool
	}
	Recent []struct {
		ID, Tx, Href string
		Cells        map[string]string
	}
	Open []struct {
		ID    string
		Cells map[string]string
	}
	ScrollWidth, InnerWidth int
}

const readPage = `(() => {
  const cells = (tr) => Object.fromEntries([...tr.querySelectorAll('td[data-field]')].map(td => [td.dataset.field, td.querySelector('.v').textContent.trim()]));
  const figs = [...document.querySelectorAll('#spend figure')];
  return {
    state: document.body.dataset.state || '',
    updated: document.body.dataset.updated || '',
    budgets: [...document.querySelectorAll('#budgets tbody tr[data-scope]')].map(tr => ({scope: tr.dataset.scope, key: tr.dataset.key, unit: tr.dataset.unit,
      principal: tr.dataset.principal || '', cells: cells(tr),
      atomic: Object.fromEntries([...tr.querySelectorAll('td[data-field] .atomic')].map(s => [s.closest('td').dataset.field, s.textContent.trim()]))})),
    legends: figs.flatMap(f => [...f.querySelectorAll('li')].map(li => ({by: f.dataset.by, unit: f.dataset.unit, key: li.dataset.key,
      other: li.dataset.other === 'true', counted: li.querySelector('.amount').textContent}))),
    charts: figs.map(f => { const img = f.querySelector('img'); return {by: f.dataset.by, unit: f.dataset.unit,
      total: f.querySelector('[data-field=total]').dataset.amount + ' ' + f.querySelector('[data-field=total]').dataset.symbol,
      loaded: img.complete && img.naturalWidth > 0}; }),
    recent: [...document.querySelectorAll('#recent tbody tr[data-payment]')].map(tr => { const rc = tr.querySelector('[data-field=transaction]'); const a = rc.querySelector('a');
      return {id: tr.dataset.payment, tx: rc.dataset.tx || '', href: a ? a.href : '', cells: cells(tr)}; }),
    open: [...document.querySelectorAll('#open tbody tr[data-open]')].map(tr => ({id: tr.dataset.open, cells: cells(tr)})),
    scrollWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
    innerWidth: window.innerWidth,
  };
})()`

func (b *browser) read(t *testing.T) page {
	t.Helper()
	p, err := chromedp.Run(b.ctx, chromedp.Evaluate[page](readPage))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	return p
}

// waitFor polls the page until cond holds, or fails after 30 s.
func (b *browser) waitFor(t *testing.T, what string, cond func(page) bool) page {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := b.read(t)
		if cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not show %s within 30s: %+v\nerrors: %v", what, p, b.errors)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *browser) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// dashCatalog pays USDC through the local seller's in-memory facilitator
// (a network without an rpc endpoint) and JPYX, a declared 2-decimal
// token, on the simulated chain.
const dashCatalog = `version: 1
defaults:
  networks: [eip155:84532, eip155:1337]
  max_per_call: "0.05"
budget:
  total: "1.00"
  per_day: "0.50"
  per_tool: "0.20"
rpc:
  eip155:1337: %s
assets:
  - symbol: JPYX
    network: eip155:1337
    address: %q
    decimals: 2
    eip712: {name: JPY Coin, version: "1"}
    budget: {total: "30", per_day: "10"}
tools:
  - name: weather
    description: Weather, paid in USDC.
    url: "{{URL}}/v2/weather/{city}"
    params: [{name: city, in: path, required: true}]
    max_price: "0.001"
  - name: summarize
    description: Summaries, paid in USDC.
    method: POST
    url: "{{URL}}/v2/summarize"
    params: [{name: text, in: body, type: string, required: true}]
    max_price: "0.01"
  - name: lost
    description: A seller that settles and never sends its receipt.
    url: "{{URL}}/v2/misbehave/error_no_receipt"
    max_price: "0.001"
  - name: yen_weather
    description: Weather, paid in JPYX.
    url: %s/v2/weather/{city}
    params: [{name: city, in: path, required: true}]
    max_price: "2"
    asset: JPYX
    budget: "5"
`

// TestDashboardInBrowser: headless Chromium (Debian's) loads /dashboard/
// from the built binary serving over HTTP, after it paid real sellers in
// USDC and in JPYX, signing in through the Basic prompt with the token. The
// figures it shows are the ledger's, exactly and per asset; it updates by
// itself after another payment; it never asks another origin for
// anything; it logs no error (a CSP violation would be one); and it has no
// horizontal scroll at 375 px. The same for `x402-mcp dashboard` over the
// same ledger, opened through the URL it prints. Screenshots go to
// $X402_ARTIFACTS.
func TestDashboardInBrowser(t *testing.T) {
	chromiumPath(t)
	out := artifactDir(t)
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
	if err := jpyx.Mint(ctx, payer, 100_000); err != nil {
		t.Fatal(err)
	}
	jpyxSeller := tokenSeller(t, jpyx, 150) // 1.50 JPYX
	usdcSeller := fundedSeller(t, localseller.Config{})
	cat := catalog(fmt.Sprintf(dashCatalog, sim.URL(), jpyx.Address().Hex(), jpyxSeller.URL))
	gw := startHTTPBinary(t, usdcSeller, cat)
	cli := connectHTTP(t, gw.URL)
	pay := func(tool string, args map[string]any) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		res, err := callHTTP(cctx, cli, tool, args)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tool, err, gw.stderr.String())
		}
		want := "charged"
		if tool == "lost" {
			want = "unknown"
		}
		if got := res.Meta.AdditionalFields["x402/charged"]; got != want {
			t.Fatalf("%s: charged %v, want %s: %s", tool, got, want, text(res))
		}
	}
	for _, city := range []string{"Paris", "Oslo", "Lima"} {
		pay("weather", map[string]any{"city": city})
	}
	pay("summarize", map[string]any{"text": "One. Two."})
	pay("lost", nil)
	pay("yen_weather", map[string]any{"city": "Osaka"})
	pay("yen_weather", map[string]any{"city": "Kyoto"})

	book, err := ledger.OpenReadOnly(ctx, gw.Ledger, payments.Budget{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { book.Close() })

	b := newBrowser(t, httpToken)
	if err := chromedp.Do(b.ctx, chromedp.Navigate(gw.URL+"/dashboard/")); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	p := b.waitFor(t, "its figures", func(p page) bool { return p.State == "ready" && len(p.Recent) == 7 })
	checkPage(t, book, p, 7)
	b.waitFor(t, "its charts", func(p page) bool {
		for _, c := range p.Charts {
			if !c.Loaded {
				return false
			}
		}
		return len(p.Charts) == 8
	})
	b.screenshot(t, out, "dashboard-desktop.png")

	// Live: another payment shows up without a reload.
	pay("weather", map[string]any{"city": "Rome"})
	p = b.waitFor(t, "the new payment", func(p page) bool { return len(p.Recent) == 8 })
	checkPage(t, book, p, 8)

	// A phone: 375 px wide, nothing scrolls sideways.
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile), chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	p = b.waitFor(t, "its figures at 375 px", func(p page) bool { return p.State == "ready" && len(p.Recent) == 8 })
	// A phone widens its layout viewport to content wider than the screen.
	if p.InnerWidth != 375 || p.ScrollWidth > 375 {
		t.Errorf("on a 375 px screen the page lays out %d px and is %d px wide: it scrolls sideways", p.InnerWidth, p.ScrollWidth)
	}
	checkPage(t, book, p, 8)
	b.screenshot(t, out, "dashboard-phone.png")

	b.mu.Lock()
	for _, u := range b.requests {
		if !strings.HasPrefix(u, gw.URL+"/dashboard/") {
			t.Errorf("the page asked %s, outside the dashboard", u)
		}
	}
	if len(b.requests) < 10 {
		t.Errorf("only %d requests recorded: %v", len(b.requests), b.requests)
	}
	if b.prompts == 0 {
		t.Error("the browser was never asked for the token")
	}
	errs := append([]string(nil), b.errors...)
	b.mu.Unlock()
	if len(errs) > 0 {
		t.Errorf("the page logged errors: %v", errs)
	}

	// The local dashboard, over the same ledger, read-only.
	t.Run("local", func(t *testing.T) {
		url := startLocalDashboard(t, "--ledger", gw.Ledger, "--registry", gw.Registry)
		tab, cancel := chromedp.NewContext(b.ctx)
		defer cancel()
		lb := &browser{ctx: tab}
		if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(url)); err != nil {
			t.Fatal(err)
		}
		p := lb.waitFor(t, "its figures", func(p page) bool { return p.State == "ready" && len(p.Recent) == 8 })
		checkPage(t, book, p, 8)
		if loc, err := chromedp.Run(tab, chromedp.Location()); err != nil || strings.Contains(loc, "key=") {
			t.Errorf("the address bar keeps the key: %q %v", loc, err)
		}
		lb.screenshot(t, out, "dashboard-local.png")
	})
}

// startLocalDashboard runs the built binary's `x402-mcp dashboard args…`
// until t ends, and returns the URL it printed (with its key).
func startLocalDashboard(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"dashboard"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if err := cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Logf("interrupt x402-mcp dashboard: %v", err)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				t.Logf("kill x402-mcp dashboard: %v", err)
			}
			<-exited
			t.Error("x402-mcp dashboard did not stop within 10s of SIGINT")
		}
	})
	printed := regexp.MustCompile(`open (http://127\.0\.0\.1:\d+/dashboard/\?key=[0-9a-f]+)`)
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == ""; {
		if m := printed.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return url
}

// callHTTP calls a tool over the client and returns its result.
func callHTTP(ctx context.Context, cli *client.Client, name string, args map[string]any) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	return cli.CallTool(ctx, req)
}

// checkPage compares what the page shows with the ledger's rows: the
// figures are computed here from the rows, asset by asset.
func checkPage(t *testing.T, book *ledger.Ledger, p page, n int) {
	t.Helper()
	rows, err := book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n {
		t.Fatalf("the ledger has %d rows, want %d", len(rows), n)
	}
	type unitKey struct{ key, unit string }
	byTool, byNetwork, bySession, byPrincipal := map[unitKey]payments.Amount{}, map[unitKey]payments.Amount{}, map[unitKey]payments.Amount{}, map[unitKey]payments.Amount{}
	counted := map[string]payments.Amount{}
	cur := map[string]payments.Currency{}
	for _, r := range rows {
		cur[r.Unit] = r.Currency()
		if r.Counted() {
			byTool[unitKey{r.Tool, r.Unit}] += r.Amount
			byNetwork[unitKey{r.Network, r.Unit}] += r.Amount
			bySession[unitKey{r.Session, r.Unit}] += r.Amount
			byPrincipal[unitKey{r.Principal, r.Unit}] += r.Amount
			counted[r.Unit] += r.Amount
		}
	}
	usdc := payments.USDC
	var jpyx payments.Currency
	for u, c := range cur {
		if u != "USDC" {
			jpyx = c
		}
	}
	if jpyx.Symbol != "JPYX" || jpyx.Decimals != 2 {
		t.Fatalf("no JPYX rows: %v", cur)
	}
	// Budgets: counted, limit and left, each in its own asset, with its
	// atomic units and the asset's decimals underneath.
	type budget struct {
		cur            payments.Currency
		counted, limit payments.Amount
	}
	want := map[[3]string]budget{
		{"total", "", "USDC"}:                {usdc, counted["USDC"], 1_000_000},
		{"day", "", "USDC"}:                  {usdc, counted["USDC"], 500_000},
		{"total", "", jpyx.Budget}:           {jpyx, counted[jpyx.Budget], 3000},
		{"day", "", jpyx.Budget}:             {jpyx, counted[jpyx.Budget], 1000},
		{"tool", "weather", "USDC"}:          {usdc, byTool[unitKey{"weather", "USDC"}], 200_000},
		{"tool", "lost", "USDC"}:             {usdc, 1000, 200_000},
		{"tool", "yen_weather", jpyx.Budget}: {jpyx, 300, 500},
	}
	seen := 0
	for _, r := range p.Budgets {
		w, ok := want[[3]string{r.Scope, r.Key, r.Unit}]
		if !ok {
			continue
		}
		seen++
		checkBudget(t, r.Scope+" "+r.Key+" "+r.Unit, r.Cells, r.Atomic, w.cur, w.counted, w.limit)
	}
	if seen != len(want) {
		t.Errorf("%d of %d budgets shown: %+v", seen, len(want), p.Budgets)
	}
	// Spend by tool, principal, network and session: every key of every
	// asset.
	legends := 0
	for _, l := range p.Legends {
		var m map[unitKey]payments.Amount
		switch l.By {
		case "tool":
			m = byTool
		case "network":
			m = byNetwork
		case "session":
			m = bySession
		case "principal":
			m = byPrincipal
		}
		c := cur[l.Unit]
		if w := c.Format(m[unitKey{l.Key, l.Unit}]); l.Other || l.Counted != w {
			t.Errorf("spend by %s, %s %s: shows %q, the ledger %q", l.By, l.Key, l.Unit, l.Counted, w)
		}
		legends++
	}
	if want := len(byTool) + len(byNetwork) + len(bySession) + len(byPrincipal); legends != want {
		t.Errorf("%d keys in the legends, the ledger has %d", legends, want)
	}
	for _, c := range p.Charts {
		if w := cur[c.Unit].Format(counted[c.Unit]); c.Total != w {
			t.Errorf("chart by %s in %s: total %q, the ledger %q", c.By, c.Unit, c.Total, w)
		}
	}
	// Recent payments, newest first, with their receipts.
	if len(p.Recent) != len(rows) {
		t.Fatalf("%d recent payments shown, the ledger has %d", len(p.Recent), len(rows))
	}
	for i, s := range p.Recent {
		r := rows[i]
		if s.ID != r.ID || s.Cells["amount"] != r.Currency().Format(r.Amount) || s.Cells["state"] != string(r.State) || s.Tx != r.Transaction {
			t.Errorf("recent %d shows %+v, the ledger %s %s %s %s", i, s, r.ID, r.Currency().Format(r.Amount), r.State, r.Transaction)
		}
		// Over HTTP with the single token, every call is its implicit
		// principal's, "default".
		if s.Cells["principal"] != r.Principal || r.Principal != "default" {
			t.Errorf("recent %d names principal %q, the ledger %q", i, s.Cells["principal"], r.Principal)
		}
		href := ""
		if r.Network == "eip155:84532" && r.Transaction != "" {
			href = "https://sepolia.basescan.org/tx/" + r.Transaction
		}
		if s.Href != href {
			t.Errorf("recent %d on %s links %q, want %q", i, r.Network, s.Href, href)
		}
	}
	// The open payment, and what will become of it.
	if len(p.Open) != 1 || p.Open[0].Cells["state"] != "unknown" || p.Open[0].Cells["amount"] != "0.001 USDC" || p.Open[0].Cells["principal"] != "default" ||
		!strings.Contains(p.Open[0].Cells["next"], "No rpc endpoint for eip155:84532") || p.Open[0].Cells["age"] == "" {
		t.Errorf("open payments: %+v", p.Open)
	}
}

// checkBudget compares a budget's row on the page with what the ledger
// counts against it and its limit: counted, limit and left as decimals of
// cur with its symbol, and each one's atomic units and cur's decimals
// underneath.
func checkBudget(t *testing.T, name string, cells, atomic map[string]string, cur payments.Currency, counted, limit payments.Amount) {
	t.Helper()
	left := limit - min(counted, limit)
	for _, f := range []struct {
		field string
		v     payments.Amount
	}{{"counted", counted}, {"limit", limit}, {"left", left}} {
		under := fmt.Sprintf("%d atomic units (%d decimals)", f.v, cur.Decimals)
		if cells[f.field] != cur.Format(f.v) || atomic[f.field] != under {
			t.Errorf("budget %s: %s shows %q over %q, the ledger %q over %q", name, f.field, cells[f.field], atomic[f.field], cur.Format(f.v), under)
		}
	}
}

// TestDashboardPrincipalBudgetsInBrowser: on a gateway with principals (a
// principals file), after two agents paid, headless Chromium shows the
// admin each agent's own budgets, the one near its limit first, with the
// figures the ledger's rows add up to, in USDC with its atomic units and
// decimals underneath; on a phone nothing scrolls sideways. The local
// dashboard, given the same principals file, shows the same. Screenshots
// go to $X402_ARTIFACTS.
func TestDashboardPrincipalBudgetsInBrowser(t *testing.T) {
	chromiumPath(t)
	out := artifactDir(t)
	ctx := context.Background()
	seller := fundedSeller(t, localseller.Config{})
	principals := writeFile(t, "principals.yaml", `principals:
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
    token: ${OPS_TOKEN}
    admin: true
`)
	gw := startGateway(t, seller, mainCatalog, gatewayOptions{args: []string{"--principals", principals},
		env: []string{"TEAM_A_TOKEN=" + teamAToken, "TEAM_B_TOKEN=" + teamBToken, "OPS_TOKEN=" + opsToken}})
	a, b := connectHTTPAs(t, gw.URL, teamAToken), connectHTTPAs(t, gw.URL, teamBToken)
	for _, c := range []struct {
		cli  *client.Client
		tool string
		args map[string]any
	}{
		{a, "weather", map[string]any{"city": "Oslo"}}, {a, "weather", map[string]any{"city": "Rome"}}, {a, "note", nil}, {b, "note", nil},
	} {
		if res := callTool(t, c.cli, c.tool, c.args); res.IsError {
			t.Fatalf("%s: %s", c.tool, text(res))
		}
	}
	book, err := ledger.OpenReadOnly(ctx, gw.Ledger, payments.Budget{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { book.Close() })
	rows, err := book.List(ctx, ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	// What the ledger's rows count per principal, and per principal and tool.
	counted := map[string]payments.Amount{}
	for _, r := range rows {
		if r.Counted() && r.Unit == "USDC" {
			counted[r.Principal] += r.Amount
			counted[r.Principal+"/"+r.Tool] += r.Amount
		}
	}
	if len(rows) != 4 || counted["team-a"] != 3000 || counted["team-b"] != 1000 {
		t.Fatalf("the ledger books %v over %d rows", counted, len(rows))
	}
	usdc := payments.USDC
	want := []struct {
		scope, key, principal string
		counted, limit        payments.Amount
	}{ // in the page's order: total, day, per tool; of each, the nearest its limit first (team-b has no per-tool limit)
		{"principal_total", "team-a", "team-a", counted["team-a"], 3500},
		{"principal_day", "team-b", "team-b", counted["team-b"], 10_000},
		{"principal_tool", "team-a/weather", "team-a", counted["team-a/weather"], 2000},
		{"principal_tool", "team-a/note", "team-a", counted["team-a/note"], 2000},
	}
	principalRows := func(p page) (n int) {
		for _, r := range p.Budgets {
			if r.Principal != "" {
				n++
			}
		}
		return n
	}
	check := func(t *testing.T, p page) {
		t.Helper()
		var got []int
		for i, r := range p.Budgets {
			if r.Principal != "" {
				got = append(got, i)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d budgets of principals shown, want %d: %+v", len(got), len(want), p.Budgets)
		}
		for i, w := range want {
			r := p.Budgets[got[i]]
			if r.Scope != w.scope || r.Key != w.key || r.Principal != w.principal || r.Unit != "USDC" || !strings.Contains(r.Cells["name"], "Principal "+w.principal) {
				t.Errorf("budget %d of the principals: %s %s of %s in %s (%q), want %s %s of %s", i, r.Scope, r.Key, r.Principal, r.Unit, r.Cells["name"], w.scope, w.key, w.principal)
				continue
			}
			checkBudget(t, w.scope+" "+w.key, r.Cells, r.Atomic, usdc, w.counted, w.limit)
		}
	}

	br := newBrowser(t, opsToken)
	if err := chromedp.Do(br.ctx, chromedp.Navigate(gw.URL+"/dashboard/")); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	p := br.waitFor(t, "the principals' budgets", func(p page) bool { return p.State == "ready" && principalRows(p) > 0 })
	check(t, p)
	br.screenshot(t, out, "dashboard-principals.png")
	if err := chromedp.Do(br.ctx, chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile), chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	p = br.waitFor(t, "the principals' budgets at 375 px", func(p page) bool { return p.State == "ready" && principalRows(p) > 0 })
	if p.InnerWidth != 375 || p.ScrollWidth > 375 {
		t.Errorf("on a 375 px screen the page lays out %d px and is %d px wide: it scrolls sideways", p.InnerWidth, p.ScrollWidth)
	}
	check(t, p)
	br.screenshot(t, out, "dashboard-principals-phone.png")
	br.mu.Lock()
	errs := append([]string(nil), br.errors...)
	br.mu.Unlock()
	if len(errs) > 0 {
		t.Errorf("the page logged errors: %v", errs)
	}

	// The local dashboard, given the gateway's principals file.
	url := startLocalDashboard(t, "--ledger", gw.Ledger, "--registry", gw.Registry, "--principals", principals)
	tab, cancel := chromedp.NewContext(br.ctx)
	defer cancel()
	lb := &browser{ctx: tab}
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	check(t, lb.waitFor(t, "the principals' budgets", func(p page) bool { return p.State == "ready" && principalRows(p) > 0 }))
}
