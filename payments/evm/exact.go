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

// Exact is the exact scheme on EVM networks with an EIP-3009 authorization
// (transferWithAuthorization): payments.Scheme. The payer signs an
// authorization of exactly the price to the payee, with a random 32-byte
// nonce and a validity window; the seller's facilitator submits it. Its
// proof is the nonce: USDC's authorizationState(payer, nonce) says whether
// it was used, and a block whose timestamp is at or past validBefore with
// the nonce unused proves it never will be.
type Exact struct {
	// Chain reads authorizations on chain (RPCChecker over the catalog's
	// rpc endpoints). Nil proves nothing: Prove fails with
	// payments.ErrNoRPC.
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

// terms is Exact's checked form of an option.
type terms struct {
	domain Domain
	payTo  common.Address
}

// Judge implements payments.Scheme: extra (paymentFlow unset, authorization
// or upfront; assetTransferMethod unset or eip3009), payTo and asset as
// addresses, the payee pin, the asset (Want.PickAsset), and the token's
// EIP-712 domain (from extra, else the known or declared asset's).
func (*Exact) Judge(r *x402.Requirement, n payments.Network, want payments.Want) (payments.Terms, *payments.Refusal) {
	t := payments.Terms{Requirement: r, Network: n}
	extra, err := ParseExtra(r)
	if err != nil {
		return t, &payments.Refusal{Code: payments.CodeUnsupported, Message: "extra is malformed: " + err.Error()}
	}
	switch extra.PaymentFlow {
	case "", "authorization":
	case "upfront":
		t.Rank = 1
	default:
		return t, &payments.Refusal{Code: payments.CodeUnsupported, Message: fmt.Sprintf("paymentFlow %q is not supported", payments.Sanitize(extra.PaymentFlow, 40))}
	}
	if m := extra.AssetTransferMethod; m != "" && m != "eip3009" {
		return t, &payments.Refusal{Code: payments.CodeUnsupported, Message: fmt.Sprintf("assetTransferMethod %q is not supported (x402-mcp signs EIP-3009)", payments.Sanitize(m, 40))}
	}
	if !common.IsHexAddress(r.PayTo) {
		return t, &payments.Refusal{Code: payments.CodeUnsupported, Message: fmt.Sprintf("payTo %q is not an address", payments.Sanitize(r.PayTo, 60))}
	}
	payTo := common.HexToAddress(r.PayTo)
	t.PayTo = checksummed(payTo)
	if ref := want.Payee(Family{}, t.PayTo, r.PayTo); ref != nil {
		return t, ref
	}
	if !common.IsHexAddress(r.Asset) {
		return t, &payments.Refusal{Code: payments.CodeUnsupported, Message: fmt.Sprintf("asset %q is not a token address", payments.Sanitize(r.Asset, 60))}
	}
	addr := common.HexToAddress(r.Asset)
	t.Asset = checksummed(addr)
	asset, ref := want.PickAsset(Family{}, n, t.Asset, r.Asset)
	if asset.Symbol != "" {
		t.Currency = asset.Currency()
	}
	if ref != nil {
		return t, ref
	}
	d := Domain{Name: extra.Name, Version: extra.Version, ChainID: ChainID(n), VerifyingContract: addr}
	if d.Name == "" || d.Version == "" {
		if asset.Name == "" || asset.Version == "" {
			return t, &payments.Refusal{Code: payments.CodeUnsupported, Message: "extra.name and extra.version (the token's EIP-712 domain) are missing"}
		}
		d.Name, d.Version = asset.Name, asset.Version
	}
	t.Data = &terms{domain: d, payTo: payTo}
	return t, nil
}

// Prepare implements payments.Scheme: an EIP-3009 authorization needs
// nothing from the chain to be signed.
func (*Exact) Prepare(context.Context, *payments.Terms, payments.Signer) error { return nil }

// Default validity of an authorization when the seller states no
// maxTimeoutSeconds: 60 s in v2, 600 s in v1 (the reference v1 client's).
const (
	defaultTimeout   = 60
	defaultTimeoutV1 = 600
	// v1Backdate is how far before now a v1 authorization's validAfter is
	// set (the reference v1 client's 10 minutes: clocks differ).
	v1Backdate = 600
)

// Sign implements payments.Scheme: an EIP-3009 authorization of exactly
// t.Amount from the signer to the payee, with a random 32-byte nonce,
// validAfter 0 (v1: now − 10 minutes) and validBefore now plus the seller's
// maxTimeoutSeconds (60 s when unset; 600 s in v1), never more than
// payments.MaxValidity. The proof is the nonce, with validBefore as its
// expiry.
func (*Exact) Sign(ctx context.Context, t *payments.Terms, s payments.Signer, now time.Time) (json.RawMessage, payments.Proof, error) {
	es, ok := s.(Signer)
	if !ok {
		return nil, payments.Proof{}, fmt.Errorf("evm: the signer %s of the %s family is not an EVM key", s.Payer(), s.Family())
	}
	d, ok := t.Data.(*terms)
	if !ok {
		return nil, payments.Proof{}, errors.New("evm: the terms were not judged by the EVM exact scheme")
	}
	var nonce [32]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, payments.Proof{}, fmt.Errorf("nonce: %w", err)
	}
	timeout := int64(t.Requirement.MaxTimeoutSeconds)
	if timeout <= 0 {
		timeout = defaultTimeout
		if t.Version == 1 {
			timeout = defaultTimeoutV1
		}
	}
	timeout = min(timeout, int64(payments.MaxValidity/time.Second))
	validBefore := now.Unix() + timeout
	var validAfter int64
	if t.Version == 1 {
		validAfter = now.Unix() - v1Backdate
	}
	auth := Authorization{
		From: es.Address(), To: d.payTo, Value: new(big.Int).SetUint64(uint64(t.Amount)),
		ValidAfter: big.NewInt(validAfter), ValidBefore: big.NewInt(validBefore), Nonce: nonce,
	}
	sig, err := es.SignDigest(ctx, Digest(d.domain.Separator(), auth.StructHash()))
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
// block (Checker.CheckAuthorization). Used: settled, with the transaction
// when found. Unused at a block whose timestamp is at or past validBefore
// (Proof.Expiry): unusable, since later blocks are never older. Otherwise
// open.
func (e *Exact) Prove(ctx context.Context, p payments.Proof) (payments.Fate, error) {
	if e.Chain == nil {
		return payments.Fate{}, fmt.Errorf("no rpc endpoint for %s: %w", p.Network, payments.ErrNoRPC)
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
	switch {
	case err != nil:
		return payments.Fate{}, err
	case st.Used:
		return payments.Fate{State: payments.FateSettled, Transaction: st.Transaction}, nil
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
