package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// fakeChain answers CheckAuthorization from a table of nonces, at a block
// whose time is head. The real checker (USDC's authorizationState on chain,
// read at one block over JSON-RPC) is tested in internal/simchain and
// in reconcile_chain_test.go.
type fakeChain struct {
	mu    sync.Mutex
	used  map[[32]byte]bool
	fail  map[[32]byte]bool
	tx    map[[32]byte]string
	head  time.Time
	asked []string
}

func newFakeChain(head time.Time) *fakeChain {
	return &fakeChain{used: map[[32]byte]bool{}, fail: map[[32]byte]bool{}, tx: map[[32]byte]string{}, head: head}
}

func (f *fakeChain) CheckAuthorization(_ context.Context, a evm.AuthorizationRef) (evm.AuthorizationStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, fmt.Sprintf("%s %s %s %x", a.Network, a.Asset.Hex(), a.Payer.Hex(), a.Nonce[:2]))
	if f.fail[a.Nonce] {
		return evm.AuthorizationStatus{}, errors.New("rpc: connection refused")
	}
	return evm.AuthorizationStatus{Used: f.used[a.Nonce], Transaction: f.tx[a.Nonce], Block: 7, BlockTime: f.head}, nil
}

func nonceN(i byte) (string, [32]byte) {
	var n [32]byte
	for k := range n {
		n[k] = i
	}
	return fmt.Sprintf("0x%x", n[:]), n
}

func TestReconcile(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		c := newClock(t0)
		l := mustOpen(t, be.new(t), payments.Budget{Total: 1000}, ledger.WithNow(c.Now))
		chain := newFakeChain(t0)

		// sign reserves and signs a payment of amt whose authorization expires
		// after valid; the chain says used, or fails, as asked.
		sign := func(i byte, amt payments.Amount, valid time.Duration, used, fail bool) string {
			t.Helper()
			id, err := l.Reserve(ctx, res("t", amt))
			must(t, err)
			s := signed(c.Now().Add(valid))
			var n [32]byte
			s.Proof.ID, n = nonceN(i)
			chain.used[n], chain.fail[n] = used, fail
			must(t, l.MarkSigned(ctx, id, s))
			return id
		}
		usedUnknown := sign(1, 10, time.Minute, true, false)
		must(t, l.MarkUnknown(ctx, usedUnknown, "timeout"))
		unusedExpired := sign(2, 20, time.Minute, false, false)
		must(t, l.MarkUnknown(ctx, unusedExpired, "timeout"))
		unusedValid := sign(3, 40, time.Hour, false, false)
		must(t, l.MarkUnknown(ctx, unusedValid, "timeout"))
		failing := sign(4, 80, time.Minute, true, true)
		must(t, l.MarkUnknown(ctx, failing, "timeout"))
		rejectedUsed := sign(5, 100, time.Minute, true, false)
		must(t, l.Reject(ctx, rejectedUsed, "nope"))
		rejectedUnused := sign(6, 200, time.Minute, false, false)
		must(t, l.Reject(ctx, rejectedUnused, "nope"))
		signedOnly := sign(7, 1, time.Minute, false, false) // the process died after signing
		settled := sign(8, 2, time.Minute, true, false)
		must(t, l.Settle(ctx, settled, payments.Receipt{Transaction: "0x1"}))
		stale, err := l.Reserve(ctx, res("t", 4)) // never signed
		must(t, err)

		un, err := l.Unresolved(ctx)
		must(t, err)
		if len(un) != 7 {
			t.Fatalf("%d unresolved rows, want 7: %v", len(un), un)
		}

		c.Add(ledger.StaleReservation + time.Second) // every one-minute authorization expired long ago…
		chain.head = c.Now()                         // …on chain too
		_, usedN := nonceN(1)
		chain.tx[usedN] = "0x" + strings.Repeat("ab", 32)
		fresh, err := l.Reserve(ctx, res("t", 8)) // being signed right now
		must(t, err)
		before, _ := l.Summary(ctx)
		rep, err := l.Reconcile(ctx, proveWith(chain))
		must(t, err)
		if rep.Checked != 7 || rep.Settled != 2 || rep.Released != 4 || rep.StillOpen != 2 || len(rep.Errors) != 1 ||
			!strings.Contains(rep.Errors[0], "payment "+failing+": rpc: connection refused") {
			t.Fatalf("report %+v", rep)
		}
		if !strings.Contains(chain.asked[0], "eip155:84532 0x036CbD53842c5426634e7929541eC2318f3dCF7e 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 0101") {
			t.Fatalf("asked %q", chain.asked[0])
		}
		want := map[string]struct {
			state      payments.State
			reconciled bool
		}{
			usedUnknown:    {payments.StateSettled, true},
			unusedExpired:  {payments.StateReleased, true},
			unusedValid:    {payments.StateUnknown, false},
			failing:        {payments.StateUnknown, false},
			rejectedUsed:   {payments.StateSettled, true},
			rejectedUnused: {payments.StateReleased, true},
			signedOnly:     {payments.StateReleased, true},
			settled:        {payments.StateSettled, false},
			stale:          {payments.StateReleased, true},
			fresh:          {payments.StateReserved, false},
		}
		for id, w := range want {
			r, err := l.Get(ctx, id)
			must(t, err)
			if r.State != w.state || r.ReconciledAt.IsZero() == w.reconciled {
				t.Errorf("payment %s: %s reconciled at %v, want %s (reconciled %v)", id, r.State, r.ReconciledAt, w.state, w.reconciled)
			}
			if r.State == payments.StateSettled && w.reconciled && r.Reason != ledger.ReasonUsedOnChain {
				t.Errorf("payment %s reason %q", id, r.Reason)
			}
		}
		// The transaction the chain named is recorded; one it did not name
		// leaves the column empty.
		if r, _ := l.Get(ctx, usedUnknown); r.Transaction != chain.tx[usedN] {
			t.Errorf("settled by reconciliation with tx %q, want %q", r.Transaction, chain.tx[usedN])
		}
		if r, _ := l.Get(ctx, rejectedUsed); r.Transaction != "" {
			t.Errorf("tx %q for a row whose transaction the chain did not name", r.Transaction)
		}
		// Counted now: 10 + 40 + 80 + 100 (rejected, but used: counted again) + 2 + 8.
		after, _ := l.Summary(ctx)
		if after.Counted() != 240 || after.Settled != 112 || after.Payments != 3 {
			t.Fatalf("after reconciliation %+v (before %+v)", after, before)
		}
		// A second run asks only about what is still open.
		chain.asked = nil
		rep, err = l.Reconcile(ctx, proveWith(chain))
		must(t, err)
		if rep.Checked != 2 || rep.StillOpen != 2 || len(chain.asked) != 2 {
			t.Fatalf("second run %+v asked %v", rep, chain.asked)
		}
		// The call that was signing finds its reservation intact; had it been
		// released as stale, signing would fail and nothing would be sent.
		s := signed(c.Now().Add(10 * time.Second))
		s.Proof.ID, _ = nonceN(9)
		must(t, l.MarkSigned(ctx, fresh, s))
		// Past validBefore by our clock, but the chain's block is not yet:
		// not unused for good.
		c.Add(time.Hour)
		if _, err := l.Reconcile(ctx, proveWith(chain)); err != nil {
			t.Fatal(err)
		}
		if r, _ := l.Get(ctx, fresh); r.State != payments.StateSigned {
			t.Fatalf("a signed payment released by our clock alone: %s", r.State)
		}
	})
}

func TestReconcileLeavesRowsChangedMeanwhile(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		c := newClock(t0)
		l := mustOpen(t, be.new(t), payments.Budget{}, ledger.WithNow(c.Now))
		id, err := l.Reserve(ctx, res("t", 5))
		must(t, err)
		must(t, l.MarkSigned(ctx, id, signed(c.Now().Add(time.Minute))))
		c.Add(time.Hour)
		// The seller settles while reconciliation asks the chain; the call then
		// records its receipt.
		chain := checkerFunc(func() (bool, error) {
			must(t, l.Settle(ctx, id, payments.Receipt{Transaction: "0xaa"}))
			return false, nil
		})
		rep, err := l.Reconcile(ctx, proveWith(chain))
		must(t, err)
		r, _ := l.Get(ctx, id)
		if r.State != payments.StateSettled || r.Transaction != "0xaa" || rep.Settled != 1 || rep.Released != 0 {
			t.Fatalf("row %s %s, report %+v", r.State, r.Transaction, rep)
		}
	})
}

type checkerFunc func() (bool, error)

func (f checkerFunc) CheckAuthorization(context.Context, evm.AuthorizationRef) (evm.AuthorizationStatus, error) {
	used, err := f()
	return evm.AuthorizationStatus{Used: used, Block: 1, BlockTime: time.Unix(1<<40, 0)}, err
}

// TestReconcileByBlockTime: expiry is judged by the time of the block the
// chain read the nonce at, never by the ledger's clock.
func TestReconcileByBlockTime(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		c := newClock(t0)
		l := mustOpen(t, be.new(t), payments.Budget{Total: 1000}, ledger.WithNow(c.Now))
		chain := newFakeChain(time.Time{})
		sign := func(i byte, valid time.Duration) string {
			t.Helper()
			id, err := l.Reserve(ctx, res("t", 10))
			must(t, err)
			s := signed(c.Now().Add(valid))
			s.Proof.ID, _ = nonceN(i)
			must(t, l.MarkSigned(ctx, id, s))
			must(t, l.MarkUnknown(ctx, id, "lost"))
			return id
		}
		sign(1, time.Hour)                 // valid for another hour by our clock
		sign(2, -5*time.Minute)            // expired five minutes ago by ours
		chain.head = t0.Add(2 * time.Hour) // the block read is past both
		rep, err := l.Reconcile(ctx, proveWith(chain))
		must(t, err)
		if rep.Released != 2 || rep.StillOpen != 0 {
			t.Fatalf("block past both validBefores: %+v", rep)
		}
		sign(3, -5*time.Minute)                // expired by our clock…
		chain.head = t0.Add(-10 * time.Minute) // …but not at the block read
		c.Add(24 * time.Hour)                  // and long past by ours
		rep, err = l.Reconcile(ctx, proveWith(chain))
		must(t, err)
		if rep.StillOpen != 1 || rep.Released != 0 {
			t.Fatalf("a block before validBefore must keep it open: %+v", rep)
		}
		chain.head = time.Time{} // a checker that names no block time proves no expiry
		rep, err = l.Reconcile(ctx, proveWith(chain))
		must(t, err)
		if rep.StillOpen != 1 || rep.Released != 0 {
			t.Fatalf("no block time: %+v", rep)
		}
	})
}

// TestReconcileNoRPC: a network without an rpc endpoint is reported once,
// not once per payment, and its payments stay counted.
func TestReconcileNoRPC(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		c := newClock(t0)
		l := mustOpen(t, be.new(t), payments.Budget{Total: 1000}, ledger.WithNow(c.Now))
		for i := range byte(3) {
			id, err := l.Reserve(ctx, res("t", 10))
			must(t, err)
			s := signed(t0.Add(time.Minute))
			s.Proof.ID, _ = nonceN(i + 1)
			must(t, l.MarkSigned(ctx, id, s))
			must(t, l.Reject(ctx, id, "no"))
		}
		c.Add(24 * time.Hour)
		var asked int
		rep, err := l.Reconcile(ctx, proveWith(noRPCChecker{&asked}))
		must(t, err)
		if rep.Checked != 3 || rep.StillOpen != 3 || len(rep.Errors) != 0 || len(rep.NoRPC) != 1 || rep.NoRPC[0] != "eip155:84532" || asked != 1 {
			t.Fatalf("report %+v, asked %d", rep, asked)
		}
		if s, _ := l.Summary(ctx); s.Pending != 30 {
			t.Fatalf("summary %+v", s)
		}
	})
}

type noRPCChecker struct{ asked *int }

func (c noRPCChecker) CheckAuthorization(_ context.Context, a evm.AuthorizationRef) (evm.AuthorizationStatus, error) {
	*c.asked++
	return evm.AuthorizationStatus{}, fmt.Errorf("no rpc_url configured for %s: %w", a.Network, payments.ErrNoRPC)
}
