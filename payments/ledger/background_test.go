package ledger_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/internal/simchain"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// simBook is a ledger, a simulated chain with Anvil #0 funded, and a
// checker that reads the chain over JSON-RPC.
type simBook struct {
	sim     *simchain.Sim
	book    *ledger.Ledger
	checker *evm.RPCChecker
	wallet  *wallet.EVMKey
}

func newSimBook(t *testing.T, be backend) *simBook {
	t.Helper()
	ctx := context.Background()
	sim, err := simchain.Start(ctx, simchain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	w, err := wallet.ParseHexKey("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
	must(t, err)
	must(t, sim.Mint(ctx, w.Address(), 1_000_000))
	checker := evm.NewRPCChecker(map[payments.Network]string{sim.Network(): sim.URL()})
	t.Cleanup(checker.Close)
	return &simBook{sim: sim, book: mustOpen(t, be.new(t), payments.Budget{Total: 1_000_000}), checker: checker, wallet: w}
}

// signedRow books a signed payment of amount valid until validBefore and
// returns its row id and authorization.
func (s *simBook) signedRow(t *testing.T, amount int64, validBefore time.Time) (string, evm.Authorization) {
	t.Helper()
	var nonce [32]byte
	_, _ = rand.Read(nonce[:])
	a := evm.Authorization{From: s.wallet.Address(), To: common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"), Value: big.NewInt(amount),
		ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(validBefore.Unix()), Nonce: nonce}
	r := res("t", payments.Amount(amount))
	r.Network, r.Asset, r.PayTo = s.sim.Network(), s.sim.Token().Hex(), a.To.Hex()
	id, err := s.book.Reserve(context.Background(), r)
	must(t, err)
	sg := signed(validBefore)
	sg.Proof.ID, sg.Proof.Payer = fmt.Sprintf("0x%x", nonce), s.wallet.Address().Hex()
	must(t, s.book.MarkSigned(context.Background(), id, sg))
	return id, a
}

// run starts r in the background until the test ends.
func run(t *testing.T, r *ledger.Reconciler) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitState polls the row until it is in state want, for at most d.
func waitState(t *testing.T, l *ledger.Ledger, id string, want payments.State, d time.Duration) ledger.Row {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		r, err := l.Get(context.Background(), id)
		must(t, err)
		if r.State == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment %s is %s after %s, want %s", id, r.State, d, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReconcilerSoonAfterRefusal: a hostile seller settles an authorization
// on chain and answers 402. A running server's reconciler checks the
// refused payment soon after it is recorded, not at the next period or the
// next start, and records it settled with its transaction.
func TestReconcilerSoonAfterRefusal(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := newSimBook(t, be)
		ctx := context.Background()
		passes := make(chan ledger.ReconcileReport, 100)
		run(t, &ledger.Reconciler{Ledger: s.book, Prover: proveWith(s.checker), Every: time.Hour, Soon: 100 * time.Millisecond,
			OnPass: func(rep ledger.ReconcileReport, _ error) { passes <- rep }})
		<-passes // the pass at start
		head, err := s.sim.Time(ctx)
		must(t, err)
		id, a := s.signedRow(t, 1_000, head.Add(10*time.Minute))
		sig, err := s.wallet.Sign(s.sim.Domain(), a)
		must(t, err)
		tx, err := s.sim.TransferWithAuthorization(ctx, a, sig)
		must(t, err)
		must(t, s.book.Reject(ctx, id, "the seller answered 402"))
		r := waitState(t, s.book, id, payments.StateSettled, 5*time.Second)
		if r.Transaction != tx.Hex() || r.Reason != ledger.ReasonUsedOnChain {
			t.Fatalf("row %+v, want settled with %s", r, tx.Hex())
		}
	})
}

// TestReconcilerAfterExpiry: an unknown payment whose authorization was
// never used is released by the running reconciler once the chain's
// finalized block is past its validBefore, with no restart and no period;
// until then it stays counted.
func TestReconcilerAfterExpiry(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := newSimBook(t, be)
		ctx := context.Background()
		head, err := s.sim.Time(ctx)
		must(t, err)
		// validBefore a moment after the chain's head and the wall clock.
		validBefore := time.Unix(max(head.Unix(), time.Now().Unix())+2, 0)
		id, _ := s.signedRow(t, 2_000, validBefore)
		must(t, s.book.MarkUnknown(ctx, id, "connection lost"))
		run(t, &ledger.Reconciler{Ledger: s.book, Prover: proveWith(s.checker), Every: time.Hour, Soon: 50 * time.Millisecond, RetryExpired: 200 * time.Millisecond})
		time.Sleep(time.Until(validBefore.Add(time.Second)))
		if r, _ := s.book.Get(ctx, id); r.State != payments.StateUnknown {
			t.Fatalf("released before a finalized block was past validBefore: %s", r.State)
		}
		must(t, s.sim.Seal(33)) // blocks past validBefore, one of them final
		waitState(t, s.book, id, payments.StateReleased, 10*time.Second)
		if sum, _ := s.book.Summary(ctx); sum.Pending != 0 {
			t.Fatalf("summary %+v", sum)
		}
	})
}

// TestReconcilerLogsNoRPCOnceAndSurvivesErrors: a network without an rpc
// endpoint is named once however many passes run; a checker that fails is
// logged, never fatal, and the next pass tries again.
func TestReconcilerLogsNoRPCOnceAndSurvivesErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		l := mustOpen(t, be.new(t), payments.Budget{Total: 1000})
		for i := range byte(2) {
			id, err := l.Reserve(ctx, res("t", 10)) // eip155:84532: no rpc
			must(t, err)
			sg := signed(time.Now().Add(-time.Hour))
			sg.Proof.ID, _ = nonceN(i + 1)
			must(t, l.MarkSigned(ctx, id, sg))
			must(t, l.Reject(ctx, id, "no"))
		}
		// One more on a network whose node is down: an error every pass.
		r := res("t", 10)
		r.Network = "eip155:8453"
		id, err := l.Reserve(ctx, r)
		must(t, err)
		sg := signed(time.Now().Add(-time.Hour))
		sg.Proof.ID, _ = nonceN(9)
		must(t, l.MarkSigned(ctx, id, sg))
		must(t, l.MarkUnknown(ctx, id, "lost"))
		var logs bytes.Buffer
		var mu sync.Mutex
		log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
		checker := evm.NewRPCChecker(map[payments.Network]string{"eip155:8453": "http://127.0.0.1:1"})
		t.Cleanup(checker.Close)
		passes := make(chan error, 100)
		run(t, &ledger.Reconciler{Ledger: l, Prover: proveWith(checker), Logger: log, Every: 100 * time.Millisecond, NoRPC: []string{"eip155:84532"},
			OnPass: func(_ ledger.ReconcileReport, err error) { passes <- err }})
		for range 4 {
			if err := <-passes; err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		out := logs.String()
		mu.Unlock()
		if n := strings.Count(out, "no rpc endpoint for a network"); n != 1 || !strings.Contains(out, "network=eip155:84532") {
			t.Fatalf("named %d times:\n%s", n, out)
		}
		if n := strings.Count(out, "connection refused"); n != 1 || !strings.Contains(out, "payment "+id) {
			t.Fatalf("the failing node logged %d times (want once, however many passes):\n%s", n, out)
		}
		if s, _ := l.Summary(ctx); s.Pending != 30 {
			t.Fatalf("summary %+v", s)
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestReconcilerUnderAStreamOfRefusals: refusals that keep coming, each
// sooner than Soon after the last, do not put passes off for ever: a pass
// runs at most Soon after the first of them.
func TestReconcilerUnderAStreamOfRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := newSimBook(t, be)
		ctx := context.Background()
		passes := make(chan ledger.ReconcileReport, 100)
		run(t, &ledger.Reconciler{Ledger: s.book, Prover: proveWith(s.checker), Every: time.Hour, Soon: 200 * time.Millisecond,
			OnPass: func(rep ledger.ReconcileReport, _ error) { passes <- rep }})
		<-passes // the pass at start
		head, err := s.sim.Time(ctx)
		must(t, err)
		stop := time.Now().Add(1500 * time.Millisecond)
		ran := 0
		for time.Now().Before(stop) {
			id, _ := s.signedRow(t, 1_000, head.Add(10*time.Minute))
			must(t, s.book.Reject(ctx, id, "the seller answered 402"))
			select {
			case <-passes:
				ran++
			case <-time.After(50 * time.Millisecond):
			}
		}
		if ran == 0 {
			t.Fatal("no pass ran while refusals kept coming 50 ms apart (Soon is 200 ms)")
		}
	})
}
