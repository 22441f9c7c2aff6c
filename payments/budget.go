package payments

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Budget holds the operator's spending limits. They come from registry.yaml;
// no tool and no model can change them. A zero limit means "no limit".
//
// The limits below Assets are in USDC and count only payments in USDC (the
// contracts x402-mcp knows); a payment in a declared asset counts only
// against that asset's budgets (Assets) and its entry's own budget, in that
// asset's units, and one in an asset no budget names is refused. TipPerDay is
// in the tipping asset's currency (TipCurrency).
//
// A payment counts against every budget it touches from the moment it is
// reserved: reserved, signed, settled, unknown and rejected payments count
// (a payment the seller refused counts until reconciliation proves its
// authorization unused on chain). Released payments (never signed, never
// sent, or proven unused) do not count.
type Budget struct {
	// Total caps everything the ledger ever counted.
	Total Amount
	// PerDay caps what counts within the day window (see Day).
	PerDay Amount
	// Day says how "a day" is measured for PerDay.
	Day DayWindow
	// PerSession caps what one Reservation.Session has counted.
	PerSession Amount
	// PerTool is the default lifetime cap of one tool (catalog entry); an
	// entry's own budget (Reservation.ToolBudget) overrides it.
	PerTool Amount
	// PerHost caps what one upstream host (host:port) has counted, lifetime.
	PerHost Amount
	// PerNetwork caps what each network has counted, lifetime.
	PerNetwork map[Network]Amount
	// TipPerDay caps what tips (Reservation.Kind KindTip) count within the
	// day window (Day), on top of every other budget: registry.yaml's
	// tipping.per_day.
	TipPerDay Amount
	// TipCurrency is the currency of TipPerDay, the tipping asset's; the
	// zero value is USDC.
	TipCurrency Currency
	// Assets are the budgets of the declared assets, by Currency.Budget.
	Assets map[string]AssetBudget
	// Principals are the budgets of the HTTP transport's principals, by
	// name (Reservation.Principal), on top of every other budget.
	Principals map[string]PrincipalBudget
}

// PrincipalBudget is one principal's own budgets, on top of the gateway's:
// in USDC, counting that principal's USDC payments only. A principal that
// has any of them may not pay in another asset (it could not be counted).
// A zero limit means none.
type PrincipalBudget struct {
	// Total caps everything the principal ever counted.
	Total Amount
	// PerDay caps what the principal counted within the day window
	// (Budget.Day).
	PerDay Amount
	// PerTool caps what the principal counted for one tool, lifetime.
	PerTool Amount
	// Setting names where the principal is configured, e.g.
	// "principals.yaml: principals[0] (team-a)", for messages.
	Setting string
}

// any says whether the principal has a budget of its own.
func (p PrincipalBudget) any() bool { return p.Total != 0 || p.PerDay != 0 || p.PerTool != 0 }

// DayLimit returns the per-day budget of currency c: PerDay for USDC, the
// asset's own for a declared one (zero: none).
func (b Budget) DayLimit(c Currency) Amount {
	if c.IsUSDC() {
		return b.PerDay
	}
	return b.Assets[c.Budget].PerDay
}

// AssetBudget is the budget of one declared asset (registry.yaml's
// assets[i].budget), in its own units, over the same day window (Budget.Day)
// as USDC's. Its Total must be set: no payment in an asset goes unbounded.
type AssetBudget struct {
	Currency Currency
	// Total caps everything the ledger ever counted in the asset.
	Total Amount
	// PerDay caps what counts in the asset within the day window.
	PerDay Amount
	// Setting names where registry.yaml declares the asset ("assets[0]"),
	// for messages.
	Setting string
}

// DayWindow says how the per-day budget measures a day. The zero value is a
// rolling window: the last 24 hours.
type DayWindow struct {
	// Calendar: midnight to midnight in Location instead of the last 24 hours.
	Calendar bool
	// Location of the calendar day; nil means UTC.
	Location *time.Location
}

func (w DayWindow) loc() *time.Location {
	if w.Location == nil {
		return time.UTC
	}
	return w.Location
}

// Start returns when the day window containing now began: the last midnight
// in Location for a calendar day, now minus 24 hours for a rolling window.
func (w DayWindow) Start(now time.Time) time.Time {
	if !w.Calendar {
		return now.Add(-24 * time.Hour)
	}
	t := now.In(w.loc())
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, w.loc())
}

// Next returns when a calendar day window resets (the next midnight in
// Location), or the zero time for a rolling window, which frees up payment by
// payment as each leaves the window.
func (w DayWindow) Next(now time.Time) time.Time {
	if !w.Calendar {
		return time.Time{}
	}
	t := now.In(w.loc())
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, w.loc())
}

// String names the window: "rolling 24 hours" or "calendar day in Europe/Paris".
func (w DayWindow) String() string {
	if !w.Calendar {
		return "rolling 24 hours"
	}
	return "calendar day in " + w.loc().String()
}

// Spent is what already counts against each budget scope a reservation
// touches, as a ledger computed it.
type Spent struct {
	Total   Amount // everything counted
	Day     Amount // counted within the current day window
	Session Amount // counted for the reservation's session
	Tool    Amount // counted for the reservation's tool
	Host    Amount // counted for the reservation's upstream host
	Network Amount // counted on the reservation's network
	// DayOldest is when the oldest payment counted in Day was reserved (zero
	// when none): with a rolling window, the budget frees up 24 hours later.
	DayOldest time.Time
	// TipDay is what tips count within the current day window, and
	// TipDayOldest when the oldest of them was reserved. Ledgers compute
	// them for tip reservations only (zero otherwise).
	TipDay       Amount
	TipDayOldest time.Time
	// Principal, PrincipalDay and PrincipalTool are what the reservation's
	// principal counted in all, within the day window, and for the
	// reservation's tool; PrincipalDayOldest is when the oldest of the
	// principal's payments in the day window was reserved (zero when none,
	// or when not computed).
	Principal          Amount
	PrincipalDay       Amount
	PrincipalTool      Amount
	PrincipalDayOldest time.Time
}

// Budget scopes, the values of OverBudget.Scope, in the order Check tries them.
const (
	ScopeTool    = "tool"
	ScopeHost    = "host"
	ScopeSession = "session"
	ScopeNetwork = "network"
	ScopeDay     = "day"
	ScopeTotal   = "total"
	// ScopeTipDay is the tip budget (tipping.per_day), checked for tips only,
	// before every other scope.
	ScopeTipDay = "tip_day"
	// The reservation's principal's own budgets (Budget.Principals): per
	// tool, per day and total, checked after the session's.
	ScopePrincipalTool  = "principal_tool"
	ScopePrincipalDay   = "principal_day"
	ScopePrincipalTotal = "principal_total"
)

// OverBudget details a CodeOverBudget refusal, for tool results' metadata.
type OverBudget struct {
	// Scope is one of the Scope constants.
	Scope string `json:"scope"`
	// Key is the tool, host, session, network or principal the budget
	// applies to; empty for the day and total budgets.
	Key string `json:"key,omitempty"`
	// Name is how the message names the budget, e.g. "the per-day budget
	// (calendar day in Europe/Paris)".
	Name string `json:"name"`
	// Counted is what already counted against the budget; Limit is the
	// budget; Price is the payment that was refused.
	Counted Amount `json:"counted"`
	Limit   Amount `json:"limit"`
	Price   Amount `json:"price"`
	// Resets is when the budget resets or starts to free up; zero when it
	// never does, or when it resets with the session.
	Resets time.Time `json:"resets,omitzero"`
	// Setting is the registry.yaml setting that raises the limit.
	Setting string `json:"setting"`
	// Currency is what Counted, Limit and Price are in: JSON shows its
	// symbol ("asset") and decimals, and the amounts as decimals of it.
	Currency Currency `json:"-"`
}

// MarshalJSON writes the amounts as decimal figures of the budget's
// currency, named by "asset" and "decimals".
func (o OverBudget) MarshalJSON() ([]byte, error) {
	cur := o.Currency.or()
	return json.Marshal(struct {
		Scope    string    `json:"scope"`
		Key      string    `json:"key,omitempty"`
		Name     string    `json:"name"`
		Asset    string    `json:"asset"`
		Decimals int       `json:"decimals"`
		Counted  string    `json:"counted"`
		Limit    string    `json:"limit"`
		Price    string    `json:"price"`
		Resets   time.Time `json:"resets,omitzero"`
		Setting  string    `json:"setting"`
	}{o.Scope, o.Key, o.Name, cur.Symbol, cur.Decimals, cur.Decimal(o.Counted), cur.Decimal(o.Limit), cur.Decimal(o.Price), o.Resets, o.Setting})
}

// Left is what the budget still allows.
func (o *OverBudget) Left() Amount {
	if o.Counted >= o.Limit {
		return 0
	}
	return o.Limit - o.Counted
}

// Check returns nil when paying r.Amount keeps every budget r touches within
// its limit, given what already counts (s); else a *Error with
// CodeOverBudget, NotCharged and Over set, naming the first budget r would
// exceed, in this order: tool, host, session, the principal's per-tool,
// per-day and total budgets (Principals[r.Principal]), network, day, total. (The
// per-call cap is the Policy's, checked before any reservation.) A tip
// (r.Kind KindTip) is first checked against TipPerDay, and not against the
// tool and host budgets. The message
// names the budget, what it counted, its limit, what is left, the price, and
// when the budget resets.
//
// A payment in a declared asset (r.Currency other than USDC) is checked
// against that asset's budgets only (Assets: its day and total budgets) and
// its entry's own budget, in its units; s must hold what counts in that
// currency only. One in an asset no budget names is refused (CodeNotAllowed),
// and so is one by a principal that has budgets of its own (they are in
// USDC).
func (b Budget) Check(r Reservation, s Spent, now time.Time) *Error {
	cur := r.Currency.or()
	pb := b.Principals[r.Principal]
	if !cur.IsUSDC() && pb.any() {
		return &Error{Code: CodeNotAllowed, Charged: NotCharged, Message: fmt.Sprintf(
			"principal %s has budgets of its own, in USDC, which cannot count %s: the operator must remove its budget (%s) or leave the tools priced in %s out of its tools. Nothing was signed.",
			quoteName(r.Principal), cur, pb.Setting, cur.Symbol)}
	}
	pTool := pb.PerTool
	toolLimit, toolSetting := b.PerTool, "budget.per_tool"
	if r.ToolBudget != 0 {
		toolLimit, toolSetting = r.ToolBudget, fmt.Sprintf("the budget of the %s entry", r.Tool)
	}
	netLimit := b.PerNetwork[r.Network]
	hostLimit, tipLimit := b.PerHost, Amount(0)
	if r.IsTip() {
		// A tip has its own budget instead of a tool's, and no upstream
		// host (the facilitator only relays it).
		toolLimit, hostLimit, pTool = 0, 0, 0
		if b.TipCurrency.or() == cur {
			tipLimit = b.TipPerDay
		}
	}
	scopes := []budgetScope{
		{ScopeTipDay, "", "the daily tip budget (" + b.Day.String() + ")", tipLimit, s.TipDay, "tipping.per_day"},
		{ScopeTool, r.Tool, "the budget of tool " + quoteName(r.Tool), toolLimit, s.Tool, toolSetting},
		{ScopeHost, r.Host, "the per-host budget for " + quoteName(r.Host), hostLimit, s.Host, "budget.per_host"},
		{ScopeSession, r.Session, "the per-session budget", b.PerSession, s.Session, "budget.per_session"},
		{ScopePrincipalTool, r.Principal, "the budget of principal " + quoteName(r.Principal) + " for tool " + quoteName(r.Tool), pTool, s.PrincipalTool, pb.Setting + ".budget.per_tool"},
		{ScopePrincipalDay, r.Principal, "the per-day budget of principal " + quoteName(r.Principal) + " (" + b.Day.String() + ")", pb.PerDay, s.PrincipalDay, pb.Setting + ".budget.per_day"},
		{ScopePrincipalTotal, r.Principal, "the total budget of principal " + quoteName(r.Principal), pb.Total, s.Principal, pb.Setting + ".budget.total"},
		{ScopeNetwork, string(r.Network), networkBudgetName(r.Network, r.NetworkName), netLimit, s.Network, "budget.per_network[" + string(r.Network) + "]"},
		{ScopeDay, "", "the per-day budget (" + b.Day.String() + ")", b.PerDay, s.Day, "budget.per_day"},
		{ScopeTotal, "", "the total budget", b.Total, s.Total, "budget.total"},
	}
	if !cur.IsUSDC() {
		ab, ok := b.Assets[cur.Budget]
		if !ok {
			return &Error{Code: CodeNotAllowed, Charged: NotCharged, Message: fmt.Sprintf(
				"no budget counts %s: the operator must declare it under assets: in registry.yaml, with its budget.total. Nothing was signed.", cur)}
		}
		// USDC's budgets do not count another asset: only the asset's own
		// (and its entry's, or the tip budget when tips are in it) do.
		scopes = []budgetScope{
			scopes[0],
			{ScopeTool, r.Tool, "the budget of tool " + quoteName(r.Tool), r.ToolBudget, s.Tool, toolSetting},
			{ScopeDay, "", "the per-day budget of " + cur.Symbol + " (" + b.Day.String() + ")", ab.PerDay, s.Day, ab.Setting + ".budget.per_day"},
			{ScopeTotal, "", "the total budget of " + cur.Symbol, ab.Total, s.Total, ab.Setting + ".budget.total"},
		}
		if r.IsTip() {
			scopes[1].limit = 0
		}
	}
	for _, sc := range scopes {
		if sc.limit == 0 {
			continue
		}
		if after, ok := sc.counted.AddChecked(r.Amount); ok && after <= sc.limit {
			continue
		}
		o := &OverBudget{Scope: sc.scope, Key: sc.key, Name: sc.name, Counted: sc.counted, Limit: sc.limit, Price: r.Amount, Setting: sc.setting, Currency: cur}
		when := b.resets(o, s, now)
		what := "this payment costs"
		if r.IsTip() {
			what = "this tip is"
		}
		msg := fmt.Sprintf("over budget: %s has %s counted of its %s limit (%s left), and %s %s. Nothing was signed. %s",
			o.Name, cur.Format(o.Counted), cur.Format(o.Limit), cur.Format(o.Left()), what, cur.Format(o.Price), when)
		if o.Scope == ScopeTipDay {
			msg += " Counted: every tip reserved in the window that is settled, pending, unknown or refused (a refused tip counts until the chain proves it unused)."
		}
		if o.Price > o.Limit {
			msg += " This payment alone is more than the whole limit: waiting will not help."
		}
		return &Error{Code: CodeOverBudget, Charged: NotCharged, Over: o, Message: msg}
	}
	return nil
}

// budgetScope is one limit Check tries.
type budgetScope struct {
	scope, key, name string
	limit, counted   Amount
	setting          string
}

// resets sets o.Resets and says in words when the budget frees up.
func (b Budget) resets(o *OverBudget, s Spent, now time.Time) string {
	raise := "the operator can raise " + o.Setting + " in registry.yaml."
	switch o.Scope {
	case ScopePrincipalTool, ScopePrincipalDay, ScopePrincipalTotal:
		raise = "the operator can raise " + o.Setting + "."
	}
	switch o.Scope {
	case ScopeSession:
		return "It resets when this session ends; " + raise
	case ScopeDay, ScopeTipDay, ScopePrincipalDay:
		if b.Day.Calendar {
			o.Resets = b.Day.Next(now)
			return "It resets at " + o.Resets.Format(time.RFC3339) + "; or " + raise
		}
		oldest, what := s.DayOldest, "payments"
		switch o.Scope {
		case ScopeTipDay:
			oldest, what = s.TipDayOldest, "tips"
		case ScopePrincipalDay:
			oldest, what = s.PrincipalDayOldest, "its payments"
		}
		if oldest.IsZero() {
			return "It frees up as " + what + " leave the 24-hour window; or " + raise
		}
		o.Resets = oldest.Add(24 * time.Hour).In(b.Day.loc())
		return "It frees up as " + what + " leave the 24-hour window, first at " + o.Resets.Format(time.RFC3339) + "; or " + raise
	default:
		return "It never resets: " + raise
	}
}

func quoteName(s string) string {
	if s == "" {
		return `""`
	}
	return Sanitize(s, 80)
}

func networkBudgetName(n Network, name string) string {
	if name != "" && !strings.EqualFold(name, string(n)) {
		return fmt.Sprintf("the budget for network %s (%s)", n, name)
	}
	return "the budget for network " + string(n)
}
