package ledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// TestReserveSigned: reserving and recording the signed payment in one step
// leaves a signed row with the exact header; a budget refusal calls no
// signer; a signer's error leaves nothing behind (no row, nothing counted).
// Both ledgers agree.
func TestReserveSigned(t *testing.T) {
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) {
			l := implOf(t, name, payments.Budget{Total: 1500}, time.Now)
			sl, ok := l.(payments.SigningLedger)
			if !ok {
				t.Fatalf("%T is not a SigningLedger", l)
			}
			ctx := context.Background()
			s := signed(time.Now().Add(time.Minute))
			calls := 0
			sign := func() (payments.Signed, error) { calls++; return s, nil }

			id, err := sl.ReserveSigned(ctx, res("weather", 1000), sign)
			if err != nil || calls != 1 {
				t.Fatalf("ReserveSigned: %v (signer called %d times)", err, calls)
			}
			if sum, _ := l.Summary(ctx); sum.Pending != 1000 {
				t.Fatalf("pending %d, want 1000", sum.Pending)
			}
			if err := l.MarkSigned(ctx, id, s); err == nil {
				t.Fatal("the row could be signed a second time")
			}
			if sql, ok := l.(*ledger.Ledger); ok {
				row, err := sql.Get(ctx, id)
				if err != nil || row.State != payments.StateSigned || row.Payload != s.Payload || row.Nonce != s.Proof.ID || row.Header != s.Header {
					t.Fatalf("row %+v (%v)", row, err)
				}
			}

			// Over budget (1000 + 1000 > 1500): the signer is not called.
			_, err = sl.ReserveSigned(ctx, res("weather", 1000), sign)
			if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodeOverBudget || calls != 1 {
				t.Fatalf("over budget: %v, signer called %d times", err, calls)
			}

			// A signer that fails: nothing recorded, nothing counted.
			boom := errors.New("no key")
			r := res("weather", 400)
			r.CallID = "call_signer_fails_000001"
			if _, err := sl.ReserveSigned(ctx, r, func() (payments.Signed, error) { return payments.Signed{}, boom }); !errors.Is(err, boom) {
				t.Fatalf("signer error: %v", err)
			}
			if sum, _ := l.Summary(ctx); sum.Pending != 1000 {
				t.Fatalf("after a failed signer: pending %d, want 1000", sum.Pending)
			}
			// The call id is free again in SQLite (the insert rolled back).
			if sql, ok := l.(*ledger.Ledger); ok {
				if _, err := sql.ReserveSigned(ctx, r, sign); err != nil {
					t.Fatalf("the call id of a rolled-back reservation: %v", err)
				}
			}
		})
	}
}

// TestReserveSignedPrincipal: a payment reserved and signed in one step
// names its principal and counts against the principal's own budgets, as
// one reserved then signed does (PostgreSQL inserts it signed, in one
// statement of its own).
func TestReserveSignedPrincipal(t *testing.T) {
	b := payments.Budget{Total: 10_000, Principals: map[string]payments.PrincipalBudget{"team-a": {Total: 1500, Setting: "principals[0] (team-a)"}}}
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) {
			l, be, loc := implAt(t, name, b, time.Now)
			sl := l.(payments.SigningLedger)
			ctx := context.Background()
			sign := func() (payments.Signed, error) { return signed(time.Now().Add(time.Minute)), nil }
			id, err := sl.ReserveSigned(ctx, byPrincipal("team-a", "weather", 1000), sign)
			must(t, err)
			if _, err := sl.ReserveSigned(ctx, byPrincipal("team-a", "search", 501), sign); overScope(t, err) != payments.ScopePrincipalTotal {
				t.Fatal("team-a past its total")
			}
			if _, err := sl.ReserveSigned(ctx, byPrincipal("team-a", "search", 500), sign); err != nil {
				t.Fatalf("team-a's last 500 units: %v", err)
			}
			sp, err := l.Spent(ctx, byPrincipal("team-a", "weather", 0))
			must(t, err)
			if sp.Principal != 1500 || sp.PrincipalTool != 1000 {
				t.Fatalf("team-a spent %+v", sp)
			}
			if loc == "" {
				return
			}
			row, err := l.(*ledger.Ledger).Get(ctx, id)
			if err != nil || row.Principal != "team-a" || row.State != payments.StateSigned {
				t.Fatalf("row %+v (%v)", row, err)
			}
			checkSums(t, be, loc)
		})
	}
}

// TestReserveSignedUpTo: an upto payment reserved and signed in one step
// keeps its maximum (PostgreSQL inserts it signed, in one statement of its
// own), so a settlement for less gives the rest back, as for one reserved
// then signed.
func TestReserveSignedUpTo(t *testing.T) {
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) {
			l, be, loc := implAt(t, name, payments.Budget{Total: 1_000_000}, func() time.Time { return t0 })
			ctx := context.Background()
			r := uptoRes("llm", 10_000)
			id, err := l.(payments.SigningLedger).ReserveSigned(ctx, r, func() (payments.Signed, error) { return signed(t0.Add(time.Minute)), nil })
			must(t, err)
			must(t, l.Settle(ctx, id, payments.Receipt{Amount: 1_858, Maximum: 10_000, State: "settled"}))
			if s := spentOn(t, l, r); s.Total != 1_858 || s.Tool != 1_858 {
				t.Fatalf("after settling 1858 of 10000: %+v", s)
			}
			if loc == "" {
				return
			}
			row, err := l.(*ledger.Ledger).Get(ctx, id)
			if err != nil || row.Authorized != 10_000 || row.Amount != 1_858 {
				t.Fatalf("row %+v (%v)", row, err)
			}
			checkSums(t, be, loc)
		})
	}
}
