package localseller

import (
	"context"
	"encoding/json"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Reason codes of Permit2 payments (x402-protocol.md §6: permit2_* and
// invalid_permit2_*; upto's settlement_exceeds_amount).
const (
	ReasonPermit2AllowanceRequired = "permit2_allowance_required"
	ReasonPermit2DeadlineExpired   = "permit2_deadline_expired"
	ReasonPermit2ValidAfter        = "invalid_permit2_valid_after"
	ReasonPermit2Signature         = "invalid_permit2_signature"
	ReasonPermit2Spender           = "invalid_permit2_spender"
	ReasonPermit2Recipient         = "invalid_permit2_recipient_mismatch"
	ReasonPermit2Amount            = "invalid_permit2_amount_mismatch"
	ReasonPermit2Token             = "invalid_permit2_token_mismatch"
	ReasonPermit2Facilitator       = "invalid_permit2_facilitator_mismatch"
	ReasonPermit2NonceUsed         = "invalid_permit2_nonce_already_used"
	ReasonPermit2Sponsoring        = "invalid_permit2_eip2612_gas_sponsoring"
	ReasonInsufficientFunds        = "insufficient_funds"
	ReasonUptoExceeds              = "invalid_upto_evm_payload_settlement_exceeds_amount"
)

// noPermit2 is the refusal of a Permit2 (or upto) payment by a
// facilitator whose chain has no Permit2 (the in-memory one).
const noPermit2 = "this facilitator settles Permit2 and upto payments only on a chain with Permit2"

// Permit2Chain is what a Chain needs to settle Permit2 payments (exact
// and upto) through the x402 proxies: internal/simchain's Token has it.
type Permit2Chain interface {
	Chain
	// Allowance is the token's allowance(owner, spender).
	Allowance(ctx context.Context, owner, spender common.Address) (*big.Int, error)
	// PermitNonce is an EIP-2612 token's nonces(owner).
	PermitNonce(ctx context.Context, owner common.Address) (*big.Int, error)
	// Permit2NonceUsed is owner's nonce's bit in Permit2's nonceBitmap.
	Permit2NonceUsed(ctx context.Context, owner common.Address, nonce *big.Int) (bool, error)
	// SettlePermit2 sends the proxy's settle (or settleWithPermit) and
	// waits for it to be mined; the hash and a nil error only when the
	// transfer succeeded.
	SettlePermit2(ctx context.Context, p evm.Permit2Settlement) (common.Hash, error)
}

// permit2Checked is a Permit2 payment that passed every check that does
// not read the chain.
type permit2Checked struct {
	auth evm.Permit2Authorization
	sig  []byte
	// max is the permitted amount; amount is what a settlement moves (exact:
	// max; upto at settlement: the requirement's amount).
	max, amount payments.Amount
	// permit is the payer's EIP-2612 permit of Permit2 from the payload's
	// eip2612GasSponsoring, when attached.
	permit    *evm.EIP2612Permit
	permitSig []byte
}

// isPermit2 says whether a payment pays through Permit2: an upto payment,
// or one whose payload carries a permit2Authorization.
func isPermit2(p *x402.PaymentPayload, req x402.Requirement) bool {
	return req.Scheme == "upto" || p != nil && evm.IsPermit2Payload(p.Payload)
}

// permit2Chain returns the facilitator's chain if it settles Permit2.
func (f *Facilitator) permit2Chain() (Permit2Chain, bool) {
	pc, ok := f.chain.(Permit2Chain)
	return pc, ok
}

// checkPermit2 checks a Permit2 payment against req in the order of
// specs/schemes/exact/scheme_exact_evm.md (Phase 3) and
// scheme_upto_evm.md: the requirement's network, asset and `accepted`
// (checkRequirement), the payload's form, the signature (recovered from
// Permit2's EIP-712 digest), the spender (the scheme's proxy), the token,
// the payee, the amount (equal to the price; at an upto settlement the
// requirement's amount is the actual one, at most the permitted maximum),
// the deadline and validAfter, upto's facilitator (this one), and an
// attached EIP-2612 permit's form and signature. settle says req is a
// settlement's.
func (f *Facilitator) checkPermit2(p *x402.PaymentPayload, req x402.Requirement, settle bool) (permit2Checked, *rejection) {
	var c permit2Checked
	price, rej := f.checkRequirement(p, req, req.Scheme == "upto" && settle)
	if rej != nil {
		return c, rej
	}
	pl, err := evm.ParsePermit2Payload(p.Payload)
	if err != nil {
		return c, reject(ReasonInvalidPayload, "%v", err)
	}
	a, err := evm.ParsePermit2Authorization(pl.Authorization)
	if err != nil {
		return c, reject(ReasonInvalidPayload, "%v", err)
	}
	payer := a.From.Hex()
	fail := func(reason, format string, args ...any) (permit2Checked, *rejection) {
		r := reject(reason, format, args...)
		r.payer = payer
		return c, r
	}
	sig, err := decodeSig(pl.Signature)
	if err != nil {
		return fail(ReasonPermit2Signature, "%v", err)
	}
	signer, err := evm.RecoverSigner(a.Digest(evm.ChainID(f.network)), sig)
	if err != nil {
		return fail(ReasonPermit2Signature, "%v", err)
	}
	if signer != a.From {
		return fail(ReasonPermit2Signature, "signature is by %s, not by permit2Authorization.from %s", signer.Hex(), payer)
	}
	spender := evm.ExactPermit2ProxyAddress
	if req.Scheme == "upto" {
		spender = evm.UptoPermit2ProxyAddress
	}
	if a.Spender != spender {
		return fail(ReasonPermit2Spender, "the spender is %s, not the x402 %s Permit2 proxy %s", a.Spender.Hex(), req.Scheme, spender.Hex())
	}
	if (req.Scheme == "upto") != a.Upto() {
		return fail(ReasonInvalidPayload, "a %s payment's witness must%s name a facilitator", req.Scheme, map[bool]string{true: "", false: " not"}[req.Scheme == "upto"])
	}
	if a.Token != f.asset {
		return fail(ReasonPermit2Token, "the permitted token is %s, not %s", a.Token.Hex(), f.asset.Hex())
	}
	if a.To != common.HexToAddress(req.PayTo) {
		return fail(ReasonPermit2Recipient, "the witness pays %s, the requirement's payTo is %s", a.To.Hex(), common.HexToAddress(req.PayTo).Hex())
	}
	if !a.Amount.IsUint64() {
		return fail(ReasonPermit2Amount, "the permitted amount %s is too large", a.Amount)
	}
	max := payments.Amount(a.Amount.Uint64())
	amount := max
	switch {
	case req.Scheme == "upto" && settle:
		if price > max {
			return fail(ReasonUptoExceeds, "the settlement's amount %s is above the permitted maximum %s", price.Atomic(), max.Atomic())
		}
		amount = price
	case max != price:
		return fail(ReasonPermit2Amount, "the permitted amount %s is not the price %s", max.Atomic(), price.Atomic())
	}
	now := f.now()
	if a.Deadline.Cmp(big.NewInt(now.Add(ValidBeforeMargin).Unix())) <= 0 {
		return fail(ReasonPermit2DeadlineExpired, "the deadline %s is too soon to settle (now %d)", a.Deadline, now.Unix())
	}
	if a.ValidAfter.Cmp(big.NewInt(now.Unix())) > 0 {
		return fail(ReasonPermit2ValidAfter, "the payment is not valid before %s (now %d)", a.ValidAfter, now.Unix())
	}
	if a.Upto() && *a.Facilitator != f.signer() {
		return fail(ReasonPermit2Facilitator, "the witness names facilitator %s, not this one (%s)", a.Facilitator.Hex(), f.signer().Hex())
	}
	c.auth, c.sig, c.max, c.amount = a, sig, max, amount
	if ext, ok := p.Extensions[evm.ExtEIP2612GasSponsoring]; ok {
		permit, psig, err := evm.ParseEIP2612Sponsoring(ext, f.Domain())
		if err != nil {
			return fail(ReasonPermit2Sponsoring, "%v", err)
		}
		switch {
		case permit.Owner != a.From:
			return fail(ReasonPermit2Sponsoring, "the permit's owner %s is not the payer %s", permit.Owner.Hex(), payer)
		case permit.Spender != evm.Permit2Address:
			return fail(ReasonPermit2Sponsoring, "the permit's spender %s is not Permit2 %s", permit.Spender.Hex(), evm.Permit2Address.Hex())
		case permit.Value.Cmp(a.Amount) != 0:
			return fail(ReasonPermit2Sponsoring, "the permit's value %s is not the permitted amount %s (the x402 proxies take no other)", permit.Value, a.Amount)
		case permit.Deadline.Cmp(big.NewInt(now.Unix())) < 0:
			return fail(ReasonPermit2Sponsoring, "the permit expired at %s", permit.Deadline)
		}
		if s, err := evm.RecoverSigner(permit.Digest(), psig); err != nil || s != a.From {
			return fail(ReasonPermit2Sponsoring, "the permit's signature is not the payer's")
		}
		c.permit, c.permitSig = &permit, psig
	}
	return c, nil
}

// checkPermit2Chain checks what the chain holds: the nonce unused, the
// allowance to Permit2 (or an attached EIP-2612 permit whose nonce is the
// token's next: spec step 2, else permit2_allowance_required) and the
// balance (of the maximum, for upto). A chain that cannot be read gives
// reason.
func (f *Facilitator) checkPermit2Chain(ctx context.Context, pc Permit2Chain, c permit2Checked, reason string) *rejection {
	payer := c.auth.From.Hex()
	fail := func(reason, format string, args ...any) *rejection {
		r := reject(reason, format, args...)
		r.payer = payer
		return r
	}
	used, err := pc.Permit2NonceUsed(ctx, c.auth.From, c.auth.Nonce)
	if err != nil {
		return fail(reason, "read Permit2's nonceBitmap: %v", err)
	}
	if used {
		return fail(ReasonPermit2NonceUsed, "this Permit2 nonce has already been used by %s", payer)
	}
	allowance, err := pc.Allowance(ctx, c.auth.From, evm.Permit2Address)
	if err != nil {
		return fail(reason, "read the allowance: %v", err)
	}
	if allowance.Cmp(c.auth.Amount) < 0 {
		if c.permit == nil {
			return fail(ReasonPermit2AllowanceRequired, "%s allows Permit2 to spend %s, the payment needs %s: approve Permit2 first", payer, allowance, c.auth.Amount)
		}
		n, err := pc.PermitNonce(ctx, c.auth.From)
		if err != nil {
			return fail(ReasonPermit2Sponsoring, "the token takes no EIP-2612 permit: %v", err)
		}
		if n.Cmp(c.permit.Nonce) != 0 {
			return fail(ReasonPermit2Sponsoring, "the permit's nonce %s is not the token's next (%s)", c.permit.Nonce, n)
		}
	}
	bal, err := pc.Balance(ctx, c.auth.From)
	if err != nil {
		return fail(reason, "read balance: %v", err)
	}
	if bal < c.max {
		return fail(ReasonInsufficientFunds, "%s holds %s atomic units, the payment needs %s", payer, bal.Atomic(), c.max.Atomic())
	}
	return nil
}

// verifyPermit2 is Verify for a Permit2 payment.
func (f *Facilitator) verifyPermit2(ctx context.Context, p *x402.PaymentPayload, req x402.Requirement) VerifyResponse {
	pc, ok := f.permit2Chain()
	if !ok {
		return VerifyResponse{InvalidReason: ReasonUnsupportedScheme, InvalidMessage: noPermit2}
	}
	c, rej := f.checkPermit2(p, req, false)
	if rej == nil {
		rej = f.checkPermit2Chain(ctx, pc, c, ReasonUnexpectedVerifyError)
	}
	if rej != nil {
		return VerifyResponse{InvalidReason: rej.reason, InvalidMessage: rej.message, Payer: rej.payer}
	}
	return VerifyResponse{IsValid: true, Payer: c.auth.From.Hex()}
}

// settlePermit2 is Settle for a Permit2 payment: it checks again and sends
// the proxy's settle (settleWithPermit with an attached permit) for the
// amount. An upto settlement of 0 sends nothing and succeeds with no
// transaction (the authorization expires unused); its amount is "0".
func (f *Facilitator) settlePermit2(ctx context.Context, p *x402.PaymentPayload, req x402.Requirement) x402.SettlementResponse {
	network := req.Network
	fail := func(r *rejection) x402.SettlementResponse {
		return x402.SettlementResponse{Network: network, Payer: r.payer, ErrorReason: r.reason, ErrorMessage: r.message}
	}
	pc, ok := f.permit2Chain()
	if !ok {
		return fail(reject(ReasonUnsupportedScheme, noPermit2))
	}
	c, rej := f.checkPermit2(p, req, true)
	if rej != nil {
		return fail(rej)
	}
	payer := c.auth.From.Hex()
	if c.amount == 0 {
		return x402.SettlementResponse{Success: true, Network: network, Payer: payer, Amount: "0"}
	}
	f.chainMu.Lock()
	defer f.chainMu.Unlock()
	if rej := f.checkPermit2Chain(ctx, pc, c, ReasonUnexpectedSettleError); rej != nil {
		return fail(rej)
	}
	// As settleOnChain: the total is checked before anything is sent.
	f.mu.Lock()
	total, rej := f.totalAfterLocked(c.amount, payer)
	f.mu.Unlock()
	if rej != nil {
		return fail(rej)
	}
	s := evm.Permit2Settlement{Auth: c.auth, Signature: c.sig, Amount: new(big.Int).SetUint64(uint64(c.amount))}
	if c.permit != nil {
		if allowance, err := pc.Allowance(ctx, c.auth.From, evm.Permit2Address); err != nil || allowance.Cmp(c.auth.Amount) < 0 {
			s.Permit, s.PermitSig = c.permit, c.permitSig
		}
	}
	h, err := pc.SettlePermit2(ctx, s)
	if err != nil {
		rej := f.checkPermit2Chain(context.WithoutCancel(ctx), pc, c, ReasonTransactionFailed)
		if rej == nil || rej.reason == ReasonTransactionFailed {
			rej = &rejection{reason: ReasonTransactionFailed, message: "settle through the proxy failed: " + err.Error(), payer: payer}
		}
		sr := fail(rej)
		if h != (common.Hash{}) {
			sr.Transaction = h.Hex()
		}
		return sr
	}
	tx := h.Hex()
	f.mu.Lock()
	f.settled = append(f.settled, Settlement{
		Payer: c.auth.From, To: c.auth.To, Value: c.amount, Nonce: common.BigToHash(c.auth.Nonce), Transaction: tx, Network: network, At: f.now(),
	})
	f.total = total
	f.mu.Unlock()
	return x402.SettlementResponse{Success: true, Transaction: tx, Network: network, Payer: payer, Amount: c.amount.Atomic()}
}

// Permit2NonceUsed reports whether payer's Permit2 nonce is used on the
// facilitator's chain; it panics when the chain cannot say.
func (f *Facilitator) Permit2NonceUsed(payer common.Address, nonce *big.Int) bool {
	pc, ok := f.permit2Chain()
	if !ok {
		panic("localseller: the facilitator's chain has no Permit2")
	}
	ctx, cancel := chainCtx()
	defer cancel()
	used, err := pc.Permit2NonceUsed(ctx, payer, nonce)
	if err != nil {
		panic("localseller: nonceBitmap on chain: " + err.Error())
	}
	return used
}

// sameJSONExcept is sameJSON with the top-level key except left out of both
// (an upto settlement's requirement carries the actual amount).
func sameJSONExcept(a, b []byte, except string) bool {
	var x, y map[string]json.RawMessage
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	delete(x, except)
	delete(y, except)
	xa, errx := json.Marshal(x)
	ya, erry := json.Marshal(y)
	if errx != nil || erry != nil {
		return false
	}
	return sameJSON(xa, ya)
}
