package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/pgtest"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
	"github.com/x402-mcp/x402-mcp/server"
)

// syncBuffer is a strings.Builder safe across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// paidLedger writes a ledger at path holding n real payments of 0.001 USDC
// to the local seller (each checked there by ecrecover), then closes it.
func paidLedger(t *testing.T, path string, n int) {
	t.Helper()
	paidLedgerBy(t, path, "", n)
}

// paidLedgerBy is paidLedger with the payments booked to principal (none
// when "").
func paidLedgerBy(t *testing.T, path, principal string, n int) {
	t.Helper()
	ctx := context.Background()
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer seller.Close()
	w, err := wallet.GenerateEVMKey()
	if err != nil {
		t.Fatal(err)
	}
	seller.Facilitator.Fund(w.Address(), 1_000_000)
	b := payments.Budget{Total: 1_000_000}
	l, err := ledger.Open(ctx, path, b)
	if err != nil {
		t.Fatal(err)
	}
	c := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Ledger: l, Policy: payments.Policy{Networks: []payments.Network{"eip155:84532"}, Budget: b}}
	for i := range n {
		req, err := http.NewRequest(http.MethodGet, seller.URL+"/v2/weather/paris", nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Do(payments.WithPrincipal(ctx, principal), req, payments.Limit{Tool: "weather", CallID: fmt.Sprintf("call_%032d", i), Session: "stdio-test"})
		if err != nil || res.Charged != payments.Charged {
			t.Fatalf("payment %d: %v %v", i, res, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

var dashboardURL = regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/dashboard/\?key=([0-9a-f]{32})\b`)

// TestDashboardCommand: `x402-mcp dashboard` serves a ledger it opened
// read-only on loopback, prints its URL (with its key) on stderr and
// nothing on stdout, shows the ledger's figures, and leaves the ledger as
// it found it: a SQLite file, or a PostgreSQL database (whose URL's
// password never shows).
func TestDashboardCommand(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { testDashboardCommand(t, backend) })
	}
}

func testDashboardCommand(t *testing.T, backend string) {
	const secret = "s3cr3t-Pa55word"
	dir := t.TempDir()
	db := filepath.Join(dir, "ledger.db")
	if backend == "postgres" {
		// The test server takes any password (trust).
		u, err := url.Parse(pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(u.User.Username(), secret)
		db = u.String()
	}
	paidLedger(t, db, 3)
	reg := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(reg, []byte("version: 1\nbudget:\n  total: \"0.5\"\ntools:\n  - {name: weather, description: W., url: \"https://a.example/w\", max_price: \"0.001\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := ledgerHash(t, db)

	d := startDashboard(t, "--ledger", db, "--registry", reg)
	base, key := d.base, d.key

	// Without the key: 401. Through the printed URL: a cookie, then the page.
	res, err := http.Get(base + "/dashboard/api/state")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the key: %d", res.StatusCode)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar}
	res, err = browser.Get(base + "/dashboard/?key=" + key)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.RawQuery != "" || !strings.Contains(string(page), "x402-mcp spend") {
		t.Fatalf("the printed URL: %d at %s", res.StatusCode, res.Request.URL)
	}
	res, err = browser.Get(base + "/dashboard/api/state")
	if err != nil {
		t.Fatal(err)
	}
	var st server.DashboardState
	err = json.NewDecoder(res.Body).Decode(&st)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !st.ReadOnly || len(st.Recent) != 3 || st.Recent[0].Amount.Amount != "0.001" || st.Recent[0].State != "settled" {
		t.Fatalf("state: %+v", st)
	}
	var total server.BudgetRow
	for _, b := range st.Budgets {
		if b.Scope == "total" && b.Unit == "USDC" {
			total = b
		}
	}
	if total.Counted.Amount != "0.003" || total.Limit.Amount != "0.5" || total.Left.Amount != "0.497" {
		t.Fatalf("the total budget: %+v", total)
	}

	d.stop(t)
	if d.stdout.String() != "" {
		t.Fatalf("stdout: %q", d.stdout.String())
	}
	if strings.Contains(d.stderr.String(), secret) || !strings.Contains(d.stderr.String(), "dashboard of "+ledger.Redact(db)) {
		t.Fatalf("stderr does not name the ledger %s, or shows its password:\n%s", ledger.Redact(db), d.stderr.String())
	}
	if ledgerHash(t, db) != before {
		t.Fatal("the dashboard changed the ledger")
	}
	if rows := listRows(t, db); rows != 3 {
		t.Fatalf("%d rows after the dashboard", rows)
	}
}

// dashboardRun is `x402-mcp dashboard` running in this process: its URL,
// the key it printed, and what it wrote.
type dashboardRun struct {
	base, key      string
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan error
}

// startDashboard runs `x402-mcp dashboard args…` until stop (or the end of
// t), once it has printed its URL on stderr.
func startDashboard(t *testing.T, args ...string) *dashboardRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &dashboardRun{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		d.done <- run(ctx, append([]string{"dashboard"}, args...), func(string) string { return "" }, strings.NewReader(""), d.stdout, d.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			t.Error("the dashboard did not stop within 10s")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := dashboardURL.FindStringSubmatch(d.stderr.String()); m != nil {
			d.base, d.key = m[1], m[2]
			return d
		}
		select {
		case err := <-d.done:
			d.done <- err // for the cleanup
			t.Fatalf("dashboard exited: %v\n%s", err, d.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL on stderr within 20s:\n%s", d.stderr.String())
		}
	}
}

// stop interrupts the dashboard, which must end without an error.
func (d *dashboardRun) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	err := <-d.done
	d.done <- err // for the cleanup
	if err != nil {
		t.Fatalf("dashboard: %v", err)
	}
}

// ledgerHash is a hash of the ledger at loc: a SQLite file's bytes, or
// every row, running sum and schema version of a PostgreSQL database.
func ledgerHash(t *testing.T, loc string) [32]byte {
	t.Helper()
	if !ledger.IsPostgres(loc) {
		return fileHash(t, loc)
	}
	db, err := sql.Open("pgx", loc)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var dump string
	err = db.QueryRow(`SELECT (SELECT string_agg(p::text, E'\n' ORDER BY id) FROM payments p) || E'\n' ||
	(SELECT string_agg(s::text, E'\n' ORDER BY scope, unit, key) FROM spend s) || E'\n' ||
	(SELECT string_agg(v::text, E'\n' ORDER BY version) FROM schema_version v)`).Scan(&dump)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256([]byte(dump))
}

func listRows(t *testing.T, db string) int {
	t.Helper()
	l, err := ledger.OpenReadOnly(context.Background(), db, payments.Budget{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rows, err := l.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

// TestDashboardCommandRefuses: an address beyond loopback and a ledger
// that is not there are refused before anything is opened or created.
func TestDashboardCommandRefuses(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none", "ledger.db")
	withPrincipals := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(withPrincipals, []byte("version: 1\ntools:\n  - {name: weather, description: W., url: \"https://a.example/w\", max_price: \"0.001\"}\n"+
		"principals:\n  - {name: ops, token: \"${OPS_TOKEN}\", admin: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"every interface", []string{"dashboard", "--addr", ":8403", "--ledger", missing}, true, "loopback only"},
		{"a LAN address", []string{"dashboard", "--addr", "192.168.1.10:0", "--ledger", missing}, true, "loopback only"},
		{"no ledger", []string{"dashboard", "--ledger", missing}, false, "no ledger at " + missing},
		{"a stray argument", []string{"dashboard", "extra"}, true, "no arguments"},
		{"a missing principals file", []string{"dashboard", "--ledger", missing, "--principals", filepath.Join(dir, "none.yaml")}, false, "principals file not found"},
		{"principals in two places", []string{"dashboard", "--ledger", missing, "--registry", withPrincipals, "--principals", withPrincipals}, true, "the catalog lists principals too"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCmd(t, nil, tt.args...)
			var u usageError
			if err == nil || errors.As(err, &u) != tt.usage || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q (usage %v)", err, tt.want, tt.usage)
			}
		})
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Fatalf("the dashboard created %s", filepath.Dir(missing))
	}
}

// TestDashboardCommandPrincipalBudgets: the local dashboard shows each
// principal's own budgets, whether its principals are in a file of their
// own (--principals, as serve takes it) or in the catalog, over a SQLite
// file and over PostgreSQL: what the ledger counted against them, their
// limit and what is left, in USDC with its decimals and atomic units.
func TestDashboardCommandPrincipalBudgets(t *testing.T) {
	const principals = `principals:
  - name: team-a
    token: ${TEAM_A_TOKEN}
    budget: {total: "0.0035", per_day: "0.01"}
  - name: ops
    token: ${OPS_TOKEN}
    admin: true
`
	const catalog = "version: 1\nbudget:\n  total: \"0.5\"\ntools:\n  - {name: weather, description: W., url: \"https://a.example/w\", max_price: \"0.001\"}\n"
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "ledger.db")
			if backend == "postgres" {
				db = pgtest.URL(t)
			}
			paidLedgerBy(t, db, "team-a", 3)
			file := filepath.Join(dir, "principals.yaml")
			reg := filepath.Join(dir, "registry.yaml")
			regWith := filepath.Join(dir, "registry-principals.yaml")
			for name, body := range map[string]string{file: principals, reg: catalog, regWith: catalog + principals} {
				if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for _, tt := range []struct {
				name, setting string
				args          []string
			}{
				{"a principals file", file + ": principals[0] (team-a)", []string{"--ledger", db, "--registry", reg, "--principals", file}},
				{"the catalog", regWith + ": principals[0] (team-a)", []string{"--ledger", db, "--registry", regWith}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					d := startDashboard(t, tt.args...)
					req, err := http.NewRequest(http.MethodGet, d.base+"/dashboard/api/state", nil)
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Authorization", "Bearer "+d.key)
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					var st server.DashboardState
					err = json.NewDecoder(res.Body).Decode(&st)
					res.Body.Close()
					if err != nil {
						t.Fatal(err)
					}
					got := map[string]server.BudgetRow{}
					for _, b := range st.Budgets {
						if b.Principal != "" {
							got[b.Scope+" "+b.Key] = b
						}
					}
					want := map[string][3]string{ // counted, limit, left: atomic units of USDC
						"principal_total team-a": {"3000", "3500", "500"},
						"principal_day team-a":   {"3000", "10000", "7000"},
					}
					if len(got) != len(want) {
						t.Fatalf("the principals' budgets: %+v", got)
					}
					for k, w := range want {
						b := got[k]
						for i, m := range []server.Money{b.Counted, b.Limit, b.Left} {
							if m.Atomic != w[i] || m.Symbol != "USDC" || m.Decimals != 6 || m.Amount != payments.USDC.Decimal(mustAmount(t, w[i])) {
								t.Errorf("%s: %+v, want %s atomic units of USDC", k, m, w[i])
							}
						}
						if b.Principal != "team-a" || !strings.HasPrefix(b.Setting, tt.setting+".budget.") {
							t.Errorf("%s: principal %q, setting %q", k, b.Principal, b.Setting)
						}
					}
					d.stop(t)
				})
			}
		})
	}
}

func mustAmount(t *testing.T, atomic string) payments.Amount {
	t.Helper()
	n, err := strconv.ParseInt(atomic, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return payments.Amount(n)
}
