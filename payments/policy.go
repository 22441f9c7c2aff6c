package payments

import (
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
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
}

// Limit is what one catalog entry allows a call to pay, on top of the Policy.
type Limit struct {
	// Tool names the catalog entry, for the ledger and messages.
	Tool string
	// MaxPrice is the entry's max_price; zero means the per-call cap alone.
	MaxPrice Amount
	// Pins: when set, a requirement that differs is refused before signing.
	PayTo   string // address
	Network Network
	Asset   string // token address
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
	return &Error{Code: CodePriceAboveCap, Charged: NotCharged, Message: fmt.Sprintf(
		"%s is %s, above the %s (%s). Nothing was sent or signed. Call again with an amount of at most %s, or the operator must raise max_price or defaults.max_per_call in registry.yaml.",
		lim.exactWhat(), lim.ExactAmount.USDC(), capName, ceiling.USDC(), ceiling.String())}
}

// cap returns the price ceiling for a call and what sets it.
func (p *Policy) cap(lim Limit) (Amount, string) {
	if lim.Tip != nil && lim.Tip.Cap != 0 {
		return lim.Tip.Cap, "tip cap (tipping.max_tip)"
	}
	per := p.PerCall
	if per == 0 {
		per = DefaultPerCall
	}
	if lim.MaxPrice != 0 && lim.MaxPrice < per {
		return lim.MaxPrice, "max_price of " + lim.Tool
	}
	return per, "per-call cap"
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
	Index       int     `json:"index"`
	Scheme      string  `json:"scheme"`
	Network     string  `json:"network"`
	Amount      Amount  `json:"-"`
	Price       string  `json:"price"` // decimal USDC, or the raw atomic string when unreadable
	PayTo       string  `json:"payTo"`
	Asset       string  `json:"asset"`
	Payable     bool    `json:"payable"`
	Reason      string  `json:"reason,omitempty"` // why not payable
	code        Code    // which refusal, for choosing the error
	domain      Domain  // EIP-712 domain, when payable
	network     Network // parsed network, when payable
	flowPenalty int     // 0 for the authorization flow, 1 for upfront
}

// evaluate judges every requirement and returns them with the cheapest payable
// one, or nil. Ties go to the authorization flow, then to the seller's order.
func (p *Policy) evaluate(pr *PaymentRequired, lim Limit) ([]Option, *Option) {
	ceiling, capName := p.cap(lim)
	opts := make([]Option, len(pr.Accepts))
	var best *Option
	for i := range pr.Accepts {
		r := &pr.Accepts[i]
		o := &opts[i]
		*o = Option{Index: i, Scheme: r.Scheme, Network: r.Network, Price: r.Price(), PayTo: r.PayTo, Asset: r.Asset}
		o.code, o.Reason = p.judge(r, lim, ceiling, capName, o)
		o.Payable = o.Reason == ""
		if !o.Payable {
			continue
		}
		if best == nil || o.Amount < best.Amount || o.Amount == best.Amount && o.flowPenalty < best.flowPenalty {
			best = o
		}
	}
	return opts, best
}

func (p *Policy) judge(r *Requirement, lim Limit, ceiling Amount, capName string, o *Option) (Code, string) {
	if r.Scheme != "exact" {
		return CodeUnsupported, fmt.Sprintf("scheme %q is not supported (x402-mcp pays the exact scheme)", Sanitize(r.Scheme, 40))
	}
	n, err := ParseNetwork(r.Network)
	if err != nil {
		return CodeUnsupported, fmt.Sprintf("network %q is not a supported EVM network", Sanitize(r.Network, 60))
	}
	o.network = n
	o.Network = string(n)
	if lim.Network != "" && n != lim.Network {
		return CodeNotAllowed, fmt.Sprintf("network %s differs from the network pinned for %s (%s)", n, lim.Tool, lim.Network)
	}
	if !p.allows(n) {
		return CodeNotAllowed, fmt.Sprintf("network %s (%s) is not in the allowed networks (defaults.networks in registry.yaml)", n, n.Name())
	}
	extra, err := r.evmExtra()
	if err != nil {
		return CodeUnsupported, "extra is malformed: " + err.Error()
	}
	switch extra.PaymentFlow {
	case "", "authorization":
	case "upfront":
		o.flowPenalty = 1
	default:
		return CodeUnsupported, fmt.Sprintf("paymentFlow %q is not supported", Sanitize(extra.PaymentFlow, 40))
	}
	if m := extra.AssetTransferMethod; m != "" && m != "eip3009" {
		return CodeUnsupported, fmt.Sprintf("assetTransferMethod %q is not supported (x402-mcp signs EIP-3009)", Sanitize(m, 40))
	}
	if !common.IsHexAddress(r.PayTo) {
		return CodeUnsupported, fmt.Sprintf("payTo %q is not an address", Sanitize(r.PayTo, 60))
	}
	if lim.PayTo != "" && !strings.EqualFold(lim.PayTo, r.PayTo) {
		return CodeNotAllowed, fmt.Sprintf("payee %s is not the payee pinned for %s (%s)", r.PayTo, lim.Tool, lim.PayTo)
	}
	if !common.IsHexAddress(r.Asset) {
		return CodeUnsupported, fmt.Sprintf("asset %q is not a token address", Sanitize(r.Asset, 60))
	}
	asset := common.HexToAddress(r.Asset)
	known, isKnown := KnownUSDC(n)
	switch {
	case lim.Asset != "":
		if !strings.EqualFold(lim.Asset, r.Asset) {
			return CodeNotAllowed, fmt.Sprintf("asset %s is not the asset pinned for %s (%s)", r.Asset, lim.Tool, lim.Asset)
		}
	case !isKnown || known.Address != asset:
		return CodeNotAllowed, fmt.Sprintf("asset %s is not USDC on %s; pin it with `asset:` in the entry to pay it", r.Asset, n)
	}
	d := Domain{Name: extra.Name, Version: extra.Version, ChainID: n.ChainID(), VerifyingContract: asset}
	if d.Name == "" || d.Version == "" {
		if !isKnown || known.Address != asset {
			return CodeUnsupported, "extra.name and extra.version (the token's EIP-712 domain) are missing"
		}
		d.Name, d.Version = known.Name, known.Version
	}
	o.domain = d
	amt, err := ParseAtomic(r.Price())
	if err != nil {
		return CodeBadChallenge, "price " + err.Error()
	}
	if amt == 0 {
		return CodeBadChallenge, "price is zero"
	}
	o.Amount, o.Price = amt, amt.String()
	if lim.ExactAmount != 0 && amt != lim.ExactAmount {
		return CodePriceMismatch, fmt.Sprintf("the seller asks %s, not %s (%s)", amt.USDC(), lim.ExactAmount.USDC(), lim.exactWhat())
	}
	if amt > ceiling {
		return CodePriceAboveCap, fmt.Sprintf("price %s is above the %s (%s)", amt.USDC(), capName, ceiling.USDC())
	}
	if r.MaxTimeoutSeconds < 0 {
		return CodeBadChallenge, "maxTimeoutSeconds is negative"
	}
	return "", ""
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
		b.WriteString(". Nothing was signed. To pay it, the operator must raise max_price or defaults.max_per_call in registry.yaml.")
	case CodePriceMismatch:
		b.WriteString(". Nothing was signed. The price of this call is its amount argument and must be asked exactly; the seller did not honour it, so do not retry unless the seller is fixed.")
	case CodeNotAllowed:
		b.WriteString(". Nothing was signed. The terms differ from what the operator allowed; do not retry unless the registry changes.")
	default:
		b.WriteString(". Nothing was signed.")
	}
	return &Error{Code: best.code, Charged: NotCharged, Message: b.String()}
}
