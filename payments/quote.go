package payments

import (
	"context"
	"net/http"

	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Quote is what a seller asks for a request, judged by the policy, with
// nothing signed.
type Quote struct {
	// Free is true when the upstream answered without asking for payment.
	Free bool `json:"free"`
	// Status is the upstream's HTTP status.
	Status      int      `json:"status"`
	X402Version int      `json:"x402Version,omitempty"`
	Options     []Option `json:"options,omitempty"`
	// Offered is how many options the seller offered: Options lists at
	// most MaxQuoteOptions of them.
	Offered int `json:"offered,omitempty"`
	// Chosen is the option a call would pay, or nil.
	Chosen *Option `json:"chosen,omitempty"`
	// WouldPay says whether a call now would pay (policy and budget).
	WouldPay bool `json:"wouldPay"`
	// Reason says why not, when WouldPay is false and the call is not free.
	Reason string `json:"reason,omitempty"`
	// BudgetLeft is what the total budget of the chosen option's currency
	// still allows (USDC's when nothing is chosen), in that currency: see
	// Currency. WouldPay also accounts for every other budget (tool, host,
	// session, network, day).
	BudgetLeft Amount `json:"-"`
	// Currency is what BudgetLeft is in.
	Currency Currency `json:"-"`
}

// MaxQuoteOptions is how many options a quote lists: the one a call would
// pay and the first others. A seller may offer thousands, and the quote is
// read by a model whole.
const MaxQuoteOptions = 10

// shortList is at most MaxQuoteOptions of opts, in the seller's order: the
// first ones, and best (when not nil) in place of the last.
func shortList(opts []Option, best *Option) []Option {
	if len(opts) <= MaxQuoteOptions {
		return opts
	}
	out := append([]Option(nil), opts[:MaxQuoteOptions]...)
	if best != nil && best.Index >= MaxQuoteOptions {
		out[MaxQuoteOptions-1] = *best
	}
	return out
}

// Quote sends req unpaid and reports the seller's terms and whether the
// policy and budget would pay them. It never signs.
func (c *Client) Quote(ctx context.Context, req *http.Request, lim Limit) (*Quote, error) {
	q, err := c.quote(ctx, req, lim)
	if q != nil {
		q.Reason = lim.Redaction.Text(q.Reason)
		for i := range q.Options {
			q.Options[i].Reason = lim.Redaction.Text(q.Options[i].Reason)
		}
	}
	return q, redactError(err, lim.Redaction)
}

func (c *Client) quote(ctx context.Context, req *http.Request, lim Limit) (*Quote, error) {
	res, err := c.send(ctx, req, "", "")
	if err != nil {
		return nil, upstreamError(ctx, err, NotCharged, nil, lim.Redaction)
	}
	sum, err := c.Ledger.Summary(ctx)
	if err != nil {
		return nil, err
	}
	q := &Quote{Status: res.Status, BudgetLeft: sum.Left(), Currency: USDC}
	if res.Status != http.StatusPaymentRequired {
		q.Free = true
		return q, nil
	}
	pr, err := x402.ParseChallenge(res.Header, res.Body)
	if err != nil {
		q.Reason = "the seller's 402 is malformed: " + err.Error()
		return q, nil
	}
	q.X402Version = pr.X402Version
	opts, best := c.Policy.evaluate(c.Schemes, c.Signers, pr, lim)
	q.Options, q.Chosen, q.Offered = shortList(opts, best), best, len(opts)
	if best != nil && !best.Currency().IsUSDC() {
		cur := best.Currency()
		q.Currency, q.BudgetLeft = cur, 0
		for _, a := range sum.Assets {
			if a.Currency.Budget == cur.Budget {
				q.BudgetLeft = a.Left()
			}
		}
	}
	switch {
	case best == nil:
		q.Reason = refusal(opts, lim).Message
	case best.Amount > q.BudgetLeft:
		q.Reason = "the price " + q.Currency.Format(best.Amount) + " is more than the budget left (" + q.Currency.Format(q.BudgetLeft) + ")"
	default:
		r := c.reservation(ctx, lim, best, requestName(req, lim.Redaction), HostPort(req.URL))
		spent, err := c.Ledger.Spent(ctx, r)
		if err != nil {
			return nil, err
		}
		if e := sum.Budget.Check(r, spent, c.now()); e != nil {
			q.Reason = e.Message
			break
		}
		q.WouldPay = true
	}
	return q, nil
}
