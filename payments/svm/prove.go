package svm

import (
	"bytes"
	"context"
	"fmt"

	"github.com/gagliardetto/solana-go"
)

// FateState is what the chain proves of a signed payment.
type FateState int

const (
	// Open: not found on chain and its blockhash may still land it. The
	// payment stays counted; ask again later.
	Open FateState = iota
	// Settled: the transaction landed and succeeded; Fate.Tx is its id.
	Settled
	// Failed: the transaction landed and failed on chain (no tokens
	// moved); it can never land again. Fate.Tx is its id.
	Failed
	// Expired: the chain's finalized block height has passed the
	// blockhash's last valid block height and the transaction did not land:
	// it can never land.
	Expired
)

func (s FateState) String() string {
	switch s {
	case Settled:
		return "settled"
	case Failed:
		return "failed"
	case Expired:
		return "expired"
	}
	return "open"
}

// Fate is what Prove found.
type Fate struct {
	State FateState
	// Tx is the landed transaction's id: its first signature, the fee
	// payer's.
	Tx   string
	Slot uint64
	// BlockHeight is the finalized block height Prove read first.
	BlockHeight uint64
}

// Unusable says whether the payment can never move money again: it failed
// on chain or expired unused. Settled is not unusable: it was used.
func (f Fate) Unusable() bool { return f.State == Failed || f.State == Expired }

// Bounds of the history search: pages of getSignaturesForAddress and the
// transactions fetched. A payer's token account with more traffic than
// this within a blockhash's life is not proven either way (Open).
const (
	provePageSize = 1000
	provePages    = 10
	proveFetches  = 200
	// blockhashSpan bounds how many slots before its last valid block
	// height a transaction can land: a blockhash is valid for 150 blocks,
	// and a slot number is never below its block's height.
	blockhashSpan = 300
)

// Prove finds what became of a signed payment. It reads the chain's
// finalized block height first, then searches the payer's token account's
// history (newest first, confirmed commitment) for a transaction that
// carries the payer's signature and the memo. Found: Settled or Failed,
// with its id. Not found: Expired when the height read first had already
// passed the blockhash's last valid block height (every block that could
// hold it was then finalized, and is searched) and the node's ledger
// reaches back to the slot before signing (minimumLedgerSlot), else Open.
// Nothing is decided on the clock. An error means nothing was proven.
func (c *Client) Prove(ctx context.Context, p Proof) (Fate, error) {
	r, err := c.rpcFor(p.Network)
	if err != nil {
		return Fate{}, err
	}
	want, err := solana.SignatureFromBase58(p.PayerSignature)
	if err != nil {
		return Fate{}, fmt.Errorf("the proof's payer signature is not base58: %w", err)
	}
	if p.SourceTokenAccount == "" || p.LastValidBlockHeight == 0 {
		return Fate{}, fmt.Errorf("the proof lacks the source token account or the last valid block height: it cannot be proven")
	}
	height, err := r.finalizedBlockHeight(ctx)
	if err != nil {
		return Fate{}, fmt.Errorf("read %s's block height: %w", p.Network.Name(), err)
	}
	if p.Tx != "" {
		f, ok, err := c.claimed(ctx, r, p, want)
		if err != nil {
			return Fate{}, err
		}
		if ok {
			f.BlockHeight = height
			return f, nil
		}
	}
	f, found, complete, err := c.search(ctx, r, p, want)
	if err != nil {
		return Fate{}, err
	}
	f.BlockHeight = height
	if found {
		return f, nil
	}
	if !complete || height <= p.LastValidBlockHeight {
		return f, nil
	}
	// The search covered the history down to the floor only if the node
	// still holds it.
	oldest, err := r.minimumLedgerSlot(ctx)
	if err != nil {
		return Fate{}, fmt.Errorf("read how far back %s's node keeps history: %w", p.Network.Name(), err)
	}
	if oldest <= searchFloor(p) {
		f.State = Expired
	}
	return f, nil
}

// claimed checks the id a seller's receipt named: found only when the
// chain has a transaction of that id that is this payment.
func (c *Client) claimed(ctx context.Context, r *RPC, p Proof, want solana.Signature) (Fate, bool, error) {
	if _, err := solana.SignatureFromBase58(p.Tx); err != nil {
		return Fate{}, false, nil // not a Solana transaction id: search instead
	}
	landed, err := r.signatureStatus(ctx, p.Tx)
	if err != nil {
		return Fate{}, false, fmt.Errorf("look up transaction %s on %s: %w", clip(p.Tx), p.Network.Name(), err)
	}
	if !landed {
		return Fate{}, false, nil
	}
	ok, failed, slot, err := c.matches(ctx, r, p.Tx, p, want)
	if err != nil || !ok {
		return Fate{}, false, err
	}
	return Fate{State: fateOf(failed), Tx: p.Tx, Slot: slot}, true, nil
}

func fateOf(failed bool) FateState {
	if failed {
		return Failed
	}
	return Settled
}

// search pages through the source account's history. complete is false
// when the bounds ran out before reaching slots older than the blockhash.
func (c *Client) search(ctx context.Context, r *RPC, p Proof, want solana.Signature) (f Fate, found, complete bool, err error) {
	floor := searchFloor(p)
	before, fetched := "", 0
	for page := 0; page < provePages; page++ {
		sigs, err := r.signatures(ctx, p.SourceTokenAccount, before, provePageSize)
		if err != nil {
			return Fate{}, false, false, fmt.Errorf("search %s's history on %s: %w", p.SourceTokenAccount, p.Network.Name(), err)
		}
		for _, s := range sigs {
			if s.Slot < floor {
				return Fate{}, false, true, nil
			}
			if s.Memo != nil && p.Memo != "" && !bytes.Contains([]byte(*s.Memo), []byte(p.Memo)) {
				continue // the node lists memos: this one is another payment's
			}
			if fetched >= proveFetches {
				return Fate{}, false, false, nil
			}
			fetched++
			ok, failed, _, err := c.matches(ctx, r, s.Signature, p, want)
			if err != nil {
				return Fate{}, false, false, err
			}
			if ok {
				return Fate{State: fateOf(failed), Tx: s.Signature, Slot: s.Slot}, true, true, nil
			}
		}
		if len(sigs) < provePageSize {
			return Fate{}, false, true, nil
		}
		before = sigs[len(sigs)-1].Signature
	}
	return Fate{}, false, false, nil
}

// searchFloor is the oldest slot the payment can have landed in: the slot
// reached before signing, or, for a proof without it, blockhashSpan below
// the last valid block height (a slot is never below its block's height).
func searchFloor(p Proof) uint64 {
	if p.MinSlot > 0 {
		return p.MinSlot
	}
	if p.LastValidBlockHeight > blockhashSpan {
		return p.LastValidBlockHeight - blockhashSpan
	}
	return 0
}

// matches fetches one landed transaction and says whether it is the
// payment: the payer's signature among its signatures and the memo among
// its memo instructions. failed reports an on-chain error.
func (c *Client) matches(ctx context.Context, r *RPC, id string, p Proof, want solana.Signature) (ok, failed bool, slot uint64, err error) {
	lt, found, err := r.transaction(ctx, id)
	if err != nil {
		return false, false, 0, fmt.Errorf("fetch transaction %s on %s: %w", id, p.Network.Name(), err)
	}
	if !found {
		return false, false, 0, fmt.Errorf("transaction %s on %s is listed in the history but the node does not serve it: nothing is proven", id, p.Network.Name())
	}
	raw, err := decodeB64(lt.Transaction[0])
	if err != nil {
		return false, false, 0, fmt.Errorf("transaction %s on %s is not base64: %w", id, p.Network.Name(), err)
	}
	tx, err := solana.TransactionFromBytes(raw)
	if err != nil {
		return false, false, 0, nil // not a transaction this package could have built
	}
	signed := false
	for _, s := range tx.Signatures {
		signed = signed || s == want
	}
	if !signed || !hasMemo(tx, p.Memo) {
		return false, false, 0, nil
	}
	failed = lt.Meta != nil && len(lt.Meta.Err) > 0 && string(lt.Meta.Err) != "null"
	return true, failed, lt.Slot, nil
}

// hasMemo says whether tx carries a Memo instruction with exactly memo.
func hasMemo(tx *solana.Transaction, memo string) bool {
	for _, ix := range tx.Message.Instructions {
		prog, err := tx.Message.Program(ix.ProgramIDIndex)
		if err == nil && prog == solana.MemoProgramID && string(ix.Data) == memo {
			return true
		}
	}
	return false
}
