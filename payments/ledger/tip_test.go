package ledger_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

func tip(amount payments.Amount) payments.Reservation {
	r := res("x402_tip", amount)
	r.Kind, r.Note, r.Host = payments.KindTip, "thanks for the article", "facilitator.example:443"
	return r
}

// TestTipBudget: in both ledgers, tips take exactly the tip budget and not
// one unit more; payments are not counted against it; tips count against
// every other budget; a refused tip frees its share when its authorization
// expires, and a rolling window frees up 24 hours after the oldest tip.
func TestTipBudget(t *testing.T) {
	ctx := context.Background()
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) {
			c := newClock(t0)
			l := implOf(t, name, payments.Budget{TipPerDay: 100, Total: 1000}, c.Now)
			steps := []struct {
				r     payments.Reservation
				scope string
			}{
				{tip(60), ""}, {tip(41), payments.ScopeTipDay}, {res("weather", 500), ""}, {tip(40), ""}, {tip(1), payments.ScopeTipDay},
			}
			var ids []string
			for i, s := range steps {
				id, err := l.Reserve(ctx, s.r)
				switch {
				case s.scope == "" && err != nil:
					t.Fatalf("step %d refused: %v", i, err)
				case s.scope != "" && overScope(t, err) != s.scope:
					t.Fatalf("step %d: %v", i, err)
				case s.scope != "":
					pe, _ := payments.AsError(err)
					for _, want := range []string{"the daily tip budget (rolling 24 hours)", "0.0001 USDC limit", "this tip is", "tipping.per_day", "first at " + t0.Add(24*time.Hour).Format(time.RFC3339)} {
						if !strings.Contains(pe.Message, want) {
							t.Errorf("refusal does not say %q: %s", want, pe.Message)
						}
					}
					if pe.Over.Limit != 100 || pe.Over.Counted+pe.Over.Price <= 100 || pe.Over.Setting != "tipping.per_day" {
						t.Errorf("over %+v", pe.Over)
					}
				default:
					ids = append(ids, id)
				}
			}
			sp, err := l.Spent(ctx, tip(1))
			must(t, err)
			if sp.TipDay != 100 || sp.Total != 600 || !sp.TipDayOldest.Equal(t0) {
				t.Fatalf("spent %+v", sp)
			}
			if sp, _ := l.Spent(ctx, res("weather", 1)); sp.TipDay != 0 {
				t.Fatalf("a payment's spent counts tips: %+v", sp)
			}
			// The 40 tip is refused by the facilitator, which had the signed
			// authorization: it counts, before and after it expires, until
			// reconciliation proves it unused.
			must(t, l.MarkSigned(ctx, ids[2], signed(t0.Add(time.Minute))))
			must(t, l.Reject(ctx, ids[2], "facilitator /verify: insufficient_balance"))
			if _, err := l.Reserve(ctx, tip(1)); overScope(t, err) != payments.ScopeTipDay {
				t.Fatal("a rejected tip stopped counting")
			}
			c.Add(2 * time.Minute)
			if _, err := l.Reserve(ctx, tip(1)); overScope(t, err) != payments.ScopeTipDay {
				t.Fatal("a rejected tip stopped counting when its authorization expired by the clock")
			}
			c.Add(24*time.Hour + time.Second)
			if _, err := l.Reserve(ctx, tip(100)); err != nil {
				t.Fatalf("a day later: %v", err)
			}
			// Tips count against the total: 500 + 60 + 40 (refused, unproven)
			// + 100 = 700 of 1000.
			if _, err := l.Reserve(ctx, res("weather", 301)); overScope(t, err) != payments.ScopeTotal {
				t.Fatalf("tips are not in the total: %v", err)
			}
		})
	}
}

// TestTipBudgetCalendar: with day: calendar the tip budget resets at
// midnight and says so.
func TestTipBudgetCalendar(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		c := newClock(t0)
		l := mustOpen(t, be.new(t), payments.Budget{TipPerDay: 100, Day: payments.DayWindow{Calendar: true}}, ledger.WithNow(c.Now))
		_, err := l.Reserve(ctx, tip(100))
		must(t, err)
		_, err = l.Reserve(ctx, tip(1))
		pe, _ := payments.AsError(err)
		midnight := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
		if overScope(t, err) != payments.ScopeTipDay || !pe.Over.Resets.Equal(midnight) || !strings.Contains(pe.Message, "resets at "+midnight.Format(time.RFC3339)) {
			t.Fatalf("refusal %v", err)
		}
		c.Add(9 * time.Hour) // past midnight
		if _, err := l.Reserve(ctx, tip(100)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestConcurrentTips: 100 goroutines tipping against one tip budget never
// overspend it by one unit, and the running sums match the rows.
func TestConcurrentTips(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		path := be.new(t)
		l := mustOpen(t, path, payments.Budget{TipPerDay: 1_000})
		var ok atomic.Int64
		var wg sync.WaitGroup
		for g := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 4 {
					r := tip(payments.Amount(1 + (g*3+i)%17))
					if i%2 == 0 {
						r = res("weather", 7) // payments race beside the tips, outside the tip budget
					}
					id, err := l.Reserve(ctx, r)
					if err != nil {
						if overScope(t, err) != payments.ScopeTipDay {
							t.Errorf("refused by %v", err)
						}
						continue
					}
					ok.Add(1)
					if g%3 == 0 {
						must(t, l.Release(ctx, id, "declined"))
					}
				}
			}()
		}
		wg.Wait()
		for {
			if _, err := l.Reserve(ctx, tip(1)); err != nil {
				overScope(t, err)
				break
			}
		}
		if sp, _ := l.Spent(ctx, tip(1)); sp.TipDay != 1_000 {
			t.Fatalf("tips counted %d, want exactly 1000", sp.TipDay)
		}
		checkSums(t, be, path)
	})
}

// TestTipRows: tips are rows of their own kind, with their note, listed by
// kind and exported with both columns; the schema refuses an unknown kind
// and any change of kind or note.
func TestTipRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		path := be.new(t)
		l := mustOpen(t, path, payments.Budget{})
		_, err := l.Reserve(ctx, res("weather", 5))
		must(t, err)
		r := tip(7)
		r.Note = "=HYPERLINK(\"x\")"
		id, err := l.Reserve(ctx, r)
		must(t, err)
		rows, err := l.List(ctx, ledger.Filter{Kind: ledger.KindTip})
		must(t, err)
		if len(rows) != 1 || rows[0].ID != id || rows[0].Kind != "tip" || rows[0].Note != r.Note || rows[0].Tool != "x402_tip" {
			t.Fatalf("tips %+v", rows)
		}
		rows, _ = l.List(ctx, ledger.Filter{Kind: ledger.KindPayment})
		if len(rows) != 1 || rows[0].Kind != "payment" || rows[0].Note != "" {
			t.Fatalf("payments %+v", rows)
		}
		var buf bytes.Buffer
		must(t, l.WriteCSV(ctx, &buf, ledger.Filter{}))
		recs, err := csv.NewReader(&buf).ReadAll()
		must(t, err)
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		if recs[1][col["kind"]] != "tip" || recs[1][col["note"]] != "'"+r.Note || recs[2][col["kind"]] != "payment" {
			t.Fatalf("csv %q", recs)
		}
		db := be.db(t, path)
		for _, q := range []string{`UPDATE payments SET kind = 'payment'`, `UPDATE payments SET note = 'x'`,
			`INSERT INTO payments (kind, amount, state, created_at, updated_at) VALUES ('gift', 1, 'reserved', 0, 0)`} {
			if _, err := db.Exec(q); err == nil {
				t.Errorf("%s was allowed", q)
			}
		}
	})
}

// TestMigrationFromVersion1: a ledger written before tips existed opens
// with its rows as payments, and takes tips at once.
func TestMigrationFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	init, err := os.ReadFile("migrations/0001_init.sql")
	must(t, err)
	must(t, os.MkdirAll(strings.TrimSuffix(path, "/ledger.db"), 0o700))
	db, err := sql.Open("sqlite", path)
	must(t, err)
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
		string(init),
		`INSERT INTO schema_version VALUES (1, 0)`,
		`INSERT INTO payments (tool, amount, state, created_at, updated_at) VALUES ('weather', 30, 'settled', 1, 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	must(t, db.Close())
	l := mustOpen(t, path, payments.Budget{Total: 100, TipPerDay: 50})
	rows, err := l.List(ctx, ledger.Filter{})
	must(t, err)
	if len(rows) != 1 || rows[0].Kind != "payment" || rows[0].Note != "" || rows[0].Amount != 30 {
		t.Fatalf("old rows %+v", rows)
	}
	if _, err := l.Reserve(ctx, tip(50)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reserve(ctx, tip(1)); overScope(t, err) != payments.ScopeTipDay {
		t.Fatal("no tip budget after the migration")
	}
	if _, err := l.Reserve(ctx, res("weather", 21)); overScope(t, err) != payments.ScopeTotal {
		t.Fatal("the total lost the old rows or the tip")
	}
	checkSums(t, backends[0], path)
}

// TestTipScopes: the tool and host budgets do not apply to tips (the tip
// budget stands in for them), but tips count in the session budget.
func TestTipScopes(t *testing.T) {
	ctx := context.Background()
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) {
			l := implOf(t, name, payments.Budget{PerTool: 10, PerHost: 10, PerSession: 100, TipPerDay: 1000}, newClock(t0).Now)
			if _, err := l.Reserve(ctx, tip(60)); err != nil {
				t.Fatalf("per_tool or per_host applied to a tip: %v", err)
			}
			if _, err := l.Reserve(ctx, res("weather", 10)); err != nil {
				t.Fatalf("a payment after the tip: %v", err)
			}
			if _, err := l.Reserve(ctx, tip(31)); overScope(t, err) != payments.ScopeSession {
				t.Fatalf("tips escape the session budget: %v", err)
			}
		})
	}
}
