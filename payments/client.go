package payments

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/httplimit"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Receipt describes a payment that left the wallet.
type Receipt struct {
	Tool string `json:"tool,omitempty"`
	// Amount is in the asset's atomic units; JSON shows it as a decimal of
	// the asset (Symbol, Decimals), and AmountAtom as atomic units. For an
	// upto payment it is what the seller settled (until then, the maximum).
	Amount     Amount `json:"amount"`
	AmountAtom string `json:"amountAtomic"`
	// Maximum is, for an upto payment, the most it signed for (JSON: as a
	// decimal in "maximum", atomic in "maximumAtomic"); zero for exact.
	Maximum Amount `json:"-"`
	// SellerFault says what the seller reported that its payment cannot
	// have done (an upto settlement above the maximum); empty otherwise.
	SellerFault string `json:"sellerFault,omitempty"`
	Network     string `json:"network"` // CAIP-2
	PayTo       string `json:"payTo"`
	Asset       string `json:"asset"`
	// Symbol and Decimals say how Amount reads ("USDC", 6).
	Symbol      string `json:"symbol"`
	Decimals    int    `json:"decimals"`
	Payer       string `json:"payer"`
	Transaction string `json:"transaction,omitempty"`
	// State is settled, or pending when the seller reported settlement_pending,
	// or unconfirmed when the seller delivered but sent no receipt.
	State       string `json:"state"`
	LedgerID    string `json:"ledgerId"`
	X402Version int    `json:"x402Version"`
}

// Currency returns how the receipt's amount reads (USDC when Symbol is
// empty); it formats amounts, and names no budget.
func (r *Receipt) Currency() Currency {
	if r.Symbol == "" {
		return USDC
	}
	return Currency{Symbol: r.Symbol, Decimals: r.Decimals}
}

// MarshalJSON writes the amount as a decimal of the receipt's asset.
func (r Receipt) MarshalJSON() ([]byte, error) {
	type plain Receipt
	out := struct {
		Amount      string `json:"amount"`
		Maximum     string `json:"maximum,omitempty"`
		MaximumAtom string `json:"maximumAtomic,omitempty"`
		plain
	}{Amount: r.Currency().Decimal(r.Amount), plain: plain(r)}
	if r.Maximum != 0 {
		out.Maximum, out.MaximumAtom = r.Currency().Decimal(r.Maximum), r.Maximum.Atomic()
	}
	return json.Marshal(out)
}

// Line returns the receipt as one short line of text. It says "Paid" only
// for a payment that settled; of one whose settlement the seller reported
// pending, that it was sent and counts as charged; for any other, what is
// known.
func (r *Receipt) Line() string {
	what := fmt.Sprintf("%s (%s atomic) on %s to %s from %s", r.Currency().Format(r.Amount), r.AmountAtom, r.Network, r.PayTo, r.Payer)
	if r.Maximum != 0 {
		what = fmt.Sprintf("%s (%s atomic) of at most %s on %s to %s from %s", r.Currency().Format(r.Amount), r.AmountAtom, r.Currency().Format(r.Maximum), r.Network, r.PayTo, r.Payer)
	}
	if r.SellerFault != "" {
		return fmt.Sprintf("Payment of at most %s on %s to %s from %s: the seller reported %s, which the payment cannot have done (a seller fault); it stays counted at the maximum until reconciliation reads the transfer on chain [%s].",
			r.Currency().Format(r.Maximum), r.Network, r.PayTo, r.Payer, r.SellerFault, r.State)
	}
	tx := ""
	if r.Transaction != "" {
		tx = "; the seller named transaction " + r.Transaction
	}
	switch r.State {
	case string(StateSettled):
		if r.Transaction == "" {
			return fmt.Sprintf("Paid %s; tx no transaction hash reported [%s].", what, r.State)
		}
		return fmt.Sprintf("Paid %s; tx %s [%s].", what, r.Transaction, r.State)
	case "pending":
		// The facilitator broadcast the transfer but has not seen it land:
		// charged, but not yet settled.
		if r.Transaction == "" {
			tx = "; no transaction hash reported"
		} else {
			tx = "; tx " + r.Transaction
		}
		return fmt.Sprintf("Payment of %s sent; its settlement is pending (broadcast, not yet confirmed)%s: counted as charged [%s].", what, tx, r.State)
	case string(StateRejected):
		return fmt.Sprintf("Payment of %s refused by the seller, no settlement reported%s: counted until reconciliation proves it unused [%s].", what, tx, r.State)
	case string(StateReleased):
		return fmt.Sprintf("Payment of %s never sent: released [%s].", what, r.State)
	case "unconfirmed":
		return fmt.Sprintf("Payment of %s sent and the answer delivered, but the seller sent no settlement receipt: not confirmed [%s].", what, r.State)
	case "unsettled":
		return fmt.Sprintf("Settled nothing of at most %s on %s to %s: the seller charged 0, and the signed maximum stays counted until reconciliation proves it expired unused [%s].", r.Currency().Format(r.Maximum), r.Network, r.PayTo, r.State)
	default:
		return fmt.Sprintf("Payment of %s sent; whether it settled is unknown%s: counted until reconciliation proves it used or unused [%s].", what, tx, r.State)
	}
}

// Result is an upstream answer, paid or not.
type Result struct {
	Status int
	Header http.Header
	Body   []byte
	// Truncated says Body stopped at the client's MaxBody.
	Truncated bool
	// BodyErr is set when reading the body failed part way.
	BodyErr error
	// Charged says whether money moved for this call.
	Charged Charge
	// Receipt is set whenever a payment was signed and sent.
	Receipt *Receipt
	Elapsed time.Duration
}

// Client is the paying HTTP client: it sends a request, answers a 402 with at
// most one signed payment under the Policy and the Ledger's budgets, and
// returns the upstream's answer with a receipt.
//
// Money rules: the budget is reserved before anything is signed; each call
// signs at most once, or twice when a warm payment (see Warm) is refused
// with changed terms, the refused one staying counted until reconciliation
// proves it unused; a signed payment the seller refused is never called
// "not charged" (the seller holds the signature); a
// transport failure on the paid request resends the same signed header (a
// signed payment settles at most once: EVM's nonce, Solana's signature);
// an ambiguous outcome is never followed by a new signature.
type Client struct {
	HTTP *http.Client
	// Schemes are the schemes the client pays with (evm.Exact, …): they
	// judge the options of a 402, sign, and prove a payment's fate.
	Schemes *Schemes
	// Signers are the wallet's keys, one per family (package wallet).
	Signers Signers
	Policy  Policy
	Ledger  Ledger
	Logger  *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// MaxBody caps the bytes read from an upstream body (default 10 MiB).
	MaxBody int64
	// PaidRetries is how many times a paid request is resent, with the same
	// payment, after a transport error (default 2).
	PaidRetries int
	// Session keys the per-session budget for calls whose Limit names none
	// (over stdio: this process).
	Session string
	// Principal names who makes the calls whose context names no principal
	// (WithPrincipal): over stdio, the one implicit principal.
	Principal string
	// Approve asks a human before a payment above the approval threshold
	// (Policy.ApproveAbove, Limit.ApproveAbove) is signed. Nil with a
	// threshold set refuses such payments (approval_required).
	Approve Approver
	// Warm remembers accepted terms per entry (Limit.WarmKey) and concrete
	// request so that warm calls take one round trip; nil turns the warm
	// path off.
	Warm *Warm
	// ProveWithin bounds how long the payment's scheme is asked at once,
	// never past the call's context, whether a payment whose outcome is
	// unknown was used on chain (Scheme.Prove): a used one is recorded
	// settled, with its transaction, and the call answers charged. A
	// network without an rpc endpoint leaves the outcome unknown until
	// reconciliation. DefaultProveWithin when zero; a negative value turns
	// the check off.
	ProveWithin time.Duration
}

// DefaultProveWithin bounds the check of an unknown outcome on chain within
// the call: a settlement the seller made before the answer was lost is
// usually mined already, or within a block or two.
const DefaultProveWithin = 3 * time.Second

// DefaultMaxBody is the default cap on an upstream body.
const DefaultMaxBody = 10 << 20

// NewHTTPClient returns an HTTP client tuned for many calls to a few sellers:
// one per process, shared by every tool, keeping up to 64 idle connections
// per seller alive for 90 s, and speaking HTTP/2 to TLS sellers that offer it
// (one connection carries every concurrent call).
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ForceAttemptHTTP2 = true
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 0 // the call's context bounds each request
	return &http.Client{
		// Headers and error texts bounded (httplimit): the seller writes them.
		Transport: httplimit.Transport(t),
		// Never follow a redirect with a payment header attached to a host
		// the seller chose; a redirect is returned as the answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return httplimit.DefaultClient
}

// Do sends req and pays a 402 under lim. The request body must be replayable
// (req.GetBody set, as http.NewRequest does for bytes readers).
//
// A non-402 answer is returned as it is, not charged. A payment refused
// before signing, a seller's rejection and an ambiguous outcome are *Error
// values that say whether money moved. A paid request that the upstream
// answered with a non-2xx is a Result whose Charged and Receipt say what
// happened to the money.
//
// lim.Redaction, when set, is how the request is named wherever Do shows,
// logs, records or signs it (errors, the approval question, the ledger,
// the payment's resource): the catalog's ${ENV} values never appear there.
func (c *Client) Do(ctx context.Context, req *http.Request, lim Limit) (*Result, error) {
	res, err := c.do(ctx, req, lim)
	return res, redactError(err, lim.Redaction)
}

// redactError hides red's secrets in err's text: the message of a *Error
// (which the model sees) and its cause (which is logged).
func redactError(err error, red *Redaction) error {
	if red == nil || err == nil {
		return err
	}
	pe, ok := AsError(err)
	if !ok {
		return red.Err(err)
	}
	cp := *pe
	cp.Message, cp.Err = red.Text(pe.Message), red.Err(pe.Err)
	return &cp
}

// requestName names req as the ledger, the approval question and messages
// show it: "GET https://host/path?query", with red's secrets as ${NAME}
// (without red, no query or user info at all).
func requestName(req *http.Request, red *Redaction) string {
	return req.Method + " " + red.shownURL(req.URL)
}

func (c *Client) do(ctx context.Context, req *http.Request, lim Limit) (*Result, error) {
	if perr := c.Policy.checkExact(lim); perr != nil {
		return nil, perr
	}
	start := c.now()
	if lim.CallID == "" {
		lim.CallID = paymentID("")
	}
	var (
		pr          *x402.PaymentRequired
		stated      time.Time // when the seller stated pr's terms
		warmRefused *Receipt  // a warm payment the seller refused in this call
	)
	warm, best := c.warmTerms(req, lim, start)
	if warm != nil {
		// The warm path: pay the terms the seller last accepted for this
		// request at once, in one round trip. The entry has this warm
		// payment in flight until the call ends.
		defer c.Warm.land(lim.WarmKey)
		p, err := c.authorize(ctx, warm, best, lim, requestName(req, lim.Redaction), HostPort(req.URL))
		switch {
		case staleTerms(err):
			// The remembered terms went stale (nothing was signed): forget
			// them and ask the seller, as a cold call does.
			c.Warm.forget(lim.WarmKey, req)
			c.log().Info("warm terms went stale; asking the seller again", "tool", lim.Tool, "why", errText(err))
			warm, lim.CallID = nil, retryCallID(lim.CallID)
		case err != nil:
			return nil, err
		default:
			c.Warm.hits.Add(1)
			res, fresh, err := c.finish(ctx, req, lim, warm, p, start, true)
			if fresh == nil {
				return res, err
			}
			warmRefused = p.Receipt
			// The seller changed its terms: pay its fresh challenge as a new
			// payment of the same call (the refused one stays counted).
			pr, lim.CallID, stated = fresh, retryCallID(lim.CallID), c.now()
		}
	}
	if warm == nil {
		progress(ctx, StepRequesting)
		res, err := c.send(ctx, req, "", "")
		if err != nil {
			return nil, upstreamError(ctx, err, NotCharged, nil, lim.Redaction)
		}
		stated = c.now()
		if res.Status != http.StatusPaymentRequired {
			res.Charged = NotCharged
			res.Elapsed = stated.Sub(start)
			return res, nil
		}
		if pr, err = x402.ParseChallenge(res.Header, res.Body); err != nil {
			return nil, &Error{Code: CodeBadChallenge, Charged: NotCharged, Err: err,
				Message: "the seller's 402 payment challenge is malformed: " + err.Error() + ". Nothing was signed; the seller must fix its x402 answer."}
		}
		if lim.Redaction != nil && pr.X402Version != 1 {
			// The payment echoes the seller's resource, which may quote
			// the request with its secrets: it names the request as shown.
			cp := *pr
			cp.Resource = lim.Redaction.resource(pr.Resource, lim.Redaction.shownURL(req.URL))
			pr = &cp
		}
	}
	// Reserve, ask for approval, sign once and record the signed payment
	// with the exact header value before the request leaves.
	p, err := c.Authorize(ctx, pr, lim, requestName(req, lim.Redaction), HostPort(req.URL))
	if err != nil {
		return nil, withRefusedWarm(err, warmRefused)
	}
	res, _, err := c.finish(ctx, req, lim, pr, p, start, false)
	if err == nil && res.Charged == Charged {
		// The seller accepted a payment of the terms it stated for this
		// request: the warm path may pay them until they are stale, and
		// never past when this payment is expected to expire (Solana: its
		// blockhash's life).
		c.Warm.store(lim.WarmKey, req, pr, p.Requirement, stated, c.now(), p.proof.Deadline)
	}
	return res, err
}

// staleTerms says err is a refusal before signing because the terms
// themselves went stale (Refusal.Stale): nothing was signed, and the
// seller's fresh terms may be payable.
func staleTerms(err error) bool {
	var ref *Refusal
	pe, ok := AsError(err)
	return ok && pe.Charged == NotCharged && errors.As(pe.Err, &ref) && ref.Stale
}

// errText is err's message for logs.
func errText(err error) string {
	if pe, ok := AsError(err); ok {
		return pe.Message
	}
	return err.Error()
}

// withRefusedWarm adds to a refusal of the fresh terms (before anything
// was signed for them) that the warm payment refused earlier in the call
// left the process: the call is not "not charged" while that one is
// unproven.
func withRefusedWarm(err error, warm *Receipt) error {
	pe, ok := AsError(err)
	if warm == nil || !ok || pe.Charged != NotCharged {
		return err
	}
	cp := *pe
	cp.Charged, cp.Receipt = ChargeUnknown, warm
	cp.Message = fmt.Sprintf("the seller refused the warm payment of %s (ledger %s) with new terms and reported no settlement; it stays counted until reconciliation proves it unused. The new terms were not paid: %s",
		warm.Currency().Format(warm.Amount), warm.LedgerID, pe.Message)
	return &cp
}

// warmTerms returns the remembered challenge for req of lim's entry, with
// the option to pay, when the warm path applies: terms known for this
// request, fresh, no other warm payment of the entry in flight, and still
// allowed by the policy and lim. When it returns a challenge, the entry
// has a warm payment in flight until Warm.land.
func (c *Client) warmTerms(req *http.Request, lim Limit, now time.Time) (*x402.PaymentRequired, *Option) {
	cached := c.Warm.take(lim.WarmKey, req, now)
	if cached == nil {
		return nil, nil
	}
	// The payment names the request's own resource, as shown: the
	// operator's ${ENV} secrets written ${NAME} (without a Redaction, no
	// query or user info), since the signed payload is kept in the ledger
	// (v2 sellers match on `accepted`).
	pr := forResource(cached, lim.Redaction.shownURL(req.URL))
	if _, best := c.Policy.evaluate(c.Schemes, c.Signers, pr, lim); best != nil {
		return pr, best
	}
	// The entry's limits changed since (a reload): ask the seller again.
	c.Warm.forget(lim.WarmKey, req)
	return nil, nil
}

// finish sends the paid request of p (pr is the challenge it answers) and
// records the outcome. For a warm payment (warm) that the seller refused
// with a fresh 402 offering other terms, it records the refusal and returns
// that challenge instead of a result, for the caller to pay.
func (c *Client) finish(ctx context.Context, req *http.Request, lim Limit, pr *x402.PaymentRequired, p *Pending, start time.Time, warm bool) (*Result, *x402.PaymentRequired, error) {
	// From here on a signed authorization exists: every path records an outcome.
	paid, attempts, err := c.sendPaid(ctx, req, p.hName, p.hValue, lim.Redaction)
	if err != nil {
		c.chillWarm(lim, p, warm)
		return nil, nil, p.Unknown(ctx, err)
	}
	paid.Elapsed = c.now().Sub(start)
	settle, serr := x402.ParseSettlement(paid.Header)
	if serr != nil {
		c.log().Warn("unreadable payment response", "tool", lim.Tool, "err", lim.Redaction.Err(serr))
	}
	settledOK := settle != nil && settle.Success
	pending := settle != nil && settle.ErrorReason == x402.ReasonSettlementPending
	reason := rejectionReason(paid, settle)
	if !settledOK && !pending && allowanceRequired(paid, reason) {
		// A clear refusal, never a retry: nothing is signed again, and the
		// signed payment stays counted until reconciliation proves it
		// unused (once approved, the seller could still settle it).
		c.chillWarm(lim, p, warm)
		return nil, nil, p.allowanceRequired(ctx, reason)
	}
	switch {
	case paid.Status == http.StatusPaymentRequired && !settledOK && !pending && (attempts > 1 || nonceUsed(reason)):
		// An attempt was lost in transit after it left (Go's transport may
		// also have resent it): the seller may have settled it, and a replay
		// then reads as "nonce already used". Not a rejection.
		c.chillWarm(lim, p, warm)
		rc := p.markUnknown(ctx, "402 after the payment may have been used: "+reason)
		if p.settledOnChain(ctx) {
			return nil, nil, &Error{Code: CodeUpstreamFailed, Charged: Charged, Receipt: rc, Message: fmt.Sprintf(
				"charged, nothing delivered: the payment of %s settled on chain (%s), but the seller's answer was lost and it refused a resend of the same payment (%s). x402-mcp did not sign again. Do not retry blindly: a retry is a new payment. Tell the user; the receipt is the proof to ask the seller for what was paid for (ledger %s).",
				rc.Currency().Format(rc.Amount), txText(rc), reason, rc.LedgerID)}
		}
		return nil, nil, &Error{Code: CodeOutcomeUnknown, Charged: ChargeUnknown, Receipt: rc, Message: fmt.Sprintf(
			"the signed payment of %s may have settled: the seller refused a resend of it (%s) after a connection failure. x402-mcp did not sign again. Do not retry this call blindly: it would be a second payment. Check the spend history or ask the operator to reconcile (ledger %s).",
			rc.Currency().Format(rc.Amount), reason, rc.LedgerID)}
	case paid.Status == http.StatusPaymentRequired && !settledOK && !pending:
		if warm {
			c.chillWarm(lim, p, warm)
			if fresh, ferr := x402.ParseChallenge(paid.Header, paid.Body); ferr == nil && !stillOffered(fresh, p.Requirement, pr.X402Version) {
				// The terms changed since they were remembered. The refused
				// authorization was never settled by the seller's account,
				// but it stays counted until reconciliation proves it
				// unused; the caller pays the fresh terms.
				c.Warm.fallbacks.Add(1)
				p.reject(ctx, "warm payment refused, the seller's terms changed: "+reason)
				c.log().Info("warm payment refused with new terms; paying the fresh challenge", "tool", lim.Tool, "ledger", p.Receipt.LedgerID)
				return nil, fresh, nil
			}
			c.Warm.refusals.Add(1)
		}
		// The seller refused the payment. It still holds the signed
		// authorization, so the amount stays counted until reconciliation
		// proves it unused, and nothing is signed again for this call.
		return nil, nil, p.Rejected(ctx, reason)
	case settledOK || pending || paid.Status >= 200 && paid.Status < 300:
		paid.Charged, paid.Receipt = p.Delivered(ctx, settle)
	default:
		// A non-2xx with no settlement receipt: the payment may or may not have
		// settled before the failure.
		c.chillWarm(lim, p, warm)
		paid.Charged, paid.Receipt = ChargeUnknown, p.markUnknown(ctx, fmt.Sprintf("upstream answered %d after payment", paid.Status))
		if p.settledOnChain(ctx) {
			paid.Charged = Charged
		}
	}
	return paid, nil, nil
}

// chillWarm makes lim's entry cold after a warm payment went wrong, until
// the payment's authorization expires at least.
func (c *Client) chillWarm(lim Limit, p *Pending, warm bool) {
	if warm && c.Warm != nil {
		c.Warm.chill(lim.WarmKey, c.now(), p.proof.Deadline)
	}
}

// retryCallID derives the call id of the payment that follows a refused
// warm one: the ledger keeps one payment per call id.
func retryCallID(id string) string {
	if next := id + "-2"; x402.ValidPaymentID(next) {
		return next
	}
	return paymentID("")
}

// reservation is what the ledger holds for paying o for resource at the
// seller host (host:port).
func (c *Client) reservation(ctx context.Context, lim Limit, o *Option, resource, host string) Reservation {
	session := lim.Session
	if session == "" {
		session = c.SessionFor(ctx)
	}
	t := &o.terms
	rsv := Reservation{
		Tool: lim.Tool, Resource: resource, CallID: lim.CallID, Amount: o.Amount,
		Network: t.Network, PayTo: t.PayTo, Asset: t.Asset,
		Currency: t.Currency.or(), Host: host, Session: session, Principal: c.PrincipalFor(ctx), ToolBudget: lim.ToolBudget, UpTo: t.UpTo,
	}
	if t.Scheme != nil {
		rsv.NetworkName = t.Scheme.Family().NetworkName(t.Network)
	}
	if lim.Tip != nil {
		rsv.Kind, rsv.Note = KindTip, lim.Tip.Note
	}
	return rsv
}

// HostPort returns the URL's host:port in lower case, with the scheme's
// default port when the URL names none, so that one upstream has one key
// for the per-host budget.
func HostPort(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = "443"
		if strings.EqualFold(u.Scheme, "http") {
			port = "80"
		}
	}
	return net.JoinHostPort(host, port)
}

// signedRecord is what the ledger records before the payment leaves.
func signedRecord(p *x402.PaymentPayload, proof Proof, hName, hValue, pid string) Signed {
	s := Signed{Proof: proof, Header: hName, Payload: hValue, X402Version: p.X402Version}
	if _, ok := p.Extensions[x402.ExtPaymentIdentifier]; ok {
		s.PaymentID = pid
	}
	return s
}

// allowanceRequired says the seller refused the payment because the
// wallet has not approved Permit2 to spend the token: 412 Precondition
// Failed, or a 402 whose reason is permit2_allowance_required.
func allowanceRequired(paid *Result, reason string) bool {
	return paid.Status == http.StatusPreconditionFailed || paid.Status == http.StatusPaymentRequired && strings.Contains(reason, x402.ReasonPermit2AllowanceRequired)
}

// rejectionReason reads why a paid request was refused, from the receipt or
// the fresh challenge, sanitized for display.
func rejectionReason(paid *Result, settle *x402.SettlementResponse) string {
	if settle != nil && settle.ErrorReason != "" {
		return Sanitize(settle.ErrorReason, 200)
	}
	if paid.Status == http.StatusPaymentRequired || paid.Status == http.StatusPreconditionFailed {
		if pr, err := x402.ParseChallenge(paid.Header, paid.Body); err == nil && pr.Error != "" {
			return Sanitize(pr.Error, 200)
		}
	}
	return "no reason given"
}

// nonceUsed says the seller reports our payment as already used (EVM's
// nonce_already_used, Solana's duplicate_settlement): it settled, through
// this call or a replay of it.
func nonceUsed(reason string) bool {
	return strings.Contains(reason, "nonce_already_used") || strings.Contains(reason, "duplicate_settlement")
}

// buildPayment has o's scheme sign the payment that pays it (pr is the
// challenge it answers) and wraps it in the x402 payment payload.
func (c *Client) buildPayment(ctx context.Context, pr *x402.PaymentRequired, o *Option, lim Limit) (*x402.PaymentPayload, Proof, error) {
	t := &o.terms
	signer := c.Signers.For(t.Scheme.Family().Name())
	if signer == nil {
		return nil, Proof{}, fmt.Errorf("the wallet holds no %s key", t.Scheme.Family().Title())
	}
	payload, proof, err := t.Scheme.Sign(ctx, t, signer, c.now())
	if err != nil {
		return nil, Proof{}, err
	}
	r := t.Requirement
	p := &x402.PaymentPayload{X402Version: pr.X402Version, Payload: payload}
	if pr.X402Version == 1 {
		p.Scheme, p.Network = r.Scheme, r.Network
		return p, proof, nil
	}
	p.Accepted, p.Resource = r.Raw, pr.Resource
	if len(pr.Extensions) > 0 || len(t.Attach) > 0 {
		p.Extensions = make(map[string]json.RawMessage, len(pr.Extensions)+len(t.Attach))
		for k, v := range pr.Extensions {
			p.Extensions[k] = v
		}
		for k, v := range t.Attach {
			p.Extensions[k] = v
		}
		if raw, ok := pr.Extensions[x402.ExtPaymentIdentifier]; ok {
			withID, err := x402.WithPaymentID(raw, paymentID(lim.CallID))
			if err != nil {
				return nil, Proof{}, err
			}
			p.Extensions[x402.ExtPaymentIdentifier] = withID
		}
	}
	return p, proof, nil
}

// send performs one request. A non-empty header name attaches the payment.
func (c *Client) send(ctx context.Context, req *http.Request, hName, hValue string) (*Result, error) {
	r := req.Clone(ctx)
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("replay request body: %w", err)
		}
		r.Body = body
	} else if req.Body != nil && req.Body != http.NoBody {
		return nil, errors.New("request body is not replayable (GetBody is nil)")
	}
	if hName != "" {
		r.Header.Set(hName, hValue)
	}
	resp, err := c.httpClient().Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	max := c.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	var buf bytes.Buffer
	n, rerr := io.Copy(&buf, io.LimitReader(resp.Body, max+1))
	res := &Result{Status: resp.StatusCode, Header: resp.Header}
	if n > max {
		res.Truncated = true
		buf.Truncate(int(max))
	}
	res.Body = buf.Bytes()
	if rerr != nil {
		res.BodyErr = rerr
	}
	return res, nil
}

// sendPaid sends the paid request, resending the same header on transport
// errors that happen before any answer arrives.
// It returns how many attempts were made.
func (c *Client) sendPaid(ctx context.Context, req *http.Request, hName, hValue string, red *Redaction) (*Result, int, error) {
	retries := c.PaidRetries
	switch {
	case retries == 0:
		retries = 2
	case retries < 0:
		retries = 0
	}
	var lastErr error
	attempt := 0
	for ; attempt <= retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, attempt, lastErr
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
			c.log().Warn("resending the same payment after a transport error", "attempt", attempt, "err", safeErr(lastErr, red))
		}
		res, err := c.send(ctx, req, hName, hValue)
		if err == nil {
			return res, attempt + 1, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return nil, attempt + 1, lastErr
		}
	}
	return nil, attempt, lastErr
}

// stopped is the error of a call whose context ended before anything was
// signed; o is the option it would have paid.
func stopped(ctx context.Context, o *Option) *Error {
	price := o.terms.Currency.Format(o.Amount)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &Error{Code: CodeUpstreamTimeout, Charged: NotCharged, Err: ctx.Err(), Message: fmt.Sprintf(
			"the call ran out of time before paying %s. Nothing was signed; it is safe to retry, or the operator can raise the tool's timeout in registry.yaml.", price)}
	}
	return &Error{Code: CodeCancelled, Charged: NotCharged, Err: ctx.Err(), Message: fmt.Sprintf(
		"the call was cancelled before paying %s. Nothing was signed.", price)}
}

func upstreamError(ctx context.Context, err error, charged Charge, rc *Receipt, red *Redaction) *Error {
	return describeUpstream(timedOut(ctx, err), err, charged, rc, red)
}

// timedOut says err (a request's failure under ctx) is a timeout.
func timedOut(ctx context.Context, err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout()
}

// describeUpstream is the error of a request that got no answer (a timeout
// or not), after which money moved (charged), may have (unknown) or did not.
// red hides the request's secrets in the error's text.
func describeUpstream(timeout bool, err error, charged Charge, rc *Receipt, red *Redaction) *Error {
	e := &Error{Code: CodeUpstreamFailed, Charged: charged, Receipt: rc, Err: err}
	if timeout {
		e.Code = CodeUpstreamTimeout
	}
	if charged == NotCharged {
		what := "could not reach the upstream"
		if timeout {
			what = "the upstream did not answer in time"
		}
		e.Message = fmt.Sprintf("%s: %s. Nothing was paid; it is safe to retry later.", what, safeErr(err, red))
		return e
	}
	// The paid request left: the upstream was reached, but no answer came.
	what := "no answer came back from the upstream (" + safeErr(err, red) + ")"
	if timeout {
		what = "the upstream did not answer in time (" + safeErr(err, red) + ")"
	}
	if charged == Charged {
		e.Message = fmt.Sprintf("charged, nothing delivered: %s after the payment of %s was sent, and the payment settled on chain (%s). Do not retry blindly: a retry is a new payment. Tell the user; the receipt is the proof to ask the seller for what was paid for (ledger %s).",
			what, rc.Currency().Format(rc.Amount), txText(rc), rc.LedgerID)
		return e
	}
	e.Code = CodeOutcomeUnknown
	e.Message = fmt.Sprintf("%s after a signed payment of %s was sent (ledger %s). The payment may have settled. Do not retry this call blindly: it would be a second payment. Check the spend history or ask the operator to reconcile.", what, rc.Currency().Format(rc.Amount), rc.LedgerID)
	return e
}

// txText names a receipt's transaction for a message.
func txText(rc *Receipt) string {
	if rc.Transaction == "" {
		return "transaction not found"
	}
	return "transaction " + rc.Transaction
}

// safeErr shortens a transport error for the model and the logs. A URL in
// it is shown as red shows the request (without red: no query string or
// user info, where an operator's ${ENV} secret may have been expanded), and
// red's secrets are hidden in the rest of the text.
func safeErr(err error, red *Redaction) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		shown := RedactURL(ue.URL)
		if red != nil && red.URL != "" && ue.URL == red.sent {
			shown = red.URL
		}
		msg := ue.Op + " " + shown + ": "
		if ue.Err != nil {
			msg += ue.Err.Error()
		}
		return Sanitize(red.Text(msg), 300)
	}
	return Sanitize(red.Text(err.Error()), 300)
}

// RedactURL returns raw without its user info, query and fragment, where
// an operator's ${ENV} secret may be (the scheme, host and path, which say
// where a request goes, stay), or "(url)" when raw does not parse. A
// Redaction, when there is one, shows a request better: this is for URLs
// without one.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(url)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// paymentID returns the payment identifier for a call: the call id if it is a
// valid identifier, else a fresh "pay_" + 32 hex characters.
func paymentID(callID string) string {
	if x402.ValidPaymentID(callID) {
		return callID
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "pay_" + hex.EncodeToString(b[:])
}
