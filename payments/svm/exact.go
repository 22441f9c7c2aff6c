package svm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Exact is the exact scheme on Solana for the core (payments.Scheme): a v0
// transaction with a TransferChecked of exactly the price, partially signed
// by the wallet, which the seller's facilitator completes as fee payer and
// sends. Its proof is the payer's own signature with the memo, the
// blockhash and its last valid block height (Proof): the landed
// transaction is found in the payer's token account's history, and once the
// chain's finalized block height has passed the last valid block height
// with none landed, the payment can never be used.
type Exact struct {
	// Client reads the chain over each network's rpc endpoint: before
	// signing (the mint, the balance, the payee's token account, the
	// blockhash) and to prove a payment's fate. A network without an
	// endpoint cannot be paid on.
	Client *Client
	// SlotTime is how long a slot lasts, by the clock: a payment's
	// Deadline (when it is expected to be past its last valid block
	// height) is about 151 slots after signing. When zero, the Client's,
	// else DefaultSlotTime.
	SlotTime time.Duration
}

// DefaultSlotTime is Solana's target slot time.
const DefaultSlotTime = 400 * time.Millisecond

// blockhashBlocks is how many blocks a blockhash is valid for, plus one: a
// transaction on the newest blockhash can land up to this many blocks
// later.
const blockhashBlocks = 151

// NewExact returns the exact scheme over c's rpc endpoints.
func NewExact(c *Client) *Exact { return &Exact{Client: c} }

var _ payments.Scheme = (*Exact)(nil)

// Family implements payments.Scheme.
func (*Exact) Family() payments.Family { return Family{} }

// Scheme implements payments.Scheme: "exact".
func (*Exact) Scheme() string { return Scheme }

// judged is Exact's checked form of an option (payments.Terms.Data).
type judged struct {
	terms Terms
	// prep is set by Prepare.
	prep *Prepared
}

// Judge implements payments.Scheme: payTo and asset as base58 addresses,
// the payee pin, the asset (payments.Want.PickAsset: the USDC mint
// x402-mcp knows, or a declared one), and extra (feePayer required, memo
// bounded and printable, recentBlockhash, lastValidBlockHeight and
// tokenProgram well formed). A network without an rpc endpoint is refused:
// the blockhash and the wallet's balance are read there before signing.
func (e *Exact) Judge(r *x402.Requirement, n payments.Network, want payments.Want) (payments.Terms, *payments.Refusal) {
	t := payments.Terms{Requirement: r, Network: n}
	net := Network(n)
	payTo, err := ParseAddress("payTo", r.PayTo)
	if err != nil {
		return t, refuse(payments.CodeBadChallenge, "%v", err)
	}
	t.PayTo = payTo.String()
	if ref := want.Payee(Family{}, t.PayTo, r.PayTo); ref != nil {
		return t, ref
	}
	mint, err := ParseAddress("asset", r.Asset)
	if err != nil {
		return t, refuse(payments.CodeBadChallenge, "%v", err)
	}
	t.Asset = mint.String()
	asset, ref := want.PickAsset(Family{}, n, t.Asset, r.Asset)
	if asset.Symbol != "" {
		t.Currency = asset.Currency()
	}
	if ref != nil {
		return t, ref
	}
	if want.Method != "" {
		// The entry pins how the asset moves (transfer_method:), in EVM's
		// words: a Solana payment moves it otherwise, so it is not paid.
		return t, refuse(payments.CodeNotAllowed, "%s pins transfer_method %s, an EVM transfer method: a Solana payment is an SPL token transfer (pin an EVM network, or leave transfer_method out)", want.Tool, want.Method)
	}
	amt, err := payments.ParseAtomic(r.Price())
	if err != nil {
		return t, refuse(payments.CodeBadChallenge, "price %v", err)
	}
	o := &judged{terms: Terms{Network: net, Amount: amt, PayTo: payTo, Asset: mint, Currency: t.Currency, MaxTimeoutSeconds: int(r.MaxTimeoutSeconds)}}
	if ref := judgeExtra(r.Extra, &o.terms); ref != nil {
		return t, ref
	}
	if e.Client == nil || e.Client.RPC[net] == nil {
		return t, refuse(payments.CodeNotAllowed, "%s has no rpc endpoint: x402-mcp reads the blockhash and the wallet's balance there before paying; add `%s: <url>` under rpc: in registry.yaml", net.Name(), net.V1Name())
	}
	t.Data = o
	return t, nil
}

// Prepare implements payments.Scheme: it reads from the chain what signing
// needs and refuses, before anything is signed, a payment that could not
// land (Client.Prepare: insufficient funds, a payee without a token
// account, an expired blockhash, decimals that disagree with the chain).
func (e *Exact) Prepare(ctx context.Context, t *payments.Terms, s payments.Signer) error {
	o, ss, err := e.parts(t, s)
	if err != nil {
		return err
	}
	o.prep, err = e.Client.Prepare(ctx, &o.terms, ss.Address())
	return err
}

// Sign implements payments.Scheme: the prepared transaction, signed by the
// wallet (Prepared.Sign). The proof's id is the payer's signature; its
// expiry the blockhash's last valid block height; its record the Proof
// with the exact signed transaction.
func (e *Exact) Sign(ctx context.Context, t *payments.Terms, s payments.Signer, now time.Time) (json.RawMessage, payments.Proof, error) {
	o, ss, err := e.parts(t, s)
	if err != nil {
		return nil, payments.Proof{}, err
	}
	if o.prep == nil {
		return nil, payments.Proof{}, errors.New("svm: the payment was not prepared (Prepare reads the chain before Sign)")
	}
	payload, p, err := o.prep.Sign(ctx, ss)
	if err != nil {
		return nil, payments.Proof{}, err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return nil, payments.Proof{}, fmt.Errorf("svm: encode the proof: %w", err)
	}
	slot := e.SlotTime
	if slot <= 0 && e.Client != nil {
		slot = e.Client.SlotTime
	}
	if slot <= 0 {
		slot = DefaultSlotTime
	}
	deadline := now.Add(blockhashBlocks * slot)
	return payload, payments.Proof{
		Family: Name, Scheme: Scheme, Network: t.Network, Payer: ss.Payer(), Asset: t.Asset,
		ID: p.PayerSignature, Expiry: p.LastValidBlockHeight, Deadline: deadline, Since: now, Data: data,
	}, nil
}

// parts returns the option Judge made of t and s as this family's signer.
func (e *Exact) parts(t *payments.Terms, s payments.Signer) (*judged, Signer, error) {
	o, ok := t.Data.(*judged)
	if !ok {
		return nil, nil, errors.New("svm: the terms were not judged by the Solana exact scheme")
	}
	ss, ok := s.(Signer)
	if !ok {
		return nil, nil, fmt.Errorf("svm: the signer %s of the %s family is not a Solana key", s.Payer(), s.Family())
	}
	return o, ss, nil
}

// Prove implements payments.Scheme through Client.Prove: landed and
// succeeded is settled, with the transaction's id (the fee payer's
// signature); landed and failed, or not landed once the finalized block
// height has passed the last valid block height, is unusable; anything
// else is open.
func (e *Exact) Prove(ctx context.Context, p payments.Proof) (payments.Fate, error) {
	n := Network(p.Network)
	if e.Client == nil || e.Client.RPC[n] == nil {
		return payments.Fate{}, fmt.Errorf("no rpc endpoint for %s: %w", n.Name(), payments.ErrNoRPC)
	}
	var sp Proof
	if err := json.Unmarshal(p.Data, &sp); err != nil {
		return payments.Fate{}, fmt.Errorf("svm: the ledger's record of payment %s is not a Solana proof: %w", p.ID, err)
	}
	if sp.PayerSignature != p.ID || Network(sp.Network) != n {
		return payments.Fate{}, fmt.Errorf("svm: the ledger's record of payment %s names another payment", p.ID)
	}
	f, err := e.Client.Prove(ctx, sp)
	if err != nil {
		return payments.Fate{}, err
	}
	switch f.State {
	case Settled:
		return payments.Fate{State: payments.FateSettled, Transaction: f.Tx}, nil
	case Failed, Expired:
		return payments.Fate{State: payments.FateUnusable, Transaction: f.Tx}, nil
	}
	return payments.Fate{State: payments.FateOpen}, nil
}

// Offer implements payments.Scheme: exact on o.Network, o.Amount of the
// mint o.Asset to o.PayTo, with the facilitator's fee payer (from o.Extra,
// what its /supported answer states for the network) in extra.
func (*Exact) Offer(o payments.Offer) (x402.Requirement, error) {
	var fx struct {
		FeePayer string `json:"feePayer"`
	}
	if len(o.Extra) > 0 {
		if err := json.Unmarshal(o.Extra, &fx); err != nil {
			return x402.Requirement{}, fmt.Errorf("the facilitator's extra for %s is not a JSON object: %w", Network(o.Network).Name(), err)
		}
	}
	if fx.FeePayer == "" {
		return x402.Requirement{}, fmt.Errorf("the facilitator names no fee payer for %s (extra.feePayer in its /supported answer): a Solana payment needs one", Network(o.Network).Name())
	}
	if _, err := ParseAddress("the facilitator's feePayer", fx.FeePayer); err != nil {
		return x402.Requirement{}, err
	}
	extra, err := json.Marshal(map[string]string{"feePayer": fx.FeePayer})
	if err != nil {
		return x402.Requirement{}, err
	}
	r := x402.Requirement{
		Scheme: Scheme, Network: string(o.Network), Amount: o.Amount.Atomic(), Asset: o.Asset.Address, PayTo: o.PayTo,
		MaxTimeoutSeconds: x402.Seconds(o.Timeout / time.Second), Extra: extra,
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return x402.Requirement{}, err
	}
	r.Raw = raw
	return r, nil
}
