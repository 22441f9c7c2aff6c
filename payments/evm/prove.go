package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

// ReferenceTags are the block tags CheckAuthorization reads an unused
// authorization at, in order of preference: the first the node answers.
//
// A finalized block can never be reorganised away, so "unused in the state
// after it" stays true; a safe block is unlikely to be; the latest block
// is what every node has. Nodes answer an error or null for a tag they do
// not support (chains without proof-of-stake finality, older nodes), and
// CheckAuthorization then takes the next. The price of finality is time: a
// refused payment is released only once a finalized block is past its
// validBefore (about 13 minutes behind the head on Ethereum, longer on
// rollups that finalize through it). go-ethereum's simulated chain
// (internal/simchain) answers safe with the head and finalized with
// the newest block whose number is a multiple of 32.
var ReferenceTags = []string{"finalized", "safe", "latest"}

// Bounds of the search for the transaction that used an authorization.
const (
	// LogWindow is the block range of one eth_getLogs request: below what
	// hosted nodes accept (commonly 1,000 to 10,000 blocks).
	LogWindow = 1_000
	// MaxLogBlocks is how far back from the block that shows the nonce used
	// the search goes at most (about 11 hours of Base, 3 days of Ethereum).
	// It also stops at the first window older than AuthorizationRef.Since.
	// A transaction not found leaves the transaction unknown, not the
	// authorization: it is still used.
	MaxLogBlocks = 20_000
)

// CheckAuthorization implements Checker: it reads the
// authorization's state at one block, so that a lagging or load-balanced
// node can never pair one block's time with another's state.
//
// It reads the reference block (ReferenceTags), takes its number and
// timestamp, and calls authorizationState at that number. Used there: used.
// Unused there (or unreadable there: a token deployed after it), it also
// asks the latest block (a settlement too recent to be final is still a
// settlement); used there: used. Otherwise the answer is unused, at the
// reference block: Block and BlockTime are that block's; if the reference
// block could not be read, the check fails.
// For a used authorization it looks for the AuthorizationUsed log (see
// LogWindow, MaxLogBlocks) to name the transaction; a failed search is not
// an error.
//
// A node that does not have the block asked for (a lagging node behind a
// load balancer) fails the check: nothing is concluded from it.
func (c *RPCChecker) CheckAuthorization(ctx context.Context, a AuthorizationRef) (AuthorizationStatus, error) {
	return c.check(ctx, a.Network, func(ctx context.Context, cl *Client, block uint64) (bool, error) {
		return AuthorizationStateAt(ctx, cl, a.Asset, a.Payer, a.Nonce, block)
	}, func(ctx context.Context, cl *Client, upTo uint64) (common.Hash, *big.Int, bool) {
		h, ok := findUse(ctx, cl, a, upTo)
		return h, nil, ok
	})
}

// usedAt reads whether a payment's nonce is used in the state after block.
type usedAt func(ctx context.Context, cl *Client, block uint64) (bool, error)

// finder looks for the transaction that used a nonce, from block upTo
// back, and what it moved (nil when not known).
type finder func(ctx context.Context, cl *Client, upTo uint64) (common.Hash, *big.Int, bool)

// check reads a nonce's state at one block (see CheckAuthorization) with
// used, and names the transaction that used it with find.
func (c *RPCChecker) check(ctx context.Context, network payments.Network, used usedAt, find finder) (AuthorizationStatus, error) {
	cl, raw, err := c.client(ctx, network)
	if err != nil {
		return AuthorizationStatus{}, err
	}
	fail := func(err error) (AuthorizationStatus, error) {
		return AuthorizationStatus{}, redact(fmt.Errorf("%s via %s: %w", network, raw, err), raw)
	}
	ref, tag, err := c.reference(ctx, cl, raw)
	if err != nil {
		return fail(err)
	}
	st := AuthorizationStatus{Block: ref.Number, BlockTime: ref.Time}
	isUsed, refErr := used(ctx, cl, ref.Number)
	if refErr != nil {
		refErr = fmt.Errorf("at block %d (%s): %w", ref.Number, tag, refErr)
	}
	if !isUsed && tag != "latest" {
		// A settlement too recent to be final is still a settlement (and a
		// token deployed after the reference block can only be read later).
		head, err := cl.BlockByTag(ctx, "latest")
		if err != nil {
			return fail(err)
		}
		if head.Number > ref.Number {
			// An error here leaves the answer read at the reference block.
			if usedHead, err := used(ctx, cl, head.Number); err == nil && usedHead {
				isUsed, refErr, st.Block, st.BlockTime = true, nil, head.Number, head.Time
			}
		}
	}
	if refErr != nil {
		// Without the nonce's state at the reference block, nothing is
		// proven unused.
		return fail(refErr)
	}
	st.Used = isUsed
	if isUsed {
		if h, amt, ok := find(ctx, cl, st.Block); ok {
			st.Transaction, st.Amount = h.Hex(), amt
		}
	}
	return st, nil
}

// reference reads the reference block: the first of ReferenceTags the node
// answers, trying the one that worked last time for raw first.
func (c *RPCChecker) reference(ctx context.Context, cl *Client, raw string) (Block, string, error) {
	c.mu.Lock()
	known := c.tags[raw]
	c.mu.Unlock()
	tags := ReferenceTags
	if known != "" {
		tags = append([]string{known}, ReferenceTags...)
	}
	var errs []error
	for i, tag := range tags {
		if i > 0 && tag == known {
			continue
		}
		b, err := cl.BlockByTag(ctx, tag)
		if err == nil {
			c.mu.Lock()
			c.tags[raw] = tag
			c.mu.Unlock()
			return b, tag, nil
		}
		var re *RPCError
		if !errors.As(err, &re) && !errors.Is(err, ErrNoBlock) {
			return Block{}, "", err // the node is unreachable: no tag will do
		}
		errs = append(errs, err)
	}
	return Block{}, "", fmt.Errorf("no reference block: %w", errors.Join(errs...))
}

// findUse looks for the AuthorizationUsed log of a, from block upTo back
// (see LogWindow and MaxLogBlocks), and returns its transaction.
func findUse(ctx context.Context, cl *Client, a AuthorizationRef, upTo uint64) (common.Hash, bool) {
	var payer common.Hash
	copy(payer[12:], a.Payer[:])
	topics := []common.Hash{TopicAuthorizationUsed, payer, common.Hash(a.Nonce)}
	l, ok := findLog(ctx, cl, a.Asset, topics, a.Since, upTo, func(Log) bool { return true })
	return l.TxHash, ok
}

// findLog looks for a log of the contract at address with topics, from
// block upTo back (see LogWindow and MaxLogBlocks, and
// AuthorizationRef.Since), that match accepts, newest first in each window.
func findLog(ctx context.Context, cl *Client, address common.Address, topics []common.Hash, since time.Time, upTo uint64, match func(Log) bool) (Log, bool) {
	if !since.IsZero() {
		since = since.Add(-10 * time.Minute) // block clocks may run ahead of ours
	}
	to := upTo
	for scanned := uint64(0); scanned < MaxLogBlocks; {
		from := to - min(LogWindow-1, to)
		logs, err := cl.Logs(ctx, address, topics, from, to)
		if err != nil {
			return Log{}, false
		}
		for i := len(logs) - 1; i >= 0; i-- {
			if l := logs[i]; !l.Removed && match(l) {
				return l, true
			}
		}
		if from == 0 {
			break
		}
		if !since.IsZero() {
			b, err := cl.BlockByNumber(ctx, from)
			if err != nil || b.Time.Before(since) {
				break
			}
		}
		scanned += to - from + 1
		to = from - 1
	}
	return Log{}, false
}
