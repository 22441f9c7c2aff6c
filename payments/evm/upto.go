package evm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// UpTo is x402's upto scheme on EVM networks (x402-protocol.md §4):
// payments.Scheme. The payer signs, through Permit2 only, a maximum (the
// option's amount) spendable once by the x402 upto Permit2 proxy, to the
// payee, and only by the facilitator the seller names
// (extra.facilitatorAddress, in the witness); the seller settles what the
// call used, from nothing up to the maximum. Terms.UpTo is set: the
// budgets reserve the maximum, caps and approval thresholds judge it, and
// the settlement's own amount is booked. Like Exact's Permit2 payments it
// needs the payer's allowance to Permit2, and proves its fate through
// Permit2's nonce bitmap, with the amount from the transfer that used the
// nonce.
type UpTo struct {
	// Chain reads allowances and Permit2 nonces (RPCChecker, a
	// Permit2Checker). Nil proves nothing: Prove fails with
	// payments.ErrNoRPC.
	Chain Checker
}

// NewUpTo returns the upto scheme, reading the chain through chain (nil:
// none).
func NewUpTo(chain Checker) *UpTo { return &UpTo{Chain: chain} }

var _ payments.Scheme = (*UpTo)(nil)

// Family implements payments.Scheme.
func (*UpTo) Family() payments.Family { return Family{} }

// Scheme implements payments.Scheme: "upto".
func (*UpTo) Scheme() string { return "upto" }

// Judge implements payments.Scheme: what Exact judges of every option,
// then Permit2 as the method (assetTransferMethod unset or permit2, and the
// call's pin the same) and extra.facilitatorAddress, an address.
func (*UpTo) Judge(r *x402.Requirement, n payments.Network, want payments.Want) (payments.Terms, *payments.Refusal) {
	t := payments.Terms{Requirement: r, Network: n, UpTo: true}
	j, ref := judgeOption(&t, r, n, want)
	if ref != nil {
		return t, ref
	}
	if m := j.extra.AssetTransferMethod; m != "" && m != MethodPermit2 {
		return t, &payments.Refusal{Code: payments.CodeUnsupported, Message: fmt.Sprintf("assetTransferMethod %q cannot pay upto: upto moves tokens through Permit2 only", payments.Sanitize(m, 40))}
	}
	if want.Method != "" && want.Method != MethodPermit2 {
		return t, &payments.Refusal{Code: payments.CodeNotAllowed, Message: fmt.Sprintf("%s pins transfer_method %s, and upto pays through Permit2 only", want.Tool, want.Method)}
	}
	fac := j.extra.FacilitatorAddress
	if !common.IsHexAddress(fac) || common.HexToAddress(fac) == (common.Address{}) {
		return t, &payments.Refusal{Code: payments.CodeUnsupported, Message: fmt.Sprintf(
			"extra.facilitatorAddress %q is not an address: an upto payment names the one facilitator that may settle it", payments.Sanitize(fac, 60))}
	}
	d, ok := j.domain(n)
	pt := permit2Terms(j, d, ok, want)
	f := common.HexToAddress(fac)
	pt.facilitator = &f
	t.Data = pt
	return t, nil
}

// Prepare implements payments.Scheme: the payer's allowance to Permit2
// must cover the maximum (see Exact's Permit2 payments).
func (u *UpTo) Prepare(ctx context.Context, t *payments.Terms, _ payments.Signer) error {
	d, ok := t.Data.(*terms)
	if !ok {
		return nil
	}
	return prepareAllowance(ctx, u.Chain, t, d)
}

// Sign implements payments.Scheme: a Permit2 PermitWitnessTransferFrom of
// the maximum, spender the upto proxy, witness {payTo, the facilitator,
// validAfter 0}, deadline now plus the seller's maxTimeoutSeconds (at most
// payments.MaxValidity).
func (*UpTo) Sign(ctx context.Context, t *payments.Terms, s payments.Signer, now time.Time) (json.RawMessage, payments.Proof, error) {
	es, ok := s.(Signer)
	if !ok {
		return nil, payments.Proof{}, fmt.Errorf("evm: the signer %s of the %s family is not an EVM key", s.Payer(), s.Family())
	}
	d, ok := t.Data.(*terms)
	if !ok || d.facilitator == nil {
		return nil, payments.Proof{}, errors.New("evm: the terms were not judged by the EVM upto scheme")
	}
	return signPermit2(ctx, t, d, es, now, "upto", UptoPermit2ProxyAddress)
}

// Prove implements payments.Scheme: Permit2's nonce bitmap at one block;
// used: settled, with the transaction and the amount it moved when the
// transfer is found.
func (u *UpTo) Prove(ctx context.Context, p payments.Proof) (payments.Fate, error) {
	if u.Chain == nil {
		return payments.Fate{}, fmt.Errorf("no rpc endpoint for %s: %w", p.Network, payments.ErrNoRPC)
	}
	return provePermit2(ctx, u.Chain, p)
}

// Offer implements payments.Scheme: a tip has a price, not a maximum; it
// is paid with the exact scheme.
func (*UpTo) Offer(payments.Offer) (x402.Requirement, error) {
	return x402.Requirement{}, errors.New("evm: the upto scheme pays no tips (a tip is exact)")
}
