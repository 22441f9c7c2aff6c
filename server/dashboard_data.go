package server

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/tools"
)

// state reads everything the page shows.
func (d *dashboard) state(ctx context.Context, win dashWindow) (*DashboardState, error) {
	now := d.now()
	since, until := win.bounds(now)
	st := &DashboardState{GeneratedAt: now.UTC(), ReadOnly: d.readOnly, Reconciler: d.reconciler(),
		Window: DashboardWindow{Name: win.name, Since: since, Until: until, Bucket: win.per}}
	for _, w := range dashWindows {
		st.Window.Windows = append(st.Window.Windows, w.name)
	}
	reg := d.catalog()
	sum, err := d.books.Summary(ctx)
	if err != nil {
		return nil, err
	}
	if st.Budgets, st.BudgetsNotShown, err = d.budgets(ctx, sum, reg); err != nil {
		return nil, err
	}
	st.Spend = []SpendChart{}
	for _, by := range chartBy {
		charts, err := d.spendCharts(ctx, by, win, since, until)
		if err != nil {
			return nil, err
		}
		st.Spend = append(st.Spend, charts...)
	}
	rows, err := d.books.List(ctx, ledger.Filter{Limit: dashRecent})
	if err != nil {
		return nil, err
	}
	st.Recent = make([]PaymentRow, 0, len(rows))
	for _, r := range rows {
		st.Recent = append(st.Recent, paymentRow(d.families(), r))
	}
	if st.Open, st.OpenCount, err = d.open(ctx, reg, now); err != nil {
		return nil, err
	}
	return st, nil
}

func (d *dashboard) reconciler() string {
	switch {
	case d.readOnly:
		return "This dashboard only reads the ledger. Open payments are resolved against the chain by a running `x402-mcp serve` " +
			"(in the background) or by `x402-mcp ledger reconcile`."
	case d.reconcileEvery > 0:
		return fmt.Sprintf("This server reconciles open payments against the chain every %s, about a second after a payment is refused or of "+
			"unknown outcome, and again once its authorization expires.", d.reconcileEvery)
	default:
		return "This server reconciled at start only (--reconcile-every 0): run `x402-mcp ledger reconcile` to resolve open payments."
	}
}

// families are the network families of the catalog served now: they name
// networks and link transactions.
func (d *dashboard) families() payments.Families {
	if r := d.catalog(); r != nil {
		return r.Families()
	}
	return nil
}

func paymentRow(fams payments.Families, r ledger.Row) PaymentRow {
	n := payments.Network(r.Network)
	return PaymentRow{ID: r.ID, Time: r.CreatedAt.UTC(), Kind: r.Kind, Tool: r.Tool, Session: r.Session, Principal: r.Principal, Amount: moneyOf(r.Currency(), r.Amount),
		State: string(r.State), Network: r.Network, NetworkName: fams.NetworkName(n), PayTo: r.PayTo, Payer: r.Payer, Transaction: r.Transaction,
		Explorer: ExplorerURL(fams, n, r.Transaction), Reason: r.Reason}
}

// ExplorerURL returns the page of transaction tx on the block explorer
// the network's family knows for it (Family.ExplorerURL), or "" for none,
// or for tx that is not a transaction id of its kind. Only an https link is
// returned.
func ExplorerURL(fams payments.Families, n payments.Network, tx string) string {
	f := fams.Family(n)
	if f == nil || tx == "" {
		return ""
	}
	if u := f.ExplorerURL(n, tx); strings.HasPrefix(u, "https://") {
		return u
	}
	return ""
}

// spendCharts reads what counted in [since, until) by one dimension: one
// chart per asset, USDC first.
func (d *dashboard) spendCharts(ctx context.Context, by ledger.Dimension, win dashWindow, since, until time.Time) ([]SpendChart, error) {
	sums, err := d.books.Series(ctx, ledger.SeriesQuery{By: by, Since: since, Until: until, Bucket: win.bucket, Keys: dashChartKeys})
	if err != nil {
		return nil, err
	}
	var charts []SpendChart
	byUnit := map[string]int{}
	type keyOf struct {
		key   string
		other bool
	}
	keys := map[string]map[keyOf]*SpendKey{}
	counted := map[string]map[keyOf]payments.Amount{}
	settled := map[string]map[keyOf]payments.Amount{}
	for _, s := range sums {
		i, ok := byUnit[s.Unit]
		if !ok {
			i = len(charts)
			byUnit[s.Unit] = i
			cur := payments.Currency{Symbol: s.Symbol, Decimals: s.Decimals, Budget: s.Unit}
			charts = append(charts, SpendChart{By: string(by), Title: dimensionTitle[by], Unit: s.Unit, cur: cur})
			keys[s.Unit], counted[s.Unit], settled[s.Unit] = map[keyOf]*SpendKey{}, map[keyOf]payments.Amount{}, map[keyOf]payments.Amount{}
		}
		k := keyOf{s.Key, s.Other}
		sk := keys[s.Unit][k]
		if sk == nil {
			sk = &SpendKey{Key: s.Key, Other: s.Other}
			keys[s.Unit][k] = sk
		}
		sk.Payments += s.Payments
		counted[s.Unit][k] += s.Counted
		settled[s.Unit][k] += s.Settled
	}
	for i := range charts {
		c := &charts[i]
		var total payments.Amount
		for k, sk := range keys[c.Unit] {
			sk.Counted, sk.Settled = moneyOf(c.cur, counted[c.Unit][k]), moneyOf(c.cur, settled[c.Unit][k])
			total += counted[c.Unit][k]
			c.Keys = append(c.Keys, *sk)
		}
		c.Total = moneyOf(c.cur, total)
		sort.Slice(c.Keys, func(a, b int) bool {
			ka, kb := c.Keys[a], c.Keys[b]
			if ka.Other != kb.Other {
				return kb.Other
			}
			ca, cb := counted[c.Unit][keyOf{ka.Key, false}], counted[c.Unit][keyOf{kb.Key, false}]
			if ca != cb {
				return ca > cb
			}
			return ka.Key < kb.Key
		})
		for j := range c.Keys {
			k := &c.Keys[j]
			k.Label = keyLabel(d.families(), by, k.Key)
			k.Color = chartColors[j%len(chartColors)]
			if k.Other {
				k.Label, k.Color = "other", otherColor
			}
		}
		c.buckets = bucketize(sums, c.Unit, c.Keys, since, until, win.bucket)
		v := fnv.New64a()
		for _, s := range sums {
			if s.Unit == c.Unit {
				_, _ = fmt.Fprintf(v, "%d|%s|%t|%d|%d;", s.Start.UnixMilli(), s.Key, s.Other, s.Counted, s.Settled) // a hash's Write never fails
			}
		}
		q := url.Values{"by": {string(by)}, "unit": {c.Unit}, "window": {win.name}, "v": {strconv.FormatUint(v.Sum64(), 36) + "-" + strconv.FormatInt(since.Unix(), 36)}}
		c.Chart = "api/chart.svg?" + q.Encode()
	}
	return charts, nil
}

// keyLabel is how the page names a key: a network by its name too.
func keyLabel(fams payments.Families, by ledger.Dimension, key string) string {
	switch {
	case key == "" && by == ledger.ByTool:
		return "(no tool)"
	case key == "":
		return "(none)"
	case by == ledger.ByNetwork:
		if name := fams.NetworkName(payments.Network(key)); name != key {
			return name + " (" + key + ")"
		}
	}
	return key
}

// bucketSums is one bar: what each key of the legend counted in it.
type bucketSums struct {
	start  time.Time
	counts []payments.Amount // in legend order
}

func bucketize(sums []ledger.Sum, unit string, keys []SpendKey, since, until time.Time, bucket time.Duration) []bucketSums {
	n := int(until.Sub(since) / bucket)
	out := make([]bucketSums, n)
	for i := range out {
		out[i] = bucketSums{start: since.Add(time.Duration(i) * bucket), counts: make([]payments.Amount, len(keys))}
	}
	idx := map[string]int{}
	for i, k := range keys {
		if k.Other {
			idx["\x00other"] = i
		} else {
			idx[k.Key] = i
		}
	}
	for _, s := range sums {
		if s.Unit != unit {
			continue
		}
		b := int(s.Start.Sub(since) / bucket)
		if b < 0 || b >= n {
			continue
		}
		k := s.Key
		if s.Other {
			k = "\x00other"
		}
		if i, ok := idx[k]; ok {
			out[b].counts[i] += s.Counted
		}
	}
	return out
}

// open lists the payments that count while their fate is unproven: never
// signed yet, signed, unknown and refused, oldest first.
func (d *dashboard) open(ctx context.Context, reg *tools.Registry, now time.Time) ([]OpenPayment, int, error) {
	rows, err := d.books.Unresolved(ctx)
	if err != nil {
		return nil, 0, err
	}
	reserved, err := d.books.List(ctx, ledger.Filter{State: payments.StateReserved, Limit: dashOpen})
	if err != nil {
		return nil, 0, err
	}
	rows = append(rows, reserved...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].CreatedAt.Before(rows[j].CreatedAt) })
	total := len(rows)
	if len(rows) > dashOpen {
		rows = rows[:dashOpen]
	}
	out := make([]OpenPayment, 0, len(rows))
	for _, r := range rows {
		age := max(now.Sub(r.CreatedAt), 0)
		out = append(out, OpenPayment{PaymentRow: paymentRow(d.families(), r), AgeSeconds: int64(age / time.Second), Age: ageText(age),
			ValidBefore: utcOrZero(r.ValidBefore), Next: d.next(r, reg, now)})
	}
	return out, total, nil
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// ageText writes a duration for people: "42s", "3m 12s", "5h 2m", "3d 4h".
func ageText(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
	}
}

// next says what reconciliation will do with an open payment.
func (d *dashboard) next(r ledger.Row, reg *tools.Registry, now time.Time) string {
	const at = time.RFC3339
	if r.State == payments.StateReserved {
		return fmt.Sprintf("Not signed yet: nothing has left. If it is still unsigned at %s, reconciliation releases it.",
			r.CreatedAt.Add(ledger.StaleReservation).UTC().Format(at))
	}
	if reg == nil || reg.RPC[payments.Network(r.Network)] == "" {
		return fmt.Sprintf("No rpc endpoint for %s: it stays counted until `x402-mcp ledger reconcile` can reach a chain "+
			"(add one under rpc: in registry.yaml).", r.Network)
	}
	if r.ValidBefore.IsZero() {
		return "Checked on chain at each reconciliation pass: settled once its authorization shows used; it stays counted until then."
	}
	vb := r.ValidBefore.UTC().Format(at)
	if now.Before(r.ValidBefore) {
		return fmt.Sprintf("Checked on chain at the next pass: settled if its authorization was used; if unused, released once a "+
			"finalized block is past its expiry at %s.", vb)
	}
	return fmt.Sprintf("Its authorization expired at %s: the next pass settles it if the chain shows it used, or releases it once a "+
		"finalized block past that time shows it unused.", vb)
}

// budgetRow is a budget with what counts against it; it never resets
// unless the caller says otherwise. counts says which payments it counts.
func budgetRow(cur payments.Currency, scope, key, name string, counted, limit payments.Amount, counts, setting string) BudgetRow {
	left := payments.Amount(0)
	if counted < limit {
		left = limit - counted
	}
	return BudgetRow{Scope: scope, Key: key, Unit: currencyOf(cur).Budget, Name: name, Counted: moneyOf(cur, counted),
		Limit: moneyOf(cur, limit), Left: moneyOf(cur, left), Counts: counts + ".", Setting: setting,
		ResetText: "Never: raise " + setting + " in registry.yaml."}
}

// budgets lists every budget the ledger enforces with what counts against
// it, each in its own asset; of the per-key budgets (per tool, session,
// host), the dashBudgetKeys of each scope closest to their limit, and how
// many others there are.
func (d *dashboard) budgets(ctx context.Context, sum payments.Summary, reg *tools.Registry) ([]BudgetRow, int, error) {
	b := sum.Budget
	usdc := payments.USDC
	rows := []BudgetRow{}
	if b.Total != 0 {
		rows = append(rows, budgetRow(usdc, payments.ScopeTotal, "", "Total USDC", sum.Counted(), b.Total, "Every USDC payment ever", "budget.total"))
	}
	if b.PerDay != 0 {
		r := budgetRow(usdc, payments.ScopeDay, "", "Per day USDC", sum.Day, b.PerDay, "USDC payments reserved in the "+b.Day.String()+" window", "budget.per_day")
		if err := d.dayResets(ctx, &r, sum, payments.Reservation{Currency: usdc}); err != nil {
			return nil, 0, err
		}
		rows = append(rows, r)
	}
	if b.TipPerDay != 0 {
		tc := currencyOf(b.TipCurrency)
		sp, err := d.books.Spent(ctx, payments.Reservation{Kind: payments.KindTip, Currency: tc})
		if err != nil {
			return nil, 0, err
		}
		r := budgetRow(tc, payments.ScopeTipDay, "", "Tips per day "+tc.Symbol, sp.TipDay, b.TipPerDay, "Tips reserved in the "+b.Day.String()+" window", "tipping.per_day")
		if err := d.dayResets(ctx, &r, sum, payments.Reservation{Kind: payments.KindTip, Currency: tc}); err != nil {
			return nil, 0, err
		}
		rows = append(rows, r)
	}
	for _, a := range sum.Assets {
		cur := a.Currency
		rows = append(rows, budgetRow(cur, payments.ScopeTotal, "", "Total "+cur.Symbol, a.Counted(), a.Total, "Every "+cur.Symbol+" payment ever", a.Setting+".budget.total"))
		if a.PerDay != 0 {
			r := budgetRow(cur, payments.ScopeDay, "", "Per day "+cur.Symbol, a.Day, a.PerDay, cur.Symbol+" payments reserved in the "+b.Day.String()+" window",
				a.Setting+".budget.per_day")
			if err := d.dayResets(ctx, &r, sum, payments.Reservation{Currency: cur}); err != nil {
				return nil, 0, err
			}
			rows = append(rows, r)
		}
	}
	keyed, hidden, err := d.keyedBudgets(ctx, b, reg)
	if err != nil {
		return nil, 0, err
	}
	own, more, err := d.principalBudgets(ctx, sum)
	if err != nil {
		return nil, 0, err
	}
	rows = append(rows, keyed...)
	return append(rows, own...), hidden + more, nil
}

// closestFirst orders the budgets of one scope closest to their limit
// first (the least left) and keeps the dashBudgetKeys first; hidden counts
// the others.
func closestFirst(rs []BudgetRow) (shown []BudgetRow, hidden int) {
	sort.SliceStable(rs, func(i, j int) bool {
		if c := compareAtomic(rs[i].Left.Atomic, rs[j].Left.Atomic); c != 0 {
			return c < 0
		}
		return rs[i].Key < rs[j].Key
	})
	if len(rs) > dashBudgetKeys {
		return rs[:dashBudgetKeys], len(rs) - dashBudgetKeys
	}
	return rs, 0
}

// principalBudgets lists each principal's own budgets (Budget.Principals,
// in USDC, counting its USDC payments only) from the ledger's running sums
// for principal scopes, as Reserve checks them: its total, its day window,
// and its per-tool limit for each tool it has paid for (a tool it has not
// paid for has all of it left). Of each scope, the dashBudgetKeys closest
// to their limit are listed; hidden counts the others.
func (d *dashboard) principalBudgets(ctx context.Context, sum payments.Summary) (rows []BudgetRow, hidden int, err error) {
	pbs := sum.Budget.Principals
	names := make([]string, 0, len(pbs))
	perTool := false
	for name, pb := range pbs {
		names = append(names, name)
		perTool = perTool || pb.PerTool != 0
	}
	sort.Strings(names)
	usdc := payments.USDC
	day := sum.Budget.Day
	var totals, days, tools []BudgetRow
	for _, name := range names {
		pb := pbs[name]
		if pb.Total == 0 && pb.PerDay == 0 {
			continue
		}
		// One read of the principal's running sums: its total and its day
		// window (whole hours from its hourly sums, the edge from its rows).
		sp, err := d.books.Spent(ctx, payments.Reservation{Principal: name, Currency: usdc})
		if err != nil {
			return nil, 0, fmt.Errorf("the budgets of principal %s: %w", name, err)
		}
		if pb.Total != 0 {
			totals = append(totals, principalRow(payments.ScopePrincipalTotal, name, name, "Principal "+name+": total USDC", sp.Principal, pb.Total,
				"USDC payments of principal "+name+", ever", pb.Setting+".budget.total"))
		}
		if pb.PerDay != 0 {
			r := principalRow(payments.ScopePrincipalDay, name, name, "Principal "+name+": per day USDC", sp.PrincipalDay, pb.PerDay,
				"USDC payments of principal "+name+" reserved in the "+day.String()+" window", pb.Setting+".budget.per_day")
			switch {
			case day.Calendar:
				r.Resets = sum.DayResets
				r.ResetText = "At " + sum.DayResets.Format(time.RFC3339) + " (" + day.String() + ")."
			case !sp.PrincipalDayOldest.IsZero():
				r.Resets = sp.PrincipalDayOldest.Add(24 * time.Hour).UTC()
				r.ResetText = "Frees up as its payments leave the rolling 24-hour window, first at " + r.Resets.Format(time.RFC3339) + "."
			default:
				r.ResetText = "Frees up as its payments leave the rolling 24-hour window."
			}
			days = append(days, r)
		}
	}
	if perTool {
		pts, err := d.books.PrincipalTools(ctx)
		if err != nil {
			return nil, 0, err
		}
		for _, pt := range pts {
			pb := pbs[pt.Principal]
			// A principal's budgets are in USDC; tips count against no
			// tool's budget.
			if pb.PerTool == 0 || pt.Unit != payments.BudgetUSDC || pt.Tool == ToolTip {
				continue
			}
			tools = append(tools, principalRow(payments.ScopePrincipalTool, pt.Principal+"/"+pt.Tool, pt.Principal, "Principal "+pt.Principal+": tool "+pt.Tool,
				pt.Counted, pb.PerTool, "USDC payments of principal "+pt.Principal+" for this tool, lifetime", pb.Setting+".budget.per_tool"))
		}
	}
	for _, rs := range [][]BudgetRow{totals, days, tools} {
		shown, more := closestFirst(rs)
		rows, hidden = append(rows, shown...), hidden+more
	}
	return rows, hidden, nil
}

// principalRow is a principal's own budget: in USDC, set where its
// principal is configured (a principals file or the catalog).
func principalRow(scope, key, principal, name string, counted, limit payments.Amount, counts, setting string) BudgetRow {
	r := budgetRow(payments.USDC, scope, key, name, counted, limit, counts, setting)
	r.Principal = principal
	r.ResetText = "Never: raise " + setting + "."
	return r
}

// keyedBudgets lists the budgets of one key each, from the lifetime running
// sums: every tool's (an entry's own budget is in its own asset), and
// USDC's per session, host and network. Of the tools, sessions and hosts,
// each scope shows the dashBudgetKeys closest to their limit; hidden counts
// the others.
func (d *dashboard) keyedBudgets(ctx context.Context, b payments.Budget, reg *tools.Registry) (rows []BudgetRow, hidden int, err error) {
	usdc := payments.USDC
	totals := map[ledger.Dimension][]ledger.Sum{}
	for _, by := range []ledger.Dimension{ledger.ByTool, ledger.BySession, ledger.ByHost, ledger.ByNetwork} {
		t, err := d.books.Totals(ctx, by)
		if err != nil {
			return nil, 0, err
		}
		totals[by] = t
	}
	counted := func(by ledger.Dimension, key, unit string) payments.Amount {
		for _, s := range totals[by] {
			if s.Key == key && s.Unit == unit {
				return s.Counted
			}
		}
		return 0
	}
	keyed := func(rs []BudgetRow) {
		shown, more := closestFirst(rs)
		rows, hidden = append(rows, shown...), hidden+more
	}
	var perTool []BudgetRow
	listed := map[string]bool{}
	if reg != nil {
		for _, e := range reg.Tools {
			cur := currencyOf(e.Currency)
			limit, setting := e.Budget, fmt.Sprintf("the budget of the %s entry", e.Name)
			if limit == 0 && cur.IsUSDC() {
				limit, setting = b.PerTool, "budget.per_tool"
			}
			if limit == 0 {
				continue
			}
			listed[e.Name+"\x00"+cur.Budget] = true
			perTool = append(perTool, budgetRow(cur, payments.ScopeTool, e.Name, "Tool "+e.Name, counted(ledger.ByTool, e.Name, cur.Budget), limit,
				"Payments of this tool, lifetime", setting))
		}
	}
	if b.PerTool != 0 {
		// Tools the catalog no longer lists still count (tips have no tool
		// budget).
		for _, s := range totals[ledger.ByTool] {
			if s.Unit == payments.BudgetUSDC && !listed[s.Key+"\x00"+s.Unit] && s.Key != ToolTip {
				perTool = append(perTool, budgetRow(usdc, payments.ScopeTool, s.Key, "Tool "+s.Key, s.Counted, b.PerTool, "Payments of this tool, lifetime", "budget.per_tool"))
			}
		}
	}
	keyed(perTool)
	// perKey lists USDC's budget of each key of a scope.
	perKey := func(by ledger.Dimension, scope string, limit payments.Amount, name, counts, setting string) []BudgetRow {
		var rs []BudgetRow
		for _, s := range totals[by] {
			if s.Unit == payments.BudgetUSDC {
				rs = append(rs, budgetRow(usdc, scope, s.Key, name+s.Key, s.Counted, limit, counts, setting))
			}
		}
		return rs
	}
	if b.PerSession != 0 {
		rs := perKey(ledger.BySession, payments.ScopeSession, b.PerSession, "Session ", "USDC payments of this session", "budget.per_session")
		for i := range rs {
			rs[i].ResetText = "When the session ends: a new x402-mcp process over stdio, a restart of the server over HTTP."
		}
		keyed(rs)
	}
	if b.PerHost != 0 {
		keyed(perKey(ledger.ByHost, payments.ScopeHost, b.PerHost, "Host ", "USDC payments to this upstream host, lifetime", "budget.per_host"))
	}
	nets := make([]string, 0, len(b.PerNetwork))
	for n := range b.PerNetwork {
		nets = append(nets, string(n))
	}
	sort.Strings(nets)
	for _, n := range nets {
		rows = append(rows, budgetRow(usdc, payments.ScopeNetwork, n, "Network "+keyLabel(d.families(), ledger.ByNetwork, n), counted(ledger.ByNetwork, n, payments.BudgetUSDC),
			b.PerNetwork[payments.Network(n)], "USDC payments on this network, lifetime", "budget.per_network["+n+"]"))
	}
	return rows, hidden, nil
}

// dayResets fills in when a day budget resets (a calendar day) or starts to
// free up (a rolling window: 24 hours after its oldest payment that
// counts). res names the budget's currency, and tips for the tip budget.
func (d *dashboard) dayResets(ctx context.Context, r *BudgetRow, sum payments.Summary, res payments.Reservation) error {
	if sum.Budget.Day.Calendar {
		r.Resets = sum.DayResets
		r.ResetText = "At " + sum.DayResets.Format(time.RFC3339) + " (" + sum.Budget.Day.String() + ")."
		return nil
	}
	sp, err := d.books.Spent(ctx, res)
	if err != nil {
		return err
	}
	oldest := sp.DayOldest
	if res.IsTip() {
		oldest = sp.TipDayOldest
	}
	r.ResetText = "Frees up as payments leave the rolling 24-hour window."
	if !oldest.IsZero() {
		r.Resets = oldest.Add(24 * time.Hour).UTC()
		r.ResetText = "Frees up as payments leave the rolling 24-hour window, first at " + r.Resets.Format(time.RFC3339) + "."
	}
	return nil
}

// compareAtomic orders two atomic amounts as written in a Money (decimal
// digits, no sign, no leading zeros): the shorter is the smaller, and of
// two as long, the one that sorts first. No parse, so no amount is too
// large to order.
func compareAtomic(a, b string) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return strings.Compare(a, b)
}
