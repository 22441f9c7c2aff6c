package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// uptoRes is an upto payment of at most amount.
func uptoRes(tool string, amount payments.Amount) payments.Reservation {
	r := res(tool, amount)
	r.UpTo = true
	return r
}

// spentOn is what counts against every scope r touches.
func spentOn(t *testing.T, l payments.Ledger, r payments.Reservation) payments.Spent {
	t.Helper()
	s, err := l.Spent(context.Background(), r)
	must(t, err)
	return s
}

// TestUpToSettlementReleasesTheRest: an upto payment holds its maximum in
// every budget until it settles; a settlement for less books the settled
// amount and gives the rest back at once, in every scope, in every
// ledger (SQLite, PostgreSQL, in memory); a payment of exactly its amount
// never changes amount; the running sums equal the rows.
func TestUpToSettlementReleasesTheRest(t *testing.T) {
	ctx := context.Background()
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) {
			l, be, loc := implAt(t, name, payments.Budget{Total: 1_000_000, PerDay: 1_000_000}, func() time.Time { return t0 })
			r := uptoRes("llm", 10_000)
			id, err := l.Reserve(ctx, r)
			must(t, err)
			must(t, l.MarkSigned(ctx, id, signed(t0.Add(time.Minute))))
			if s := spentOn(t, l, r); s.Total != 10_000 || s.Tool != 10_000 || s.Host != 10_000 || s.Session != 10_000 || s.Network != 10_000 || s.Day != 10_000 {
				t.Fatalf("before settling: %+v, want the maximum 10000 everywhere", s)
			}
			must(t, l.Settle(ctx, id, payments.Receipt{Amount: 1_858, Maximum: 10_000, State: "settled", Transaction: "0xabc"}))
			if s := spentOn(t, l, r); s.Total != 1_858 || s.Tool != 1_858 || s.Host != 1_858 || s.Session != 1_858 || s.Network != 1_858 || s.Day != 1_858 {
				t.Fatalf("after settling 1858: %+v, want 1858 everywhere", s)
			}
			sum, err := l.Summary(ctx)
			must(t, err)
			if sum.Settled != 1_858 || sum.Pending != 0 || sum.Payments != 1 {
				t.Fatalf("summary: settled %d pending %d payments %d", sum.Settled, sum.Pending, sum.Payments)
			}
			// A later receipt (the same or a smaller amount) lowers, never raises.
			must(t, l.Settle(ctx, id, payments.Receipt{Amount: 9_000, Maximum: 10_000, State: "settled"}))
			if s := spentOn(t, l, r); s.Total != 1_858 {
				t.Fatalf("a later receipt of more raised the amount to %d", s.Total)
			}
			if sl, ok := l.(*ledger.Ledger); ok {
				row, err := sl.Get(ctx, id)
				must(t, err)
				if row.Amount != 1_858 || row.Authorized != 10_000 || row.State != payments.StateSettled {
					t.Fatalf("row: amount %d authorized %d state %s", row.Amount, row.Authorized, row.State)
				}
			}
			// An exact payment keeps its amount whatever a receipt says.
			e := res("exact", 5_000)
			eid, err := l.Reserve(ctx, e)
			must(t, err)
			s := signed(t0.Add(time.Minute))
			s.Proof.ID = "0x" + strings.Repeat("02", 32)
			must(t, l.MarkSigned(ctx, eid, s))
			must(t, l.Settle(ctx, eid, payments.Receipt{Amount: 1, Maximum: 5_000, State: "settled"}))
			if s := spentOn(t, l, e); s.Tool != 5_000 || s.Total != 6_858 {
				t.Fatalf("an exact payment's receipt changed its amount: tool %d total %d", s.Tool, s.Total)
			}
			if loc != "" {
				checkSums(t, be, loc)
			}
		})
	}
}

// TestUpToAmountIsOnlyLowered: the schema itself refuses to raise an upto
// payment's amount, to change an exact payment's, or to lower one that is
// not settling; the running sums stay equal to the rows.
func TestUpToAmountIsOnlyLowered(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		path := be.new(t)
		l := mustOpen(t, path, payments.Budget{Total: 1_000_000})
		up, err := l.Reserve(ctx, uptoRes("llm", 10_000))
		must(t, err)
		must(t, l.MarkSigned(ctx, up, signed(t0.Add(time.Minute))))
		ex, err := l.Reserve(ctx, res("exact", 5_000))
		must(t, err)
		db := be.db(t, path)
		for _, tt := range []struct {
			name, sql string
			id        string
		}{
			{"raise an upto amount", `UPDATE payments SET amount = 20000, state = 'settled' WHERE id = `, up},
			{"lower an upto amount without settling it", `UPDATE payments SET amount = 100 WHERE id = `, up},
			{"lower an exact amount", `UPDATE payments SET amount = 100, state = 'released' WHERE id = `, ex},
		} {
			if _, err := db.Exec(tt.sql + tt.id); err == nil || !strings.Contains(err.Error(), "never change") {
				t.Errorf("%s: %v, want the schema's refusal", tt.name, err)
			}
		}
		var sum, rows int64
		must(t, db.QueryRow(`SELECT (SELECT amount FROM spend WHERE scope = 'total' AND unit = 'USDC' AND key = ''), (SELECT SUM(amount) FROM payments)`).Scan(&sum, &rows))
		if sum != 15_000 || rows != 15_000 {
			t.Fatalf("total sum %d, rows %d, want 15000 and 15000", sum, rows)
		}
		checkSums(t, be, path)
	})
}

// TestUpToAuthorizedNeverChanges: the schema refuses any change of a row's
// authorized maximum by direct SQL, on every backend: raising an upto
// payment's (its amount would then be judged against a false maximum),
// lowering a settled one's, and giving an exact payment one (which would
// let its amount be lowered as if it settled for less). The rows keep their
// maximum, and the running sums stay equal to the rows.
func TestUpToAuthorizedNeverChanges(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		path := be.new(t)
		l := mustOpen(t, path, payments.Budget{Total: 1_000_000})
		up, err := l.Reserve(ctx, uptoRes("llm", 10_000))
		must(t, err)
		must(t, l.MarkSigned(ctx, up, signed(t0.Add(time.Minute))))
		done, err := l.Reserve(ctx, uptoRes("llm", 10_000))
		must(t, err)
		s := signed(t0.Add(time.Minute))
		s.Proof.ID = "0x" + strings.Repeat("05", 32)
		must(t, l.MarkSigned(ctx, done, s))
		must(t, l.Settle(ctx, done, payments.Receipt{Amount: 1_858, Maximum: 10_000, State: "settled"}))
		ex, err := l.Reserve(ctx, res("exact", 5_000))
		must(t, err)
		s = signed(t0.Add(time.Minute))
		s.Proof.ID = "0x" + strings.Repeat("06", 32)
		must(t, l.MarkSigned(ctx, ex, s))
		db := be.db(t, path)
		for _, tt := range []struct {
			name, sql string
			id        string
		}{
			{"raise an upto maximum", `UPDATE payments SET authorized = 20000 WHERE id = `, up},
			{"lower an upto maximum", `UPDATE payments SET authorized = 5000 WHERE id = `, up},
			{"raise a settled upto maximum", `UPDATE payments SET authorized = 20000 WHERE id = `, done},
			{"lower a settled upto maximum to what settled", `UPDATE payments SET authorized = 1858 WHERE id = `, done},
			{"give an exact payment a maximum", `UPDATE payments SET authorized = 5000 WHERE id = `, ex},
			{"give an exact payment a maximum and settle it for less", `UPDATE payments SET authorized = 5000, amount = 1, state = 'settled' WHERE id = `, ex},
			{"clear an upto maximum", `UPDATE payments SET authorized = 0 WHERE id = `, up},
		} {
			if _, err := db.Exec(tt.sql + tt.id); err == nil || !strings.Contains(err.Error(), "never change") {
				t.Errorf("%s: %v, want the schema's refusal", tt.name, err)
			}
		}
		for id, want := range map[string][2]int64{up: {10_000, 10_000}, done: {1_858, 10_000}, ex: {5_000, 0}} {
			var amount, authorized int64
			must(t, db.QueryRow(`SELECT amount, authorized FROM payments WHERE id = `+id).Scan(&amount, &authorized))
			if amount != want[0] || authorized != want[1] {
				t.Errorf("row %s: amount %d authorized %d, want %d and %d", id, amount, authorized, want[0], want[1])
			}
		}
		checkSums(t, be, path)
	})
}

// TestReconcileUpToAmountFromChain: a lost upto receipt is settled by
// reconciliation with the amount of the transfer that used the payment,
// and the rest of the maximum stops counting; with no amount found, the
// maximum stays counted.
func TestReconcileUpToAmountFromChain(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		path := be.new(t)
		l := mustOpen(t, path, payments.Budget{Total: 1_000_000}, ledger.WithNow(func() time.Time { return t0 }))
		sign := func(nonce string) string {
			id, err := l.Reserve(ctx, uptoRes("llm", 10_000))
			must(t, err)
			s := signed(t0.Add(time.Minute))
			s.Proof.ID = nonce
			must(t, l.MarkSigned(ctx, id, s))
			must(t, l.MarkUnknown(ctx, id, "the answer was lost"))
			return id
		}
		found, unfound := sign("0x"+strings.Repeat("03", 32)), sign("0x"+strings.Repeat("04", 32))
		p := &proofProver{fates: map[string]payments.Fate{
			"0x" + strings.Repeat("03", 32): {State: payments.FateSettled, Transaction: "0xdead", Amount: 2_500, HasAmount: true},
			"0x" + strings.Repeat("04", 32): {State: payments.FateSettled, Transaction: "0xbeef"},
		}}
		rep, err := l.Reconcile(ctx, p)
		must(t, err)
		if rep.Settled != 2 {
			t.Fatalf("report %+v", rep)
		}
		for id, want := range map[string]payments.Amount{found: 2_500, unfound: 10_000} {
			row, err := l.Get(ctx, id)
			must(t, err)
			if row.State != payments.StateSettled || row.Amount != want || row.Authorized != 10_000 {
				t.Errorf("payment %s: %s amount %d authorized %d, want settled %d", id, row.State, row.Amount, row.Authorized, want)
			}
		}
		sum, err := l.Summary(ctx)
		must(t, err)
		if sum.Settled != 12_500 || sum.Pending != 0 {
			t.Fatalf("summary: settled %d pending %d, want 12500 and 0", sum.Settled, sum.Pending)
		}
		checkSums(t, be, path)
	})
}

// TestUpToReleasesThePrincipalsBudget: an upto payment by a principal
// holds its maximum in the principal's own budgets (total, per tool, per
// day) as in the gateway's; a settlement for less gives the rest back to
// the principal's budgets too, at once, in every ledger, and a later
// receipt of less (the payment already settled) lowers the principal's
// settled sum as well; the running sums equal the rows. The budget the
// rest was held in pays another call.
func TestUpToReleasesThePrincipalsBudget(t *testing.T) {
	ctx := context.Background()
	b := payments.Budget{Total: 1_000_000, Principals: map[string]payments.PrincipalBudget{
		"team-a": {Total: 10_000, PerDay: 20_000, PerTool: 20_000, Setting: "principals[0] (team-a)"},
	}}
	type summer interface {
		PrincipalSummary(ctx context.Context, name string) (payments.PrincipalSummary, error)
	}
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) {
			l, be, loc := implAt(t, name, b, func() time.Time { return t0 })
			r := byPrincipal("team-a", "llm", 10_000)
			r.UpTo = true
			id, err := l.Reserve(ctx, r)
			must(t, err)
			must(t, l.MarkSigned(ctx, id, signed(t0.Add(time.Minute))))
			if s := spentOn(t, l, r); s.Principal != 10_000 || s.PrincipalTool != 10_000 || s.PrincipalDay != 10_000 || s.Total != 10_000 {
				t.Fatalf("before settling: %+v, want the maximum 10000 in the principal's budgets", s)
			}
			if _, err := l.Reserve(ctx, byPrincipal("team-a", "search", 1)); overScope(t, err) != payments.ScopePrincipalTotal {
				t.Fatal("team-a paid past the maximum its upto payment holds")
			}
			must(t, l.Settle(ctx, id, payments.Receipt{Amount: 1_858, Maximum: 10_000, State: "settled", Transaction: "0xabc"}))
			if s := spentOn(t, l, r); s.Principal != 1_858 || s.PrincipalTool != 1_858 || s.PrincipalDay != 1_858 || s.Total != 1_858 {
				t.Fatalf("after settling 1858: %+v, want 1858 in the principal's budgets", s)
			}
			ps, err := l.(summer).PrincipalSummary(ctx, "team-a")
			must(t, err)
			if ps.Settled != 1_858 || ps.Pending != 0 || ps.Payments != 1 || ps.Day != 1_858 {
				t.Fatalf("team-a's books: %+v, want 1858 settled, nothing pending", ps)
			}
			// A later receipt of less lowers the settled payment again,
			// in the principal's settled sum too.
			must(t, l.Settle(ctx, id, payments.Receipt{Amount: 1_000, Maximum: 10_000, State: "settled"}))
			ps, err = l.(summer).PrincipalSummary(ctx, "team-a")
			must(t, err)
			if ps.Settled != 1_000 || ps.Pending != 0 || ps.Day != 1_000 {
				t.Fatalf("team-a's books after a receipt of 1000: %+v", ps)
			}
			// The rest is the principal's to spend again, to the last unit.
			if _, err := l.Reserve(ctx, byPrincipal("team-a", "search", 9_001)); overScope(t, err) != payments.ScopePrincipalTotal {
				t.Fatal("team-a paid past its total")
			}
			if _, err := l.Reserve(ctx, byPrincipal("team-a", "search", 9_000)); err != nil {
				t.Fatalf("team-a's released rest: %v", err)
			}
			if loc != "" {
				checkSums(t, be, loc)
			}
		})
	}
}
