package svm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gagliardetto/solana-go"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/programs/memo"
	"github.com/gagliardetto/solana-go/programs/token"
	"github.com/x402-mcp/x402-mcp/payments"
)

// Compute budget of the payment transaction. The fee payer (the
// facilitator) pays the fee, and the reference facilitator refuses a price
// above MaxComputeUnitPrice; x402-mcp asks for the reference client's
// defaults.
const (
	// DefaultComputeUnitLimit is the compute units asked for: a
	// TransferChecked and a memo use well under it.
	DefaultComputeUnitLimit uint32 = 20_000
	// DefaultComputeUnitPrice is the priority fee in micro-lamports per
	// compute unit.
	DefaultComputeUnitPrice uint64 = 1
	// MaxComputeUnitPrice is the reference facilitator's cap
	// (MAX_COMPUTE_UNIT_PRICE_MICROLAMPORTS, 5 lamports per unit).
	MaxComputeUnitPrice uint64 = 5_000_000
)

// memoNonceBytes is the random bytes of a memo when the seller set none.
const memoNonceBytes = 16

// Client builds, signs and proves Solana payments over each network's
// JSON-RPC endpoint. Its zero value has no endpoints; set RPC.
type Client struct {
	// RPC is each network's endpoint (the registry's rpc: of that network).
	RPC map[Network]*RPC
	// ComputeUnitPrice is the priority fee in micro-lamports per unit,
	// from 0 (then DefaultComputeUnitPrice) to MaxComputeUnitPrice.
	ComputeUnitPrice uint64
	// Now is the clock (time.Now when nil): it says when a blockhash read
	// is too old to reuse (BlockhashReuse).
	Now func() time.Time
	// SlotTime is how long a slot lasts on the networks (DefaultSlotTime
	// when zero): a blockhash read is reused for at most a quarter of its
	// life (150 slots), and BlockhashReuse.
	SlotTime time.Duration

	mu     sync.Mutex
	mints  map[string]Mint
	payees map[string]bool
	recent map[Network]recentBlockhash
	// same counts the payments signed with a seller's memo per
	// transaction as first built (its message's SHA-256), and uses lists
	// them in order, for forgetting (Client.distinctLimit).
	same   map[[sha256.Size]byte]*sameTx
	uses   []sameTxUse
	useSeq uint64
}

// A seller's memo makes two payments of the same terms on the same
// blockhash the same transaction: Client.distinctLimit remembers those it
// signed for at least sameTxMemory (or three blockhash lives, when
// slots are slower), and at most maxSameTx of them.
const (
	// sameTxMemory: a blockhash lives 151 blocks, about 60 s (90 s when
	// slots run slow); no payment is built on it after that.
	sameTxMemory = 5 * time.Minute
	// maxSameTx bounds the memory: the oldest are forgotten first.
	maxSameTx = 1 << 14
)

// sameTx is how many payments of one first-built transaction the client
// signed, and the last of them.
type sameTx struct {
	n    uint32
	last uint64
}

// sameTxUse is one payment counted in a sameTx.
type sameTxUse struct {
	key [sha256.Size]byte
	seq uint64
	at  time.Time
}

// BlockhashReuse is the longest a blockhash read from the network
// (getLatestBlockhash) is reused for later payments there: a blockhash is
// valid for 150 blocks, about 60 s at 400 ms a slot, so one read 15 s ago
// leaves a facilitator at least 45 s to land the payment, and a paid call
// saves a round trip. On a network with shorter slots (Client.SlotTime) the
// reuse is a quarter of the blockhash's life.
const BlockhashReuse = 15 * time.Second

// reuse is how long a blockhash read is reused.
func (c *Client) reuse() time.Duration {
	slot := c.SlotTime
	if slot <= 0 {
		slot = DefaultSlotTime
	}
	return min(BlockhashReuse, 150*slot/4)
}

// recentBlockhash is a blockhash read from a network, and when.
type recentBlockhash struct {
	life lifetime
	at   time.Time
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Mint is what the chain says of a mint: its token program (Token or
// Token-2022) and decimals. Both are fixed for a mint's life, so Client
// keeps them.
type Mint struct {
	Program  solana.PublicKey
	Decimals uint8
}

// Proof is what the ledger must keep of a signed payment to prove its fate
// later (Client.Prove). The transaction's id is its first signature, the
// fee payer's, which the facilitator adds: it is not known until the
// payment lands, so the payment is found by the payer's signature and the
// memo in the source token account's history.
type Proof struct {
	Network Network `json:"network"`
	// Payer is the wallet's address; PayerSignature its signature of the
	// message (base58), the second of the transaction's.
	Payer          string `json:"payer"`
	PayerSignature string `json:"payerSignature"`
	Memo           string `json:"memo"`
	// Blockhash and LastValidBlockHeight: once the chain's finalized block
	// height passes LastValidBlockHeight, the transaction can never land.
	Blockhash            string `json:"blockhash"`
	LastValidBlockHeight uint64 `json:"lastValidBlockHeight"`
	// MinSlot is a slot the chain had reached before the payment was
	// signed (the balance check's): it cannot have landed before it, so the
	// search stops there, and a node whose ledger starts after it cannot
	// prove the payment unused.
	MinSlot uint64 `json:"minSlot"`
	// SourceTokenAccount is the payer's associated token account, whose
	// history the landed transaction is in.
	SourceTokenAccount string `json:"sourceTokenAccount"`
	Mint               string `json:"mint"`
	PayTo              string `json:"payTo"`
	Amount             string `json:"amount"` // atomic units
	// Transaction is the exact signed transaction sent (base64): resending
	// it after a lost answer is safe, signing a new one is not.
	Transaction string `json:"transaction"`
	// Tx is the transaction id a seller's receipt named, when one came
	// back: Prove looks it up first, and believes it only when the chain's
	// transaction of that id carries the payer's signature and the memo.
	Tx string `json:"tx,omitempty"`
}

// rpcFor returns n's endpoint.
func (c *Client) rpcFor(n Network) (*RPC, error) {
	if r := c.RPC[n]; r != nil {
		return r, nil
	}
	return nil, &Refusal{Code: payments.CodeUnsupported, Message: fmt.Sprintf("no rpc endpoint is configured for %s: add `%s: <url>` under rpc: in registry.yaml to pay there", n.Name(), n.V1Name())}
}

// Mint reads the mint's token program and decimals from the chain, once per
// mint.
func (c *Client) Mint(ctx context.Context, n Network, mint solana.PublicKey) (Mint, error) {
	key := string(n) + "/" + mint.String()
	c.mu.Lock()
	m, ok := c.mints[key]
	c.mu.Unlock()
	if ok {
		return m, nil
	}
	r, err := c.rpcFor(n)
	if err != nil {
		return Mint{}, err
	}
	owner, data, exists, err := r.accountInfo(ctx, mint.String())
	if err != nil {
		return Mint{}, fmt.Errorf("read mint %s on %s: %w", mint, n.Name(), err)
	}
	if !exists {
		return Mint{}, &Refusal{Code: payments.CodeBadChallenge, Message: fmt.Sprintf("mint %s does not exist on %s: the seller asks for a token that is not there", mint, n.Name())}
	}
	m, err = parseMint(owner, data)
	if err != nil {
		return Mint{}, &Refusal{Code: payments.CodeBadChallenge, Message: fmt.Sprintf("%s on %s: %v", mint, n.Name(), err)}
	}
	c.mu.Lock()
	if c.mints == nil {
		c.mints = map[string]Mint{}
	}
	c.mints[key] = m
	c.mu.Unlock()
	return m, nil
}

// parseMint reads a mint account: owned by Token or Token-2022, at least
// the 82 bytes of a base mint, decimals at byte 44, initialized at 45.
func parseMint(owner string, data []byte) (Mint, error) {
	var m Mint
	switch owner {
	case solana.TokenProgramID.String():
		m.Program = solana.TokenProgramID
	case solana.Token2022ProgramID.String():
		m.Program = solana.Token2022ProgramID
	default:
		return Mint{}, fmt.Errorf("the account is owned by %s, neither the Token nor the Token-2022 program: it is not a token mint", clip(owner))
	}
	if len(data) < 82 {
		return Mint{}, fmt.Errorf("the account holds %d bytes, fewer than a mint's 82", len(data))
	}
	if data[45] != 1 {
		return Mint{}, errors.New("the mint is not initialized")
	}
	m.Decimals = data[44]
	return m, nil
}

// Balance reads owner's balance of mint on n in atomic units (0 when owner
// has no token account of it), for showing a wallet.
func (c *Client) Balance(ctx context.Context, n Network, owner, mint solana.PublicKey) (payments.Amount, error) {
	m, err := c.Mint(ctx, n, mint)
	if err != nil {
		return 0, err
	}
	ata, _, err := solana.FindAssociatedTokenAddressWithProgram(owner, mint, m.Program)
	if err != nil {
		return 0, fmt.Errorf("derive the token account: %w", err)
	}
	r, err := c.rpcFor(n)
	if err != nil {
		return 0, err
	}
	v, _, err := r.tokenBalance(ctx, ata.String())
	if err != nil {
		return 0, fmt.Errorf("read the balance on %s: %w", n.Name(), err)
	}
	return payments.Amount(v), nil
}

// Sign builds the payment for t and has s sign it: Prepare, then
// Prepared.Sign. It returns the x402 payload ({"transaction":"<base64>"})
// and the Proof the ledger must keep; a *Refusal says nothing was signed and
// why.
func (c *Client) Sign(ctx context.Context, t *Terms, s Signer) (json.RawMessage, *Proof, error) {
	p, err := c.Prepare(ctx, t, s.Address())
	if err != nil {
		return nil, nil, err
	}
	return p.Sign(ctx, s)
}

// Prepared is a payment checked against the chain and ready to be signed
// without any further read: the mint and the blockhash it is built on.
type Prepared struct {
	c     *Client
	terms *Terms
	payer solana.PublicKey
	mint  Mint
	life  lifetime
}

// Terms are the terms being paid.
func (p *Prepared) Terms() *Terms { return p.terms }

// Mint is what the chain says of the mint.
func (p *Prepared) Mint() Mint { return p.mint }

// LastValidBlockHeight is the last block height at which the payment can
// land.
func (p *Prepared) LastValidBlockHeight() uint64 { return p.life.LastValidBlockHeight }

// Prepare reads from the chain, over the network's RPC, what paying t from
// payer needs, and checks that the payment could land: the mint (its
// program, agreeing with extra.tokenProgram, and its decimals, agreeing with
// t.Currency), the wallet's balance, that the payee's token account exists
// and, when the seller gave one, that the blockhash is still valid (else
// the latest blockhash). Each failure the payer or the seller must fix is a
// *Refusal with a plain reason (CodeInsufficientFunds,
// CodePayeeAccountMissing, CodeBlockhashExpired, …), decided before anything
// is signed: the reference facilitator would answer most of them with a
// bare simulation failure.
func (c *Client) Prepare(ctx context.Context, t *Terms, payer solana.PublicKey) (*Prepared, error) {
	r, err := c.rpcFor(t.Network)
	if err != nil {
		return nil, err
	}
	if payer == t.FeePayer {
		return nil, refuse(payments.CodeBadChallenge, "the seller names this wallet (%s) as the fee payer: the facilitator must pay the fee, never the payer", t.FeePayer)
	}
	mint, err := c.Mint(ctx, t.Network, t.Asset)
	if err != nil {
		return nil, err
	}
	if !t.TokenProgram.IsZero() && t.TokenProgram != mint.Program {
		return nil, refuse(payments.CodeBadChallenge, "the seller says mint %s is under %s but on %s it is owned by %s", t.Asset, t.TokenProgram, t.Network.Name(), mint.Program)
	}
	if int(mint.Decimals) != currencyDecimals(t.Currency) {
		return nil, refuse(payments.CodeBadChallenge, "mint %s on %s has %d decimals on chain but x402-mcp reads it as %s with %d: fix the asset's decimals in registry.yaml", t.Asset, t.Network.Name(), mint.Decimals, currencyOf(t.Currency).Symbol, currencyDecimals(t.Currency))
	}
	source, _, err := solana.FindAssociatedTokenAddressWithProgram(payer, t.Asset, mint.Program)
	if err != nil {
		return nil, fmt.Errorf("derive the wallet's token account: %w", err)
	}
	held, slot, err := r.tokenBalance(ctx, source.String())
	if err != nil {
		return nil, fmt.Errorf("read the wallet's balance on %s: %w", t.Network.Name(), err)
	}
	if held < uint64(t.Amount) {
		cur := currencyOf(t.Currency)
		return nil, refuse(CodeInsufficientFunds, "the wallet holds %s on %s (mint %s, %d decimals); this costs %s: fund the wallet's token account %s",
			cur.Format(payments.Amount(held)), t.Network.Name(), t.Asset, cur.Decimals, cur.Format(t.Amount), source)
	}
	if err := c.payeeAccount(ctx, r, t, mint); err != nil {
		return nil, err
	}
	life, err := c.blockhash(ctx, r, t)
	if err != nil {
		return nil, err
	}
	life.MinSlot = slot
	return &Prepared{c: c, terms: t, payer: payer, mint: mint, life: life}, nil
}

// Sign signs the prepared payment with s, which must be the payer it was
// prepared for: a v0 transaction whose fee payer is the seller's
// extra.feePayer, with SetComputeUnitLimit, SetComputeUnitPrice, a
// TransferChecked of exactly the price from s's associated token account to
// payTo's, under the mint's own token program, and a Memo (extra.memo, else
// 16 random bytes as hex), signed by s alone: the fee payer's signature is
// left for the facilitator. It reads nothing from the chain. No two
// payments the client signs are the same transaction (distinctLimit).
func (p *Prepared) Sign(ctx context.Context, s Signer) (json.RawMessage, *Proof, error) {
	if s.Address() != p.payer {
		return nil, nil, fmt.Errorf("the payment was prepared for %s, not %s", p.payer, s.Address())
	}
	memoText := p.terms.Memo
	if memoText == "" {
		nonce := make([]byte, memoNonceBytes)
		if _, err := rand.Read(nonce); err != nil {
			return nil, nil, fmt.Errorf("memo nonce: %w", err)
		}
		memoText = hex.EncodeToString(nonce)
	}
	return p.c.assemble(ctx, p.terms, s, p.mint, p.life, memoText)
}

// payeeAccount checks that payTo's associated token account exists: the
// payment does not create it, and a transfer into a missing account fails
// in the facilitator's simulation with no reason given. An account seen
// once is remembered.
func (c *Client) payeeAccount(ctx context.Context, r *RPC, t *Terms, mint Mint) error {
	dest, _, err := solana.FindAssociatedTokenAddressWithProgram(t.PayTo, t.Asset, mint.Program)
	if err != nil {
		return fmt.Errorf("derive the payee's token account: %w", err)
	}
	key := string(t.Network) + "/" + dest.String()
	c.mu.Lock()
	seen := c.payees[key]
	c.mu.Unlock()
	if seen {
		return nil
	}
	_, _, exists, err := r.accountInfo(ctx, dest.String())
	if err != nil {
		return fmt.Errorf("read the payee's token account on %s: %w", t.Network.Name(), err)
	}
	if !exists {
		return refuse(CodePayeeAccountMissing, "the payee %s has no token account for %s on %s (%s would be it): the payment could not land; the seller must create it", t.PayTo, t.Asset, t.Network.Name(), dest)
	}
	c.mu.Lock()
	if c.payees == nil {
		c.payees = map[string]bool{}
	}
	c.payees[key] = true
	c.mu.Unlock()
	return nil
}

// lifetime is the blockhash a transaction is built on.
type lifetime struct {
	Blockhash            solana.Hash
	LastValidBlockHeight uint64
	// MinSlot is a slot the chain had reached before signing: the
	// transaction can only land after it.
	MinSlot uint64
}

// blockhash returns the seller's blockhash when it is still valid, else the
// network's latest (one read within BlockhashReuse is reused). A seller's blockhash without its last valid block
// height gets the latest blockhash's as an upper bound (a blockhash never
// outlives a newer one), so the proof of an unused payment waits long
// enough.
func (c *Client) blockhash(ctx context.Context, r *RPC, t *Terms) (lifetime, error) {
	if t.RecentBlockhash == nil {
		now := c.now()
		c.mu.Lock()
		rb, ok := c.recent[t.Network]
		c.mu.Unlock()
		if ok && now.Sub(rb.at) < c.reuse() && !now.Before(rb.at) {
			return rb.life, nil
		}
		h, lv, err := r.latestBlockhash(ctx)
		if err != nil {
			return lifetime{}, fmt.Errorf("get a recent blockhash on %s: %w", t.Network.Name(), err)
		}
		hash, err := solana.HashFromBase58(h)
		if err != nil || lv == 0 {
			return lifetime{}, fmt.Errorf("get a recent blockhash on %s: the node answered %q, last valid block height %d", t.Network.Name(), clip(h), lv)
		}
		life := lifetime{Blockhash: hash, LastValidBlockHeight: lv}
		c.mu.Lock()
		if c.recent == nil {
			c.recent = map[Network]recentBlockhash{}
		}
		c.recent[t.Network] = recentBlockhash{life: life, at: now}
		c.mu.Unlock()
		return life, nil
	}
	valid, err := r.blockhashValid(ctx, t.RecentBlockhash.String())
	if err != nil {
		return lifetime{}, fmt.Errorf("check the seller's blockhash on %s: %w", t.Network.Name(), err)
	}
	if !valid {
		r := refuse(CodeBlockhashExpired, "the seller's blockhash %s has expired on %s: a transaction on it could never land; ask the seller for a fresh 402", t.RecentBlockhash, t.Network.Name())
		r.Stale = true
		return lifetime{}, r
	}
	lv := t.LastValidBlockHeight
	if lv == 0 {
		_, latest, err := r.latestBlockhash(ctx)
		if err != nil {
			return lifetime{}, fmt.Errorf("bound the seller's blockhash on %s: %w", t.Network.Name(), err)
		}
		lv = latest
	}
	return lifetime{Blockhash: *t.RecentBlockhash, LastValidBlockHeight: lv}, nil
}

// plan is a payment transaction's content, before encoding.
type plan struct {
	FeePayer    solana.PublicKey
	Payer       solana.PublicKey
	Program     solana.PublicKey
	Mint        solana.PublicKey
	Decimals    uint8
	Source      solana.PublicKey
	Destination solana.PublicKey
	Amount      uint64
	Memo        string
	UnitLimit   uint32
	UnitPrice   uint64
	Blockhash   solana.Hash
}

// newPlan lays out the payment of t by payer.
func newPlan(t *Terms, payer solana.PublicKey, mint Mint, life lifetime, memoText string, price uint64) (plan, error) {
	source, _, err := solana.FindAssociatedTokenAddressWithProgram(payer, t.Asset, mint.Program)
	if err != nil {
		return plan{}, fmt.Errorf("derive the wallet's token account: %w", err)
	}
	dest, _, err := solana.FindAssociatedTokenAddressWithProgram(t.PayTo, t.Asset, mint.Program)
	if err != nil {
		return plan{}, fmt.Errorf("derive the payee's token account: %w", err)
	}
	return plan{
		FeePayer: t.FeePayer, Payer: payer, Program: mint.Program, Mint: t.Asset, Decimals: mint.Decimals,
		Source: source, Destination: dest, Amount: uint64(t.Amount), Memo: memoText,
		UnitLimit: DefaultComputeUnitLimit, UnitPrice: price, Blockhash: life.Blockhash,
	}, nil
}

// instructions are p's instructions, in the order the scheme requires.
func (p plan) instructions() []solana.Instruction {
	transfer := token.NewTransferCheckedInstruction(p.Amount, p.Decimals, p.Source, p.Mint, p.Destination, p.Payer, nil).Build()
	transfer.SetProgramID(p.Program)
	return []solana.Instruction{
		computebudget.NewSetComputeUnitLimitInstruction(p.UnitLimit).Build(),
		computebudget.NewSetComputeUnitPriceInstruction(p.UnitPrice).Build(),
		transfer,
		memo.NewMemoInstruction([]byte(p.Memo)).Build(),
	}
}

// transaction encodes p as an unsigned v0 transaction. It refuses a layout
// whose fee payer appears in an instruction's accounts: the facilitator's
// key must only pay the fee.
func (p plan) transaction() (*solana.Transaction, error) {
	ixs := p.instructions()
	for _, ix := range ixs {
		for _, a := range ix.Accounts() {
			if a.PublicKey == p.FeePayer {
				return nil, refuse(payments.CodeBadChallenge, "the seller's fee payer %s is one of the payment's own accounts: a facilitator's fee payer must never be part of the transfer", p.FeePayer)
			}
		}
	}
	return encodePlan(ixs, p)
}

// encodePlan encodes ixs as a v0 transaction with p's fee payer and
// blockhash.
func encodePlan(ixs []solana.Instruction, p plan) (*solana.Transaction, error) {
	tx, err := solana.NewTransaction(ixs, p.Blockhash, solana.TransactionPayer(p.FeePayer), solana.TransactionMessageVersion(solana.MessageVersionV0))
	if err != nil {
		return nil, fmt.Errorf("build the transaction: %w", err)
	}
	return tx, nil
}

// assemble builds and signs the payment with a known mint and blockhash: no
// RPC.
func (c *Client) assemble(ctx context.Context, t *Terms, s Signer, mint Mint, life lifetime, memoText string) (json.RawMessage, *Proof, error) {
	price := c.ComputeUnitPrice
	if price == 0 {
		price = DefaultComputeUnitPrice
	}
	if price > MaxComputeUnitPrice {
		return nil, nil, fmt.Errorf("compute unit price %d micro-lamports is above the facilitators' cap of %d", price, MaxComputeUnitPrice)
	}
	p, err := newPlan(t, s.Address(), mint, life, memoText, price)
	if err != nil {
		return nil, nil, err
	}
	tx, err := p.transaction()
	if err != nil {
		return nil, nil, err
	}
	if memoText != "" && memoText == t.Memo {
		// The seller's memo: an earlier payment of these terms on this
		// blockhash would be this very transaction.
		msg, err := tx.Message.MarshalBinary()
		if err != nil {
			return nil, nil, fmt.Errorf("encode the transaction message: %w", err)
		}
		if limit := c.distinctLimit(msg); limit != p.UnitLimit {
			p.UnitLimit = limit
			if tx, err = p.transaction(); err != nil {
				return nil, nil, err
			}
		}
	}
	return signPlan(ctx, tx, p, t, s, life)
}

// distinctLimit returns the compute unit limit that makes a payment whose
// message, built with DefaultComputeUnitLimit, is msg a transaction of its
// own. A seller's memo (extra.memo) leaves nothing random in a payment: two
// payments of the same terms on the same blockhash (the client's own read,
// reused for BlockhashReuse, or the seller's extra.recentBlockhash), as a
// warm call right after a paid one makes, would be the same transaction
// with the same payer signature, which the chain and the facilitator take
// once (duplicate_settlement) and the ledger would book as two payments of
// one id. The first such payment the client signs gets
// DefaultComputeUnitLimit, as the reference client builds it; each later one
// one more unit. A payment with a random memo is its own already and is not
// counted.
func (c *Client) distinctLimit(msg []byte) uint32 {
	key := sha256.Sum256(msg)
	now := c.now()
	memory := sameTxMemory
	if slot := c.SlotTime; 3*blockhashBlocks*slot > memory {
		memory = 3 * blockhashBlocks * slot
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.uses) > 0 && (len(c.uses) >= maxSameTx || now.Sub(c.uses[0].at) >= memory) {
		u := c.uses[0]
		c.uses = c.uses[1:]
		if e := c.same[u.key]; e != nil && e.last == u.seq {
			delete(c.same, u.key)
		}
	}
	if c.same == nil {
		c.same = map[[sha256.Size]byte]*sameTx{}
	}
	e := c.same[key]
	if e == nil {
		e = &sameTx{}
		c.same[key] = e
	}
	n := e.n
	c.useSeq++
	e.n, e.last = n+1, c.useSeq
	c.uses = append(c.uses, sameTxUse{key: key, seq: c.useSeq, at: now})
	return DefaultComputeUnitLimit + n
}

// signPlan signs tx as p.Payer, leaving the fee payer's slot empty, and
// encodes the payload and the proof.
func signPlan(ctx context.Context, tx *solana.Transaction, p plan, t *Terms, s Signer, life lifetime) (json.RawMessage, *Proof, error) {
	msg, err := tx.Message.MarshalBinary()
	if err != nil {
		return nil, nil, fmt.Errorf("encode the transaction message: %w", err)
	}
	signers := int(tx.Message.Header.NumRequiredSignatures)
	idx := -1
	for i := 0; i < signers && i < len(tx.Message.AccountKeys); i++ {
		if tx.Message.AccountKeys[i] == p.Payer {
			idx = i
		}
	}
	if signers != 2 || tx.Message.AccountKeys[0] != p.FeePayer || idx != 1 {
		return nil, nil, fmt.Errorf("the transaction has %d signers with the payer at %d: want the fee payer first and the payer second", signers, idx)
	}
	sig, err := s.SignMessage(ctx, msg)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the payment: %w", err)
	}
	tx.Signatures = make([]solana.Signature, signers)
	tx.Signatures[idx] = sig
	raw, err := tx.MarshalBinary()
	if err != nil {
		return nil, nil, fmt.Errorf("encode the transaction: %w", err)
	}
	b64 := base64.StdEncoding.EncodeToString(raw)
	payload, err := json.Marshal(struct {
		Transaction string `json:"transaction"`
	}{b64})
	if err != nil {
		return nil, nil, fmt.Errorf("encode the payload: %w", err)
	}
	return payload, &Proof{
		Network: t.Network, Payer: p.Payer.String(), PayerSignature: sig.String(), Memo: p.Memo,
		Blockhash: life.Blockhash.String(), LastValidBlockHeight: life.LastValidBlockHeight, MinSlot: life.MinSlot,
		SourceTokenAccount: p.Source.String(), Mint: p.Mint.String(), PayTo: t.PayTo.String(),
		Amount: t.Amount.Atomic(), Transaction: b64,
	}, nil
}

// currencyDecimals is c's decimals (USDC's for the zero Currency).
func currencyDecimals(c payments.Currency) int { return currencyOf(c).Decimals }

// currencyOf is c, or USDC for the zero Currency.
func currencyOf(c payments.Currency) payments.Currency {
	if c == (payments.Currency{}) {
		return payments.USDC
	}
	return c
}

func decodeB64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
