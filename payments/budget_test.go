package payments

import (
	"strings"
	"testing"
	"time"
)

// TestBudgetCheckScopes: each scope accepts a payment that reaches its limit
// exactly and refuses one atomic unit more, naming itself.
func TestBudgetCheckScopes(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 4, 5, 0, time.UTC)
	r := Reservation{Tool: "weather", Host: "api.example.com:443", Session: "s1", Network: "eip155:8453", NetworkName: "Base", Amount: 10}
	tests := []struct {
		name    string
		b       Budget
		r       Reservation
		spent   Spent
		scope   string
		names   []string // in the message
		setting string
	}{
		{"per tool", Budget{PerTool: 100}, r, Spent{Tool: 90}, ScopeTool, []string{"the budget of tool weather", "never resets"}, "budget.per_tool"},
		{"entry's own budget", Budget{PerTool: 1000}, withToolBudget(r, 100), Spent{Tool: 90}, ScopeTool, []string{"tool weather", "the budget of the weather entry"}, "the budget of the weather entry"},
		{"per host", Budget{PerHost: 100}, r, Spent{Host: 90}, ScopeHost, []string{"per-host budget for api.example.com:443", "never resets"}, "budget.per_host"},
		{"per session", Budget{PerSession: 100}, r, Spent{Session: 90}, ScopeSession, []string{"per-session budget", "resets when this session ends"}, "budget.per_session"},
		{"per network", Budget{PerNetwork: map[Network]Amount{"eip155:8453": 100}}, r, Spent{Network: 90}, ScopeNetwork, []string{"network eip155:8453 (Base)", "never resets"}, "budget.per_network[eip155:8453]"},
		{"per day", Budget{PerDay: 100}, r, Spent{Day: 90, DayOldest: now.Add(-time.Hour)}, ScopeDay, []string{"per-day budget (rolling 24 hours)", "first at 2026-11-24T14:04:05Z"}, "budget.per_day"},
		{"total", Budget{Total: 100}, r, Spent{Total: 90}, ScopeTotal, []string{"the total budget", "never resets"}, "budget.total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e := tt.b.Check(tt.r, tt.spent, now); e != nil {
				t.Fatalf("at the limit: %v", e)
			}
			over := tt.r
			over.Amount++
			e := tt.b.Check(over, tt.spent, now)
			if e == nil {
				t.Fatal("one unit over the limit was accepted")
			}
			if e.Code != CodeOverBudget || e.Charged != NotCharged || e.Over == nil || e.Over.Scope != tt.scope || e.Over.Setting != tt.setting {
				t.Fatalf("refusal %+v over %+v", e, e.Over)
			}
			if e.Over.Counted != 90 || e.Over.Limit != 100 || e.Over.Price != 11 || e.Over.Left() != 10 {
				t.Fatalf("over %+v", e.Over)
			}
			want := append([]string{"0.00009 USDC counted", "0.0001 USDC limit", "0.00001 USDC left", "costs 0.000011 USDC", "Nothing was signed", tt.setting}, tt.names...)
			for _, w := range want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message lacks %q: %s", w, e.Message)
				}
			}
		})
	}
}

func withToolBudget(r Reservation, a Amount) Reservation { r.ToolBudget = a; return r }

// TestBudgetCheckOrder: with several budgets exceeded, the first in the
// order tool, host, session, network, day, total is named.
func TestBudgetCheckOrder(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := Budget{Total: 10, PerDay: 10, PerSession: 10, PerTool: 10, PerHost: 10, PerNetwork: map[Network]Amount{"eip155:8453": 10}}
	r := Reservation{Network: "eip155:8453", Amount: 11}
	order := []string{ScopeTool, ScopeHost, ScopeSession, ScopeNetwork, ScopeDay, ScopeTotal}
	for i, want := range order {
		e := b.Check(r, Spent{}, now)
		if e == nil || e.Over.Scope != want {
			t.Fatalf("step %d: %v, want %s", i, e, want)
		}
		if !strings.Contains(e.Message, "alone is more than the whole limit") {
			t.Fatalf("message %q", e.Message)
		}
		switch want { // lift that limit and look again
		case ScopeTool:
			b.PerTool = 0
		case ScopeHost:
			b.PerHost = 0
		case ScopeSession:
			b.PerSession = 0
		case ScopeNetwork:
			b.PerNetwork = nil
		case ScopeDay:
			b.PerDay = 0
		case ScopeTotal:
			b.Total = 0
		}
	}
	if e := b.Check(r, Spent{}, now); e != nil {
		t.Fatalf("no limits: %v", e)
	}
}

func TestBudgetCheckOverflow(t *testing.T) {
	b := Budget{Total: MaxAmount}
	if e := b.Check(Reservation{Amount: 1}, Spent{Total: MaxAmount}, time.Now()); e == nil || e.Over.Scope != ScopeTotal {
		t.Fatalf("an overflowing sum was accepted: %v", e)
	}
	if e := b.Check(Reservation{Amount: 1}, Spent{Total: MaxAmount - 1}, time.Now()); e != nil {
		t.Fatalf("the last unit was refused: %v", e)
	}
}

// TestCalendarDay: a calendar day in Paris starts at midnight Paris time; a
// refusal at 23:59 there says it resets at midnight, a minute later.
func TestCalendarDay(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	w := DayWindow{Calendar: true, Location: paris}
	before := time.Date(2026, 11, 23, 22, 59, 0, 0, time.UTC) // 23:59 in Paris (UTC+1)
	after := before.Add(2 * time.Minute)                      // 00:01 on the 24th
	if got, want := w.Start(before), time.Date(2026, 11, 23, 0, 0, 0, 0, paris); !got.Equal(want) {
		t.Fatalf("start before midnight %v, want %v", got, want)
	}
	if got, want := w.Start(after), time.Date(2026, 11, 24, 0, 0, 0, 0, paris); !got.Equal(want) {
		t.Fatalf("start after midnight %v, want %v", got, want)
	}
	if got := w.Start(after).UTC(); !got.Equal(time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC)) {
		t.Fatalf("Paris midnight in UTC %v", got)
	}
	b := Budget{PerDay: 100, Day: w}
	e := b.Check(Reservation{Amount: 20}, Spent{Day: 90}, before)
	if e == nil || e.Over.Scope != ScopeDay {
		t.Fatalf("refusal %v", e)
	}
	for _, want := range []string{"per-day budget (calendar day in Europe/Paris)", "resets at 2026-11-24T00:00:00+01:00", "budget.per_day"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message lacks %q: %s", want, e.Message)
		}
	}
	if !e.Over.Resets.Equal(after.Add(-time.Minute)) {
		t.Fatalf("resets %v", e.Over.Resets)
	}
	// A DST change: the day of the switch to summer time has 23 hours.
	spring := time.Date(2026, 3, 29, 12, 0, 0, 0, paris)
	if d := w.Next(spring).Sub(w.Start(spring)); d != 23*time.Hour {
		t.Fatalf("29 March 2026 in Paris lasts %v", d)
	}
	if (DayWindow{Calendar: true}).String() != "calendar day in UTC" || (DayWindow{}).String() != "rolling 24 hours" {
		t.Fatal("window names")
	}
}

func TestRollingDay(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	w := DayWindow{}
	if got := w.Start(now); !got.Equal(now.Add(-24 * time.Hour)) {
		t.Fatalf("start %v", got)
	}
	if !w.Next(now).IsZero() {
		t.Fatal("a rolling window has no reset time")
	}
	b := Budget{PerDay: 100}
	e := b.Check(Reservation{Amount: 20}, Spent{Day: 90}, now)
	if e == nil || !strings.Contains(e.Message, "frees up as payments leave the 24-hour window") || !e.Over.Resets.IsZero() {
		t.Fatalf("without the oldest payment: %v", e)
	}
	e = b.Check(Reservation{Amount: 20}, Spent{Day: 90, DayOldest: now.Add(-23 * time.Hour)}, now)
	if e == nil || !strings.Contains(e.Message, "first at 2026-11-23T13:00:00Z") || !e.Over.Resets.Equal(now.Add(time.Hour)) {
		t.Fatalf("with the oldest payment: %v", e)
	}
}

func TestPolicyDefaultPerCall(t *testing.T) {
	p := Policy{}
	if c, _ := p.cap(Limit{}); c != DefaultPerCall {
		t.Fatalf("default cap = %d", c)
	}
}
