package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// book writes a small history on a ledger whose clock starts at t0 (15:04
// UTC): USDC payments in three states that count and one released, and a
// JPYX payment, across three hours, two sessions and two principals.
func book(t *testing.T, l *ledger.Ledger, c *clock) {
	t.Helper()
	ctx := context.Background()
	pay := func(tool, session, principal, network string, cur payments.Currency, amount payments.Amount, state payments.State) {
		t.Helper()
		r := res(tool, amount)
		if cur != payments.USDC {
			r = inAsset(cur, tool, amount)
		}
		r.Session, r.Principal, r.Network = session, principal, payments.Network(network)
		id, err := l.Reserve(ctx, r)
		must(t, err)
		if state == payments.StateReleased {
			must(t, l.Release(ctx, id, "declined"))
			return
		}
		s := signed(c.Now().Add(time.Hour))
		n, err := strconv.Atoi(id)
		must(t, err)
		s.Proof.ID = fmt.Sprintf("0x%064x", n)
		must(t, l.MarkSigned(ctx, id, s))
		switch state {
		case payments.StateSettled:
			must(t, l.Settle(ctx, id, payments.Receipt{Transaction: "0x" + strings.Repeat("ab", 32)}))
		case payments.StateUnknown:
			must(t, l.MarkUnknown(ctx, id, "no answer"))
		case payments.StateRejected:
			must(t, l.Reject(ctx, id, "refused"))
		}
	}
	pay("weather", "s1", "team-a", "eip155:84532", payments.USDC, 1000, payments.StateSettled) // 15:04
	c.Add(time.Hour)
	pay("weather", "s2", "team-b", "eip155:84532", payments.USDC, 2000, payments.StateUnknown) // 16:04
	pay("quote", "s2", "team-a", "eip155:8453", payments.USDC, 500, payments.StateReleased)    // 16:04, counts nothing
	pay("yen", "s2", "team-b", "eip155:1337", jpyx, 150, payments.StateSettled)                // 16:04
	c.Add(time.Hour)
	pay("quote", "s1", "team-b", "eip155:8453", payments.USDC, 700, payments.StateRejected) // 17:04
}

// TestSeries: what counts per key, per unit and per hour, summed by the
// ledger exactly: a released payment adds nothing, an unknown and a
// rejected one count, settled is the part proven paid, and JPYX is never
// added to USDC.
func TestSeries(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		c := newClock(t0)
		l := mustOpen(t, be.new(t), payments.Budget{Total: 1_000_000, Assets: map[string]payments.AssetBudget{jpyx.Budget: {Currency: jpyx, Total: 10_000}}},
			ledger.WithNow(c.Now))
		book(t, l, c)
		h15 := t0.Truncate(time.Hour)
		usdc, jp := payments.BudgetUSDC, jpyx.Budget
		tests := []struct {
			name string
			q    ledger.SeriesQuery
			want []ledger.Sum
		}{
			{"by tool, hourly", ledger.SeriesQuery{By: ledger.ByTool, Since: h15, Until: h15.Add(3 * time.Hour), Bucket: time.Hour}, []ledger.Sum{
				{Key: "weather", Start: h15, Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 1000, Settled: 1000, Payments: 1},
				{Key: "weather", Start: h15.Add(time.Hour), Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 2000, Payments: 1},
				{Key: "yen", Start: h15.Add(time.Hour), Unit: jp, Symbol: "JPYX", Decimals: 2, Counted: 150, Settled: 150, Payments: 1},
				{Key: "quote", Start: h15.Add(2 * time.Hour), Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 700, Payments: 1},
			}},
			{"by session, one bucket", ledger.SeriesQuery{By: ledger.BySession, Since: h15, Until: h15.Add(3 * time.Hour), Bucket: 3 * time.Hour}, []ledger.Sum{
				{Key: "s1", Start: h15, Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 1700, Settled: 1000, Payments: 2},
				{Key: "s2", Start: h15, Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 2000, Payments: 1},
				{Key: "s2", Start: h15, Unit: jp, Symbol: "JPYX", Decimals: 2, Counted: 150, Settled: 150, Payments: 1},
			}},
			{"by network, since 16:00", ledger.SeriesQuery{By: ledger.ByNetwork, Since: h15.Add(time.Hour), Until: h15.Add(3 * time.Hour), Bucket: time.Hour}, []ledger.Sum{
				{Key: "eip155:84532", Start: h15.Add(time.Hour), Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 2000, Payments: 1},
				{Key: "eip155:1337", Start: h15.Add(time.Hour), Unit: jp, Symbol: "JPYX", Decimals: 2, Counted: 150, Settled: 150, Payments: 1},
				{Key: "eip155:8453", Start: h15.Add(2 * time.Hour), Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 700, Payments: 1},
			}},
			{"by principal, one bucket", ledger.SeriesQuery{By: ledger.ByPrincipal, Since: h15, Until: h15.Add(3 * time.Hour), Bucket: 3 * time.Hour}, []ledger.Sum{
				{Key: "team-a", Start: h15, Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 1000, Settled: 1000, Payments: 1},
				{Key: "team-b", Start: h15, Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 2700, Payments: 2},
				{Key: "team-b", Start: h15, Unit: jp, Symbol: "JPYX", Decimals: 2, Counted: 150, Settled: 150, Payments: 1},
			}},
			// The top key of each unit keeps its name; the rest of the unit is
			// one "other" series.
			{"top key per unit", ledger.SeriesQuery{By: ledger.ByTool, Since: h15, Until: h15.Add(3 * time.Hour), Bucket: time.Hour, Keys: 1}, []ledger.Sum{
				{Key: "weather", Start: h15, Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 1000, Settled: 1000, Payments: 1},
				{Key: "weather", Start: h15.Add(time.Hour), Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 2000, Payments: 1},
				{Key: "yen", Start: h15.Add(time.Hour), Unit: jp, Symbol: "JPYX", Decimals: 2, Counted: 150, Settled: 150, Payments: 1},
				{Other: true, Start: h15.Add(2 * time.Hour), Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 700, Payments: 1},
			}},
			{"empty window", ledger.SeriesQuery{By: ledger.ByTool, Since: h15.Add(-time.Hour), Until: h15, Bucket: time.Hour}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := l.Series(ctx, tt.q)
				must(t, err)
				if len(got) != len(tt.want) {
					t.Fatalf("got %d sums, want %d:\n%+v", len(got), len(tt.want), got)
				}
				for i := range got {
					if !got[i].Start.Equal(tt.want[i].Start) {
						t.Errorf("sum %d starts %s, want %s", i, got[i].Start, tt.want[i].Start)
					}
					got[i].Start = tt.want[i].Start
					if got[i] != tt.want[i] {
						t.Errorf("sum %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
					}
				}
			})
		}
	})
}

// TestTotals: the lifetime sums per key and unit are the running sums the
// budgets check, so they agree with Spent for every key.
func TestTotals(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		c := newClock(t0)
		l := mustOpen(t, be.new(t), payments.Budget{Total: 1_000_000, Assets: map[string]payments.AssetBudget{jpyx.Budget: {Currency: jpyx, Total: 10_000}}},
			ledger.WithNow(c.Now))
		book(t, l, c)
		usdc, jp := payments.BudgetUSDC, jpyx.Budget
		tests := []struct {
			by   ledger.Dimension
			want []ledger.Sum
		}{
			{ledger.ByTool, []ledger.Sum{
				{Key: "weather", Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 3000, Payments: 2},
				{Key: "quote", Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 700, Payments: 1},
				{Key: "yen", Unit: jp, Symbol: "JPYX", Decimals: 2, Counted: 150, Payments: 1},
			}},
			{ledger.BySession, []ledger.Sum{
				{Key: "s2", Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 2000, Payments: 1},
				{Key: "s1", Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 1700, Payments: 2},
				{Key: "s2", Unit: jp, Symbol: "JPYX", Decimals: 2, Counted: 150, Payments: 1},
			}},
			{ledger.ByNetwork, []ledger.Sum{
				{Key: "eip155:84532", Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 3000, Payments: 2},
				{Key: "eip155:8453", Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 700, Payments: 1},
				{Key: "eip155:1337", Unit: jp, Symbol: "JPYX", Decimals: 2, Counted: 150, Payments: 1},
			}},
			{ledger.ByHost, []ledger.Sum{
				{Key: "api.example.com:443", Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 3700, Payments: 3},
				{Key: "api.example.com:443", Unit: jp, Symbol: "JPYX", Decimals: 2, Counted: 150, Payments: 1},
			}},
			{ledger.ByPrincipal, []ledger.Sum{
				{Key: "team-b", Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 2700, Payments: 2},
				{Key: "team-a", Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 1000, Payments: 1},
				{Key: "team-b", Unit: jp, Symbol: "JPYX", Decimals: 2, Counted: 150, Payments: 1},
			}},
		}
		for _, tt := range tests {
			t.Run(string(tt.by), func(t *testing.T) {
				got, err := l.Totals(ctx, tt.by)
				must(t, err)
				if len(got) != len(tt.want) {
					t.Fatalf("got %+v, want %+v", got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("total %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
					}
				}
			})
		}
		// The same figures as the budgets see them.
		sp, err := l.Spent(ctx, payments.Reservation{Tool: "weather", Session: "s1", Network: "eip155:84532", Host: "api.example.com:443"})
		must(t, err)
		if sp.Tool != 3000 || sp.Session != 1700 || sp.Network != 3000 || sp.Host != 3700 || sp.Total != 3700 {
			t.Fatalf("spent %+v", sp)
		}
		// A principal's total is the one its own budget checks.
		for name, want := range map[string]payments.Amount{"team-a": 1000, "team-b": 2700} {
			ps, err := l.PrincipalSummary(ctx, name)
			must(t, err)
			if ps.Counted() != want {
				t.Errorf("%s: its summary counts %d, the totals %d", name, ps.Counted(), want)
			}
		}
	})
}

// TestPrincipalTools: what each principal counted for each tool, lifetime,
// per unit, is the running sum its per-tool budget checks (Spent's
// PrincipalTool), read in one query: a released payment leaves its key out,
// a payment of no principal is in none, and JPYX is never added to USDC.
func TestPrincipalTools(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		c := newClock(t0)
		l := mustOpen(t, be.new(t), payments.Budget{Total: 1_000_000, Assets: map[string]payments.AssetBudget{jpyx.Budget: {Currency: jpyx, Total: 10_000}}},
			ledger.WithNow(c.Now))
		book(t, l, c)
		// A payment of no principal (booked before principals were
		// recorded, or by a caller without one) is in no principal's sums.
		_, err := l.Reserve(ctx, res("weather", 5))
		must(t, err)
		got, err := l.PrincipalTools(ctx)
		must(t, err)
		usdc, jp := payments.BudgetUSDC, jpyx.Budget
		want := []ledger.PrincipalTool{
			{Principal: "team-b", Tool: "weather", Sum: ledger.Sum{Key: "team-b/weather", Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 2000, Payments: 1}},
			{Principal: "team-a", Tool: "weather", Sum: ledger.Sum{Key: "team-a/weather", Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 1000, Payments: 1}},
			{Principal: "team-b", Tool: "quote", Sum: ledger.Sum{Key: "team-b/quote", Unit: usdc, Symbol: "USDC", Decimals: 6, Counted: 700, Payments: 1}},
			{Principal: "team-b", Tool: "yen", Sum: ledger.Sum{Key: "team-b/yen", Unit: jp, Symbol: "JPYX", Decimals: 2, Counted: 150, Payments: 1}},
		}
		if len(got) != len(want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
			// The same figure as the budget checks.
			cur := payments.USDC
			if got[i].Unit == jp {
				cur = jpyx
			}
			sp, err := l.Spent(ctx, payments.Reservation{Principal: got[i].Principal, Tool: got[i].Tool, Currency: cur})
			must(t, err)
			if sp.PrincipalTool != got[i].Counted {
				t.Errorf("%s/%s: Spent counts %d, PrincipalTools %d", got[i].Principal, got[i].Tool, sp.PrincipalTool, got[i].Counted)
			}
		}
	})
}

// TestQueryRefusals: a dimension the ledger does not know, and a window or
// bucket that would make an unbounded answer, are refused with what to
// write instead.
func TestQueryRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		l := mustOpen(t, be.new(t), payments.Budget{Total: 100})
		if _, err := l.Totals(ctx, "payee"); err == nil || !strings.Contains(err.Error(), `no dimension "payee"`) || !strings.Contains(err.Error(), "tool, session, network, host, principal") {
			t.Errorf("totals by payee: %v", err)
		}
		since := t0.Add(-time.Hour)
		for _, tt := range []struct {
			q    ledger.SeriesQuery
			want string
		}{
			{ledger.SeriesQuery{By: "payee", Since: since, Until: t0, Bucket: time.Hour}, `no dimension "payee"`},
			{ledger.SeriesQuery{By: ledger.ByTool, Since: t0, Until: since, Bucket: time.Hour}, "ends before it starts"},
			{ledger.SeriesQuery{By: ledger.ByTool, Until: t0, Bucket: time.Hour}, "needs a start and an end"},
			{ledger.SeriesQuery{By: ledger.ByTool, Since: since, Until: t0, Bucket: time.Second}, "at least 1m0s"},
			{ledger.SeriesQuery{By: ledger.ByTool, Since: t0.Add(-1000 * time.Hour), Until: t0, Bucket: time.Minute}, "at most 1000 buckets"},
			{ledger.SeriesQuery{By: ledger.ByTool, Since: since, Until: t0, Bucket: time.Hour, Keys: -1}, "keys"},
		} {
			if _, err := l.Series(ctx, tt.q); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%+v: %v, want %q", tt.q, err, tt.want)
			}
		}
		if got := ledger.Dimensions(); len(got) != 5 || got[0] != ledger.ByTool || got[1] != ledger.BySession || got[2] != ledger.ByNetwork ||
			got[3] != ledger.ByHost || got[4] != ledger.ByPrincipal {
			t.Errorf("dimensions %v", got)
		}
	})
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return sha256.Sum256(b)
}

// TestOpenReadOnly: the dashboard's ledger reads what a writer wrote (also
// while the writer keeps writing), never writes, never migrates, and never
// creates a file (on PostgreSQL: nor a table).
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	b := payments.Budget{Total: 1_000_000, Assets: map[string]payments.AssetBudget{jpyx.Budget: {Currency: jpyx, Total: 10_000}}}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none", "ledger.db")
		_, err := ledger.OpenReadOnly(ctx, path, b)
		if err == nil || !strings.Contains(err.Error(), "no ledger at "+path) || !strings.Contains(err.Error(), "--ledger") {
			t.Fatalf("missing file: %v", err)
		}
		if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
			t.Fatalf("OpenReadOnly created %s (%v)", filepath.Dir(path), err)
		}
	})

	t.Run("older schema", func(t *testing.T) {
		path := tempPath(t)
		db := schemaAt(t, path, 3)
		must(t, db.Close())
		before := fileSum(t, path)
		_, err := ledger.OpenReadOnly(ctx, path, b)
		if err == nil || !strings.Contains(err.Error(), "schema is version 3") || !strings.Contains(err.Error(), "x402-mcp ledger list") {
			t.Fatalf("older schema: %v", err)
		}
		if fileSum(t, path) != before {
			t.Fatal("OpenReadOnly changed an older ledger file")
		}
	})

	// A write through the read-only ledger is refused by the database
	// itself, in its words.
	refusal := map[string]string{"sqlite": "readonly", "postgres": "read-only transaction"}
	eachBackend(t, func(t *testing.T, be backend) {
		c := newClock(t0)
		path := be.new(t)
		w := mustOpen(t, path, b, ledger.WithNow(c.Now))
		book(t, w, c)
		ro, err := ledger.OpenReadOnly(ctx, path, b, ledger.WithNow(c.Now))
		must(t, err)
		defer ro.Close()
		want, err := w.List(ctx, ledger.Filter{})
		must(t, err)
		got, err := ro.List(ctx, ledger.Filter{})
		must(t, err)
		if len(got) != 5 || len(got) != len(want) || got[0].ID != want[0].ID || got[0].Amount != want[0].Amount {
			t.Fatalf("read-only list %d rows, writer %d", len(got), len(want))
		}
		sum, err := ro.Summary(ctx)
		must(t, err)
		if sum.Settled != 1000 || sum.Pending != 2700 || len(sum.Assets) != 1 || sum.Assets[0].Settled != 150 {
			t.Fatalf("read-only summary %+v", sum)
		}
		if tot, err := ro.Totals(ctx, ledger.ByPrincipal); err != nil || len(tot) != 3 || tot[0].Key != "team-b" || tot[0].Counted != 2700 {
			t.Fatalf("read-only totals by principal %+v %v", tot, err)
		}
		// The writer goes on; the reader sees it.
		id, err := w.Reserve(ctx, res("late", 42))
		must(t, err)
		if r, err := ro.Get(ctx, id); err != nil || r.Amount != 42 {
			t.Fatalf("a row written after OpenReadOnly: %+v %v", r, err)
		}
		// Every write is refused by the database itself.
		if _, err := ro.Reserve(ctx, res("x", 1)); err == nil || !strings.Contains(err.Error(), refusal[be.name]) {
			t.Fatalf("reserve through a read-only ledger: %v", err)
		}
		if err := ro.Release(ctx, id, "no"); err == nil {
			t.Fatal("release through a read-only ledger succeeded")
		}
		if _, err := ro.Reconcile(ctx, nil); err == nil {
			t.Fatal("reconcile through a read-only ledger succeeded")
		}
		if r, _ := w.Get(ctx, id); r.State != payments.StateReserved {
			t.Fatalf("the row is %s after refused writes", r.State)
		}
		must(t, ro.Close())
		must(t, w.Close())
		if be.name != "sqlite" {
			return
		}
		// Closed writer, clean file: the reader opens it and leaves its bytes.
		before := fileSum(t, path)
		ro, err = ledger.OpenReadOnly(ctx, path, b)
		must(t, err)
		if rows, err := ro.List(ctx, ledger.Filter{}); err != nil || len(rows) != 6 {
			t.Fatalf("after the writer closed: %d rows, %v", len(rows), err)
		}
		must(t, ro.Close())
		if after := fileSum(t, path); !bytes.Equal(after[:], before[:]) {
			t.Fatal("OpenReadOnly changed the ledger file")
		}
	})

	// PostgreSQL: a database without the ledger is refused and left as it
	// was; so is one of a newer schema.
	t.Run("postgres/no ledger", func(t *testing.T) {
		be := backendNamed("postgres")
		loc := be.new(t)
		_, err := ledger.OpenReadOnly(ctx, loc, b)
		if err == nil || !strings.Contains(err.Error(), "no ledger in this database") || !strings.Contains(err.Error(), "--ledger") {
			t.Fatalf("an empty database: %v", err)
		}
		var tables int
		must(t, be.db(t, loc).QueryRow(`SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables))
		if tables != 0 {
			t.Fatalf("OpenReadOnly created %d tables", tables)
		}
	})
	t.Run("postgres/newer schema", func(t *testing.T) {
		be := backendNamed("postgres")
		loc := be.new(t)
		must(t, mustOpen(t, loc, b).Close())
		_, err := be.db(t, loc).Exec(`INSERT INTO schema_version (version, applied_at) VALUES ($1, 0)`, postgresSchemaVersion(t)+1)
		must(t, err)
		_, err = ledger.OpenReadOnly(ctx, loc, b)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema is version %d", postgresSchemaVersion(t)+1)) || !strings.Contains(err.Error(), "upgrade x402-mcp") {
			t.Fatalf("a newer schema: %v", err)
		}
	})
}
