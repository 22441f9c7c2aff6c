package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/facilitator"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Tipping is the operator's tipping section of registry.yaml, validated:
// where tips are paid (network, asset, facilitator), how much (the caps,
// with the tip budget in Budget.TipPerDay), who may be paid (the address
// book) and which tips go without asking the human.
type Tipping struct {
	// Network is the CAIP-2 network tips are paid on; the policy must allow it.
	Network Network
	// Family is the network's family: it reads recipients' addresses.
	Family Family
	// Asset is the token, with what its family needs to pay in it (EVM:
	// the EIP-712 domain in Name and Version).
	Asset Asset
	// Currency is the token's: the unit of the caps, the tip budget and
	// every tip (the zero value is USDC).
	Currency Currency
	// Facilitator is the facilitator's base URL (POST /verify, /settle).
	Facilitator string
	// FacilitatorHeader is sent with every facilitator request: its
	// credentials, when it requires them.
	FacilitatorHeader http.Header
	// FacilitatorRedaction hides the secrets of Facilitator and
	// FacilitatorHeader (values of the catalog's ${ENV} references) in
	// errors, the ledger and logs.
	FacilitatorRedaction *Redaction
	// PerDay is the tip budget (also Budget.TipPerDay, which the ledger
	// enforces); MaxTip caps one tip.
	PerDay, MaxTip Amount
	// AutoApproveUpTo: a tip to an address-book recipient up to this amount
	// is sent without asking. Zero: every tip asks the human.
	AutoApproveUpTo Amount
	// AllowAddresses: a tip may go to a bare address not in the address
	// book (it always asks the human).
	AllowAddresses bool
	// Timeout bounds each facilitator request.
	Timeout time.Duration
	// Recipients is the address book, sorted by name.
	Recipients []Recipient
}

// Recipient is a named address of the address book.
type Recipient struct {
	Name string
	// Address is in its family's canonical form.
	Address string
}

// String names the recipient: "alice (0x…)" or the bare address.
func (r Recipient) String() string {
	if r.Name == "" {
		return r.Address
	}
	return r.Name + " (" + r.Address + ")"
}

// MaxTipNote caps a tip's note, in bytes.
const MaxTipNote = 200

// DefaultTipValidity is how long a tip's authorization stays valid: time
// for the facilitator to verify and settle it. An authorization that fails
// stays counted until reconciliation proves it unused, which it can do once
// the chain is past this.
const DefaultTipValidity = 300

// TipInfo describes a tip to the approval question and the ledger (through
// Limit.Tip).
type TipInfo struct {
	// Name is the address-book name, empty for a bare address.
	Name string
	// Note is the sanitized note, kept in the books and shown to the human;
	// it is never sent to the facilitator or the chain.
	Note string
	// Cap is tipping.max_tip.
	Cap Amount
	// AutoApproveUpTo is tipping.auto_approve_up_to.
	AutoApproveUpTo Amount
	// Facilitator is the host the tip is settled through, for the question.
	Facilitator string
	// Currency is the tipping asset's: Cap and AutoApproveUpTo are in it.
	Currency Currency
}

// asks says whether a tip of amt must be approved by the human: always,
// unless auto-approval is on, the recipient is in the address book and amt
// is within it.
func (t *TipInfo) asks(amt Amount) bool {
	return t.AutoApproveUpTo == 0 || t.Name == "" || amt > t.AutoApproveUpTo
}

// why says why a tip needs approval and what the operator could change.
func (t *TipInfo) why(amt Amount) string {
	switch {
	case t.AutoApproveUpTo == 0:
		return "Every tip asks the human (tipping.auto_approve_up_to is not set)."
	case t.Name == "":
		return "A tip to an address outside the address book always asks the human; the operator can add it to tipping.recipients."
	default:
		return fmt.Sprintf("Tips above tipping.auto_approve_up_to (%s) ask the human; this one is %s.", t.Currency.Format(t.AutoApproveUpTo), t.Currency.Format(amt))
	}
}

// Recipient names the payee for messages: "alice (0x…)" or the address.
func (t *TipInfo) Recipient(payTo string) string {
	return Recipient{Name: t.Name, Address: payTo}.String()
}

// Resolve finds who a tip goes to: an address-book name (case-insensitive,
// surrounding space and one leading @ ignored) or, when AllowAddresses, an
// address of the tipping network's family, as Family.CheckAddress reads it
// (EVM: 0x and 40 hex digits, the EIP-55 checksum checked when mixed case).
// An address that is in the book resolves to its name. Anything else is an
// *Error with CodeUnknownRecipient.
func (t *Tipping) Resolve(s string) (Recipient, *Error) {
	in := strings.TrimSpace(s)
	name := strings.TrimPrefix(in, "@")
	for _, r := range t.Recipients {
		if strings.EqualFold(r.Name, name) {
			return r, nil
		}
	}
	addr, err := t.Family.CheckAddress(in)
	switch {
	case errors.Is(err, ErrNotAddress):
		return Recipient{}, &Error{Code: CodeUnknownRecipient, Charged: NotCharged, Message: fmt.Sprintf(
			"%q is not a recipient x402-mcp knows. Nothing was signed. %s Names are not looked up anywhere else (no ENS, no handles): ask the user for the recipient's %s, or the operator to add it to tipping.recipients.",
			Sanitize(in, 80), t.known(), t.Family.AddressName())}
	case err != nil:
		return Recipient{}, &Error{Code: CodeUnknownRecipient, Charged: NotCharged, Message: fmt.Sprintf(
			"%s. Nothing was signed. %s", err.Error(), t.known())}
	}
	for _, r := range t.Recipients {
		if r.Address == addr {
			return r, nil
		}
	}
	if !t.AllowAddresses {
		return Recipient{}, &Error{Code: CodeUnknownRecipient, Charged: NotCharged, Message: fmt.Sprintf(
			"%s is not in the address book, and the operator allows tips only to it (tipping.allow_addresses: false). Nothing was signed. %s",
			addr, t.known())}
	}
	return Recipient{Address: addr}, nil
}

// known lists the address book for refusals.
func (t *Tipping) known() string {
	if len(t.Recipients) == 0 {
		if t.AllowAddresses {
			return "The address book is empty: give a " + t.Family.AddressName() + "."
		}
		return "The address book is empty."
	}
	names := make([]string, 0, len(t.Recipients))
	for i, r := range t.Recipients {
		if i == 20 {
			names = append(names, fmt.Sprintf("and %d more", len(t.Recipients)-20))
			break
		}
		names = append(names, r.Name)
	}
	s := "Known recipients: " + strings.Join(names, ", ") + "."
	if t.AllowAddresses {
		s += " A " + t.Family.AddressName() + " is accepted too."
	}
	return s
}

// Names returns the address book's names, sorted.
func (t *Tipping) Names() []string {
	out := make([]string, len(t.Recipients))
	for i, r := range t.Recipients {
		out[i] = r.Name
	}
	sort.Strings(out)
	return out
}

// TipRequest is one tip to send.
type TipRequest struct {
	// Tool names the tip in the ledger and messages ("x402_tip").
	Tool string
	// To is the recipient as given: an address-book name or an address.
	To     string
	Amount Amount
	// Note is free text for the books (sanitized, at most MaxTipNote bytes).
	Note string
	// CallID is the tool call's idempotency key (empty: generated).
	CallID string
}

// TipResult is a tip that left the wallet.
type TipResult struct {
	Receipt   *Receipt
	Recipient Recipient
	Note      string
	Charged   Charge
}

// Line returns the tip's receipt as one line of text.
func (r *TipResult) Line() string {
	rc := r.Receipt
	tx := rc.Transaction
	if tx == "" {
		tx = "no transaction hash reported"
	}
	return fmt.Sprintf("Tipped %s (%s atomic) on %s to %s from %s; tx %s [%s].",
		rc.Currency().Format(rc.Amount), rc.AmountAtom, rc.Network, r.Recipient, rc.Payer, tx, rc.State)
}

// Tip pays a tip directly through the facilitator of t, with no seller: it
// resolves the recipient, builds the payment requirements itself (payee =
// the recipient), and goes through Authorize like every payment (tip cap,
// every budget and the tip budget reserved atomically, the human asked
// unless auto-approved, one signature, the signed record written), then
// POSTs /verify and /settle. It never signs twice: an ambiguous answer
// leaves the tip unknown and a refusal leaves it rejected, both counted until
// reconciliation proves them used or unused on chain; a tip that could not
// even be sent is released.
//
// The note is kept in the ledger and shown to the human; it is never sent
// to the facilitator or the chain.
func (c *Client) Tip(ctx context.Context, t *Tipping, req TipRequest) (*TipResult, error) {
	res, err := c.tip(ctx, t, req)
	if t != nil {
		err = redactError(err, t.FacilitatorRedaction)
	}
	return res, err
}

func (c *Client) tip(ctx context.Context, t *Tipping, req TipRequest) (*TipResult, error) {
	if t == nil {
		return nil, &Error{Code: CodeNotAllowed, Charged: NotCharged, Message: "tipping is not configured: the operator must add a tipping: section to registry.yaml. Nothing was signed."}
	}
	if t.Family == nil {
		f := c.Schemes.Families().Family(t.Network)
		if f == nil {
			return nil, &Error{Code: CodeNotAllowed, Charged: NotCharged, Message: fmt.Sprintf("tipping.network %s is not a network x402-mcp pays on. Nothing was signed.", t.Network)}
		}
		cp := *t
		cp.Family = f
		t = &cp
	}
	note, perr := tipNote(req.Note)
	if perr != nil {
		return nil, perr
	}
	if req.Amount == 0 {
		return nil, &Error{Code: CodeInvalidTip, Charged: NotCharged, Message: fmt.Sprintf("a tip must be more than 0 %s, such as \"0.50\". Nothing was signed.", t.Currency.or().Symbol)}
	}
	rec, perr := t.Resolve(req.To)
	if perr != nil {
		return nil, perr
	}
	if s := c.Signers.For(t.Family.Name()); s != nil && s.Payer() == rec.Address {
		return nil, &Error{Code: CodeNotAllowed, Charged: NotCharged, Message: fmt.Sprintf("%s is x402-mcp's own wallet: a tip to itself would move nothing. Nothing was signed.", rec)}
	}
	if rec.Address == t.Asset.Address {
		return nil, &Error{Code: CodeNotAllowed, Charged: NotCharged, Message: fmt.Sprintf("%s is the token contract itself, not a person: tokens sent there are lost. Nothing was signed.", rec)}
	}
	host := facilitatorHost(t.Facilitator)
	fc := &facilitator.Client{URL: t.Facilitator, Header: t.FacilitatorHeader, HTTP: c.httpClient(), Timeout: t.Timeout}
	if red := t.FacilitatorRedaction; red != nil {
		fc.Redactor, fc.ShownURL = red, red.URL
	}
	pr, perr := c.tipChallenge(ctx, t, fc, rec.Address, req.Amount)
	if perr != nil {
		return nil, perr
	}
	lim := Limit{
		Tool: req.Tool, PayTo: rec.Address, Network: t.Network, Asset: t.Asset.Address, Currency: t.Currency.or(), CallID: req.CallID,
		Description: "a tip to " + rec.String() + ", paid through the facilitator at " + host,
		Tip:         &TipInfo{Name: rec.Name, Note: note, Cap: t.MaxTip, AutoApproveUpTo: t.AutoApproveUpTo, Facilitator: host, Currency: t.Currency.or()},
		Redaction:   t.FacilitatorRedaction,
	}
	p, err := c.Authorize(ctx, pr, lim, "tip to "+rec.String(), host)
	if err != nil {
		return nil, err
	}

	// A signed authorization exists: every path below records an outcome.
	// The tip goes on even if the call is cancelled meanwhile (the human
	// approved it), bounded by the facilitator's timeout.
	bg := context.WithoutCancel(ctx)
	res := &TipResult{Receipt: p.Receipt, Recipient: rec, Note: note}
	// failed returns e, or, when the chain showed the tip used (e is nil),
	// the settled tip.
	failed := func(e *Error) (*TipResult, error) {
		if e != nil {
			return nil, e
		}
		res.Charged, res.Receipt = Charged, p.Receipt
		return res, nil
	}
	vr, err := fc.Verify(bg, p.Payload, p.Requirement)
	if err != nil {
		return failed(p.tipFailed(bg, err, rec, host))
	}
	if !vr.IsValid {
		return nil, p.tipRefused(bg, "verify", vr.InvalidReason, vr.InvalidMessage, rec, host)
	}
	sr, err := fc.Settle(bg, p.Payload, p.Requirement)
	if err != nil {
		return failed(p.tipFailed(bg, err, rec, host))
	}
	switch {
	case sr.Success || sr.ErrorReason == x402.ReasonSettlementPending:
		// Delivered records settled (or pending, which counts as paid).
		res.Charged, res.Receipt = p.Delivered(bg, sr)
		c.log().Info("tipped", "amount", p.Receipt.Currency().Format(p.Receipt.Amount), "to", rec.Address, "ledger", p.Receipt.LedgerID, "tx", p.Receipt.Transaction)
		return res, nil
	case nonceUsed(sr.ErrorReason) || sr.ErrorReason == "unexpected_settle_error" || sr.ErrorReason == "":
		// The authorization may have been used (by this settle, a replay,
		// or a failure after broadcast).
		return failed(p.tipUnknown(bg, fmt.Sprintf("the facilitator's /settle failed with %s", reasonText(sr.ErrorReason, sr.ErrorMessage)), rec, host))
	default:
		return nil, p.tipRefused(bg, "settle", sr.ErrorReason, sr.ErrorMessage, rec, host)
	}
}

// tipNote sanitizes a note and checks its length.
func tipNote(s string) (string, *Error) {
	n := strings.TrimSpace(Sanitize(s, MaxTipNote+1))
	if len(n) > MaxTipNote {
		return "", &Error{Code: CodeInvalidTip, Charged: NotCharged, Message: fmt.Sprintf(
			"the note is too long: at most %d bytes are kept in the books. Shorten it and tip again. Nothing was signed.", MaxTipNote)}
	}
	return n, nil
}

// tipChallenge is the payment requirement a tip pays, as the tipping
// network's exact scheme states it (Scheme.Offer): the amount to the
// recipient, valid for DefaultTipValidity seconds. A scheme that needs what
// the facilitator states for the network (a Solana fee payer) gets it from
// the facilitator's /supported answer. Its error says nothing was signed.
func (c *Client) tipChallenge(ctx context.Context, t *Tipping, fc *facilitator.Client, to string, amt Amount) (*x402.PaymentRequired, *Error) {
	sc := c.Schemes.Lookup(t.Family.Name(), x402.SchemeExact)
	if sc == nil {
		return nil, &Error{Code: CodeInternal, Charged: NotCharged, Message: fmt.Sprintf("internal error: no exact scheme of the %s family is configured; nothing was signed", t.Family.Name())}
	}
	o := Offer{Network: t.Network, Asset: t.Asset, PayTo: to, Amount: amt, Timeout: DefaultTipValidity * time.Second}
	r, err := sc.Offer(o)
	if err != nil {
		// The scheme needs the facilitator's word for the network.
		extra, ferr := supportedExtra(ctx, fc, t)
		if ferr != nil {
			return nil, ferr
		}
		o.Extra = extra
		if r, err = sc.Offer(o); err != nil {
			return nil, &Error{Code: CodeUnsupported, Charged: NotCharged, Err: err, Message: fmt.Sprintf(
				"the facilitator at %s cannot take a tip on %s: %s. Nothing was signed; the operator must point tipping.facilitator_url at a facilitator that settles exact payments there.",
				facilitatorHost(t.Facilitator), t.Family.NetworkName(t.Network), Sanitize(err.Error(), 200))}
		}
	}
	return &x402.PaymentRequired{X402Version: 2, Accepts: []x402.Requirement{r}}, nil
}

// supportedExtra is what the facilitator states in its /supported answer
// for the exact scheme on t's network (x402 v2, or its v1 name).
func supportedExtra(ctx context.Context, fc *facilitator.Client, t *Tipping) ([]byte, *Error) {
	s, err := fc.Supported(ctx)
	if err != nil {
		return nil, &Error{Code: CodeUpstreamFailed, Charged: NotCharged, Err: err, Message: fmt.Sprintf(
			"could not ask the facilitator at %s what it settles on %s (GET /supported: %s). Nothing was signed; tipping again later is safe.",
			facilitatorHost(t.Facilitator), t.Family.NetworkName(t.Network), safeErr(err, t.FacilitatorRedaction))}
	}
	var found json.RawMessage
	for _, k := range s.Kinds {
		if k.Scheme != x402.SchemeExact {
			continue
		}
		if n, ok, perr := t.Family.ParseNetwork(k.Network); ok && perr == nil && n == t.Network {
			found = k.Extra
			if k.X402Version == 2 {
				break
			}
		}
	}
	if found == nil {
		return nil, &Error{Code: CodeUnsupported, Charged: NotCharged, Message: fmt.Sprintf(
			"the facilitator at %s does not settle exact payments on %s (its /supported answer lists no such kind). Nothing was signed; the operator must point tipping.facilitator_url at one that does.",
			facilitatorHost(t.Facilitator), t.Family.NetworkName(t.Network))}
	}
	return found, nil
}

// facilitatorHost is the facilitator's host:port: the tip's host in the
// ledger (the per-host budget) and in messages.
func facilitatorHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "facilitator"
	}
	return HostPort(u)
}

func reasonText(reason, msg string) string {
	reason = Sanitize(reason, 120)
	if reason == "" {
		reason = "no reason given"
	}
	if msg = Sanitize(msg, 200); msg != "" {
		return reason + ": " + msg
	}
	return reason
}

// tipRefused records a facilitator's refusal (at /verify, or a settlement
// that failed for a stated reason). The facilitator had the signed
// authorization and could still settle it, so the outcome is unknown, not
// "not charged": it stays counted until reconciliation proves it unused.
func (p *Pending) tipRefused(ctx context.Context, op, reason, msg string, rec Recipient, host string) *Error {
	why := p.red.Text(reasonText(reason, msg))
	p.c.logWrite("reject", p.Receipt.LedgerID, p.c.Ledger.Reject(ctx, p.Receipt.LedgerID, Sanitize("facilitator /"+op+": "+why, 300)))
	p.Receipt.State = string(StateRejected)
	p.c.log().Info("tip refused by the facilitator", "op", op, "reason", Sanitize(p.red.Text(reason), 120), "ledger", p.Receipt.LedgerID)
	return &Error{Code: CodePaymentRejected, Charged: ChargeUnknown, Receipt: p.Receipt, Message: fmt.Sprintf(
		"the facilitator at %s refused the tip of %s to %s at /%s (%s) and reported no settlement. x402-mcp did not sign again. The facilitator received the signed authorization, valid until %s, so the tip stays counted against the budgets until reconciliation proves it unused on chain (ledger %s). Do not tip again blindly: check x402_spend_history first, and fix the cause (for example the wallet's balance).",
		host, p.Receipt.Currency().Format(p.Receipt.Amount), rec, op, why, p.proof.Deadline.UTC().Format(time.RFC3339), p.Receipt.LedgerID)}
}

// tipUnknown records an ambiguous outcome: the tip may have settled. It
// returns nil when the chain shows the tip used (see Client.Chain): the tip
// is then recorded settled.
func (p *Pending) tipUnknown(ctx context.Context, what string, rec Recipient, host string) *Error {
	rc := p.markUnknown(ctx, Sanitize(what, 300))
	if p.settledOnChain(ctx) {
		p.c.log().Info("tipped (the facilitator's answer was lost; the chain shows the tip used)", "ledger", rc.LedgerID, "tx", rc.Transaction)
		return nil
	}
	p.c.log().Warn("tip outcome unknown", "ledger", rc.LedgerID, "why", Sanitize(what, 300))
	return &Error{Code: CodeOutcomeUnknown, Charged: ChargeUnknown, Receipt: rc, Message: fmt.Sprintf(
		"%s after the signed tip of %s to %s was sent to the facilitator at %s. The tip may have settled. x402-mcp did not sign again. Do not tip again blindly: it could pay twice. Check x402_spend_history later or ask the operator to reconcile (ledger %s; the authorization expires at %s).",
		what, rc.Currency().Format(rc.Amount), rec, host, rc.LedgerID, p.proof.Deadline.UTC().Format(time.RFC3339))}
}

// tipNeverSent releases a tip whose /verify request could not even be sent.
//
// Releasing at once breaks the rule that a signed authorization counts
// until the chain proves it unused, and only here, because this one never
// existed outside x402-mcp: fe.Sent is false only for a dial or DNS error
// (neverSent), and Go's HTTP client reports one only when no attempt of the
// request was written anywhere (a reused connection that fails before
// writing is retried on a new one; a failure after writing is not a dial
// error). The request is the only way the signature leaves, and /verify is
// the first request. The one other copy, the ledger's, is cleared by
// ReleaseUnsent. If that fails the tip stays signed, and counted, until
// reconciliation.
func (p *Pending) tipNeverSent(ctx context.Context, fe *facilitator.Error, rec Recipient, host string) *Error {
	id := p.Receipt.LedgerID
	e := &Error{Code: CodeUpstreamFailed, Charged: NotCharged, Err: fe, Receipt: p.Receipt}
	if err := p.c.Ledger.ReleaseUnsent(ctx, id, Sanitize("never sent: "+fe.Error(), 300)); err != nil {
		p.c.logWrite("release unsent", id, err)
		e.Message = fmt.Sprintf(
			"could not reach the facilitator at %s (%s). The signed tip of %s to %s never left x402-mcp: nothing was charged. The ledger could not release it, so it stays counted until reconciliation (ledger %s). Tipping again once the facilitator is reachable is safe.",
			host, fe.Detail, p.Receipt.Currency().Format(p.Receipt.Amount), rec, id)
		return e
	}
	p.Receipt.State = string(StateReleased)
	e.Message = fmt.Sprintf(
		"could not reach the facilitator at %s (%s). The signed tip of %s to %s never left x402-mcp: nothing was charged, and its authorization was released and discarded (ledger %s). Tipping again once the facilitator is reachable is safe.",
		host, fe.Detail, p.Receipt.Currency().Format(p.Receipt.Amount), rec, id)
	return e
}

// tipFailed records a facilitator request that got no usable answer. It
// returns nil when the chain shows the tip used (see tipUnknown).
func (p *Pending) tipFailed(ctx context.Context, err error, rec Recipient, host string) *Error {
	var fe *facilitator.Error
	if !errors.As(err, &fe) {
		return p.tipUnknown(ctx, "the facilitator request failed ("+safeErr(err, p.red)+")", rec, host)
	}
	switch {
	case fe.Op == "verify" && !fe.Sent:
		return p.tipNeverSent(ctx, fe, rec, host)
	case fe.Status >= 400 && fe.Status < 500, fe.Op == "verify" && fe.Status >= 500:
		// The facilitator answered and did not settle: /verify never moves
		// money, and a 4xx at /settle is a refusal of the request.
		return p.tipRefused(ctx, fe.Op, fmt.Sprintf("HTTP %d", fe.Status), fe.Detail, rec, host)
	default:
		return p.tipUnknown(ctx, "the facilitator's /"+fe.Op+" gave no usable answer: "+fe.Detail, rec, host)
	}
}
