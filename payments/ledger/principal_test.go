package ledger_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

func byPrincipal(p, tool string, amount payments.Amount) payments.Reservation {
	r := res(tool, amount)
	r.Principal = p
	return r
}

// TestPrincipalBudgets: two principals reserve concurrently, in every
// ledger (SQLite, PostgreSQL, in memory); each fills its own budgets (total, per day, per tool) to the last
// atomic unit and never past it, while the other keeps paying; the gateway's
// total holds them both; the running sums equal the rows.
func TestPrincipalBudgets(t *testing.T) {
	ctx := context.Background()
	b := payments.Budget{Total: 1000, PerDay: 1000, Principals: map[string]payments.PrincipalBudget{
		"team-a": {Total: 100, Setting: "principals[0] (team-a)"},
		"team-b": {PerDay: 60, PerTool: 45, Setting: "principals[1] (team-b)"},
	}}
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) {
			clk := newClock(t0) // each ledger on its own clock
			l, be, loc := implAt(t, name, b, clk.Now)
			var mu sync.Mutex
			paid := map[string]payments.Amount{}
			var wg sync.WaitGroup
			for i := range 120 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := []string{"team-a", "team-b", "other"}[i%3]
					if _, err := l.Reserve(ctx, byPrincipal(p, "weather", 7)); err == nil {
						mu.Lock()
						paid[p] += 7
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if paid["team-a"] != 98 || paid["team-b"] != 42 || paid["other"] != 40*7 {
				t.Fatalf("paid %v: want team-a 98 (total 100), team-b 42 (per tool 45), other 280 (no budget of its own)", paid)
			}
			// team-a: its total refuses the 3 units over it, takes the last 2.
			if _, err := l.Reserve(ctx, byPrincipal("team-a", "search", 3)); overScope(t, err) != payments.ScopePrincipalTotal {
				t.Fatal("team-a past its total")
			}
			if _, err := l.Reserve(ctx, byPrincipal("team-a", "search", 2)); err != nil {
				t.Fatalf("team-a's last 2 units: %v", err)
			}
			// team-b: weather is at its per-tool budget; search takes what the day has left.
			if _, err := l.Reserve(ctx, byPrincipal("team-b", "weather", 4)); overScope(t, err) != payments.ScopePrincipalTool {
				t.Fatal("team-b past its per-tool budget")
			}
			if _, err := l.Reserve(ctx, byPrincipal("team-b", "search", 19)); overScope(t, err) != payments.ScopePrincipalDay {
				t.Fatal("team-b past its per-day budget")
			}
			if _, err := l.Reserve(ctx, byPrincipal("team-b", "search", 18)); err != nil {
				t.Fatalf("team-b's last 18 units of the day: %v", err)
			}
			sp, err := l.Spent(ctx, byPrincipal("team-b", "search", 0))
			must(t, err)
			if sp.Principal != 60 || sp.PrincipalDay != 60 || sp.PrincipalTool != 18 || sp.PrincipalDayOldest.IsZero() {
				t.Fatalf("team-b spent %+v", sp)
			}
			// A day later team-b's day frees up; its per-tool budgets do not.
			clk.Add(25 * time.Hour)
			if _, err := l.Reserve(ctx, byPrincipal("team-b", "search", 28)); overScope(t, err) != payments.ScopePrincipalTool {
				t.Fatal("team-b past its per-tool budget on search")
			}
			if _, err := l.Reserve(ctx, byPrincipal("team-b", "search", 27)); err != nil {
				t.Fatalf("team-b the next day: %v", err)
			}
			if _, err := l.Reserve(ctx, byPrincipal("team-b", "weather", 4)); overScope(t, err) != payments.ScopePrincipalTool {
				t.Fatal("team-b's per-tool budget reset with the day")
			}
			// The gateway's total holds everyone.
			if _, err := l.Reserve(ctx, byPrincipal("other", "weather", 1000-98-2-42-18-280-27+1)); overScope(t, err) != payments.ScopeTotal {
				t.Fatal("past the gateway's total")
			}
			if loc != "" {
				checkSums(t, be, loc)
			}
		})
	}
}

// TestPrincipalBooks: the ledger records each payment's principal; List
// filters by it; PrincipalSummary reports one principal's payments (settled,
// pending, of the day) in every ledger; a principal name with a slash is
// refused by the schema, and so is a change of a payment's principal.
func TestPrincipalBooks(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	b := payments.Budget{Total: 1000, Principals: map[string]payments.PrincipalBudget{"team-a": {Total: 500, PerDay: 400}}}
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) {
			l, be, loc := implAt(t, name, b, clk.Now)
			ids := map[string]string{}
			for _, r := range []struct {
				p, tool string
				amount  payments.Amount
			}{{"team-a", "weather", 10}, {"team-a", "search", 20}, {"team-b", "weather", 40}, {"", "weather", 80}} {
				id, err := l.Reserve(ctx, byPrincipal(r.p, r.tool, r.amount))
				must(t, err)
				ids[r.p+r.tool] = id
			}
			must(t, l.MarkSigned(ctx, ids["team-aweather"], signed(t0.Add(time.Minute))))
			must(t, l.Settle(ctx, ids["team-aweather"], payments.Receipt{Transaction: "0x01"}))
			must(t, l.Release(ctx, ids["team-bweather"], "declined"))
			ps, ok := l.(interface {
				PrincipalSummary(context.Context, string) (payments.PrincipalSummary, error)
			})
			if !ok {
				t.Fatalf("%T has no PrincipalSummary", l)
			}
			s, err := ps.PrincipalSummary(ctx, "team-a")
			must(t, err)
			if s.Name != "team-a" || s.Settled != 10 || s.Pending != 20 || s.Payments != 1 || s.Day != 30 || s.Budget.Total != 500 || s.Budget.PerDay != 400 {
				t.Fatalf("team-a's books %+v", s)
			}
			if s, err := ps.PrincipalSummary(ctx, "team-b"); err != nil || s.Settled != 0 || s.Pending != 0 || s.Day != 0 || s.Budget.Total != 0 {
				t.Fatalf("team-b's books (its only payment released) %+v %v", s, err)
			}
			sl, ok := l.(*ledger.Ledger)
			if !ok {
				return
			}
			rows, err := sl.List(ctx, ledger.Filter{Principal: "team-a"})
			must(t, err)
			if len(rows) != 2 || rows[0].Principal != "team-a" || rows[1].Principal != "team-a" {
				t.Fatalf("team-a's rows %+v", rows)
			}
			var csv strings.Builder
			must(t, sl.WriteCSV(ctx, &csv, ledger.Filter{Principal: "team-b"}))
			lines := strings.Split(strings.TrimSpace(csv.String()), "\r\n")
			if len(lines) != 2 || !strings.HasSuffix(lines[0], ",principal") || !strings.HasSuffix(lines[1], ",team-b") {
				t.Fatalf("CSV of team-b:\n%s", csv.String())
			}
			if _, err := l.Reserve(ctx, byPrincipal("a/b", "weather", 1)); err == nil || !strings.Contains(err.Error(), "principal") {
				t.Fatalf("a principal name with a slash: %v", err)
			}
			db := be.db(t, loc)
			if _, err := db.Exec(`UPDATE payments SET principal = 'team-b' WHERE id = ` + ids["team-asearch"]); err == nil {
				t.Fatal("a payment's principal was changed")
			}
			checkSums(t, be, loc)
		})
	}
}

// TestMigrationPrincipal: a ledger written under schema 4 opens with every
// old row booked to no principal (empty), counted by the gateway's budgets as
// before and by no principal's; new rows name theirs.
func TestMigrationPrincipal(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	db := schemaAt(t, path, 3)
	b, err := os.ReadFile("migrations/0004_assets.sql")
	must(t, err)
	_, err = db.Exec(string(b))
	must(t, err)
	_, err = db.Exec(`INSERT INTO schema_version VALUES (4, 0)`)
	must(t, err)
	_, err = db.Exec(`INSERT INTO payments (tool, host, session, network, amount, state, created_at, updated_at)
		VALUES ('weather', 'h:443', 's1', 'eip155:84532', 300, 'settled', ?1, ?1)`, t0.UnixMilli())
	must(t, err)
	must(t, db.Close())

	l := mustOpen(t, path, payments.Budget{Total: 1000, Principals: map[string]payments.PrincipalBudget{"team-a": {Total: 100}}},
		ledger.WithNow(func() time.Time { return t0 }))
	rows, err := l.List(ctx, ledger.Filter{})
	must(t, err)
	if len(rows) != 1 || rows[0].Principal != "" {
		t.Fatalf("old rows %+v", rows)
	}
	if _, err := l.Reserve(ctx, byPrincipal("team-a", "weather", 100)); err != nil {
		t.Fatalf("team-a's whole budget (the old row is no one's): %v", err)
	}
	if _, err := l.Reserve(ctx, byPrincipal("team-b", "weather", 601)); overScope(t, err) != payments.ScopeTotal {
		t.Fatal("the gateway's total lost the old row")
	}
	checkSums(t, backendNamed("sqlite"), path)
}
