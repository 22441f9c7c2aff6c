package payments

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ApprovalRequest is what a human is shown before a payment above the
// approval threshold is signed.
type ApprovalRequest struct {
	// Tool is the catalog entry, Description what it does (its registry
	// description), Resource the request it pays for ("GET https://…", no
	// query string).
	Tool, Resource, Description string
	// Amount and Threshold are in Currency's units.
	Amount   Amount
	Currency Currency
	// Network is the CAIP-2 id, NetworkName how people call it ("Base
	// Sepolia").
	Network      Network
	NetworkName  string
	PayTo, Asset string
	// Threshold is the approve_above the amount exceeds; for a tip, the
	// tipping.auto_approve_up_to (zero: every tip asks).
	Threshold Amount
	// Tip is set when the payment is a tip: the question names the
	// recipient and the note.
	Tip *TipInfo
}

// NetworkTitle names the network for people: "Base Sepolia", or its id
// when it has no name.
func (r ApprovalRequest) NetworkTitle() string {
	if r.NetworkName != "" {
		return r.NetworkName
	}
	return string(r.Network)
}

// Approver asks a human to approve a payment. It returns nil when the human
// approved, an error wrapping ErrDeclined when they said no, and any other
// error when they could not be asked (the host cannot elicit, no answer in
// time). It is called after the budget is reserved and before anything is
// signed, with a context bounded by ApprovalTimeout. Package server provides
// the MCP one; payments never imports MCP.
type Approver func(ctx context.Context, r ApprovalRequest) error

// ErrDeclined is what an Approver wraps when the human declined.
var ErrDeclined = errors.New("the human declined the payment")

// ErrApprovalAsked is what an Approver wraps when the question is on its
// way to the human and the answer comes with a later call (MCP 2026-07-28
// input requests): not a failure, but nothing may be signed in this call.
// The reservation is released ("asked the human") and the later call
// reserves again.
var ErrApprovalAsked = errors.New("the question was put to the human")

// ApprovalTimeout bounds the wait for a human's answer. It is well under the
// ledger's StaleReservation, so a reservation held for an approval is never
// taken for an abandoned one.
const ApprovalTimeout = 5 * time.Minute

// approvalThreshold returns the threshold that applies to a call, in its
// currency: the entry's override, else the policy's (USDC's, or the declared
// asset's). Zero means no approval.
func (c *Client) approvalThreshold(lim Limit) Amount {
	if lim.Tip != nil {
		return lim.Tip.AutoApproveUpTo
	}
	if lim.ApproveAbove != 0 {
		return lim.ApproveAbove
	}
	if cur := lim.Currency.or(); !cur.IsUSDC() {
		if a := c.Policy.declared(cur); a != nil {
			return a.ApproveAbove
		}
		return 0
	}
	return c.Policy.ApproveAbove
}

// needed says whether r must be put to a human: above the threshold, or a
// tip its rules say to ask about.
func (r ApprovalRequest) needed() bool {
	if r.Tip != nil {
		return r.Tip.asks(r.Amount)
	}
	return r.Threshold != 0 && r.Amount > r.Threshold
}

// approve asks for approval of r when its amount is above the threshold. It
// returns nil when the payment may go ahead. The caller releases the
// reservation on an error: nothing has been signed.
func (c *Client) approve(ctx context.Context, r ApprovalRequest) *Error {
	if !r.needed() {
		return nil
	}
	th, cur := r.Threshold, r.Currency.or()
	setting := "defaults.approve_above"
	if !cur.IsUSDC() {
		setting = "the asset's approve_above (assets:)"
	}
	price := cur.Format(r.Amount)
	raise := fmt.Sprintf("To pay without asking, the operator can raise %s (or the tool's approve_above) in registry.yaml to at least %s.", setting, cur.Decimal(r.Amount))
	what := fmt.Sprintf("%s costs %s, above the approval threshold of %s", r.Tool, price, cur.Format(th))
	if r.Tip != nil {
		raise = r.Tip.why(r.Amount)
		what = fmt.Sprintf("the tip of %s to %s needs the human's approval", price, r.Tip.Recipient(r.PayTo))
	}
	if c.Approve == nil {
		return &Error{Code: CodeApprovalRequired, Charged: NotCharged, Message: fmt.Sprintf(
			"%s, and this server has no way to ask a human. Nothing was signed. %s", what, raise)}
	}
	progress(ctx, StepApproval)
	actx, cancel := context.WithTimeout(ctx, ApprovalTimeout)
	defer cancel()
	c.log().Info("asking for approval", "tool", r.Tool, "amount", price, "threshold", cur.Format(th), "payTo", r.PayTo)
	err := c.Approve(actx, r)
	switch {
	case err == nil:
		c.log().Info("payment approved", "tool", r.Tool, "amount", price)
		return nil
	case errors.Is(err, ErrDeclined):
		c.log().Info("payment declined", "tool", r.Tool, "amount", price)
		if r.Tip != nil {
			return &Error{Code: CodeApprovalDeclined, Charged: NotCharged, Err: err, Message: fmt.Sprintf(
				"the human declined the tip of %s to %s on %s. Nothing was signed. Do not tip again unless the user asks for it.",
				price, r.Tip.Recipient(r.PayTo), r.Network)}
		}
		return &Error{Code: CodeApprovalDeclined, Charged: NotCharged, Err: err, Message: fmt.Sprintf(
			"the human declined the payment of %s to %s on %s for %s. Nothing was signed. Do not retry this call unless the user asks for it.",
			price, r.PayTo, r.Network, r.Tool)}
	}
	if errors.Is(err, ErrApprovalAsked) {
		// Asked through the host (MCP 2026-07-28): the call ends here with
		// the question, and the host calls again with the answer.
		c.log().Info("approval asked; the host will call again with the answer", "tool", r.Tool, "amount", price)
		return &Error{Code: CodeApprovalRequired, Charged: NotCharged, Err: err, Message: fmt.Sprintf(
			"%s: the question was put to the human; nothing was signed. The call runs again with the answer.", what)}
	}
	c.log().Warn("approval not obtained", "tool", r.Tool, "err", safeErr(err, nil))
	why := safeErr(err, nil)
	switch {
	case ctx.Err() != nil:
		why = "the call was cancelled or ran out of time while waiting for the human"
	case errors.Is(err, context.DeadlineExceeded):
		why = fmt.Sprintf("no answer within %s", ApprovalTimeout)
	}
	return &Error{Code: CodeApprovalRequired, Charged: NotCharged, Err: err, Message: fmt.Sprintf(
		"%s, and the human's approval could not be obtained (%s). Nothing was signed. %s", what, why, raise)}
}
