package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Dimension names what spend can be grouped by: a column of the payments
// and the scope of its running sums.
type Dimension string

// The dimensions the ledger groups spend by.
const (
	ByTool    Dimension = "tool"
	BySession Dimension = "session"
	ByNetwork Dimension = "network"
	ByHost    Dimension = "host"
	// ByPrincipal groups by who made the call (rows written before
	// principals were recorded have none, and are in no principal's
	// running sums).
	ByPrincipal Dimension = "principal"
)

// dimensions are the columns Series and Totals group by, in order; each
// column's lifetime running sums are the spend scope of the same name.
// A new dimension is one line here.
var dimensions = []Dimension{ByTool, BySession, ByNetwork, ByHost, ByPrincipal}

// Dimensions returns every dimension the ledger groups spend by, in order.
func Dimensions() []Dimension { return append([]Dimension(nil), dimensions...) }

// column returns d's column, which is also its spend scope, or an error
// naming the dimensions there are.
func (d Dimension) column() (string, error) {
	for _, known := range dimensions {
		if d == known {
			return string(d), nil
		}
	}
	names := make([]string, len(dimensions))
	for i, k := range dimensions {
		names[i] = string(k)
	}
	return "", fmt.Errorf("ledger: no dimension %q: group by one of %s", payments.Sanitize(string(d), 40), strings.Join(names, ", "))
}

// Sum is what counts against the budgets for one key of a dimension, in one
// unit (and, from Series, in one time bucket). Amounts are atomic units of
// the unit's asset, read with Symbol and Decimals; sums of two units are
// never added together.
type Sum struct {
	// Key is the tool, session, network, host or principal; empty with
	// Other.
	Key string
	// Other: the sum of every key of the unit beyond SeriesQuery.Keys.
	Other bool
	// Start is the bucket's start (Series only).
	Start time.Time
	// Unit names the budgets that count it ("USDC", or a declared asset's
	// network/address); Symbol and Decimals say how its amounts read.
	Unit, Symbol string
	Decimals     int
	// Counted is every payment that counts: reserved, signed, settled,
	// unknown and rejected (not released).
	Counted payments.Amount
	// Settled is the part of Counted that is settled (Series only: the
	// lifetime running sums do not split it).
	Settled payments.Amount
	// Payments is how many payments Counted sums.
	Payments int
}

// Limits of a SeriesQuery.
const (
	MinBucket  = time.Minute
	MaxBuckets = 1000
)

// SeriesQuery asks Series for what counted in [Since, Until), grouped by a
// dimension and by time buckets of Bucket (aligned on multiples of Bucket
// since the Unix epoch, so hours and days start on UTC boundaries).
type SeriesQuery struct {
	By           Dimension
	Since, Until time.Time
	Bucket       time.Duration
	// Keys, when positive, keeps the Keys keys of each unit that counted
	// the most in the window; the rest of the unit is summed as Other.
	Keys int
}

func (q SeriesQuery) check() (col string, err error) {
	if col, err = q.By.column(); err != nil {
		return "", err
	}
	switch {
	case q.Since.IsZero() || q.Until.IsZero():
		return "", errors.New("ledger: a series needs a start and an end")
	case !q.Until.After(q.Since):
		return "", fmt.Errorf("ledger: the series window ends before it starts (%s to %s)", q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339))
	case q.Bucket < MinBucket || q.Bucket%time.Millisecond != 0:
		return "", fmt.Errorf("ledger: a series bucket of %s: use at least %s, in whole milliseconds", q.Bucket, MinBucket)
	case q.Until.Sub(q.Since)/q.Bucket > MaxBuckets:
		return "", fmt.Errorf("ledger: %s in buckets of %s is over %d buckets: use at most %d buckets (a longer bucket or a shorter window)",
			q.Until.Sub(q.Since), q.Bucket, MaxBuckets, MaxBuckets)
	case q.Keys < 0:
		return "", fmt.Errorf("ledger: %d keys: give 0 for every key, or how many to keep", q.Keys)
	}
	return col, nil
}

// Series returns what counted in q's window per key of q.By, unit and time
// bucket, summed by SQLite over the rows in one read, ordered by bucket,
// then unit (USDC first), then key (Other last). Buckets with nothing are
// left out.
func (l *Ledger) Series(ctx context.Context, q SeriesQuery) ([]Sum, error) {
	col, err := q.check()
	if err != nil {
		return nil, err
	}
	bucket := q.Bucket.Milliseconds()
	// col comes from the dimensions table, never from the caller's text.
	// Top ranks each unit's keys by what they counted in the window; a key
	// past q.Keys is folded into the unit's Other.
	query := `WITH w AS (
	SELECT ` + col + ` AS k, unit, symbol, decimals, (created_at / ?3) * ?3 AS b, amount, state
	FROM payments WHERE created_at >= ?1 AND created_at < ?2 AND ` + counted + `
), top AS (
	SELECT k, unit, ROW_NUMBER() OVER (PARTITION BY unit ORDER BY SUM(amount) DESC, k) AS rank FROM w GROUP BY k, unit
)
SELECT CASE WHEN ?4 = 0 OR top.rank <= ?4 THEN w.k ELSE '' END AS key, ?4 > 0 AND top.rank > ?4 AS other,
	w.unit, w.symbol, w.decimals, w.b,
	SUM(w.amount), SUM(CASE WHEN w.state = 'settled' THEN w.amount ELSE 0 END), COUNT(*)
FROM w JOIN top ON top.k = w.k AND top.unit = w.unit
GROUP BY 1, 2, 3, 4, 5, 6`
	rows, err := l.r.QueryContext(ctx, query, q.Since.UnixMilli(), q.Until.UnixMilli(), bucket, q.Keys)
	if err != nil {
		return nil, fmt.Errorf("ledger: series by %s: %w", col, err)
	}
	defer rows.Close()
	var out []Sum
	for rows.Next() {
		var s Sum
		var start, cnt, settled, n int64
		if err := rows.Scan(&s.Key, &s.Other, &s.Unit, &s.Symbol, &s.Decimals, &start, &cnt, &settled, &n); err != nil {
			return nil, fmt.Errorf("ledger: series by %s: %w", col, err)
		}
		s.Start, s.Counted, s.Settled, s.Payments = time.UnixMilli(start), payments.Amount(cnt), payments.Amount(settled), int(n)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: series by %s: %w", col, err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		if a.Unit != b.Unit {
			return unitLess(a, b)
		}
		if a.Other != b.Other {
			return b.Other
		}
		return a.Key < b.Key
	})
	return out, nil
}

// unitLess orders units: USDC first, then by symbol and unit.
func unitLess(a, b Sum) bool {
	if (a.Unit == payments.BudgetUSDC) != (b.Unit == payments.BudgetUSDC) {
		return a.Unit == payments.BudgetUSDC
	}
	if a.Symbol != b.Symbol {
		return a.Symbol < b.Symbol
	}
	return a.Unit < b.Unit
}

// Totals returns what counts against the budgets, lifetime, for every key of
// by and unit: the running sums Reserve checks (so they agree with Spent),
// ordered by unit (USDC first), then the most counted first, then key. Keys
// whose payments were all released are left out.
func (l *Ledger) Totals(ctx context.Context, by Dimension) ([]Sum, error) {
	scope, err := by.column()
	if err != nil {
		return nil, err
	}
	return l.scopeTotals(ctx, scope)
}

// PrincipalTool is what one principal counted for one tool, lifetime, in
// one unit: Sum's Key is principal/tool, as the running sums key it.
type PrincipalTool struct {
	Principal, Tool string
	Sum
}

// PrincipalTools returns what each principal counted for each tool,
// lifetime, per unit: the running sums (spend scope principal_tool) that
// Reserve checks against a principal's per-tool budget, so they agree with
// Spent's PrincipalTool; ordered as Totals orders. Payments of no principal
// are in none, and keys whose payments were all released are left out.
func (l *Ledger) PrincipalTools(ctx context.Context) ([]PrincipalTool, error) {
	sums, err := l.scopeTotals(ctx, "principal_tool")
	if err != nil {
		return nil, err
	}
	out := make([]PrincipalTool, 0, len(sums))
	for _, s := range sums {
		// A principal's name never holds '/' (a trigger refuses it): the
		// key splits at its first one; a tool's name may hold more.
		p, tool, ok := strings.Cut(s.Key, "/")
		if !ok {
			return nil, fmt.Errorf("ledger: the per-tool sum of a principal has the key %q, without principal/tool", payments.Sanitize(s.Key, 80))
		}
		out = append(out, PrincipalTool{Principal: p, Tool: tool, Sum: s})
	}
	return out, nil
}

// scopeTotals reads the lifetime running sums of a spend scope, every key
// and unit, each with its unit's symbol and decimals, sorted as Totals
// says.
func (l *Ledger) scopeTotals(ctx context.Context, scope string) ([]Sum, error) {
	rows, err := l.r.QueryContext(ctx, `SELECT key, unit, amount, n FROM spend WHERE scope = ?1 AND n > 0`, scope)
	if err != nil {
		return nil, fmt.Errorf("ledger: totals by %s: %w", scope, err)
	}
	var out []Sum
	for rows.Next() {
		var s Sum
		var amount, n int64
		if err := rows.Scan(&s.Key, &s.Unit, &amount, &n); err != nil {
			_ = rows.Close() // the scan's error is the one to report
			return nil, fmt.Errorf("ledger: totals by %s: %w", scope, err)
		}
		s.Counted, s.Payments = payments.Amount(amount), int(n)
		out = append(out, s)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("ledger: totals by %s: %w", scope, err)
	}
	cur := map[string]payments.Currency{payments.BudgetUSDC: payments.USDC}
	for i, s := range out {
		c, ok := cur[s.Unit]
		if !ok {
			if c, err = l.unitCurrency(ctx, s.Unit); err != nil {
				return nil, err
			}
			cur[s.Unit] = c
		}
		out[i].Symbol, out[i].Decimals = c.Symbol, c.Decimals
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Unit != b.Unit {
			return unitLess(a, b)
		}
		if a.Counted != b.Counted {
			return a.Counted > b.Counted
		}
		return a.Key < b.Key
	})
	return out, nil
}

// unitCurrency is how the amounts of a unit other than USDC read: its
// newest row's symbol and decimals (a row's never change; a unit is one
// asset). The condition on unit lets SQLite use the index payments_unit.
func (l *Ledger) unitCurrency(ctx context.Context, unit string) (payments.Currency, error) {
	c := payments.Currency{Budget: unit}
	err := l.r.QueryRowContext(ctx, `SELECT symbol, decimals FROM payments WHERE unit = ?1 AND unit <> 'USDC' ORDER BY created_at DESC LIMIT 1`, unit).
		Scan(&c.Symbol, &c.Decimals)
	if err != nil {
		return c, fmt.Errorf("ledger: the asset of unit %s: %w", unit, err)
	}
	return c, nil
}

// OpenReadOnly opens an existing ledger for reading only, for the
// dashboard: SQLite opens the file read-only (every write fails), and
// nothing is created, migrated or changed. It refuses a missing file and a
// schema other than this x402-mcp's (SchemaVersion): an older one is
// upgraded by any command that opens it for writing. Other processes may
// keep writing the file; reads see their commits. b is the budget the
// summary reports. A postgres:// URL opens that database with every
// transaction read-only (PostgreSQL refuses every write), and refuses a
// database without the ledger's schema or with another version of it
// (PostgresSchemaVersion).
func OpenReadOnly(ctx context.Context, path string, b payments.Budget, opts ...Option) (*Ledger, error) {
	cfg := config{now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if path == "" {
		return nil, errors.New("ledger: no path")
	}
	if IsPostgres(path) {
		return openPostgresReadOnly(ctx, path, b, cfg)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	if st, err := os.Stat(abs); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("no ledger at %s: give the file x402-mcp serve writes with --ledger FILE (or X402_LEDGER)", abs)
	}
	// A file: URI, so that SQLite itself opens the file read-only
	// (mode=ro); query_only refuses writes besides.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "mode=ro"}
	db, err := sql.Open("sqlite", u.String()+"&_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", abs, err)
	}
	db.SetMaxOpenConns(4)
	want, err := SchemaVersion()
	var have int
	if err == nil {
		err = db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have)
	}
	if err == nil && have != want {
		err = fmt.Errorf("the ledger's schema is version %d and this x402-mcp reads version %d: ", have, want)
		if have < want {
			err = fmt.Errorf("%wopening it read-only never upgrades it; run `x402-mcp ledger list --ledger %s` once, which does", err, abs)
		} else {
			err = fmt.Errorf("%wupgrade x402-mcp", err)
		}
	}
	// On a failure, the database is closed and that failure is the one to
	// report.
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ledger %s: %w", abs, err)
	}
	l := &Ledger{path: abs, now: cfg.now, w: db, r: db, prompt: make(chan struct{}, 1)}
	l.SetBudget(b)
	if l.rs, err = prepare(ctx, db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ledger %s: %w", abs, err)
	}
	l.ws = l.rs
	return l, nil
}
