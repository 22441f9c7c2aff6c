package svm

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/x402-mcp/x402-mcp/internal/solanatest"
	"github.com/x402-mcp/x402-mcp/payments"
)

// These tests run against a real Solana (Surfnet, offline) and the
// reference x402 facilitator for Solana (@x402/svm 2.27.0), started by
// internal/solanatest from test/solana (npm ci there first). Balances are
// read from the chain.

// shape writes one payment option as a seller would, in x402 v1 or v2.
type shape struct {
	version int
	network string
}

var (
	v1Devnet = shape{1, "solana-devnet"}
	v2Devnet = shape{2, string(Devnet)}
)

// option is one payment option in the seller's terms.
type option struct {
	amount uint64
	payTo  string
	asset  string
	extra  map[string]any
}

// requirements is the option in shape's wire form.
func (s shape) requirements(o option) map[string]any {
	r := map[string]any{"scheme": "exact", "network": s.network, "asset": o.asset, "payTo": o.payTo, "maxTimeoutSeconds": 60, "extra": o.extra}
	if s.version == 1 {
		r["maxAmountRequired"] = payments.Amount(o.amount).Atomic()
		r["resource"], r["description"], r["mimeType"] = "https://seller.example/paid", "a paid thing", "application/json"
	} else {
		r["amount"] = payments.Amount(o.amount).Atomic()
	}
	return r
}

// paymentPayload wraps the scheme payload as shape's PaymentPayload.
func (s shape) paymentPayload(req map[string]any, payload json.RawMessage) map[string]any {
	if s.version == 1 {
		return map[string]any{"x402Version": 1, "scheme": "exact", "network": s.network, "payload": payload}
	}
	return map[string]any{"x402Version": 2, "accepted": req, "payload": payload, "resource": map[string]any{"url": "https://seller.example/paid"}}
}

// requirement reads the wire option back as the adapter will.
func (s shape) requirement(t *testing.T, req map[string]any) Requirement {
	t.Helper()
	field := "amount"
	if s.version == 1 {
		field = "maxAmountRequired"
	}
	amt, err := payments.ParseAtomic(req[field].(string))
	if err != nil {
		t.Fatal(err)
	}
	extra, err := json.Marshal(req["extra"])
	if err != nil {
		t.Fatal(err)
	}
	return Requirement{Scheme: "exact", Network: s.network, Amount: amt, PayTo: req["payTo"].(string), Asset: req["asset"].(string), MaxTimeoutSeconds: 60, Extra: extra}
}

// world is one test's parties on the chain.
type world struct {
	env    *solanatest.Env
	client *Client
	payer  *Key
	payee  *Key
}

func newWorld(t *testing.T, env *solanatest.Env, mint string, funds uint64) *world {
	t.Helper()
	payer, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	payee, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if funds > 0 {
		env.Fund(t, payer.Address().String(), 0, mint, funds)
	}
	// The payee's token account must exist: the payment does not create it.
	env.Fund(t, payee.Address().String(), 0, mint, 0)
	return &world{env: env, client: &Client{RPC: map[Network]*RPC{Devnet: NewRPC(env.RPCURL, nil)}}, payer: payer, payee: payee}
}

var wantDevnet = Want{Networks: []Network{Devnet}}

// pay judges and signs the option in shape, and returns what the seller
// gets: the requirements and the payment payload, and the proof.
func (w *world) pay(t *testing.T, s shape, o option, want Want) (map[string]any, map[string]any, *Proof) {
	t.Helper()
	req := s.requirements(o)
	terms, ref := Judge(s.requirement(t, req), want)
	if ref != nil {
		t.Fatalf("Judge refused: %v", ref)
	}
	payload, proof, err := w.client.Sign(t.Context(), terms, w.payer)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return req, s.paymentPayload(req, payload), proof
}

// TestPayOnChain signs with this package and has the reference facilitator
// verify and settle, over v1 and v2 option shapes and a Token and a
// Token-2022 mint; exact balances are read from the chain, and Prove finds
// the landed transaction with the facilitator's id.
func TestPayOnChain(t *testing.T) {
	env := solanatest.Start(t, solanatest.Options{})
	for _, tc := range []struct {
		name  string
		shape shape
		mint  func() string
	}{
		{"v1 USDC", v1Devnet, func() string { return env.USDCMint }},
		{"v2 USDC", v2Devnet, func() string { return env.USDCMint }},
		{"v2 Token-2022", v2Devnet, func() string { return env.Token2022Mint }},
		{"v1 Token-2022", v1Devnet, func() string { return env.Token2022Mint }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mint := tc.mint()
			w := newWorld(t, env, mint, 5_000)
			want := wantDevnet
			if mint != env.USDCMint {
				want.Assets = map[string]payments.Currency{mint: {Symbol: "TK22", Decimals: 6, Budget: "solana/" + mint}}
			}
			o := option{amount: 1_234, payTo: w.payee.Address().String(), asset: mint, extra: map[string]any{"feePayer": env.FeePayer}}
			req, pp, proof := w.pay(t, tc.shape, o, want)
			if v := env.Verify(t, tc.shape.version, pp, req); !v.IsValid {
				t.Fatalf("verify: %+v", v)
			}
			s := env.Settle(t, tc.shape.version, pp, req)
			if !s.Success || s.Transaction == "" {
				t.Fatalf("settle: %+v", s)
			}
			if s.Payer != w.payer.Address().String() {
				t.Errorf("settle payer = %s, want %s", s.Payer, w.payer.Address())
			}
			if got := env.Balance(t, w.payer.Address().String(), mint); got != 5_000-1_234 {
				t.Errorf("payer holds %d, want %d", got, 5_000-1_234)
			}
			if got := env.Balance(t, w.payee.Address().String(), mint); got != 1_234 {
				t.Errorf("payee holds %d, want 1234", got)
			}
			if got, err := w.client.Balance(t.Context(), Devnet, w.payer.Address(), solana.MustPublicKeyFromBase58(mint)); err != nil || got != 5_000-1_234 {
				t.Errorf("Client.Balance = %d, %v; want %d", got, err, 5_000-1_234)
			}
			if got, err := w.client.Balance(t.Context(), Devnet, solana.MustPublicKeyFromBase58(env.FeePayer), solana.MustPublicKeyFromBase58(mint)); err != nil || got != 0 {
				t.Errorf("Client.Balance of an owner with no token account = %d, %v; want 0", got, err)
			}
			f, err := w.client.Prove(t.Context(), *proof)
			if err != nil {
				t.Fatal(err)
			}
			if f.State != Settled || f.Tx != s.Transaction {
				t.Errorf("Prove = %+v, want settled with the facilitator's id %s", f, s.Transaction)
			}
		})
	}
}

// TestSignRefusesBeforeSigning: a payer with less than the price is
// refused before signing, with the amounts named (the reference
// facilitator answers only a bare simulation failure, shown too); so are a
// seller's extra.tokenProgram that the chain contradicts, a payee with no
// token account of the mint, and a declared asset whose decimals differ
// from the chain's.
func TestSignRefusesBeforeSigning(t *testing.T) {
	env := solanatest.Start(t, solanatest.Options{})
	w := newWorld(t, env, env.USDCMint, 500)
	o := option{amount: 1_000, payTo: w.payee.Address().String(), asset: env.USDCMint, extra: map[string]any{"feePayer": env.FeePayer}}
	req := v2Devnet.requirements(o)
	terms, ref := Judge(v2Devnet.requirement(t, req), wantDevnet)
	if ref != nil {
		t.Fatal(ref)
	}
	_, _, err := w.client.Sign(t.Context(), terms, w.payer)
	r, ok := err.(*Refusal)
	if !ok || r.Code != CodeInsufficientFunds {
		t.Fatalf("Sign = %v, want an insufficient_funds refusal", err)
	}
	ata := env.ATA(t, w.payer.Address().String(), env.USDCMint)
	if want := "the wallet holds 0.0005 USDC on Solana devnet (mint " + env.USDCMint + ", 6 decimals); this costs 0.001 USDC: fund the wallet's token account " + ata; r.Message != want {
		t.Errorf("message = %q, want %q", r.Message, want)
	}

	// A seller's extra.tokenProgram that disagrees with the chain.
	o.extra = map[string]any{"feePayer": env.FeePayer, "tokenProgram": solana.Token2022ProgramID.String()}
	hinted, ref := Judge(v2Devnet.requirement(t, v2Devnet.requirements(o)), wantDevnet)
	if ref != nil {
		t.Fatal(ref)
	}
	if _, _, err := w.client.Sign(t.Context(), hinted, w.payer); err == nil || !strings.Contains(err.Error(), "owned by "+solana.TokenProgramID.String()) {
		t.Errorf("Sign with a wrong extra.tokenProgram = %v, want a refusal naming the mint's real program", err)
	}

	// What the facilitator says of the same payment signed regardless.
	mint, err := w.client.Mint(t.Context(), Devnet, terms.Asset)
	if err != nil {
		t.Fatal(err)
	}
	life := freshBlockhash(t, w.client)
	payload, _, err := w.client.assemble(t.Context(), terms, w.payer, mint, life, "underfunded")
	if err != nil {
		t.Fatal(err)
	}
	v := env.Verify(t, 2, v2Devnet.paymentPayload(req, payload), req)
	if v.IsValid || !strings.Contains(v.InvalidReason, "simulation_failed") {
		t.Errorf("facilitator on the underfunded payment: %+v, want a simulation failure", v)
	}

	// A payee with no token account of the mint.
	stranger, _ := GenerateKey()
	env.Fund(t, w.payer.Address().String(), 0, env.USDCMint, 1_000)
	o.payTo, o.extra = stranger.Address().String(), map[string]any{"feePayer": env.FeePayer}
	noAccount, ref := Judge(v2Devnet.requirement(t, v2Devnet.requirements(o)), wantDevnet)
	if ref != nil {
		t.Fatal(ref)
	}
	if _, _, err := w.client.Sign(t.Context(), noAccount, w.payer); err == nil || err.(*Refusal).Code != CodePayeeAccountMissing {
		t.Errorf("Sign to a payee without a token account = %v, want payee_account_missing", err)
	}
	o.payTo = w.payee.Address().String()

	// A declared asset whose decimals registry.yaml gets wrong.
	o22 := option{amount: 1_000, payTo: w.payee.Address().String(), asset: env.Token2022Mint, extra: map[string]any{"feePayer": env.FeePayer}}
	wrong := Want{Networks: []Network{Devnet}, Assets: map[string]payments.Currency{env.Token2022Mint: {Symbol: "TK", Decimals: 9, Budget: "tk"}}}
	misread, ref := Judge(v2Devnet.requirement(t, v2Devnet.requirements(o22)), wrong)
	if ref != nil {
		t.Fatal(ref)
	}
	if _, _, err := w.client.Sign(t.Context(), misread, w.payer); err == nil || !strings.Contains(err.Error(), "has 6 decimals on chain") {
		t.Errorf("Sign of a declared asset with wrong decimals = %v, want a refusal naming the chain's 6", err)
	}
}

func freshBlockhash(t *testing.T, c *Client) lifetime {
	t.Helper()
	h, lv, err := c.RPC[Devnet].latestBlockhash(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return lifetime{Blockhash: solana.MustHashFromBase58(h), LastValidBlockHeight: lv}
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// signed builds the payment of o with its plan changed by mutate, signs it
// as the payer and returns the payment payload in shape s. It is how a
// test writes the transactions this package never builds.
func (w *world) signed(t *testing.T, s shape, o option, want Want, mutate func(*plan)) (map[string]any, map[string]any) {
	t.Helper()
	req := s.requirements(o)
	terms, ref := Judge(s.requirement(t, req), want)
	if ref != nil {
		t.Fatal(ref)
	}
	mint, err := w.client.Mint(t.Context(), terms.Network, terms.Asset)
	if err != nil {
		t.Fatal(err)
	}
	life := freshBlockhash(t, w.client)
	memoText := terms.Memo
	if memoText == "" {
		memoText = "0123456789abcdef0123456789abcdef"
	}
	p, err := newPlan(terms, w.payer.Address(), mint, life, memoText, DefaultComputeUnitPrice)
	if err != nil {
		t.Fatal(err)
	}
	mutate(&p)
	tx, err := encodePlan(p.instructions(), p)
	if err != nil {
		t.Fatal(err)
	}
	payload, _, err := signPlan(t.Context(), tx, p, terms, w.payer, life)
	if err != nil {
		t.Fatal(err)
	}
	return req, s.paymentPayload(req, payload)
}

// TestFacilitatorRefusals: each way a payment can be wrong that the
// reference facilitator refuses, shown on the real facilitator, and this
// package's own transaction for the same option accepted. Sign never
// writes these: it takes the payee's token account, the option's mint and
// exact amount, extra.memo and a price under the cap by construction.
func TestFacilitatorRefusals(t *testing.T) {
	env := solanatest.Start(t, solanatest.Options{})
	for _, tc := range []struct {
		name   string
		memo   string
		mutate func(p *plan, w *world)
		reason string
	}{
		{"the payee's wallet instead of its token account", "", func(p *plan, w *world) { p.Destination = w.payee.Address() }, "invalid_exact_svm_payload_recipient_mismatch"},
		{"another mint", "", func(p *plan, w *world) {
			p.Mint = solana.MustPublicKeyFromBase58(env.Token2022Mint)
			p.Program = solana.Token2022ProgramID
		}, "invalid_exact_svm_payload_mint_mismatch"},
		{"one unit less", "", func(p *plan, _ *world) { p.Amount-- }, "invalid_exact_svm_payload_amount_mismatch"},
		{"one unit more", "", func(p *plan, _ *world) { p.Amount++ }, "invalid_exact_svm_payload_amount_mismatch"},
		{"a memo other than extra.memo", "order-42", func(p *plan, _ *world) { p.Memo = "order-43" }, "invalid_exact_svm_payload_memo_mismatch"},
		{"a compute price above the cap", "", func(p *plan, _ *world) { p.UnitPrice = MaxComputeUnitPrice + 1 }, "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction_too_high"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, env, env.USDCMint, 10_000)
			extra := map[string]any{"feePayer": env.FeePayer}
			if tc.memo != "" {
				extra["memo"] = tc.memo
			}
			o := option{amount: 1_000, payTo: w.payee.Address().String(), asset: env.USDCMint, extra: extra}
			req, pp := w.signed(t, v2Devnet, o, wantDevnet, func(p *plan) { tc.mutate(p, w) })
			if v := env.Verify(t, 2, pp, req); v.IsValid || v.InvalidReason != tc.reason {
				t.Errorf("verify = %+v, want refused with %s", v, tc.reason)
			}
			if got := localVerify(t, v2Devnet, req, pp, env.FeePayer); got != tc.reason {
				t.Errorf("Verify (this package's, for a local facilitator) = %q, want the reference's %q", got, tc.reason)
			}
			if s := env.Settle(t, 2, pp, req); s.Success || s.ErrorReason != tc.reason {
				t.Errorf("settle = %+v, want refused with %s", s, tc.reason)
			}
			_, good, _ := w.pay(t, v2Devnet, o, wantDevnet)
			if v := env.Verify(t, 2, good, req); !v.IsValid {
				t.Errorf("this package's transaction for the same option: %+v", v)
			}
			if got := localVerify(t, v2Devnet, req, good, env.FeePayer); got != "" {
				t.Errorf("Verify of this package's transaction: %s", got)
			}
			if got := env.Balance(t, w.payee.Address().String(), env.USDCMint); got != 0 {
				t.Errorf("payee holds %d after refusals and a verify, want 0", got)
			}
		})
	}
}

// TestFacilitatorRefusesFeePayerTransfer: a transfer whose authority is the
// facilitator's fee payer is refused by the facilitator, and this package
// refuses to build any transaction in which the fee payer is an account of
// an instruction.
func TestFacilitatorRefusesFeePayerTransfer(t *testing.T) {
	env := solanatest.Start(t, solanatest.Options{})
	w := newWorld(t, env, env.USDCMint, 10_000)
	fp := solana.MustPublicKeyFromBase58(env.FeePayer)
	env.Fund(t, env.FeePayer, 0, env.USDCMint, 10_000)
	o := option{amount: 1_000, payTo: w.payee.Address().String(), asset: env.USDCMint, extra: map[string]any{"feePayer": env.FeePayer}}
	req := v2Devnet.requirements(o)
	terms, ref := Judge(v2Devnet.requirement(t, req), wantDevnet)
	if ref != nil {
		t.Fatal(ref)
	}
	mint, err := w.client.Mint(t.Context(), Devnet, terms.Asset)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlan(terms, fp, mint, freshBlockhash(t, w.client), "fee-payer-pays", DefaultComputeUnitPrice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.transaction(); err == nil || !strings.Contains(err.Error(), "fee payer") {
		t.Fatalf("transaction() with the fee payer as the authority = %v, want a refusal naming the fee payer", err)
	}
	tx, err := encodePlan(p.instructions(), p)
	if err != nil {
		t.Fatal(err)
	}
	tx.Signatures = make([]solana.Signature, tx.Message.Header.NumRequiredSignatures)
	raw, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]string{"transaction": base64Std(raw)})
	pp := v2Devnet.paymentPayload(req, payload)
	if v := env.Verify(t, 2, pp, req); v.IsValid || v.InvalidReason != "invalid_exact_svm_payload_transaction_fee_payer_transferring_funds" {
		t.Errorf("verify = %+v, want fee_payer_transferring_funds", v)
	}
	if got := localVerify(t, v2Devnet, req, pp, env.FeePayer); got != ReasonFeePayerTransferring {
		t.Errorf("Verify = %q, want %s as the reference", got, ReasonFeePayerTransferring)
	}
	if got := env.Balance(t, env.FeePayer, env.USDCMint); got != 10_000 {
		t.Errorf("fee payer holds %d, want 10000", got)
	}

	// The seller naming the payer itself as the fee payer is refused too.
	o.extra = map[string]any{"feePayer": w.payer.Address().String()}
	terms, ref = Judge(v2Devnet.requirement(t, v2Devnet.requirements(o)), wantDevnet)
	if ref != nil {
		t.Fatal(ref)
	}
	if _, _, err := w.client.Sign(t.Context(), terms, w.payer); err == nil || !strings.Contains(err.Error(), "fee payer") {
		t.Errorf("Sign with the payer as fee payer = %v, want a refusal", err)
	}
}

// TestResendAfterLostAnswer: the same signed transaction sent again (the
// seller's answer was lost) is refused as a duplicate and moves nothing
// more; a newly signed one for the same option pays a second time, which
// is why the client resends, never re-signs.
func TestResendAfterLostAnswer(t *testing.T) {
	env := solanatest.Start(t, solanatest.Options{})
	w := newWorld(t, env, env.USDCMint, 10_000)
	o := option{amount: 1_000, payTo: w.payee.Address().String(), asset: env.USDCMint, extra: map[string]any{"feePayer": env.FeePayer}}
	req, pp, proof := w.pay(t, v2Devnet, o, wantDevnet)
	first := env.Settle(t, 2, pp, req)
	if !first.Success {
		t.Fatalf("settle: %+v", first)
	}
	again := env.Settle(t, 2, pp, req)
	if again.Success || again.ErrorReason != "duplicate_settlement" {
		t.Errorf("the same transaction again: %+v, want duplicate_settlement", again)
	}
	if got := env.Balance(t, w.payee.Address().String(), env.USDCMint); got != 1_000 {
		t.Errorf("after a resend the payee holds %d, want 1000", got)
	}
	f, err := w.client.Prove(t.Context(), *proof)
	if err != nil || f.State != Settled || f.Tx != first.Transaction {
		t.Errorf("Prove = %+v, %v; want settled as %s", f, err, first.Transaction)
	}

	_, pp2, _ := w.pay(t, v2Devnet, o, wantDevnet)
	second := env.Settle(t, 2, pp2, req)
	if !second.Success {
		t.Fatalf("a newly signed payment: %+v", second)
	}
	// A receipt's id is looked up first and believed only when it is this
	// payment: the second payment's id is not the first's.
	for _, claim := range []string{first.Transaction, second.Transaction, "not-a-signature"} {
		p := *proof
		p.Tx = claim
		calls := &methodCounter{}
		c := &Client{RPC: map[Network]*RPC{Devnet: NewRPC(env.RPCURL, &http.Client{Transport: calls})}}
		if f, err := c.Prove(t.Context(), p); err != nil || f.State != Settled || f.Tx != first.Transaction {
			t.Errorf("Prove with the receipt's id %s = %+v, %v; want settled as %s", claim, f, err, first.Transaction)
		}
		if searched := calls.n("getSignaturesForAddress") > 0; searched != (claim != first.Transaction) {
			t.Errorf("receipt id %s: history searched = %v (calls %v)", claim, searched, calls.seen)
		}
	}
	if got := env.Balance(t, w.payee.Address().String(), env.USDCMint); got != 2_000 {
		t.Errorf("after re-signing the payee holds %d, want 2000: a new signature pays again", got)
	}
}

// TestExpiredBlockhash, on a chain with 20 ms slots: a signed payment that
// never reached the facilitator is Open while its blockhash may still land
// it, and Expired once the chain's finalized block height has passed its
// last valid block height; the facilitator then refuses it and no token
// moves; and a seller's expired extra.recentBlockhash is refused before
// signing.
func TestExpiredBlockhash(t *testing.T) {
	env := solanatest.Start(t, solanatest.Options{SlotMs: 20})
	w := newWorld(t, env, env.USDCMint, 10_000)
	o := option{amount: 1_000, payTo: w.payee.Address().String(), asset: env.USDCMint, extra: map[string]any{"feePayer": env.FeePayer}}
	req, pp, proof := w.pay(t, v2Devnet, o, wantDevnet)
	sreq, spp, settledProof := w.pay(t, v2Devnet, o, wantDevnet)
	settled := env.Settle(t, 2, spp, sreq)
	if !settled.Success {
		t.Fatalf("settle: %+v", settled)
	}
	f, err := w.client.Prove(t.Context(), *proof)
	if err != nil {
		t.Fatal(err)
	}
	if f.State != Open || f.Unusable() {
		t.Fatalf("Prove right after signing = %+v, want open", f)
	}
	waitHeight(t, w.client, proof.LastValidBlockHeight)
	f, err = w.client.Prove(t.Context(), *proof)
	if err != nil {
		t.Fatal(err)
	}
	if f.State != Expired || !f.Unusable() || f.BlockHeight <= proof.LastValidBlockHeight {
		t.Fatalf("Prove after the last valid block height = %+v, want expired (last valid %d)", f, proof.LastValidBlockHeight)
	}
	if f, err := w.client.Prove(t.Context(), *settledProof); err != nil || f.State != Settled || f.Tx != settled.Transaction {
		t.Errorf("Prove of the settled payment after its blockhash expired = %+v, %v; want settled as %s", f, err, settled.Transaction)
	}
	if s := env.Settle(t, 2, pp, req); s.Success || s.ErrorReason != "invalid_exact_svm_transaction_simulation_failed" {
		t.Errorf("settling the expired transaction = %+v, want the facilitator's bare simulation failure", s)
	}
	if got := env.Balance(t, w.payer.Address().String(), env.USDCMint); got != 10_000-1_000 {
		t.Errorf("payer holds %d after one settled and one expired payment, want 9000", got)
	}

	o.extra = map[string]any{"feePayer": env.FeePayer, "recentBlockhash": proof.Blockhash, "lastValidBlockHeight": proof.LastValidBlockHeight}
	terms, ref := Judge(v2Devnet.requirement(t, v2Devnet.requirements(o)), wantDevnet)
	if ref != nil {
		t.Fatal(ref)
	}
	_, _, err = w.client.Sign(t.Context(), terms, w.payer)
	if r, ok := err.(*Refusal); !ok || r.Code != CodeBlockhashExpired {
		t.Errorf("Sign on the seller's expired blockhash = %v, want blockhash_expired", err)
	}
}

// waitHeight waits until the finalized block height is above h.
func waitHeight(t *testing.T, c *Client, h uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := c.RPC[Devnet].finalizedBlockHeight(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got > h {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the finalized block height is %d after 60 s, want above %d", got, h)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// methodCounter is an http.RoundTripper that counts the JSON-RPC methods
// sent through it.
type methodCounter struct {
	mu   sync.Mutex
	seen map[string]int
}

func (m *methodCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	var req struct {
		Method string `json:"method"`
	}
	_ = json.Unmarshal(b, &req)
	m.mu.Lock()
	if m.seen == nil {
		m.seen = map[string]int{}
	}
	m.seen[req.Method]++
	m.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(b))
	return http.DefaultTransport.RoundTrip(r)
}

func (m *methodCounter) n(method string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seen[method]
}

// localVerify runs this package's Verify on a payment payload, as a local
// facilitator would, and returns its refusal reason ("" when valid).
func localVerify(t *testing.T, s shape, req, pp map[string]any, feePayer string) string {
	t.Helper()
	var p struct {
		Transaction string `json:"transaction"`
	}
	if err := json.Unmarshal(pp["payload"].(json.RawMessage), &p); err != nil {
		t.Fatal(err)
	}
	terms, ref := Judge(s.requirement(t, req), Want{Networks: Networks(), Assets: map[string]payments.Currency{req["asset"].(string): payments.USDC}})
	if ref != nil {
		t.Fatal(ref)
	}
	_, err := Verify(p.Transaction, terms, []solana.PublicKey{solana.MustPublicKeyFromBase58(feePayer)}, 6)
	if err == nil {
		return ""
	}
	ve, ok := err.(*VerifyError)
	if !ok {
		t.Fatalf("Verify: %v is not a *VerifyError", err)
	}
	return ve.Reason
}
