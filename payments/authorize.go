package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Pending is a payment authorized for one call, whatever carries it (HTTP
// headers in Do, _meta in x402 over MCP): reserved under the budgets,
// approved when needed, signed once and recorded as signed. Exactly one of
// Delivered, Rejected or Unknown records its outcome.
type Pending struct {
	c *Client
	// Payload is the signed payment to send (once; never re-signed).
	Payload *x402.PaymentPayload
	// Requirement is the accept that was chosen.
	Requirement *x402.Requirement
	// Receipt describes the payment; its State is set by the outcome.
	Receipt *Receipt
	// proof is what the scheme proves the payment's fate with; its
	// Deadline is when the signed payment expires, by the clock.
	proof    Proof
	signedAt time.Time
	// hName and hValue are the encoded payment header (HTTP carriage).
	hName, hValue string
	// red hides the request's ${ENV} secrets in what is recorded.
	red *Redaction
}

// Authorize chooses an option of pr under the policy and lim, reserves it in
// the ledger, asks for approval when above the threshold, signs it and
// records the signed row, in that order; Do uses it for HTTP. resource names
// what is bought (such as "MCP mcp://tool/x on https://host/mcp") and host
// is the seller's host:port for the per-host budget. An error is a *Error
// that says nothing was charged.
func (c *Client) Authorize(ctx context.Context, pr *x402.PaymentRequired, lim Limit, resource, host string) (*Pending, error) {
	opts, best := c.Policy.evaluate(c.Schemes, c.Signers, pr, lim)
	if best == nil {
		return nil, refusal(opts, lim)
	}
	return c.authorize(ctx, pr, best, lim, resource, host)
}

// authorize is Authorize once the option best of pr is chosen.
func (c *Client) authorize(ctx context.Context, pr *x402.PaymentRequired, best *Option, lim Limit, resource, host string) (*Pending, error) {
	if lim.CallID == "" {
		lim.CallID = paymentID("")
	}
	if ctx.Err() != nil {
		return nil, stopped(ctx, best)
	}
	rsv := c.reservation(ctx, lim, best, Sanitize(resource, 300), host)
	ask := ApprovalRequest{
		Tool: lim.Tool, Resource: rsv.Resource, Description: lim.Description, Amount: best.Amount, Currency: rsv.Currency,
		Network: rsv.Network, NetworkName: rsv.NetworkName, PayTo: rsv.PayTo, Asset: rsv.Asset, Threshold: c.approvalThreshold(lim), Tip: lim.Tip,
	}
	if sl, ok := c.Ledger.(SigningLedger); ok && !ask.needed() && c.signsInProcess(best) {
		// Nothing to ask, and the key is in memory: reserve and record the
		// signed payment in one step of the ledger. A signer elsewhere (a
		// remote signer, a KMS) is asked below, with the payment only
		// reserved, so that it never holds the ledger's lock.
		return c.reserveSigned(ctx, sl, pr, best, lim, rsv)
	}
	id, err := c.Ledger.Reserve(ctx, rsv)
	if err != nil {
		if pe, ok := AsError(err); ok {
			return nil, pe
		}
		return nil, &Error{Code: CodeInternal, Charged: NotCharged, Err: err, Message: "internal error: the ledger could not reserve the payment; nothing was signed"}
	}
	bg := context.WithoutCancel(ctx)
	if perr := c.approve(ctx, ask); perr != nil {
		why := "not approved: " + string(perr.Code)
		if errors.Is(perr.Err, ErrApprovalAsked) {
			why = "asked the human; the call runs again with the answer"
		}
		c.logWrite("release", id, c.Ledger.Release(bg, id, why))
		return nil, perr
	}
	if ctx.Err() != nil {
		c.logWrite("release", id, c.Ledger.Release(bg, id, "cancelled before signing"))
		return nil, stopped(ctx, best)
	}
	progress(ctx, StepPaying)
	if err := c.prepare(ctx, best); err != nil {
		c.logWrite("release", id, c.Ledger.Release(bg, id, "refused before signing"))
		return nil, signError(err, best)
	}
	// The signer is asked within the call's context (a remote signer may
	// take a while, a human may be deciding; a signature that arrives after
	// the call is cancelled is simply never used). The signed record is
	// written even if the call is cancelled once the signature is here, so
	// that a signed row always gets an outcome.
	sp, err := c.sign(ctx, pr, best, lim)
	if err == nil {
		err = c.Ledger.MarkSigned(bg, id, sp.record)
	}
	if err != nil {
		// Nothing has left the process: the reservation can be released.
		c.logWrite("release", id, c.Ledger.Release(bg, id, "signing failed"))
		if ctx.Err() != nil {
			return nil, stopped(ctx, best)
		}
		return nil, signError(err, best)
	}
	return c.pending(ctx, pr, best, lim, rsv, id, sp), nil
}

// prepare has best's scheme read from the chain what signing it with the
// wallet's key of its family needs (Scheme.Prepare), with the terms' Payer
// set to that key's address.
func (c *Client) prepare(ctx context.Context, best *Option) error {
	t := &best.terms
	signer := c.Signers.For(t.Scheme.Family().Name())
	if signer == nil {
		return fmt.Errorf("the wallet holds no %s key", t.Scheme.Family().Title())
	}
	t.Payer = signer.Payer()
	return t.Scheme.Prepare(ctx, t, signer)
}

// signedPayment is a payment signed for one call, not yet sent.
type signedPayment struct {
	payload       *x402.PaymentPayload
	hName, hValue string
	record        Signed
}

// sign has best's scheme sign the payment and encodes its header: every
// step that computes, none that records.
func (c *Client) sign(ctx context.Context, pr *x402.PaymentRequired, best *Option, lim Limit) (signedPayment, error) {
	pid := paymentID(lim.CallID)
	lim.CallID = pid
	payload, proof, err := c.buildPayment(ctx, pr, best, lim)
	if err != nil {
		return signedPayment{}, err
	}
	hName, hValue, err := payload.Encode()
	if err != nil {
		return signedPayment{}, err
	}
	return signedPayment{payload: payload, hName: hName, hValue: hValue, record: signedRecord(payload, proof, hName, hValue, pid)}, nil
}

// signError is the error of a payment best that could not be signed: the
// scheme's refusal (nothing was signed, and why it cannot be paid now), the
// signer's refusal or failure (SignerError: nothing was signed), or an
// internal error.
func signError(err error, best *Option) *Error {
	var ref *Refusal
	if errors.As(err, &ref) {
		return &Error{Code: ref.Code, Charged: NotCharged, Err: err, Message: ref.Message + ". Nothing was signed."}
	}
	var se *SignerError
	if errors.As(err, &se) {
		what := fmt.Sprintf("the payment of %s to %s on %s", best.terms.Currency.Format(best.Amount), best.terms.PayTo, best.terms.Network)
		reason := Sanitize(se.Reason, 300)
		if se.Refused {
			return &Error{Code: CodeSignerRefused, Charged: NotCharged, Err: err, Message: fmt.Sprintf(
				"the wallet's signer (%s) refused to sign %s: %s. Nothing was signed and nothing was sent: not charged. The signer's own rules decide what it signs: its operator can change them; calling again gets the same answer.",
				se.Signer, what, reason)}
		}
		return &Error{Code: CodeSignerFailed, Charged: NotCharged, Err: err, Message: fmt.Sprintf(
			"the wallet's signer (%s) could not sign %s: %s. Nothing was signed and nothing was sent: not charged. Check that the signer is running and reachable, then call again.",
			se.Signer, what, reason)}
	}
	return &Error{Code: CodeInternal, Charged: NotCharged, Err: err, Message: "internal error: could not sign the payment; nothing was sent"}
}

// signsInProcess says best's signer holds its key in this process
// (InProcessSigner): it may sign inside the ledger's write transaction.
func (c *Client) signsInProcess(best *Option) bool {
	s := c.Signers.For(best.terms.Scheme.Family().Name())
	return s != nil && inProcess(s)
}

// reserveSigned is the rest of authorize for a payment that needs no
// approval, through a ledger that reserves and records the signed payment
// in one step. What the scheme reads from the chain before signing
// (Scheme.Prepare) is read first, outside the ledger's lock.
func (c *Client) reserveSigned(ctx context.Context, sl SigningLedger, pr *x402.PaymentRequired, best *Option, lim Limit, rsv Reservation) (*Pending, error) {
	progress(ctx, StepPaying)
	if err := c.prepare(ctx, best); err != nil {
		return nil, signError(err, best)
	}
	var (
		sp      signedPayment
		signErr error
	)
	// The signed record is written even if the call is cancelled meanwhile,
	// so that a signed row always gets an outcome.
	bg := context.WithoutCancel(ctx)
	id, err := sl.ReserveSigned(bg, rsv, func() (Signed, error) {
		sp, signErr = c.sign(bg, pr, best, lim)
		return sp.record, signErr
	})
	switch pe, ok := AsError(err); {
	case err == nil:
	case ok:
		return nil, pe // a budget refused it: nothing was signed
	case signErr != nil:
		return nil, signError(signErr, best)
	default:
		return nil, &Error{Code: CodeInternal, Charged: NotCharged, Err: err, Message: "internal error: the ledger could not record the payment; nothing was sent"}
	}
	return c.pending(ctx, pr, best, lim, rsv, id, sp), nil
}

// pending returns the Pending of a payment signed and recorded as ledger row id.
func (c *Client) pending(ctx context.Context, pr *x402.PaymentRequired, best *Option, lim Limit, rsv Reservation, id string, sp signedPayment) *Pending {
	receipt := &Receipt{
		Tool: lim.Tool, Amount: best.Amount, AmountAtom: best.Amount.Atomic(), Network: string(rsv.Network),
		PayTo: rsv.PayTo, Asset: rsv.Asset, Symbol: rsv.Currency.Symbol, Decimals: rsv.Currency.Decimals,
		Payer: sp.record.Proof.Payer, LedgerID: id, X402Version: pr.X402Version,
	}
	if best.terms.UpTo {
		receipt.Maximum = best.Amount
	}
	c.log().Info("paying", "tool", lim.Tool, "principal", rsv.Principal, "amount", rsv.Currency.Format(best.Amount), "network", rsv.Network, "payTo", receipt.PayTo, "ledger", id)
	progress(ctx, StepWaitingPaid)
	return &Pending{c: c, Payload: sp.payload, Requirement: best.terms.Requirement, Receipt: receipt, proof: sp.record.Proof, signedAt: c.now(),
		hName: sp.hName, hValue: sp.hValue, red: lim.Redaction}
}

// Delivered records the outcome of a paid call the seller answered with its
// output. settle is the seller's receipt (nil when it sent none). It returns
// whether money moved, with the receipt.
func (p *Pending) Delivered(ctx context.Context, settle *x402.SettlementResponse) (Charge, *Receipt) {
	bg, rc := context.WithoutCancel(ctx), p.Receipt
	if settle != nil && settle.Transaction != "" {
		rc.Transaction = Sanitize(settle.Transaction, 128)
	}
	switch {
	case rc.Maximum != 0 && settle != nil && (settle.Success || settle.ErrorReason == x402.ReasonSettlementPending):
		return p.settledUpTo(ctx, settle)
	case settle != nil && (settle.Success || settle.ErrorReason == x402.ReasonSettlementPending):
		rc.State = string(StateSettled)
		if !settle.Success {
			rc.State = "pending"
		}
		p.c.logWrite("settle", rc.LedgerID, p.c.Ledger.Settle(bg, rc.LedgerID, *rc))
		return Charged, rc
	case settle != nil:
		// The seller's reason may quote the request, and its secrets.
		p.markUnknown(bg, "delivered with a failed settlement receipt: "+Sanitize(settle.ErrorReason, 200))
		if p.settledOnChain(ctx) {
			return Charged, rc
		}
		return ChargeUnknown, rc
	default:
		p.markUnknown(bg, "delivered without a settlement receipt")
		rc.State = "unconfirmed"
		p.settledOnChain(ctx)
		return Charged, rc
	}
}

// settledUpTo records the settlement of an upto payment (Receipt.Maximum
// set): the seller settles what the call used, from nothing up to the
// maximum, and says how much in the settlement response's amount.
//   - Up to the maximum, above zero: that amount is booked and the rest
//     of the maximum stops counting at once (the settlement used the
//     payment's single-use nonce: the rest can never be taken).
//   - Zero (no transaction): nothing was charged, but the signed maximum
//     is still usable until its deadline, so it stays counted until
//     reconciliation proves it expired unused.
//   - Above the maximum, or not a number: a seller fault, recorded as
//     such; the payment stays counted at the maximum (more cannot have
//     left) until reconciliation reads the transfer on chain.
func (p *Pending) settledUpTo(ctx context.Context, settle *x402.SettlementResponse) (Charge, *Receipt) {
	bg, rc := context.WithoutCancel(ctx), p.Receipt
	amt, err := ParseAtomic(settle.Amount)
	switch {
	case settle.Amount == "" || err != nil || amt > rc.Maximum:
		reported := "no settled amount"
		if settle.Amount != "" {
			reported = "a settlement of " + Sanitize(settle.Amount, 80) + " atomic units"
			if err == nil {
				reported = fmt.Sprintf("a settlement of %s (%s atomic units), above the signed maximum of %s", rc.Currency().Format(amt), amt.Atomic(), rc.Currency().Format(rc.Maximum))
			}
		}
		rc.State, rc.SellerFault = string(StateUnknown), reported
		p.c.log().Warn("seller fault: an upto settlement the payment cannot have made", "ledger", rc.LedgerID, "reported", reported)
		p.c.logWrite("mark unknown", rc.LedgerID, p.c.Ledger.MarkUnknown(bg, rc.LedgerID, "seller fault: the seller reported "+reported+"; counted at the maximum until reconciliation reads the transfer"))
		return Charged, rc
	case amt == 0 && rc.Transaction == "":
		rc.Amount, rc.AmountAtom, rc.State = 0, "0", "unsettled"
		p.c.logWrite("mark unknown", rc.LedgerID, p.c.Ledger.MarkUnknown(bg, rc.LedgerID,
			fmt.Sprintf("upto: the seller settled nothing; the signed maximum stays usable until %s and counted until reconciliation proves it unused", p.proof.Deadline.UTC().Format(time.RFC3339))))
		return Charged, rc
	}
	rc.Amount, rc.AmountAtom, rc.State = amt, amt.Atomic(), string(StateSettled)
	if !settle.Success {
		rc.State = "pending"
	}
	p.c.logWrite("settle", rc.LedgerID, p.c.Ledger.Settle(bg, rc.LedgerID, *rc))
	return Charged, rc
}

// settledOnChain asks the chain, through p's scheme (Scheme.Prove), whether
// p, whose outcome is unknown, was used: at once and
// again until c.ProveWithin has passed or ctx ends, whichever is first. A
// used one is recorded settled, with the transaction that used it, and the
// receipt says so; it returns whether it was. Anything else leaves the
// payment as it is (unknown, counted) for reconciliation.
func (p *Pending) settledOnChain(ctx context.Context) bool {
	c := p.c
	wait := c.ProveWithin
	if wait == 0 {
		wait = DefaultProveWithin
	}
	if c.Schemes == nil || wait < 0 || ctx.Err() != nil || p.proof.Family == "" {
		return false
	}
	proof := p.proof
	proof.Since = p.signedAt
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		fate, err := c.Schemes.Prove(ctx, proof)
		switch {
		case err == nil && fate.State == FateSettled:
			rc := p.Receipt
			rc.State, rc.SellerFault = string(StateSettled), ""
			if fate.Transaction != "" {
				rc.Transaction = fate.Transaction
			}
			if rc.Maximum != 0 && fate.HasAmount && fate.Amount <= rc.Maximum {
				rc.Amount, rc.AmountAtom = fate.Amount, fate.Amount.Atomic()
			}
			c.log().Info("the chain shows the payment used", "ledger", rc.LedgerID, "tx", fate.Transaction)
			c.logWrite("settle", rc.LedgerID, c.Ledger.Settle(context.WithoutCancel(ctx), rc.LedgerID, *rc))
			return true
		case errors.Is(err, ErrNoRPC):
			return false
		case err != nil:
			c.log().Debug("asking the chain about a payment of unknown outcome", "ledger", p.Receipt.LedgerID, "err", err)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
	}
}

// Rejected records that the seller refused the payment (it answered with a
// fresh payment challenge) and returns the error to show. The seller had
// the signed authorization and may still settle it, so its outcome is
// unknown, not "not charged": it stays counted until reconciliation proves
// it unused on chain. Nothing is signed again.
func (p *Pending) Rejected(ctx context.Context, reason string) *Error {
	reason = p.reject(ctx, reason)
	return &Error{Code: CodePaymentRejected, Charged: ChargeUnknown, Receipt: p.Receipt, Message: fmt.Sprintf(
		"the seller refused the signed payment of %s (%s) and reported no settlement. It received the signed authorization, valid until %s, so the payment stays counted against the budgets until reconciliation proves it unused on chain (ledger %s). x402-mcp did not sign again. Do not retry this call blindly: check x402_spend_history first, and retry only once the seller's terms are fixed.",
		p.Receipt.Currency().Format(p.Receipt.Amount), reason, p.proof.Deadline.UTC().Format(time.RFC3339), p.Receipt.LedgerID)}
}

// allowanceRequired records that the seller refused the payment for want
// of the wallet's allowance to Permit2 (412 permit2_allowance_required) and
// returns the error to show: what to approve and how. The seller holds the
// signed payment, which it could settle once the allowance exists, so it
// stays counted until reconciliation proves it unused; nothing is signed
// again, and the call is not retried.
func (p *Pending) allowanceRequired(ctx context.Context, reason string) *Error {
	reason = p.reject(ctx, reason)
	rc := p.Receipt
	cur := rc.Currency()
	return &Error{Code: CodeAllowanceRequired, Charged: ChargeUnknown, Receipt: rc, Message: fmt.Sprintf(
		"the seller refused the signed payment of %s (%s): a Permit2 payment needs the wallet's ERC-20 allowance to Permit2, and the wallet %s has not given enough for %s on %s. The operator must approve it once, from a shell: `x402-mcp wallet approve-permit2 --network %s --asset %s --amount %s` (it shows what it will do, then sends approve(Permit2, amount) from the wallet, which pays the gas). x402-mcp did not sign again and will not retry. The refused payment, valid until %s, stays counted until reconciliation proves it unused (ledger %s). Call again once the allowance is given.",
		cur.Format(rc.Amount), reason, rc.Payer, rc.Asset, rc.Network, rc.Network, rc.Asset, cur.Decimal(rc.Amount),
		p.proof.Deadline.UTC().Format(time.RFC3339), rc.LedgerID)}
}

// reject records the seller's refusal and returns the reason as shown.
func (p *Pending) reject(ctx context.Context, reason string) string {
	reason = Sanitize(p.red.Text(reason), 200)
	if reason == "" {
		reason = "no reason given"
	}
	p.Receipt.State = string(StateRejected)
	p.c.logWrite("reject", p.Receipt.LedgerID, p.c.Ledger.Reject(context.WithoutCancel(ctx), p.Receipt.LedgerID, reason))
	return reason
}

// Unknown records an ambiguous outcome (the paid call failed after the
// payment left) and returns the error to show: charged, nothing delivered,
// when the chain shows the payment used (see Client.Chain).
func (p *Pending) Unknown(ctx context.Context, err error) *Error {
	timeout := timedOut(ctx, err) // before the chain check spends what is left of ctx
	rc := p.markUnknown(ctx, safeErr(err, p.red))
	if p.settledOnChain(ctx) {
		return describeUpstream(timeout, err, Charged, rc, p.red)
	}
	return describeUpstream(timeout, err, ChargeUnknown, rc, p.red)
}

// markUnknown records that the payment may or may not have settled.
func (p *Pending) markUnknown(ctx context.Context, reason string) *Receipt {
	p.Receipt.State = string(StateUnknown)
	p.c.logWrite("mark unknown", p.Receipt.LedgerID, p.c.Ledger.MarkUnknown(context.WithoutCancel(ctx), p.Receipt.LedgerID, p.red.Text(reason)))
	return p.Receipt
}

// logWrite logs a ledger write that failed after the decision it records
// was taken (the payment left, or was refused): the caller goes on, and the
// row stays in the state before, which counts at least as much.
func (c *Client) logWrite(op, id string, err error) {
	if err != nil {
		c.log().Error("ledger write failed", "op", op, "ledger", id, "err", err)
	}
}
