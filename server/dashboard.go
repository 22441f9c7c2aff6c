package server

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/mustjson"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/tools"
)

// PathDashboard is the spend dashboard's page; its data is under
// /dashboard/api/ and its files under /dashboard/static/.
const PathDashboard = "/dashboard/"

// Books is the ledger's read API, which the dashboard reads: the durable
// ledger (payments/ledger) has it.
type Books interface {
	History
	Unresolved(ctx context.Context) ([]ledger.Row, error)
	Summary(ctx context.Context) (payments.Summary, error)
	Spent(ctx context.Context, r payments.Reservation) (payments.Spent, error)
	Series(ctx context.Context, q ledger.SeriesQuery) ([]ledger.Sum, error)
	Totals(ctx context.Context, by ledger.Dimension) ([]ledger.Sum, error)
	PrincipalTools(ctx context.Context) ([]ledger.PrincipalTool, error)
}

// chartBy are the dimensions the dashboard charts spend by. A principal is
// who made the call (over stdio, the implicit DefaultPrincipal); the
// ledger's session column is a principal during one run over HTTP, and the
// process over stdio.
var chartBy = []ledger.Dimension{ledger.ByTool, ledger.ByPrincipal, ledger.BySession, ledger.ByNetwork}

// dimensionTitle names a dimension on the page.
var dimensionTitle = map[ledger.Dimension]string{
	ledger.ByTool:      "by tool",
	ledger.ByPrincipal: "by principal",
	ledger.BySession:   "by session",
	ledger.ByNetwork:   "by network",
	ledger.ByHost:      "by host",
}

// dashWindow is a span the charts cover and the length of each bar.
type dashWindow struct {
	name         string
	span, bucket time.Duration
	// per names a bar's length in words.
	per string
}

var dashWindows = []dashWindow{
	{"24h", 24 * time.Hour, time.Hour, "1 hour"},
	{"7d", 7 * 24 * time.Hour, 6 * time.Hour, "6 hours"},
	{"30d", 30 * 24 * time.Hour, 24 * time.Hour, "1 day"},
}

func windowNamed(name string) (dashWindow, error) {
	if name == "" {
		return dashWindows[0], nil
	}
	names := make([]string, len(dashWindows))
	for i, w := range dashWindows {
		if w.name == name {
			return w, nil
		}
		names[i] = w.name
	}
	return dashWindow{}, fmt.Errorf("window %q: use one of %s", payments.Sanitize(name, 20), strings.Join(names, ", "))
}

// bounds is the window ending with the bucket that holds now.
func (w dashWindow) bounds(now time.Time) (since, until time.Time) {
	b := w.bucket.Milliseconds()
	end := (now.UnixMilli()/b + 1) * b
	until = time.UnixMilli(end).UTC()
	return until.Add(-w.span), until
}

// Limits of what the dashboard lists.
const (
	dashRecent     = 25 // recent payments
	dashOpen       = 100
	dashChartKeys  = 6  // keys per chart; the rest is "other"
	dashBudgetKeys = 10 // per-key budgets per scope and unit
)

// dashboard serves the spend dashboard over a ledger.
type dashboard struct {
	books Books
	// catalog returns the catalog served now: per-entry budgets and the
	// networks with an rpc endpoint.
	catalog func() *tools.Registry
	now     func() time.Time
	log     *slog.Logger
	// readOnly: the local dashboard (x402-mcp dashboard), which reconciles
	// nothing; else a server that reconciles every reconcileEvery (0: at
	// start only).
	readOnly       bool
	reconcileEvery time.Duration
}

//go:embed dashboard
var dashboardFiles embed.FS

// Money is an amount of one asset: an exact decimal of it, its atomic
// units, and the asset's symbol and decimals.
type Money struct {
	Amount   string `json:"amount"`
	Atomic   string `json:"atomic"`
	Symbol   string `json:"symbol"`
	Decimals int    `json:"decimals"`
}

func moneyOf(cur payments.Currency, a payments.Amount) Money {
	cur = currencyOf(cur)
	return Money{Amount: cur.Decimal(a), Atomic: a.Atomic(), Symbol: cur.Symbol, Decimals: cur.Decimals}
}

// DashboardState is what /dashboard/api/state answers: everything the page
// shows, read at one moment. Every amount is a Money of one asset; no figure
// adds two assets.
type DashboardState struct {
	GeneratedAt time.Time `json:"generatedAt"`
	// ReadOnly: the local dashboard, which only reads the ledger.
	ReadOnly bool `json:"readOnly"`
	// Reconciler says who resolves open payments here, and when.
	Reconciler string          `json:"reconciler"`
	Window     DashboardWindow `json:"window"`
	Budgets    []BudgetRow     `json:"budgets"`
	// BudgetsNotShown counts per-key budgets (per tool, host, session, and
	// the principals' own) left out: each scope shows its dashBudgetKeys
	// closest to their limit.
	BudgetsNotShown int          `json:"budgetsNotShown"`
	Spend           []SpendChart `json:"spend"`
	Recent          []PaymentRow `json:"recent"`
	// Open are the payments that count but are not proven settled or
	// unused, oldest first; OpenCount is how many there are in all.
	Open      []OpenPayment `json:"open"`
	OpenCount int           `json:"openCount"`
}

// DashboardWindow is the span the charts cover.
type DashboardWindow struct {
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Bucket is how long a bar is, in words ("1 hour").
	Bucket  string   `json:"bucket"`
	Windows []string `json:"windows"`
}

// BudgetRow is one budget: its limit, what counts against it and when it
// resets, in its own asset.
type BudgetRow struct {
	// Scope is total, day, session, tool, host, network or tip_day, or a
	// principal's own: principal_total, principal_day or principal_tool.
	// Key names the session, tool, host or network; the principal (its
	// total and day); principal/tool (its budget for one tool).
	Scope string `json:"scope"`
	Key   string `json:"key,omitempty"`
	// Principal names the principal whose own budget this is (its
	// principal_* scopes only).
	Principal string `json:"principal,omitempty"`
	// Unit names the asset's budgets ("USDC", or a declared asset's
	// network/address).
	Unit    string `json:"unit"`
	Name    string `json:"name"`
	Counted Money  `json:"counted"`
	Limit   Money  `json:"limit"`
	Left    Money  `json:"left"`
	// Counts says which payments the budget counts. Every budget counts a
	// payment from its reservation on, settled or not, until reconciliation
	// proves it unused (released).
	Counts string `json:"counts"`
	// Resets is when it resets or starts to free up (zero when it never
	// does, or with its session); ResetText says it in words.
	Resets    time.Time `json:"resets,omitzero"`
	ResetText string    `json:"resetText"`
	// Setting is the registry.yaml setting that sets the limit.
	Setting string `json:"setting"`
}

// SpendChart is what counted in the window by one dimension, in one asset:
// a chart (an SVG the server draws) and its legend, most counted first.
type SpendChart struct {
	By    string `json:"by"`
	Title string `json:"title"`
	Unit  string `json:"unit"`
	// Chart is the SVG's URL, relative to the page; it changes when the
	// figures do.
	Chart string     `json:"chart"`
	Total Money      `json:"total"`
	Keys  []SpendKey `json:"keys"`
	// buckets are the bars, for the SVG.
	buckets []bucketSums
	cur     payments.Currency
}

// SpendKey is one key of a chart: what it counted in the window, and the
// part of it that is settled.
type SpendKey struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	// Other: the keys beyond the chart's first ones, summed.
	Other    bool   `json:"other,omitempty"`
	Color    string `json:"color"`
	Counted  Money  `json:"counted"`
	Settled  Money  `json:"settled"`
	Payments int    `json:"payments"`
}

// PaymentRow is one payment with its receipt.
type PaymentRow struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Tool    string    `json:"tool"`
	Session string    `json:"session"`
	// Principal made the call (empty for a row from before principals
	// were recorded).
	Principal   string `json:"principal,omitempty"`
	Amount      Money  `json:"amount"`
	State       string `json:"state"`
	Network     string `json:"network"`
	NetworkName string `json:"networkName"`
	PayTo       string `json:"payTo"`
	Payer       string `json:"payer,omitempty"`
	Transaction string `json:"transaction,omitempty"`
	// Explorer is the transaction's page on the network's block explorer;
	// empty for a network x402-mcp knows none for.
	Explorer string `json:"explorer,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// OpenPayment is a payment that counts while its fate is not proven, with
// its age and what reconciliation will do next.
type OpenPayment struct {
	PaymentRow
	AgeSeconds  int64     `json:"ageSeconds"`
	Age         string    `json:"age"`
	ValidBefore time.Time `json:"validBefore,omitzero"`
	Next        string    `json:"next"`
}

// chartColors color a chart's keys in legend order; other is grey.
var chartColors = []string{"#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2"}

const otherColor = "#9ca3af"

func (d *dashboard) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dashboard", func(w http.ResponseWriter, r *http.Request) {
		u := *r.URL
		u.Path = PathDashboard
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
	})
	mux.HandleFunc("GET /dashboard/{$}", d.serveFile("index.html"))
	mux.HandleFunc("GET /dashboard/static/app.js", d.serveFile("app.js"))
	mux.HandleFunc("GET /dashboard/static/app.css", d.serveFile("app.css"))
	mux.HandleFunc("GET /dashboard/static/favicon.svg", d.serveFile("favicon.svg"))
	mux.HandleFunc("GET /dashboard/api/state", d.serveState)
	mux.HandleFunc("GET /dashboard/api/chart.svg", d.serveChart)
	return securityHeaders(mux)
}

// dashboardCSP lets the page load only its own files and data: no other
// origin, no inline script or style, no frames, no forms.
const dashboardCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// securityHeaders sets the headers every dashboard answer carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

var fileTypes = map[string]string{
	"index.html":  "text/html; charset=utf-8",
	"app.js":      "text/javascript; charset=utf-8",
	"app.css":     "text/css; charset=utf-8",
	"favicon.svg": "image/svg+xml",
}

func (d *dashboard) serveFile(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(dashboardFiles, "dashboard/"+name)
		if err != nil {
			d.log.Error("dashboard: embedded file", "file", name, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", fileTypes[name])
		_, _ = w.Write(b) // a browser gone away: nothing to be done
	}
}

func (d *dashboard) serveState(w http.ResponseWriter, r *http.Request) {
	win, err := windowNamed(r.URL.Query().Get("window"))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	st, err := d.state(r.Context(), win)
	if err != nil {
		d.log.Error("dashboard: read the ledger", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "internal error reading the ledger")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(st); err != nil {
		d.log.Debug("dashboard: write the state", "err", err)
	}
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b := mustjson.Marshal(map[string]string{"error": msg})
	_, _ = w.Write(append(b, '\n')) // a browser gone away: nothing to be done
}

func (d *dashboard) serveChart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	win, err := windowNamed(q.Get("window"))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	by := ledger.Dimension(q.Get("by"))
	if !chartable(by) {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("by %q: chart by one of %s", payments.Sanitize(string(by), 20), chartNames()))
		return
	}
	since, until := win.bounds(d.now())
	charts, err := d.spendCharts(r.Context(), by, win, since, until)
	if err != nil {
		d.log.Error("dashboard: read the ledger", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "internal error reading the ledger")
		return
	}
	unit := q.Get("unit")
	i := slices.IndexFunc(charts, func(c SpendChart) bool { return c.Unit == unit })
	if i < 0 {
		writeJSONError(w, http.StatusNotFound, fmt.Sprintf("nothing counted in unit %q by %s in the last %s", payments.Sanitize(unit, 120), by, win.name))
		return
	}
	chart := charts[i]
	w.Header().Set("Content-Type", "image/svg+xml")
	// An SVG opened on its own runs nothing either.
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	_, _ = w.Write(renderChart(chart, win)) // a browser gone away: nothing to be done
}

func chartable(by ledger.Dimension) bool {
	for _, c := range chartBy {
		if c == by {
			return true
		}
	}
	return false
}

func chartNames() string {
	s := make([]string, len(chartBy))
	for i, c := range chartBy {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}
