package localseller

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gagliardetto/solana-go"

	"github.com/x402-mcp/x402-mcp/internal/mustjson"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// SolanaFacilitatorConfig configures a SolanaFacilitator. The zero value is
// devnet USDC (6 decimals) with 400 ms slots.
type SolanaFacilitatorConfig struct {
	// Network is the CAIP-2 Solana network (default devnet).
	Network payments.Network
	// Mint is the one token it keeps balances of (default the network's
	// USDC), owned by the Token program, with Decimals (default 6).
	Mint     string
	Decimals uint8
	// SlotTime is how long a slot (one block) lasts: a blockhash is valid
	// for 150 of them (default 400 ms).
	SlotTime time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// SolanaFacilitator verifies and settles Solana exact payments against an
// in-memory token ledger, and serves the chain it keeps as Solana JSON-RPC
// (RPC), so that a client can read balances, blockhashes and landed
// transactions from it as from a node. It checks each payment as the
// reference facilitator does (svm.Verify: the fee payer is its own, the
// payer's ed25519 signature over the message, the instructions, the
// transfer of exactly the price into payTo's token account, the memo),
// then what the reference facilitator's simulation would: the blockhash is
// one it issued and still valid, the payer holds the amount, the payee's
// token account exists, and the transaction has not landed before
// (duplicate_settlement). Settle signs as fee payer, moves the balances and
// records the transaction, whose id is the fee payer's signature. Blocks
// follow the clock: one per SlotTime, final at once. It is safe for
// concurrent use.
type SolanaFacilitator struct {
	network  svm.Network
	mint     solana.PublicKey
	decimals uint8
	feePayer *svm.Key
	slot     time.Duration
	start    time.Time
	now      func() time.Time

	mu       sync.Mutex
	balances map[solana.PublicKey]payments.Amount // by token account; an account exists when it has an entry
	owners   map[solana.PublicKey]solana.PublicKey
	issued   map[solana.Hash]uint64 // blockhash → the block height it was issued at
	landed   map[string]*landedSolanaTx
	byPayer  map[string]string   // the payer's signature → the landed transaction id
	history  map[string][]string // account → landed transaction ids, oldest first
	settled  int
	total    payments.Amount
}

// landedSolanaTx is a transaction the facilitator settled.
type landedSolanaTx struct {
	id     string
	height uint64
	raw    string // base64 of the fully signed transaction
}

// Reasons a SolanaFacilitator answers with beside svm.Verify's.
const (
	// ReasonDuplicateSettlement: the transaction already landed.
	ReasonDuplicateSettlement = "duplicate_settlement"
	// ReasonSVMInvalidPayload: the payload is not {"transaction": …}.
	ReasonSVMInvalidPayload = "invalid_exact_svm_payload"
)

// blockhashLife is how many blocks a blockhash stays valid.
const blockhashLife = 150

// NewSolanaFacilitator returns a facilitator with an empty ledger and a
// fresh fee payer key. It panics when cfg names a network x402-mcp does not
// know or a mint that is not base58: the configuration is code.
func NewSolanaFacilitator(cfg SolanaFacilitatorConfig) *SolanaFacilitator {
	if cfg.Network == "" {
		cfg.Network = payments.Network(svm.Devnet)
	}
	n, ok, err := svm.ParseNetwork(string(cfg.Network))
	if !ok || err != nil {
		panic("localseller: SolanaFacilitatorConfig.Network " + string(cfg.Network) + " is not a Solana network x402-mcp knows")
	}
	mint, _ := svm.KnownUSDC(n)
	if cfg.Mint != "" {
		if mint, err = solana.PublicKeyFromBase58(cfg.Mint); err != nil {
			panic("localseller: SolanaFacilitatorConfig.Mint: " + err.Error())
		}
	}
	if cfg.Decimals == 0 {
		cfg.Decimals = svm.USDCDecimals
	}
	if cfg.SlotTime <= 0 {
		cfg.SlotTime = svm.DefaultSlotTime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	fp, err := svm.GenerateKey()
	if err != nil {
		panic("localseller: " + err.Error())
	}
	return &SolanaFacilitator{
		network: n, mint: mint, decimals: cfg.Decimals, feePayer: fp, slot: cfg.SlotTime, start: cfg.Now(), now: cfg.Now,
		balances: map[solana.PublicKey]payments.Amount{}, owners: map[solana.PublicKey]solana.PublicKey{},
		issued: map[solana.Hash]uint64{}, landed: map[string]*landedSolanaTx{}, byPayer: map[string]string{}, history: map[string][]string{},
	}
}

// Network is the facilitator's CAIP-2 network.
func (f *SolanaFacilitator) Network() payments.Network { return payments.Network(f.network) }

// Mint is the token it keeps balances of.
func (f *SolanaFacilitator) Mint() string { return f.mint.String() }

// FeePayer is its fee payer, extra.feePayer.
func (f *SolanaFacilitator) FeePayer() string { return f.feePayer.Payer() }

// ata is owner's associated token account of the mint.
func (f *SolanaFacilitator) ata(owner solana.PublicKey) solana.PublicKey {
	a, _, err := solana.FindAssociatedTokenAddressWithProgram(owner, f.mint, solana.TokenProgramID)
	if err != nil {
		panic("localseller: derive a token account: " + err.Error())
	}
	return a
}

// Fund credits amt to owner's token account (base58), creating it. It
// panics when owner is not base58 or the balance would overflow.
func (f *SolanaFacilitator) Fund(owner string, amt payments.Amount) {
	pk, err := solana.PublicKeyFromBase58(owner)
	if err != nil {
		panic("localseller: fund " + owner + ": " + err.Error())
	}
	a := f.ata(pk)
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.balances[a].AddChecked(amt)
	if !ok {
		panic("localseller: balance overflow funding " + owner)
	}
	f.balances[a], f.owners[a] = b, pk
}

// Balance is owner's balance (0 without a token account).
func (f *SolanaFacilitator) Balance(owner string) payments.Amount {
	pk, err := solana.PublicKeyFromBase58(owner)
	if err != nil {
		return 0
	}
	a := f.ata(pk)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.balances[a]
}

// SettledCount is how many payments settled; SettledTotal their sum.
func (f *SolanaFacilitator) SettledCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.settled
}

// SettledTotal is the sum of every settled payment.
func (f *SolanaFacilitator) SettledTotal() payments.Amount {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// height is the current block height: one block per slot since start.
func (f *SolanaFacilitator) height() uint64 {
	return uint64(f.now().Sub(f.start)/f.slot) + 1
}

// blockhash is the blockhash of block h.
func (f *SolanaFacilitator) blockhash(h uint64) solana.Hash {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h)
	return solana.Hash(sha256.Sum256(append([]byte("x402-mcp local solana "+string(f.network)+" "+f.feePayer.Payer()+" "), b[:]...)))
}

// latest issues the current block's blockhash. f.mu must be held.
func (f *SolanaFacilitator) latestLocked() (solana.Hash, uint64) {
	h := f.height()
	bh := f.blockhash(h)
	if _, ok := f.issued[bh]; !ok {
		f.issued[bh] = h
		// Forget blockhashes long expired: memory stays bounded.
		for k, at := range f.issued {
			if at+2*blockhashLife < h {
				delete(f.issued, k)
			}
		}
	}
	return bh, h + blockhashLife
}

// validLocked says whether bh is a blockhash it issued that is still
// valid. f.mu must be held.
func (f *SolanaFacilitator) validLocked(bh solana.Hash) bool {
	at, ok := f.issued[bh]
	return ok && f.height() <= at+blockhashLife
}

// checkedSolana is a payment that passed every check but the state's.
type checkedSolana struct {
	tr    *svm.Transfer
	tx    *solana.Transaction
	payer string
}

// Verify checks payload against req without moving money.
func (f *SolanaFacilitator) Verify(ctx context.Context, p *x402.PaymentPayload, req x402.Requirement) VerifyResponse {
	if err := ctx.Err(); err != nil {
		return VerifyResponse{InvalidReason: ReasonUnexpectedVerifyError, InvalidMessage: err.Error()}
	}
	c, rej := f.check(p, req)
	if rej == nil {
		f.mu.Lock()
		rej = f.checkStateLocked(c)
		f.mu.Unlock()
	}
	if rej != nil {
		return VerifyResponse{InvalidReason: rej.reason, InvalidMessage: rej.message, Payer: rej.payer}
	}
	return VerifyResponse{IsValid: true, Payer: c.payer}
}

// Settle verifies payload again and, under one lock, signs it as fee
// payer, moves the amount and records the transaction. Of two settles of
// one transaction exactly one succeeds.
func (f *SolanaFacilitator) Settle(ctx context.Context, p *x402.PaymentPayload, req x402.Requirement) x402.SettlementResponse {
	network := req.Network
	if err := ctx.Err(); err != nil {
		return x402.SettlementResponse{Network: network, ErrorReason: ReasonUnexpectedSettleError, ErrorMessage: err.Error()}
	}
	c, rej := f.check(p, req)
	if rej != nil {
		return x402.SettlementResponse{Network: network, Payer: rej.payer, ErrorReason: rej.reason, ErrorMessage: rej.message}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if rej := f.checkStateLocked(c); rej != nil {
		return x402.SettlementResponse{Network: network, Payer: rej.payer, ErrorReason: rej.reason, ErrorMessage: rej.message}
	}
	msg, err := c.tx.Message.MarshalBinary()
	if err != nil {
		return x402.SettlementResponse{Network: network, Payer: c.payer, ErrorReason: ReasonUnexpectedSettleError, ErrorMessage: err.Error()}
	}
	sig, err := f.feePayer.SignMessage(ctx, msg)
	if err != nil {
		return x402.SettlementResponse{Network: network, Payer: c.payer, ErrorReason: ReasonUnexpectedSettleError, ErrorMessage: err.Error()}
	}
	c.tx.Signatures[0] = sig
	raw, err := c.tx.MarshalBinary()
	if err != nil {
		return x402.SettlementResponse{Network: network, Payer: c.payer, ErrorReason: ReasonUnexpectedSettleError, ErrorMessage: err.Error()}
	}
	amt := payments.Amount(c.tr.Amount)
	to, ok := f.balances[c.tr.Destination].AddChecked(amt)
	if !ok {
		return x402.SettlementResponse{Network: network, Payer: c.payer, ErrorReason: ReasonUnexpectedSettleError, ErrorMessage: "payee balance would overflow"}
	}
	// The books refuse a payment rather than wrap around.
	total, ok := f.total.AddChecked(amt)
	if !ok {
		return x402.SettlementResponse{Network: network, Payer: c.payer, ErrorReason: ReasonUnexpectedSettleError,
			ErrorMessage: fmt.Sprintf("the facilitator's settled total (%s atomic units) cannot count %s more", f.total.Atomic(), amt.Atomic())}
	}
	f.balances[c.tr.Source] -= amt
	f.balances[c.tr.Destination] = to
	id := sig.String()
	f.landed[id] = &landedSolanaTx{id: id, height: f.height(), raw: base64.StdEncoding.EncodeToString(raw)}
	f.byPayer[c.tr.PayerSignature] = id
	for _, a := range []solana.PublicKey{c.tr.Source, c.tr.Destination, c.tr.Payer} {
		f.history[a.String()] = append(f.history[a.String()], id)
	}
	f.settled++
	f.total = total
	return x402.SettlementResponse{Success: true, Transaction: id, Network: network, Payer: c.payer, Amount: amt.Atomic()}
}

// check runs every check that does not depend on the ledger's state.
func (f *SolanaFacilitator) check(p *x402.PaymentPayload, req x402.Requirement) (checkedSolana, *rejection) {
	var c checkedSolana
	if p == nil {
		return c, reject(ReasonInvalidPayload, "no payment payload")
	}
	reqV1 := req.Amount == "" && req.MaxAmountRequired != ""
	if (p.X402Version != 1 && p.X402Version != 2) || reqV1 != (p.X402Version == 1) {
		return c, reject(ReasonInvalidVersion, "a version %d payload does not answer these requirements", p.X402Version)
	}
	n, ok, err := svm.ParseNetwork(req.Network)
	if !ok || err != nil || n != f.network {
		return c, reject(ReasonInvalidNetwork, "network %q is not %s, the network this facilitator settles on", req.Network, f.network)
	}
	if p.X402Version == 2 && !sameJSON(p.Accepted, req.Raw) {
		return c, reject(ReasonInvalidRequirements, "`accepted` differs from the payment requirements")
	}
	if p.X402Version == 1 && (p.Scheme != req.Scheme || p.Network != req.Network) {
		return c, reject(ReasonInvalidScheme, "the payload's scheme and network are not the requirement's")
	}
	amt, err := payments.ParseAtomic(req.Price())
	if err != nil {
		return c, reject(ReasonInvalidRequirements, "price: %v", err)
	}
	want := svm.Want{Networks: []svm.Network{f.network}, Assets: map[string]payments.Currency{f.mint.String(): {Symbol: "TOKEN", Decimals: int(f.decimals), Budget: "local"}}}
	terms, ref := svm.Judge(svm.Requirement{Scheme: req.Scheme, Network: req.Network, Amount: amt, PayTo: req.PayTo, Asset: req.Asset, Extra: req.Extra}, want)
	if ref != nil {
		return c, reject(ReasonInvalidRequirements, "%s", ref.Message)
	}
	if terms.Asset != f.mint {
		return c, reject(ReasonInvalidRequirements, "asset %s is not %s, the mint this facilitator settles", terms.Asset, f.mint)
	}
	var pl struct {
		Transaction string `json:"transaction"`
	}
	if err := json.Unmarshal(p.Payload, &pl); err != nil || pl.Transaction == "" {
		return c, reject(ReasonSVMInvalidPayload, "the payload is not {\"transaction\": base64}")
	}
	tr, err := svm.Verify(pl.Transaction, terms, []solana.PublicKey{f.feePayer.Address()}, int(f.decimals))
	if err != nil {
		ve, _ := err.(*svm.VerifyError)
		if ve == nil {
			return c, reject(ReasonUnexpectedVerifyError, "%v", err)
		}
		return c, reject(ve.Reason, "%s", ve.Detail)
	}
	raw, err := base64.StdEncoding.DecodeString(pl.Transaction)
	if err != nil {
		return c, reject(svm.ReasonCouldNotBeDecoded, "not base64")
	}
	tx, err := solana.TransactionFromBytes(raw)
	if err != nil {
		return c, reject(svm.ReasonCouldNotBeDecoded, "%v", err)
	}
	c.tr, c.tx, c.payer = tr, tx, tr.Payer.String()
	return c, nil
}

// checkStateLocked checks what the reference facilitator's simulation
// would: the blockhash, the source account and its balance, the payee's
// account, and that the transaction has not landed. f.mu must be held.
func (f *SolanaFacilitator) checkStateLocked(c checkedSolana) *rejection {
	fail := func(reason, format string, a ...any) *rejection {
		r := reject(reason, format, a...)
		r.payer = c.payer
		return r
	}
	if id, ok := f.byPayer[c.tr.PayerSignature]; ok {
		return fail(ReasonDuplicateSettlement, "this transaction already landed as %s", id)
	}
	if !f.validLocked(c.tr.Blockhash) {
		return fail(svm.ReasonSimulationFailed, "blockhash %s not found or expired", c.tr.Blockhash)
	}
	if c.tr.Source != f.ata(c.tr.Payer) {
		return fail(svm.ReasonSimulationFailed, "the source %s is not the payer's token account", c.tr.Source)
	}
	if _, ok := f.balances[c.tr.Destination]; !ok {
		return fail(svm.ReasonSimulationFailed, "the payee's token account %s does not exist", c.tr.Destination)
	}
	if bal := f.balances[c.tr.Source]; uint64(bal) < c.tr.Amount {
		return fail(svm.ReasonSimulationFailed, "insufficient funds: %s holds %d, the transfer moves %d", c.payer, bal, c.tr.Amount)
	}
	return nil
}

// Supported is what GET /supported answers: exact on its network, in v1
// and v2, with its fee payer in extra.
func (f *SolanaFacilitator) Supported() x402.Supported {
	extra := mustjson.Marshal(map[string]string{"feePayer": f.FeePayer()})
	return x402.Supported{Kinds: []x402.SupportedKind{
		{X402Version: 2, Scheme: "exact", Network: string(f.network), Extra: extra},
		{X402Version: 1, Scheme: "exact", Network: f.network.V1Name(), Extra: extra},
	}}
}

// Handler serves the facilitator HTTP API, as Facilitator.Handler does.
func (f *SolanaFacilitator) Handler() http.Handler {
	return settlerHandler(f, func() any { return f.Supported() })
}

// RPC serves the facilitator's chain as Solana JSON-RPC (POST): the reads
// x402-mcp pays and proves with (getAccountInfo, getTokenAccountBalance,
// getLatestBlockhash, isBlockhashValid, getEpochInfo, minimumLedgerSlot,
// getSignaturesForAddress, getTransaction, getSignatureStatuses). Any other
// method is a JSON-RPC error.
func (f *SolanaFacilitator) RPC() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST a JSON-RPC request", http.StatusMethodNotAllowed)
			return
		}
		var req struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, maxFacilitatorBody))
		if err == nil {
			err = json.Unmarshal(b, &req)
		}
		if err != nil {
			writeJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": -32700, "message": "parse error"}})
			return
		}
		result, rpcErr := f.rpc(req.Method, req.Params)
		out := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		if rpcErr != nil {
			out["error"] = rpcErr
		} else {
			out["result"] = result
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// rpc answers one method.
func (f *SolanaFacilitator) rpc(method string, params []json.RawMessage) (any, *rpcError) {
	// param decodes params[i] into v; an absent parameter leaves v as it
	// is, a malformed one is the caller's error (-32602), as on a node.
	param := func(i int, v any) *rpcError {
		if i >= len(params) {
			return nil
		}
		if err := json.Unmarshal(params[i], v); err != nil {
			return &rpcError{Code: -32602, Message: fmt.Sprintf("Invalid params: parameter %d: %v", i, err)}
		}
		return nil
	}
	var first string // the first parameter of the methods that take a string
	switch method {
	case "isBlockhashValid", "getAccountInfo", "getTokenAccountBalance", "getSignaturesForAddress", "getTransaction":
		if e := param(0, &first); e != nil {
			return nil, e
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.height()
	ctx := map[string]any{"slot": h}
	switch method {
	case "getLatestBlockhash":
		bh, last := f.latestLocked()
		return map[string]any{"context": ctx, "value": map[string]any{"blockhash": bh.String(), "lastValidBlockHeight": last}}, nil
	case "isBlockhashValid":
		bh, err := solana.HashFromBase58(first)
		return map[string]any{"context": ctx, "value": err == nil && f.validLocked(bh)}, nil
	case "getEpochInfo":
		return map[string]any{"absoluteSlot": h, "blockHeight": h, "epoch": 0, "slotIndex": h, "slotsInEpoch": 432000}, nil
	case "minimumLedgerSlot":
		return 0, nil
	case "getAccountInfo":
		pk, err := solana.PublicKeyFromBase58(first)
		if err != nil {
			return nil, &rpcError{Code: -32602, Message: "Invalid param: not a base58 address"}
		}
		var data []byte
		switch _, isAccount := f.balances[pk]; {
		case pk == f.mint:
			data = make([]byte, 82)
			data[44], data[45] = f.decimals, 1
		case isAccount:
			data = make([]byte, 165)
			copy(data, f.mint[:])
			owner := f.owners[pk]
			copy(data[32:], owner[:])
			binary.LittleEndian.PutUint64(data[64:], uint64(f.balances[pk]))
			data[108] = 1
		default:
			return map[string]any{"context": ctx, "value": nil}, nil
		}
		return map[string]any{"context": ctx, "value": map[string]any{
			"owner": solana.TokenProgramID.String(), "data": []string{base64.StdEncoding.EncodeToString(data), "base64"},
			"lamports": 2039280, "executable": false, "rentEpoch": 0}}, nil
	case "getTokenAccountBalance":
		pk, err := solana.PublicKeyFromBase58(first)
		bal, ok := f.balances[pk]
		if err != nil || !ok {
			return nil, &rpcError{Code: -32602, Message: "Invalid param: could not find account"}
		}
		return map[string]any{"context": ctx, "value": map[string]any{"amount": bal.Atomic(), "decimals": f.decimals,
			"uiAmountString": payments.Currency{Symbol: "T", Decimals: int(f.decimals), Budget: "x"}.Decimal(bal)}}, nil
	case "getSignaturesForAddress":
		var opts struct {
			Limit  int    `json:"limit"`
			Before string `json:"before"`
		}
		if e := param(1, &opts); e != nil {
			return nil, e
		}
		if opts.Limit <= 0 || opts.Limit > 1000 {
			opts.Limit = 1000
		}
		ids := f.history[first]
		out := []map[string]any{}
		skipping := opts.Before != ""
		for i := len(ids) - 1; i >= 0 && len(out) < opts.Limit; i-- {
			if skipping {
				skipping = ids[i] != opts.Before
				continue
			}
			tx := f.landed[ids[i]]
			out = append(out, map[string]any{"signature": tx.id, "slot": tx.height, "err": nil, "memo": nil, "confirmationStatus": "finalized"})
		}
		return out, nil
	case "getTransaction":
		tx, ok := f.landed[first]
		if !ok {
			return nil, nil
		}
		return map[string]any{"slot": tx.height, "transaction": []string{tx.raw, "base64"}, "meta": map[string]any{"err": nil}}, nil
	case "getSignatureStatuses":
		var sigs []string
		if e := param(0, &sigs); e != nil {
			return nil, e
		}
		out := make([]any, len(sigs))
		for i, s := range sigs {
			if tx, ok := f.landed[s]; ok {
				out[i] = map[string]any{"slot": tx.height, "confirmations": nil, "err": nil, "confirmationStatus": "finalized"}
			}
		}
		return map[string]any{"context": ctx, "value": out}, nil
	}
	return nil, &rpcError{Code: -32601, Message: fmt.Sprintf("method %q is not served by the local Solana", method)}
}
