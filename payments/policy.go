package payments

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// DefaultPerCall is the per-call cap when the registry sets none: 0.10 USDC.
const DefaultPerCall Amount = 100_000

// Policy is the operator's rule for what may be paid. It comes from
// registry.yaml; no tool and no model can change it.
type Policy struct {
	// Networks the wallet may pay on. Empty allows none.
	Networks []Network
	// PerCall caps any single payment.
	PerCall Amount
	// Budget is enforced by the Ledger at reservation time (budget.go); the
	// Ledger is built with it.
	Budget Budget
	// ApproveAbove: a payment above it is signed only after a human approves
	// it through the Client's Approver. Zero asks for no approval.
	ApproveAbove Amount
	// GaslessApproval is AssetPolicy.GaslessApproval for USDC.
	GaslessApproval Amount
	// Assets are the tokens other than the USDC x402-mcp knows that the
	// operator declared (registry.yaml's assets:). A requirement in one of
	// them is paid only by a call priced in it (Limit.Currency), under its
	// own per-call cap and approval threshold here and its own budgets
	// (Budget.Assets). PerCall and ApproveAbove above are USDC's.
	Assets []AssetPolicy
}

// AssetPolicy is the operator's rule for one declared asset, in its own
// units.
type AssetPolicy struct {
	Asset
	// PerCall caps any single payment in the asset; zero leaves each call to
	// its entry's max_price.
	PerCall Amount
	// GaslessApproval is the largest payment in the asset for which a
	// scheme may sign an approval the seller's facilitator submits (EVM: an
	// EIP-2612 permit of Permit2 for exactly the payment, when the seller
	// offers eip2612GasSponsoring). Zero allows none.
	GaslessApproval Amount
	// ApproveAbove: a payment in the asset above it is signed only after a
	// human approves it. Zero asks for no approval (an entry may still set
	// its own).
	ApproveAbove Amount
	// Setting names where registry.yaml declares the asset ("assets[0]"),
	// for messages.
	Setting string
}

// declared returns the declared asset of currency c, or nil.
func (p *Policy) declared(c Currency) *AssetPolicy {
	for i := range p.Assets {
		if p.Assets[i].Currency().Budget == c.Budget {
			return &p.Assets[i]
		}
	}
	return nil
}

// Limit is what one catalog entry allows a call to pay, on top of the Policy.
type Limit struct {
	// Tool names the catalog entry, for the ledger and messages.
	Tool string
	// MaxPrice is the entry's max_price; zero means the per-call cap alone.
	MaxPrice Amount
	// Pins: when set, a requirement that differs is refused before signing.
	// PayTo and Asset are addresses as the catalog writes them, compared in
	// their family's canonical form.
	PayTo   string // address
	Network Network
	Asset   string // token address
	// Family, when set, is the only network family the call may pay on
	// (Family.Name: "evm", "svm"; the catalog's family:).
	Family string
	// Currency is the asset the call is priced in, and so the only one it
	// may pay in: the units of MaxPrice, ToolBudget, ApproveAbove and
	// ExactAmount. The zero value is USDC. Another currency must be one of
	// the Policy's Assets, and the call should pin its address (Asset).
	Currency Currency
	// CallID identifies the tool call; it is the payment identifier offered to
	// sellers that support the payment-identifier extension, and the
	// ledger's idempotency key (one payment per call). Empty: generated.
	CallID string
	// Session keys the per-session budget (see Reservation.Session); empty
	// means the Client's Session.
	Session string
	// ToolBudget is the entry's own lifetime budget; zero means the policy's
	// Budget.PerTool.
	ToolBudget Amount
	// ApproveAbove overrides the Policy's approval threshold for this entry;
	// zero means the Policy's.
	ApproveAbove Amount
	// Description says what the call buys, for the approval question.
	Description string
	// WarmKey names the catalog entry for the warm path (Client.Warm). The
	// terms the seller last accepted are remembered per entry and concrete
	// request (this key, the method and the resolved URL), and at most one
	// warm payment of the entry is in flight at a time. Empty means no warm
	// path for this call.
	WarmKey string
	// ExactAmount, when set, is the price the call chose (a pay-what-you-want
	// or tip endpoint whose amount is an argument, `amount_from:` in
	// registry.yaml): an accept asking any other amount is refused before
	// signing (price_mismatch), and a call whose ExactAmount is already above
	// the cap is refused before its request is sent. Every cap, budget and
	// approval threshold still applies to it.
	ExactAmount Amount
	// ExactArg names the argument ExactAmount came from, for messages.
	ExactArg string
	// Scheme is the x402 scheme the entry pays: "exact" (also when empty)
	// or "upto", whose seller settles what was used up to the price asked
	// (the maximum, which every cap, budget and threshold judges). An
	// option of another scheme is refused.
	Scheme string
	// TransferMethod pins how the asset moves, in its family's words (EVM:
	// "eip3009" or "permit2"); empty lets the seller and the asset decide.
	TransferMethod string
	// Tip, when set, makes the payment a tip (tip.go): its cap replaces the
	// per-call cap, its approval rule replaces the thresholds, and the
	// ledger books it as a tip under the tip budget.
	Tip *TipInfo
	// Redaction is how the request is shown, logged, stored and signed:
	// its URL with the catalog's ${ENV} values written ${NAME}, and those
	// values hidden in any text (tools builds it when it expands the
	// entry's templates). Nil: the URL without its query and user info.
	Redaction *Redaction
}

// scheme is the x402 scheme the call pays: Limit.Scheme, "exact" when
// unset.
func (lim Limit) scheme() string {
	if lim.Scheme == "" {
		return "exact"
	}
	return lim.Scheme
}

// exactWhat names where a call's exact amount came from, for messages.
func (lim Limit) exactWhat() string {
	if lim.ExactArg != "" {
		return fmt.Sprintf("the amount in argument %q", lim.ExactArg)
	}
	return "the amount the call chose"
}

// checkExact refuses, before anything is sent, a call whose price is fixed
// by an argument (Limit.ExactAmount) above what the call may pay: there is
// no point in asking the seller. It returns nil when the call may proceed.
func (p *Policy) checkExact(lim Limit) *Error {
	if lim.ExactAmount == 0 {
		return nil
	}
	ceiling, capName := p.cap(lim)
	if lim.ExactAmount <= ceiling {
		return nil
	}
	cur := lim.Currency.or()
	return &Error{Code: CodePriceAboveCap, Charged: NotCharged, Message: fmt.Sprintf(
		"%s is %s, above the %s (%s). Nothing was sent or signed. Call again with an amount of at most %s, or the operator must raise max_price or %s in registry.yaml.",
		lim.exactWhat(), cur.Format(lim.ExactAmount), capName, cur.Format(ceiling), cur.Decimal(ceiling), p.perCallSetting(cur))}
}

// cap returns the price ceiling for a call, in its currency, and what sets
// it.
func (p *Policy) cap(lim Limit) (Amount, string) {
	if lim.Tip != nil && lim.Tip.Cap != 0 {
		return lim.Tip.Cap, "tip cap (tipping.max_tip)"
	}
	per, perName := p.PerCall, "per-call cap"
	if per == 0 {
		per = DefaultPerCall
	}
	if cur := lim.Currency.or(); !cur.IsUSDC() {
		// USDC's per-call cap is in USDC: another asset has its own, or
		// only its entries' max_price.
		per, perName = MaxAmount, "per-call cap of "+cur.Symbol
		if a := p.declared(cur); a != nil && a.PerCall != 0 {
			per = a.PerCall
		}
	}
	if lim.MaxPrice != 0 && lim.MaxPrice < per {
		return lim.MaxPrice, "max_price of " + lim.Tool
	}
	return per, perName
}

// perCallSetting names the registry.yaml setting of the per-call cap of cur.
func (p *Policy) perCallSetting(cur Currency) string {
	if cur.IsUSDC() {
		return "defaults.max_per_call"
	}
	if a := p.declared(cur); a != nil && a.Setting != "" {
		return a.Setting + ".max_per_call"
	}
	return "the asset's max_per_call"
}

// preference is n's place in the allowed networks: lower is preferred.
func (p *Policy) preference(n Network) int {
	for i, a := range p.Networks {
		if a == n {
			return i
		}
	}
	return len(p.Networks)
}

func (p *Policy) allows(n Network) bool {
	for _, a := range p.Networks {
		if a == n {
			return true
		}
	}
	return false
}

// Option is one requirement of a 402 as judged by the policy.
type Option struct {
	Index   int    `json:"index"`
	Scheme  string `json:"scheme"`
	Network string `json:"network"`
	Amount  Amount `json:"-"`
	Price   string `json:"price"` // decimal in the asset's units, or the raw atomic string when unreadable
	PayTo   string `json:"payTo"`
	Asset   string `json:"asset"`
	// Symbol and Decimals say how Price reads; empty for an asset the
	// policy does not know.
	Symbol   string `json:"symbol,omitempty"`
	Decimals int    `json:"decimals,omitempty"`
	Payable  bool   `json:"payable"`
	Reason   string `json:"reason,omitempty"` // why not payable
	code     Code   // which refusal, for choosing the error
	// terms are the scheme's judgement; their Scheme is nil until one
	// judged the option.
	terms Terms
}

// Currency returns how the option's price reads (the zero Currency, USDC,
// for an asset the policy does not know).
func (o *Option) Currency() Currency { return o.terms.Currency }

// Evaluate judges every option of pr under the policy and lim with the
// schemes s and the wallet's signers w (an option of a family w holds no
// key of is not payable), and returns them with the one a call would pay
// (the cheapest payable one), or nil. It signs nothing.
func (p *Policy) Evaluate(s *Schemes, w Signers, pr *x402.PaymentRequired, lim Limit) ([]Option, *Option) {
	return p.evaluate(s, w, pr, lim)
}

// evaluate judges every requirement and returns them with the cheapest payable
// one, or nil. Ties go to the lower rank (EVM: the authorization flow), then
// to the network listed first in Networks (the operator's order of
// preference, defaults.networks), then to the seller's order.
func (p *Policy) evaluate(s *Schemes, w Signers, pr *x402.PaymentRequired, lim Limit) ([]Option, *Option) {
	ceiling, capName := p.cap(lim)
	opts := make([]Option, len(pr.Accepts))
	var best *Option
	for i := range pr.Accepts {
		r := &pr.Accepts[i]
		o := &opts[i]
		// As the seller wrote them, cut short: a quote shows them.
		*o = Option{Index: i, Scheme: Sanitize(r.Scheme, 40), Network: Sanitize(r.Network, 60), Price: Sanitize(r.Price(), 40),
			PayTo: Sanitize(r.PayTo, 100), Asset: Sanitize(r.Asset, 100)}
		o.code, o.Reason = p.judge(s, w, r, pr.X402Version, pr.Extensions, lim, ceiling, capName, o)
		o.Payable = o.Reason == ""
		if !o.Payable {
			continue
		}
		if best == nil || o.Amount < best.Amount || o.Amount == best.Amount && (o.terms.Rank < best.terms.Rank ||
			o.terms.Rank == best.terms.Rank && p.preference(o.terms.Network) < p.preference(best.terms.Network)) {
			best = o
		}
	}
	return opts, best
}

// judge judges one requirement: the scheme and network (Schemes.route),
// the allowed networks and the network pin, a key of the family in the
// wallet, then the scheme's own judgement
// (Scheme.Judge: extra, addresses, pins, the asset), then the price.
func (p *Policy) judge(s *Schemes, w Signers, r *x402.Requirement, version int, extensions map[string]json.RawMessage, lim Limit, ceiling Amount, capName string, o *Option) (Code, string) {
	sc, n, ref := s.route(r)
	if ref != nil {
		return ref.Code, ref.Message
	}
	o.Network = string(n)
	if want := lim.scheme(); r.Scheme != want {
		return CodeNotAllowed, fmt.Sprintf("scheme %s is not the scheme %s pays (%s; an entry pays another only with scheme: in registry.yaml)", r.Scheme, lim.Tool, want)
	}
	if lim.Network != "" && n != lim.Network {
		return CodeNotAllowed, fmt.Sprintf("network %s differs from the network pinned for %s (%s)", n, lim.Tool, lim.Network)
	}
	if !p.allows(n) {
		return CodeNotAllowed, fmt.Sprintf("network %s (%s) is not in the allowed networks (defaults.networks in registry.yaml)", n, sc.Family().NetworkName(n))
	}
	if fam := sc.Family(); lim.Family != "" && fam.Name() != lim.Family {
		want := lim.Family
		if f := s.Families().Named(lim.Family); f != nil {
			want = f.Title()
		}
		return CodeNotAllowed, fmt.Sprintf("network %s (%s) is %s %s network; %s pays only on %s networks (family: in registry.yaml)", n, fam.NetworkName(n), article(fam.Title()), fam.Title(), lim.Tool, want)
	}
	if fam := sc.Family(); w.For(fam.Name()) == nil {
		return CodeNotAllowed, fmt.Sprintf("network %s (%s) is a %s network and the wallet holds no %s key (the README's section The wallet says how to add one)", n, fam.NetworkName(n), fam.Title(), fam.Title())
	}
	want := Want{Tool: lim.Tool, PayTo: lim.PayTo, Asset: lim.Asset, Currency: lim.Currency, Assets: p.Assets,
		Method: lim.TransferMethod, GaslessApproval: p.GaslessApproval, Extensions: extensions}
	t, refusal := sc.Judge(r, n, want)
	if t.Currency != (Currency{}) {
		o.Symbol, o.Decimals = t.Currency.Symbol, t.Currency.Decimals
	}
	if refusal != nil {
		o.terms.Currency = t.Currency
		return refusal.Code, refusal.Message
	}
	amt, err := ParseAtomic(r.Price())
	if err != nil {
		return CodeBadChallenge, "price " + err.Error()
	}
	if amt == 0 {
		return CodeBadChallenge, "price is zero"
	}
	cur := t.Currency
	o.Amount, o.Price = amt, cur.Decimal(amt)
	o.terms.Currency = cur
	if lim.ExactAmount != 0 && amt != lim.ExactAmount {
		return CodePriceMismatch, fmt.Sprintf("the seller asks %s, not %s (%s)", cur.Format(amt), cur.Format(lim.ExactAmount), lim.exactWhat())
	}
	if amt > ceiling {
		return CodePriceAboveCap, fmt.Sprintf("price %s is above the %s (%s)", cur.Format(amt), capName, cur.Format(ceiling))
	}
	if r.MaxTimeoutSeconds < 0 {
		return CodeBadChallenge, "maxTimeoutSeconds is negative"
	}
	t.Scheme, t.Requirement, t.Version, t.Network, t.Amount = sc, r, version, n, amt
	o.terms = t
	return "", ""
}

// article is "an" before a vowel sound of the family titles ("an EVM",
// "a Solana", "a Test"), else "a".
func article(word string) string {
	if word != "" && strings.ContainsRune("AEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

// perCallSettingOf names the per-call cap's setting for lim's currency.
func perCallSettingOf(lim Limit) string {
	if lim.Currency.IsUSDC() {
		return "defaults.max_per_call"
	}
	return "the asset's max_per_call (assets:)"
}

// refusal turns a challenge with no payable option into one error.
func refusal(opts []Option, lim Limit) *Error {
	// Prefer the most actionable reason: a price problem (the seller not
	// asking the amount the call chose first), then an allowlist or pin, then
	// anything else.
	rank := map[Code]int{CodePriceMismatch: 0, CodePriceAboveCap: 1, CodeNotAllowed: 2, CodeBadChallenge: 3, CodeUnsupported: 4}
	best := opts[0]
	for _, o := range opts[1:] {
		if rank[o.code] < rank[best.code] {
			best = o
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "no payment option the policy allows for %s: %s", lim.Tool, best.Reason)
	if len(opts) > 1 {
		fmt.Fprintf(&b, " (%d options offered; others: ", len(opts))
		n := 0
		for _, o := range opts {
			if o.Index == best.Index {
				continue
			}
			if n == 3 {
				b.WriteString("; …")
				break
			}
			if n > 0 {
				b.WriteString("; ")
			}
			b.WriteString(o.Reason)
			n++
		}
		b.WriteString(")")
	}
	switch best.code {
	case CodePriceAboveCap:
		fmt.Fprintf(&b, ". Nothing was signed. To pay it, the operator must raise max_price or %s in registry.yaml.", perCallSettingOf(lim))
	case CodePriceMismatch:
		b.WriteString(". Nothing was signed. The price of this call is its amount argument and must be asked exactly; the seller did not honour it, so do not retry unless the seller is fixed.")
	case CodeNotAllowed:
		b.WriteString(". Nothing was signed. The terms differ from what the operator allowed; do not retry unless the registry changes.")
	default:
		b.WriteString(". Nothing was signed.")
	}
	return &Error{Code: best.code, Charged: NotCharged, Message: b.String()}
}
