package evm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Exact is the exact scheme on EVM networks: payments.Scheme. It pays with
// one of two asset transfer methods, chosen as the spec says: the seller's
// extra.assetTransferMethod, else the asset's own (EIP-3009 for the USDC
// x402-mcp knows; a declared asset's transfer:), else EIP-3009; the entry's
// transfer_method pins one.
//
//   - EIP-3009 (transferWithAuthorization): the payer signs an
//     authorization of exactly the price to the payee, with a random 32-byte
//     nonce and a validity window; its proof is the nonce, which USDC's
//     authorizationState(payer, nonce) says was used or not.
//   - Permit2: the payer signs a PermitWitnessTransferFrom of exactly the
//     price, spendable once by the x402 exact Permit2 proxy, which can only
//     pay the witness's payee; a random uint256 nonce, a deadline. It needs
//     the payer's ERC-20 allowance to Permit2 (see Prepare); its proof is
//     the nonce, which Permit2's nonceBitmap says was used or not.
//
// A block whose timestamp is past the authorization's validity with the
// nonce unused proves it never will be.
type Exact struct {
	// Chain reads authorizations on chain (RPCChecker over the catalog's
	// rpc endpoints). Nil proves nothing: Prove fails with
	// payments.ErrNoRPC. For Permit2 it must also be a Permit2Checker.
	Chain Checker
}

// NewExact returns the exact scheme, proving fates through chain (nil:
// none).
func NewExact(chain Checker) *Exact { return &Exact{Chain: chain} }

var _ payments.Scheme = (*Exact)(nil)

// Family implements payments.Scheme.
func (*Exact) Family() payments.Family { return Family{} }

// Scheme implements payments.Scheme: "exact".
func (*Exact) Scheme() string { return "exact" }

// terms is the EVM schemes' checked form of an option.
type terms struct {
	method string // MethodEIP3009 or MethodPermit2
	// domain is the token's EIP-712 domain: EIP-3009's signing domain; for
	// Permit2, the domain of an EIP-2612 permit (known: hasDomain).
	domain    Domain
	hasDomain bool
	payTo     common.Address
	token     common.Address
	// facilitator is upto's: the one that may settle.
	facilitator *common.Address
	// sponsor is the challenge's eip2612GasSponsoring object, when offered,
	// and gaslessCap the largest payment the operator lets x402-mcp sign
	// an EIP-2612 permit of Permit2 for.
	sponsor    json.RawMessage
	gaslessCap payments.Amount
	// permitNonce is set by Prepare when the payment carries an EIP-2612
	// permit of Permit2: the token's nonces(payer).
	permitNonce *big.Int
}

// judged is what judgeOption learnt of an option before the method's own
// checks.
type judged struct {
	extra Extra
	asset payments.Asset
	payTo common.Address
	token common.Address
}

// judgeOption checks what every EVM scheme checks: extra (paymentFlow),
// payTo and asset as addresses, the payee pin, and the asset
// (Want.PickAsset).
func judgeOption(t *payments.Terms, r *x402.Requirement, n payments.Network, want payments.Want) (judged, *payments.Refusal) {
	var j judged
	extra, err := ParseExtra(r)
	if err != nil {
		return j, &payments.Refusal{Code: payments.CodeUnsupported, Message: "extra is malformed: " + err.Error()}
	}
	j.extra = extra
	switch extra.PaymentFlow {
	case "", "authorization":
	case "upfront":
		t.Rank = 1
	default:
		return j, &payments.Refusal{Code: payments.CodeUnsupported, Message: fmt.Sprintf("paymentFlow %q is not supported", payments.Sanitize(extra.PaymentFlow, 40))}
	}
	if !common.IsHexAddress(r.PayTo) {
		return j, &payments.Refusal{Code: payments.CodeUnsupported, Message: fmt.Sprintf("payTo %q is not an address", payments.Sanitize(r.PayTo, 60))}
	}
	j.payTo = common.HexToAddress(r.PayTo)
	t.PayTo = checksummed(j.payTo)
	if ref := want.Payee(Family{}, t.PayTo, r.PayTo); ref != nil {
		return j, ref
	}
	if !common.IsHexAddress(r.Asset) {
		return j, &payments.Refusal{Code: payments.CodeUnsupported, Message: fmt.Sprintf("asset %q is not a token address", payments.Sanitize(r.Asset, 60))}
	}
	j.token = common.HexToAddress(r.Asset)
	t.Asset = checksummed(j.token)
	asset, ref := want.PickAsset(Family{}, n, t.Asset, r.Asset)
	if asset.Symbol != "" {
		t.Currency = asset.Currency()
	}
	j.asset = asset
	return j, ref
}

// method chooses the asset transfer method as the spec says: the seller's
// assetTransferMethod, else the asset's, else EIP-3009; the call's pin
// (Want.Method) refuses another.
func (j judged) method(want payments.Want) (string, *payments.Refusal) {
	m := j.extra.AssetTransferMethod
	switch m {
	case "", MethodEIP3009, MethodPermit2:
	default:
		return "", &payments.Refusal{Code: payments.CodeUnsupported, Message: fmt.Sprintf(
			"assetTransferMethod %q is not supported (x402-mcp pays eip3009 and permit2)", payments.Sanitize(m, 40))}
	}
	if want.Method != "" && m != "" && m != want.Method {
		return "", &payments.Refusal{Code: payments.CodeNotAllowed, Message: fmt.Sprintf(
			"assetTransferMethod %s is not the method pinned for %s (transfer_method: %s)", m, want.Tool, want.Method)}
	}
	switch {
	case m != "":
	case want.Method != "":
		m = want.Method
	case j.asset.Transfer != "":
		m = j.asset.Transfer
	default:
		m = MethodEIP3009
	}
	return m, nil
}

// domain is the token's EIP-712 domain: extra's name and version, else the
// known or declared asset's; ok is false when neither says both.
func (j judged) domain(n payments.Network) (Domain, bool) {
	d := Domain{Name: j.extra.Name, Version: j.extra.Version, ChainID: ChainID(n), VerifyingContract: j.token}
	if d.Name == "" || d.Version == "" {
		if j.asset.Name == "" || j.asset.Version == "" {
			return d, false
		}
		d.Name, d.Version = j.asset.Name, j.asset.Version
	}
	return d, true
}

// Judge implements payments.Scheme: extra (paymentFlow unset,
// authorization or upfront; assetTransferMethod unset, eip3009 or permit2,
// within the call's pin), payTo and asset as addresses, the payee pin, the
// asset (Want.PickAsset), and for EIP-3009 the token's EIP-712 domain (from
// extra, else the known or declared asset's).
func (*Exact) Judge(r *x402.Requirement, n payments.Network, want payments.Want) (payments.Terms, *payments.Refusal) {
	t := payments.Terms{Requirement: r, Network: n}
	j, ref := judgeOption(&t, r, n, want)
	if ref != nil {
		return t, ref
	}
	m, ref := j.method(want)
	if ref != nil {
		return t, ref
	}
	d, ok := j.domain(n)
	if m == MethodPermit2 {
		t.Data = permit2Terms(j, d, ok, want)
		return t, nil
	}
	if !ok {
		return t, &payments.Refusal{Code: payments.CodeUnsupported, Message: "extra.name and extra.version (the token's EIP-712 domain) are missing"}
	}
	t.Data = &terms{method: MethodEIP3009, domain: d, hasDomain: true, payTo: j.payTo, token: j.token}
	return t, nil
}

// permit2Terms are the terms of a Permit2 payment: the token's domain when
// known (for an EIP-2612 permit), and the gas sponsoring the seller offers
// with the operator's cap on it.
func permit2Terms(j judged, d Domain, hasDomain bool, want payments.Want) *terms {
	pt := &terms{method: MethodPermit2, domain: d, hasDomain: hasDomain, payTo: j.payTo, token: j.token, gaslessCap: want.GaslessCap(j.asset)}
	if ext, ok := want.Extensions[ExtEIP2612GasSponsoring]; ok {
		pt.sponsor = ext
	}
	return pt
}

// Prepare implements payments.Scheme. An EIP-3009 authorization needs
// nothing from the chain. A Permit2 payment needs the payer's ERC-20
// allowance to Permit2 (prepareAllowance), read for t.Payer, the signer's
// address.
func (e *Exact) Prepare(ctx context.Context, t *payments.Terms, _ payments.Signer) error {
	d, ok := t.Data.(*terms)
	if !ok || d.method != MethodPermit2 {
		return nil
	}
	return prepareAllowance(ctx, e.Chain, t, d)
}

// Default validity of an authorization when the seller states no
// maxTimeoutSeconds: 60 s in v2, 600 s in v1 (the reference v1 client's).
const (
	defaultTimeout   = 60
	defaultTimeoutV1 = 600
	// v1Backdate is how far before now a v1 authorization's validAfter is
	// set (the reference v1 client's 10 minutes: clocks differ).
	v1Backdate = 600
)

// timeout is how long a payment of t stays usable: the seller's
// maxTimeoutSeconds (60 s when unset; 600 s in v1), never more than
// payments.MaxValidity.
func timeout(t *payments.Terms) int64 {
	s := int64(t.Requirement.MaxTimeoutSeconds)
	if s <= 0 {
		s = defaultTimeout
		if t.Version == 1 {
			s = defaultTimeoutV1
		}
	}
	return min(s, int64(payments.MaxValidity/time.Second))
}

// Sign implements payments.Scheme. EIP-3009: an authorization of exactly
// t.Amount from the signer to the payee, with a random 32-byte nonce,
// validAfter 0 (v1: now − 10 minutes) and validBefore now plus timeout;
// its proof is the nonce, with validBefore as its expiry. Permit2: see
// signPermit2.
func (*Exact) Sign(ctx context.Context, t *payments.Terms, s payments.Signer, now time.Time) (json.RawMessage, payments.Proof, error) {
	es, ok := s.(Signer)
	if !ok {
		return nil, payments.Proof{}, fmt.Errorf("evm: the signer %s of the %s family is not an EVM key", s.Payer(), s.Family())
	}
	d, ok := t.Data.(*terms)
	if !ok {
		return nil, payments.Proof{}, errors.New("evm: the terms were not judged by an EVM scheme")
	}
	if d.method == MethodPermit2 {
		return signPermit2(ctx, t, d, es, now, "exact", ExactPermit2ProxyAddress)
	}
	var nonce [32]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, payments.Proof{}, fmt.Errorf("nonce: %w", err)
	}
	validBefore := now.Unix() + timeout(t)
	var validAfter int64
	if t.Version == 1 {
		validAfter = now.Unix() - v1Backdate
	}
	auth := Authorization{
		From: es.Address(), To: d.payTo, Value: new(big.Int).SetUint64(uint64(t.Amount)),
		ValidAfter: big.NewInt(validAfter), ValidBefore: big.NewInt(validBefore), Nonce: nonce,
	}
	sig, err := signTyped(ctx, es, TypedData{Domain: d.domain, Message: auth})
	if err != nil {
		return nil, payments.Proof{}, err
	}
	aj := auth.JSON()
	payload, err := json.Marshal(Payload{Signature: "0x" + hex.EncodeToString(sig), Authorization: aj})
	if err != nil {
		return nil, payments.Proof{}, fmt.Errorf("encode the payload: %w", err)
	}
	proof := payments.Proof{
		Family: Name, Scheme: "exact", Network: t.Network, Payer: es.Payer(), Asset: t.Asset,
		ID: aj.Nonce, Expiry: uint64(validBefore), ValidAfter: time.Unix(validAfter, 0), Deadline: time.Unix(validBefore, 0), Since: now,
	}
	return payload, proof, nil
}

// Prove implements payments.Scheme: it reads the nonce's state at one
// block (Checker.CheckAuthorization; for Permit2,
// Permit2Checker.CheckPermit2Nonce). Used: settled, with the transaction
// when found. Unused at a block whose timestamp is at or past Proof.Expiry:
// unusable, since later blocks are never older. Otherwise open.
func (e *Exact) Prove(ctx context.Context, p payments.Proof) (payments.Fate, error) {
	if e.Chain == nil {
		return payments.Fate{}, fmt.Errorf("no rpc endpoint for %s: %w", p.Network, payments.ErrNoRPC)
	}
	if isPermit2Proof(p) {
		return provePermit2(ctx, e.Chain, p)
	}
	if !common.IsHexAddress(p.Asset) {
		return payments.Fate{}, fmt.Errorf("asset %q is not an address", p.Asset)
	}
	if !common.IsHexAddress(p.Payer) {
		return payments.Fate{}, fmt.Errorf("payer %q is not an address", p.Payer)
	}
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(p.ID, "0x"), "0X"))
	if err != nil || len(b) != 32 {
		return payments.Fate{}, fmt.Errorf("nonce %q is not 32 bytes of hex", p.ID)
	}
	st, err := e.Chain.CheckAuthorization(ctx, AuthorizationRef{Network: p.Network, Asset: common.HexToAddress(p.Asset),
		Payer: common.HexToAddress(p.Payer), Nonce: [32]byte(b), Since: p.Since})
	return fateOf(st, err, p)
}

// fateOf turns what the chain said of a nonce into a payment's fate.
func fateOf(st AuthorizationStatus, err error, p payments.Proof) (payments.Fate, error) {
	switch {
	case err != nil:
		return payments.Fate{}, err
	case st.Used:
		f := payments.Fate{State: payments.FateSettled, Transaction: st.Transaction}
		if st.Amount != nil && st.Amount.IsUint64() {
			f.Amount, f.HasAmount = payments.Amount(st.Amount.Uint64()), true
		}
		return f, nil
	case p.Expiry != 0 && !st.BlockTime.IsZero() && !st.BlockTime.Before(time.Unix(int64(p.Expiry), 0)):
		return payments.Fate{State: payments.FateUnusable}, nil
	}
	return payments.Fate{State: payments.FateOpen}, nil
}

// Offer implements payments.Scheme: the exact scheme on o.Network, the
// amount to o.PayTo in o.Asset, with the token's EIP-712 domain (the
// asset's Name and Version) in extra.
func (*Exact) Offer(o payments.Offer) (x402.Requirement, error) {
	extra, err := json.Marshal(Extra{Name: o.Asset.Name, Version: o.Asset.Version})
	if err != nil {
		return x402.Requirement{}, err
	}
	r := x402.Requirement{
		Scheme: "exact", Network: string(o.Network), Amount: o.Amount.Atomic(), Asset: o.Asset.Address, PayTo: o.PayTo,
		MaxTimeoutSeconds: x402.Seconds(o.Timeout / time.Second), Extra: extra,
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return x402.Requirement{}, err
	}
	r.Raw = raw
	return r, nil
}
