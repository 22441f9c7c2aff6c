package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/internal/mustjson"
	"github.com/x402-mcp/x402-mcp/internal/plural"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/tools"
)

// Built-in tool names. The prefix x402_ is reserved: catalog entries cannot use it.
const (
	ToolWallet = "x402_wallet"
	ToolQuote  = "x402_quote"
)

func readOnly(title string) mcp.ToolAnnotation {
	return mcp.ToolAnnotation{Title: title, ReadOnlyHint: mcp.ToBoolPtr(true), DestructiveHint: mcp.ToBoolPtr(false),
		IdempotentHint: mcp.ToBoolPtr(true), OpenWorldHint: mcp.ToBoolPtr(false)}
}

// WalletStatus is x402_wallet's structured answer. Its amounts are decimal
// USDC, except those of Assets, each in its own asset, and the tip budget's
// (Budget.TipsPerDay), in the tipping asset its Symbol names.
type WalletStatus struct {
	// Address is the wallet's first key's address (the EVM key's, when it
	// has one); Keys lists every key.
	Address string `json:"address"`
	// Keys are the wallet's keys, one per network family, EVM first, each
	// with the allowed networks of its family.
	Keys       []KeyStatus   `json:"keys"`
	Networks   []NetworkInfo `json:"networks"`
	PerCallCap string        `json:"perCallCap"`
	Budget     BudgetStatus  `json:"budget"`
	// NoRPC lists the allowed networks without an rpc endpoint in the
	// catalog: payments there that a seller refused, or whose outcome is
	// unknown, stay counted until `x402-mcp ledger reconcile` can reach a
	// chain.
	NoRPC []string `json:"noRpc,omitempty"`
	// Assets are the declared assets other than USDC, each with its own
	// per-call cap and budget, in its own units (shown to admins only:
	// their budgets count every principal's payments).
	Assets []AssetStatus `json:"assets,omitempty"`
	// Principal is the caller: who x402-mcp books its payments to.
	Principal PrincipalStatus `json:"principal"`
	// Principals are every principal of the HTTP transport, with what each
	// spent: shown to admins only.
	Principals []PrincipalStatus `json:"principals,omitempty"`
}

// PrincipalStatus is one principal, its own budgets and its payments in
// USDC.
type PrincipalStatus struct {
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
	// Tools are the only tools it may call; absent: every tool.
	Tools    []string `json:"tools,omitempty"`
	Settled  string   `json:"settled"`
	Pending  string   `json:"pending"`
	Payments int      `json:"payments"`
	// Total, PerDay: its own budgets with what counts against them, when
	// set; PerTool: its own lifetime limit of each tool, when set.
	Total   *ScopeStatus `json:"total,omitempty"`
	PerDay  *ScopeStatus `json:"perDay,omitempty"`
	PerTool string       `json:"perTool,omitempty"`
}

// AssetStatus is one declared asset's limits and what counts against them,
// as decimals of the asset.
type AssetStatus struct {
	Symbol     string       `json:"symbol"`
	Decimals   int          `json:"decimals"`
	Network    string       `json:"network"`
	Address    string       `json:"address"`
	PerCallCap string       `json:"perCallCap,omitempty"`
	Total      string       `json:"total"`
	Settled    string       `json:"settled"`
	Pending    string       `json:"pending"`
	Left       string       `json:"left"`
	Payments   int          `json:"payments"`
	PerDay     *ScopeStatus `json:"perDay,omitempty"`
}

// KeyStatus is one key of the wallet: its family ("EVM", "Solana"), its
// address, where the key lives (Config.KeySources: "environment variable
// X402_PRIVATE_KEY", "OS keychain x402-mcp/default", "clef
// http://127.0.0.1:8550", "AWS KMS <key id>"; empty when not known), and
// the allowed networks it pays on.
type KeyStatus struct {
	Family    string        `json:"family"`
	Address   string        `json:"address"`
	KeySource string        `json:"keySource,omitempty"`
	Networks  []NetworkInfo `json:"networks"`
}

// NetworkInfo names an allowed network.
type NetworkInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// BudgetStatus reports the operator's budgets in decimal USDC: to an admin
// the gateway's, counting every payment (Of "gateway"); to any other
// principal its own, counting its own payments (Of "principal").
type BudgetStatus struct {
	// Of says whose budgets and payments these are: "gateway" or
	// "principal".
	Of       string `json:"of"`
	Total    string `json:"total"`
	Settled  string `json:"settled"`
	Pending  string `json:"pending"`
	Left     string `json:"left"`
	Payments int    `json:"payments"`
	// PerDay, PerSession: what counts now against each, when set.
	PerDay     *ScopeStatus `json:"perDay,omitempty"`
	PerSession *ScopeStatus `json:"perSession,omitempty"`
	// Lifetime limits per tool, host and network, when set.
	PerTool    string            `json:"perTool,omitempty"`
	PerHost    string            `json:"perHost,omitempty"`
	PerNetwork map[string]string `json:"perNetwork,omitempty"`
	// TipsPerDay is the tip budget (tipping.per_day), when tipping is on.
	TipsPerDay *ScopeStatus `json:"tipsPerDay,omitempty"`
}

// ScopeStatus is one budget's limit, what counts against it, and what is left.
type ScopeStatus struct {
	Limit   string `json:"limit"`
	Counted string `json:"counted"`
	Left    string `json:"left"`
	// Symbol names the asset of the amounts where it may be another than
	// the object's (the tip budget, in the tipping asset).
	Symbol string `json:"symbol,omitempty"`
	Window string `json:"window,omitempty"`
	Resets string `json:"resets,omitempty"`
}

func scope(limit, counted payments.Amount) *ScopeStatus {
	return scopeIn(payments.USDC, limit, counted)
}

// scopeIn is scope with the amounts as decimals of cur.
func scopeIn(cur payments.Currency, limit, counted payments.Amount) *ScopeStatus {
	left := payments.Amount(0)
	if counted < limit {
		left = limit - counted
	}
	return &ScopeStatus{Limit: cur.Decimal(limit), Counted: cur.Decimal(counted), Left: cur.Decimal(left)}
}

// payerOf is the wallet's address as x402_wallet shows it: its first key's
// (the EVM key's, when it has one).
func payerOf(c *payments.Client) string {
	if len(c.Signers) == 0 {
		return ""
	}
	return c.Signers[0].Payer()
}

func (s *Server) walletStatus(ctx context.Context) (*WalletStatus, error) {
	c := s.cfg.Client
	who := caller(ctx)
	sum, err := c.Ledger.Summary(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger summary: %w", err)
	}
	me, err := s.principalStatus(ctx, who)
	if err != nil {
		return nil, err
	}
	st := &WalletStatus{Address: payerOf(c), PerCallCap: perCall(c.Policy).String(),
		Networks: make([]NetworkInfo, 0, len(c.Policy.Networks))}
	reg := s.catalog().reg
	fams := reg.Families()
	st.Keys = make([]KeyStatus, 0, len(c.Signers))
	for _, k := range c.Signers {
		ks := KeyStatus{Family: k.Family(), Address: k.Payer(), KeySource: s.cfg.KeySources[k.Family()], Networks: []NetworkInfo{}}
		if f := fams.Named(k.Family()); f != nil {
			ks.Family = f.Title()
		}
		for _, n := range c.Policy.Networks {
			if f := fams.Family(n); f != nil && f.Name() == k.Family() {
				ks.Networks = append(ks.Networks, NetworkInfo{ID: string(n), Name: fams.NetworkName(n)})
			}
		}
		st.Keys = append(st.Keys, ks)
	}
	// An endpoint whose ${ENV} does not expand is no endpoint: serve leaves
	// it out of reconciliation too, and warns of it at start.
	rpc, err := reg.RPCURLs(s.cfg.Getenv)
	if err != nil {
		s.cfg.Logger.Debug("x402_wallet: rpc endpoints left out", "err", err)
	}
	for _, n := range c.Policy.Networks {
		st.Networks = append(st.Networks, NetworkInfo{ID: string(n), Name: fams.NetworkName(n)})
		if rpc[n] == "" {
			st.NoRPC = append(st.NoRPC, string(n))
		}
	}
	b := sum.Budget
	st.Principal = *me
	if !who.Admin {
		// Its own budgets and payments only: the gateway's count everyone's.
		s.ownBudget(st, me, b)
		return st, s.sessionStatus(ctx, st, b)
	}
	for _, p := range s.httpPrincipals() {
		ps, err := s.principalStatus(ctx, p)
		if err != nil {
			return nil, err
		}
		st.Principals = append(st.Principals, *ps)
	}
	st.Budget = BudgetStatus{Of: "gateway", Total: "unlimited", Settled: sum.Settled.String(), Pending: sum.Pending.String(),
		Left: "unlimited", Payments: sum.Payments}
	if sum.Total != 0 {
		st.Budget.Total, st.Budget.Left = sum.Total.String(), sum.Left().String()
	}
	if b.PerDay != 0 {
		d := scope(b.PerDay, sum.Day)
		d.Window = b.Day.String()
		if !sum.DayResets.IsZero() {
			d.Resets = sum.DayResets.Format(time.RFC3339)
		}
		st.Budget.PerDay = d
	}
	if err := s.sessionStatus(ctx, st, b); err != nil {
		return nil, err
	}
	if b.TipPerDay != 0 {
		tc := currencyOf(b.TipCurrency)
		sp, err := c.Ledger.Spent(ctx, payments.Reservation{Kind: payments.KindTip, Currency: tc})
		if err != nil {
			return nil, fmt.Errorf("ledger spent: %w", err)
		}
		d := scopeIn(tc, b.TipPerDay, sp.TipDay)
		d.Symbol, d.Window = tc.Symbol, b.Day.String()
		if !sum.DayResets.IsZero() {
			d.Resets = sum.DayResets.Format(time.RFC3339)
		}
		st.Budget.TipsPerDay = d
	}
	st.Budget.setLimits(b)
	for _, a := range sum.Assets {
		cur := a.Currency
		as := AssetStatus{Symbol: cur.Symbol, Decimals: cur.Decimals, Total: cur.Decimal(a.Total), Settled: cur.Decimal(a.Settled),
			Pending: cur.Decimal(a.Pending), Left: cur.Decimal(a.Left()), Payments: a.Payments}
		for _, ap := range c.Policy.Assets {
			if ap.Currency() == cur {
				as.Network, as.Address = string(ap.Network), ap.Address
				if ap.PerCall != 0 {
					as.PerCallCap = cur.Decimal(ap.PerCall)
				}
			}
		}
		if a.PerDay != 0 {
			as.PerDay = scopeIn(cur, a.PerDay, a.Day)
			as.PerDay.Window = b.Day.String()
			if !sum.DayResets.IsZero() {
				as.PerDay.Resets = sum.DayResets.Format(time.RFC3339)
			}
		}
		st.Assets = append(st.Assets, as)
	}
	return st, nil
}

// sessionStatus fills in the per-session budget of the caller's session.
func (s *Server) sessionStatus(ctx context.Context, st *WalletStatus, b payments.Budget) error {
	c := s.cfg.Client
	if session := c.SessionFor(ctx); b.PerSession != 0 && session != "" {
		sp, err := c.Ledger.Spent(ctx, payments.Reservation{Session: session})
		if err != nil {
			return fmt.Errorf("ledger spent: %w", err)
		}
		st.Budget.PerSession = scope(b.PerSession, sp.Session)
		st.Budget.PerSession.Resets = "when this session ends"
	}
	return nil
}

// ownBudget is the budget a principal that is not an admin sees: its own
// limits (unlimited where it has none: the gateway's shared budgets, which
// also apply, are not shown) and its own payments; the per-tool, per-host
// and per-network limits, which are limits only, as they are.
func (s *Server) ownBudget(st *WalletStatus, me *PrincipalStatus, b payments.Budget) {
	st.Budget = BudgetStatus{Of: "principal", Total: "unlimited", Settled: me.Settled, Pending: me.Pending, Left: "unlimited", Payments: me.Payments}
	if me.Total != nil {
		st.Budget.Total, st.Budget.Left = me.Total.Limit, me.Total.Left
	}
	st.Budget.PerDay = me.PerDay
	st.Budget.PerTool = me.PerTool
	st.Budget.setLimits(b)
}

// setLimits fills in the gateway's lifetime limits per tool (unless a
// principal's own is there already), per host and per network.
func (bs *BudgetStatus) setLimits(b payments.Budget) {
	if bs.PerTool == "" && b.PerTool != 0 {
		bs.PerTool = b.PerTool.String()
	}
	if b.PerHost != 0 {
		bs.PerHost = b.PerHost.String()
	}
	for n, a := range b.PerNetwork {
		if bs.PerNetwork == nil {
			bs.PerNetwork = map[string]string{}
		}
		bs.PerNetwork[string(n)] = a.String()
	}
}

// principalStatus is p's books and own budgets, from the ledger when it
// keeps books per principal.
func (s *Server) principalStatus(ctx context.Context, p *Principal) (*PrincipalStatus, error) {
	ps := &PrincipalStatus{Name: p.Name, Admin: p.Admin, Tools: p.Tools, Settled: "0", Pending: "0"}
	books, ok := s.cfg.Client.Ledger.(interface {
		PrincipalSummary(context.Context, string) (payments.PrincipalSummary, error)
	})
	if !ok {
		return ps, nil
	}
	sum, err := books.PrincipalSummary(ctx, p.Name)
	if err != nil {
		return nil, fmt.Errorf("books of principal %s: %w", p.Name, err)
	}
	ps.Settled, ps.Pending, ps.Payments = sum.Settled.String(), sum.Pending.String(), sum.Payments
	day := s.cfg.Client.Policy.Budget.Day
	if sum.Budget.Total != 0 {
		ps.Total = scope(sum.Budget.Total, sum.Counted())
	}
	if sum.Budget.PerDay != 0 {
		ps.PerDay = scope(sum.Budget.PerDay, sum.Day)
		ps.PerDay.Window = day.String()
		if !sum.DayResets.IsZero() {
			ps.PerDay.Resets = sum.DayResets.Format(time.RFC3339)
		}
	}
	if sum.Budget.PerTool != 0 {
		ps.PerTool = sum.Budget.PerTool.String()
	}
	return ps, nil
}

func perCall(p payments.Policy) payments.Amount {
	if p.PerCall == 0 {
		return payments.DefaultPerCall
	}
	return p.PerCall
}

func (s *Server) walletTool() mcpserver.ServerTool {
	t := mcp.NewTool(ToolWallet,
		mcp.WithDescription("Show x402-mcp's paying wallet: the address of each key (EVM, Solana) with the allowed networks it pays on and where the key lives (never the key), the per-call cap and the budget spent and left. Spends nothing."),
		mcp.WithRawOutputSchema(walletOutputSchema),
	)
	t.Annotations = readOnly("Wallet and budget")
	return mcpserver.ServerTool{Tool: t, Handler: func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		st, err := s.walletStatus(ctx)
		if err != nil {
			s.cfg.Logger.Error("wallet status", "err", err)
			return mcp.NewToolResultError("internal error (not charged)"), nil
		}
		whose := "Budget"
		if st.Budget.Of == "principal" {
			whose = fmt.Sprintf("Your budget (principal %s: your own payments; the gateway's shared budgets also apply)", st.Principal.Name)
		}
		text := fmt.Sprintf("Wallet %s. Per-call cap: %s USDC. %s: %s USDC total, %s settled, %s pending, %s left (%s).",
			walletKeysText(st), st.PerCallCap, whose, st.Budget.Total, st.Budget.Settled, st.Budget.Pending, st.Budget.Left,
			plural.Count(st.Budget.Payments, "payment", "payments"))
		if d := st.Budget.PerDay; d != nil {
			text += fmt.Sprintf(" Today (%s): %s of %s USDC counted, %s left.", d.Window, d.Counted, d.Limit, d.Left)
		}
		if ss := st.Budget.PerSession; ss != nil {
			text += fmt.Sprintf(" This session: %s of %s USDC counted, %s left.", ss.Counted, ss.Limit, ss.Left)
		}
		if tp := st.Budget.TipsPerDay; tp != nil {
			text += fmt.Sprintf(" Tips today (%s): %s of %s %s counted, %s left.", tp.Window, tp.Counted, tp.Limit, tp.Symbol, tp.Left)
		}
		for _, a := range st.Assets {
			text += fmt.Sprintf(" %s (%d decimals, %s on %s): budget %s %s total, %s settled, %s pending, %s left (%s)",
				a.Symbol, a.Decimals, a.Address, a.Network, a.Total, a.Symbol, a.Settled, a.Pending, a.Left, plural.Count(a.Payments, "payment", "payments"))
			if a.PerCallCap != "" {
				text += fmt.Sprintf("; per-call cap %s %s", a.PerCallCap, a.Symbol)
			}
			if d := a.PerDay; d != nil {
				text += fmt.Sprintf("; today (%s) %s of %s %s counted, %s left", d.Window, d.Counted, d.Limit, a.Symbol, d.Left)
			}
			text += "."
		}
		for _, p := range st.Principals {
			text += fmt.Sprintf(" Principal %s: %s settled, %s pending USDC (%s)", p.Name, p.Settled, p.Pending, plural.Count(p.Payments, "payment", "payments"))
			if p.Total != nil {
				text += fmt.Sprintf("; total %s of %s USDC counted", p.Total.Counted, p.Total.Limit)
			}
			if p.PerDay != nil {
				text += fmt.Sprintf("; today %s of %s USDC counted", p.PerDay.Counted, p.PerDay.Limit)
			}
			text += "."
		}
		if len(st.NoRPC) > 0 {
			text += fmt.Sprintf(" No rpc endpoint for %s: payments there that a seller refused, or whose outcome is unknown, stay counted (pending) until `x402-mcp ledger reconcile` can reach a chain.", strings.Join(st.NoRPC, ", "))
		}
		return mcp.NewToolResultStructured(st, text), nil
	}}
}

// walletKeysText names each key with the networks it pays on and where it
// lives, when known: "0x… (EVM: eip155:8453 (Base); key in OS keychain
// x402-mcp/default); 9Wz… (Solana: solana:… (Solana devnet))". A key whose
// family has no allowed network says so.
func walletKeysText(st *WalletStatus) string {
	if len(st.Keys) == 0 {
		return "(no key)"
	}
	parts := make([]string, len(st.Keys))
	for i, k := range st.Keys {
		names := make([]string, len(k.Networks))
		for j, n := range k.Networks {
			names[j] = n.ID + " (" + n.Name + ")"
		}
		nets := strings.Join(names, ", ")
		if nets == "" {
			nets = "no allowed network (defaults.networks in registry.yaml)"
		}
		if k.KeySource != "" {
			nets += "; key in " + k.KeySource
		}
		parts[i] = fmt.Sprintf("%s (%s: %s)", k.Address, k.Family, nets)
	}
	return strings.Join(parts, "; ")
}

func (s *Server) quoteTool(c *catalog) mcpserver.ServerTool {
	names := c.names()
	sort.Strings(names)
	if c.reg.Defaults.Expose == tools.ExposeSearch {
		names = nil // a large catalog: x402_find_tools lists the names
	}
	schema := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"tool":      map[string]any{"type": "string", "description": "The paid tool to price.", "enum": names},
			"arguments": map[string]any{"type": "object", "description": "The arguments the call would use (prices can depend on them)."},
		},
		"required":             []string{"tool"},
		"additionalProperties": false,
	}
	if len(names) == 0 {
		delete(schema["properties"].(map[string]any)["tool"].(map[string]any), "enum")
	}
	raw := mustjson.Marshal(schema)
	t := mcp.NewToolWithRawSchema(ToolQuote,
		"Ask a paid tool's upstream what a call would cost, without paying: the seller's payment options, which one the operator's policy would pay, and whether the budget allows it. Sends one unpaid request; nothing is signed.",
		raw)
	t.RawOutputSchema = quoteOutputSchema
	t.Annotations = readOnly("Quote a paid tool")
	t.Annotations.OpenWorldHint = mcp.ToBoolPtr(true)
	return mcpserver.ServerTool{Tool: t, Handler: s.handleQuote}
}

func (s *Server) handleQuote(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args := req.GetArguments()
	name, _ := args["tool"].(string)
	e, ok := s.catalog().entry(name)
	if !ok || !caller(ctx).May(name) {
		return mcp.NewToolResultError(fmt.Sprintf("invalid arguments: no paid tool named %q; x402_quote prices the catalog's tools (not charged)", name)), nil
	}
	callArgs, _ := args["arguments"].(map[string]any)
	if callArgs == nil {
		callArgs = map[string]any{}
	}
	ctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	httpReq, red, err := e.NewRedactedRequest(ctx, callArgs, s.cfg.Getenv)
	if err != nil {
		return tools.ErrorResult(err), nil
	}
	lim, err := e.CallLimit(tools.NewCallID(), callArgs)
	if err != nil {
		return tools.ErrorResult(err), nil
	}
	lim.Redaction = red
	q, err := s.cfg.Client.Quote(ctx, httpReq, lim)
	if err != nil {
		return tools.ErrorResult(err), nil
	}
	return mcp.NewToolResultStructured(quoteView(e, q), quoteText(e, q)), nil
}

// quoteOut is x402_quote's structured answer: maxPrice and price in the
// entry's currency, budgetLeft in the budget's (the chosen option's).
type quoteOut struct {
	Tool           string            `json:"tool"`
	Free           bool              `json:"free"`
	Status         int               `json:"status"`
	X402Version    int               `json:"x402Version,omitempty"`
	MaxPrice       string            `json:"maxPrice"`
	Currency       string            `json:"currency"`
	WouldPay       bool              `json:"wouldPay"`
	Price          string            `json:"price,omitempty"`
	Network        string            `json:"network,omitempty"`
	PayTo          string            `json:"payTo,omitempty"`
	Reason         string            `json:"reason,omitempty"`
	BudgetLeft     string            `json:"budgetLeft"`
	BudgetCurrency string            `json:"budgetCurrency"`
	Options        []payments.Option `json:"options,omitempty"`
	OptionsOffered int               `json:"optionsOffered,omitempty"`
}

func quoteView(e *tools.Entry, q *payments.Quote) quoteOut {
	cur, bcur := currencyOf(e.Currency), currencyOf(q.Currency)
	out := quoteOut{Tool: e.Name, Free: q.Free, Status: q.Status, X402Version: q.X402Version, MaxPrice: cur.Decimal(e.MaxPrice), Currency: cur.Symbol,
		WouldPay: q.WouldPay, Reason: q.Reason, BudgetLeft: bcur.Decimal(q.BudgetLeft), BudgetCurrency: bcur.Symbol, Options: q.Options, OptionsOffered: q.Offered}
	if q.BudgetLeft == payments.MaxAmount {
		out.BudgetLeft = "unlimited"
	}
	if q.Chosen != nil {
		out.Price, out.Network, out.PayTo = currencyOf(q.Chosen.Currency()).Decimal(q.Chosen.Amount), q.Chosen.Network, q.Chosen.PayTo
	}
	return out
}

func quoteText(e *tools.Entry, q *payments.Quote) string {
	switch {
	case q.Free:
		return fmt.Sprintf("%s: the upstream answered %d without asking for payment (free right now). Not charged.", e.Name, q.Status)
	case q.WouldPay:
		return fmt.Sprintf("%s: costs %s on %s to %s; the policy would pay it (max_price %s). Not charged: this was only a quote.",
			e.Name, currencyOf(q.Chosen.Currency()).Format(q.Chosen.Amount), q.Chosen.Network, q.Chosen.PayTo, currencyOf(e.Currency).Format(e.MaxPrice))
	default:
		return fmt.Sprintf("%s: the policy would NOT pay: %s Not charged: this was only a quote.", e.Name, q.Reason)
	}
}
