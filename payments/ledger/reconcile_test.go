package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// fakeChain answers AuthorizationUsed from a table of nonces. The real
// checker (USDC's authorizationState on chain) is tested in payments/chain.
type fakeChain struct {
	mu    sync.Mutex
	used  map[[32]byte]bool
	fail  map[[32]byte]bool
	asked []string
}

func (f *fakeChain) AuthorizationUsed(_ context.Context, n payments.Network, asset, payer common.Address, nonce [32]byte) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, fmt.Sprintf("%s %s %s %x", n, asset.Hex(), payer.Hex(), nonce[:2]))
	if f.fail[nonce] {
		return false, errors.New("rpc: connection refused")
	}
	return f.used[nonce], nil
}

func nonceN(i byte) (string, [32]byte) {
	var n [32]byte
	for k := range n {
		n[k] = i
	}
	return fmt.Sprintf("0x%x", n[:]), n
}

func TestReconcile(t *testing.T) {
	ctx := context.Background()
	c := newClock(t0)
	l := mustOpen(t, tempPath(t), payments.Budget{Total: 1000}, ledger.WithNow(c.Now))
	chain := &fakeChain{used: map[[32]byte]bool{}, fail: map[[32]byte]bool{}}

	// sign reserves and signs a payment of amt whose authorization expires
	// after valid; the chain says used, or fails, as asked.
	sign := func(i byte, amt payments.Amount, valid time.Duration, used, fail bool) string {
		t.Helper()
		id, err := l.Reserve(ctx, res("t", amt))
		must(t, err)
		s := signed(c.Now().Add(valid))
		var n [32]byte
		s.Nonce, n = nonceN(i)
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

	c.Add(ledger.StaleReservation + time.Second) // every one-minute authorization expired long ago
	fresh, err := l.Reserve(ctx, res("t", 8))    // being signed right now
	must(t, err)
	before, _ := l.Summary(ctx)
	rep, err := l.Reconcile(ctx, chain)
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
	// Counted now: 10 + 40 + 80 + 100 (rejected, but used: counted again) + 2 + 8.
	after, _ := l.Summary(ctx)
	if after.Counted() != 240 || after.Settled != 112 || after.Payments != 3 {
		t.Fatalf("after reconciliation %+v (before %+v)", after, before)
	}
	// A second run asks only about what is still open.
	chain.asked = nil
	rep, err = l.Reconcile(ctx, chain)
	must(t, err)
	if rep.Checked != 2 || rep.StillOpen != 2 || len(chain.asked) != 2 {
		t.Fatalf("second run %+v asked %v", rep, chain.asked)
	}
	// The call that was signing finds its reservation intact; had it been
	// released as stale, signing would fail and nothing would be sent.
	s := signed(c.Now().Add(10 * time.Second))
	s.Nonce, _ = nonceN(9)
	must(t, l.MarkSigned(ctx, fresh, s))
	// Just past validBefore, within ExpiryGrace: not trusted as unused yet.
	c.Add(10*time.Second + ledger.ExpiryGrace/2)
	if _, err := l.Reconcile(ctx, chain); err != nil {
		t.Fatal(err)
	}
	if r, _ := l.Get(ctx, fresh); r.State != payments.StateSigned {
		t.Fatalf("a signed payment whose authorization is within the grace period was %s", r.State)
	}
}

func TestReconcileLeavesRowsChangedMeanwhile(t *testing.T) {
	ctx := context.Background()
	c := newClock(t0)
	l := mustOpen(t, tempPath(t), payments.Budget{}, ledger.WithNow(c.Now))
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
	rep, err := l.Reconcile(ctx, chain)
	must(t, err)
	r, _ := l.Get(ctx, id)
	if r.State != payments.StateSettled || r.Transaction != "0xaa" || rep.Settled != 1 || rep.Released != 0 {
		t.Fatalf("row %s %s, report %+v", r.State, r.Transaction, rep)
	}
}

type checkerFunc func() (bool, error)

func (f checkerFunc) AuthorizationUsed(context.Context, payments.Network, common.Address, common.Address, [32]byte) (bool, error) {
	return f()
}

// clockChain is a fakeChain that also reports its latest block's time.
type clockChain struct {
	*fakeChain
	head time.Time
}

func (c *clockChain) ChainTime(context.Context, payments.Network) (time.Time, error) {
	return c.head, nil
}

// TestReconcileByChainTime: with a chain clock, expiry is judged by the
// chain's latest block, not by the ledger's clock and its grace.
func TestReconcileByChainTime(t *testing.T) {
	ctx := context.Background()
	c := newClock(t0)
	l := mustOpen(t, tempPath(t), payments.Budget{Total: 1000}, ledger.WithNow(c.Now))
	chain := &clockChain{fakeChain: &fakeChain{used: map[[32]byte]bool{}, fail: map[[32]byte]bool{}}}
	sign := func(i byte, valid time.Duration) string {
		t.Helper()
		id, err := l.Reserve(ctx, res("t", 10))
		must(t, err)
		s := signed(c.Now().Add(valid))
		s.Nonce, _ = nonceN(i)
		must(t, l.MarkSigned(ctx, id, s))
		must(t, l.MarkUnknown(ctx, id, "lost"))
		return id
	}
	sign(1, time.Hour)                 // valid for another hour by our clock
	sign(2, -5*time.Minute)            // expired five minutes ago by ours, within the grace
	chain.head = t0.Add(2 * time.Hour) // the chain is past both
	rep, err := l.Reconcile(ctx, chain)
	must(t, err)
	if rep.Released != 2 || rep.StillOpen != 0 {
		t.Fatalf("chain head past both validBefores: %+v", rep)
	}
	sign(3, -5*time.Minute)                // expired by our clock…
	chain.head = t0.Add(-10 * time.Minute) // …but not yet on chain
	c.Add(time.Hour)                       // and well past our grace
	rep, err = l.Reconcile(ctx, chain)
	must(t, err)
	if rep.StillOpen != 1 || rep.Released != 0 {
		t.Fatalf("a chain head before validBefore must keep it open: %+v", rep)
	}
}
