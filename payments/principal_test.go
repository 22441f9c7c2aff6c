package payments

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPrincipalBudgetScopes: a principal's own budgets (per tool, per day,
// total) accept a payment that reaches each limit exactly and refuse one
// atomic unit more, naming the principal and where its budget is set.
func TestPrincipalBudgetScopes(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	r := Reservation{Tool: "weather", Principal: "team-a", Network: "eip155:8453", Amount: 10}
	pb := func(p PrincipalBudget) Budget {
		p.Setting = "principals[0] (team-a)"
		return Budget{Principals: map[string]PrincipalBudget{"team-a": p}}
	}
	tests := []struct {
		name    string
		b       Budget
		spent   Spent
		scope   string
		words   []string
		setting string
	}{
		{"per tool", pb(PrincipalBudget{PerTool: 100}), Spent{PrincipalTool: 90}, ScopePrincipalTool,
			[]string{"the budget of principal team-a for tool weather", "never resets"}, "principals[0] (team-a).budget.per_tool"},
		{"per day", pb(PrincipalBudget{PerDay: 100}), Spent{PrincipalDay: 90, PrincipalDayOldest: now.Add(-time.Hour)}, ScopePrincipalDay,
			[]string{"the per-day budget of principal team-a (rolling 24 hours)", "first at 2026-12-07T11:00:00Z"}, "principals[0] (team-a).budget.per_day"},
		{"total", pb(PrincipalBudget{Total: 100}), Spent{Principal: 90}, ScopePrincipalTotal,
			[]string{"the total budget of principal team-a", "never resets"}, "principals[0] (team-a).budget.total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e := tt.b.Check(r, tt.spent, now); e != nil {
				t.Fatalf("at the limit: %v", e)
			}
			over := r
			over.Amount++
			e := tt.b.Check(over, tt.spent, now)
			if e == nil {
				t.Fatal("one unit over the principal's limit was accepted")
			}
			if e.Code != CodeOverBudget || e.Over == nil || e.Over.Scope != tt.scope || e.Over.Key != "team-a" || e.Over.Setting != tt.setting {
				t.Fatalf("refusal %+v over %+v", e, e.Over)
			}
			for _, w := range append(tt.words, "0.00009 USDC counted", "0.00001 USDC left", tt.setting) {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message lacks %q: %s", w, e.Message)
				}
			}
			// Another principal, or none, is not held by team-a's budget.
			for _, who := range []string{"team-b", ""} {
				other := over
				other.Principal = who
				if e := tt.b.Check(other, Spent{}, now); e != nil {
					t.Errorf("principal %q refused by team-a's budget: %v", who, e)
				}
			}
		})
	}
}

// TestPrincipalBudgetOrder: the principal's budgets come after the session's
// and before the network's, day's and total's.
func TestPrincipalBudgetOrder(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := Budget{Total: 10, PerDay: 10, PerSession: 10, PerNetwork: map[Network]Amount{"eip155:8453": 10},
		Principals: map[string]PrincipalBudget{"p": {Total: 10, PerDay: 10, PerTool: 10}}}
	r := Reservation{Network: "eip155:8453", Principal: "p", Amount: 11}
	for i, want := range []string{ScopeSession, ScopePrincipalTool, ScopePrincipalDay, ScopePrincipalTotal, ScopeNetwork} {
		e := b.Check(r, Spent{}, now)
		if e == nil || e.Over.Scope != want {
			t.Fatalf("step %d: %v, want %s", i, e, want)
		}
		p := b.Principals["p"]
		switch want {
		case ScopeSession:
			b.PerSession = 0
		case ScopePrincipalTool:
			p.PerTool = 0
		case ScopePrincipalDay:
			p.PerDay = 0
		case ScopePrincipalTotal:
			p.Total = 0
		}
		b.Principals["p"] = p
	}
}

// TestPrincipalBudgetOtherAsset: a principal's budgets are in USDC; a
// payment in a declared asset by a principal that has budgets is refused
// (it could not be counted), one by a principal without budgets is not.
func TestPrincipalBudgetOtherAsset(t *testing.T) {
	eurc := Currency{Symbol: "EURC", Decimals: 6, Budget: "eip155:8453/0xabc"}
	b := Budget{Assets: map[string]AssetBudget{eurc.Budget: {Currency: eurc, Total: 1000}},
		Principals: map[string]PrincipalBudget{"capped": {PerDay: 100, Setting: "principals[1] (capped)"}, "free": {}}}
	e := b.Check(Reservation{Currency: eurc, Principal: "capped", Amount: 1}, Spent{}, time.Now())
	if e == nil || e.Code != CodeNotAllowed || e.Charged != NotCharged || !strings.Contains(e.Message, "principal capped") ||
		!strings.Contains(e.Message, "EURC") || !strings.Contains(e.Message, "principals[1] (capped)") {
		t.Fatalf("a payment in EURC by a principal with USDC budgets: %v", e)
	}
	if e := b.Check(Reservation{Currency: eurc, Principal: "free", Amount: 1}, Spent{}, time.Now()); e != nil {
		t.Fatalf("a principal without budgets: %v", e)
	}
}

// TestPrincipalFromContext: a call's principal comes from its context, else
// the Client's; the reservation records it.
func TestPrincipalFromContext(t *testing.T) {
	c := &Client{Principal: "default"}
	ctx := context.Background()
	if got := c.PrincipalFor(ctx); got != "default" {
		t.Fatalf("no principal in ctx: %q", got)
	}
	if got := c.PrincipalFor(WithPrincipal(ctx, "")); got != "default" {
		t.Fatalf("empty principal in ctx: %q", got)
	}
	ctx = WithPrincipal(ctx, "team-a")
	if PrincipalFrom(ctx) != "team-a" || c.PrincipalFor(ctx) != "team-a" {
		t.Fatalf("principal in ctx: %q %q", PrincipalFrom(ctx), c.PrincipalFor(ctx))
	}
	if r := c.reservation(ctx, Limit{}, &Option{}, "GET http://seller.test/x", "seller.test:80"); r.Principal != "team-a" {
		t.Fatalf("reservation principal %q", r.Principal)
	}
}

// TestMemoryLedgerPrincipals: N goroutines of two principals never take
// more than a principal's own total, and one principal at its limit leaves
// the other paying.
func TestMemoryLedgerPrincipals(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := NewMemoryLedger(Budget{Total: 1000, Principals: map[string]PrincipalBudget{"a": {Total: 100}, "b": {PerDay: 50, PerTool: 49}}},
		func() time.Time { return now })
	var okA, okB atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, ok := "a", &okA
			if i%2 == 1 {
				p, ok = "b", &okB
			}
			if _, err := l.Reserve(context.Background(), Reservation{Tool: "t", Principal: p, Amount: 7}); err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if okA.Load() != 100/7 || okB.Load() != 49/7 {
		t.Fatalf("a paid %d×7 (want %d), b paid %d×7 (want %d)", okA.Load(), 100/7, okB.Load(), 49/7)
	}
	s, err := l.Spent(context.Background(), Reservation{Tool: "t", Principal: "b"})
	if err != nil || s.Principal != 49 || s.PrincipalDay != 49 || s.PrincipalTool != 49 || s.Total != 7*(100/7+49/7) {
		t.Fatalf("spent for b: %+v %v", s, err)
	}
	// b's per-tool budget is spent; another tool still has its day.
	if _, err := l.Reserve(context.Background(), Reservation{Tool: "u", Principal: "b", Amount: 1}); err != nil {
		t.Fatalf("b on another tool: %v", err)
	}
	if _, err := l.Reserve(context.Background(), Reservation{Tool: "u", Principal: "b", Amount: 1}); err == nil {
		t.Fatal("b past its per-day budget was accepted")
	}
	if _, err := l.Reserve(context.Background(), Reservation{Tool: "t", Principal: "c", Amount: 7}); err != nil {
		t.Fatalf("a principal without budgets: %v", err)
	}
}
