package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// laggingFront is a JSON-RPC front of a real node (go-ethereum's simulated
// chain) as a load balancer over two nodes looks: blocks come from the node
// that is up to date, calls from one that lags at block lag (when set). The
// lagging node answers a call at "latest" from its own head and refuses a
// call at a block it has not reached, as real nodes do ("header not
// found").
type laggingFront struct {
	node string
	lag  atomic.Int64 // 0: no lag
}

func (f *laggingFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		ID     json.RawMessage   `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	if lag := f.lag.Load(); lag > 0 && json.Unmarshal(body, &req) == nil && req.Method == "eth_call" && len(req.Params) == 2 {
		var block string
		_ = json.Unmarshal(req.Params[1], &block)
		n, err := strconv.ParseUint(strings.TrimPrefix(block, "0x"), 16, 64)
		switch {
		case block == "latest":
			req.Params[1], _ = json.Marshal(fmt.Sprintf("0x%x", lag))
			body, _ = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": req.ID, "method": req.Method, "params": req.Params})
		case err == nil && n > uint64(lag):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32000,"message":"header not found"}}`, req.ID)
			return
		}
	}
	resp, err := http.Post(f.node, "application/json", bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// TestReconcileReadsOneBlock: a seller settles an authorization on chain
// and answers 402 (the row is rejected). Behind a load balancer whose call
// node lags before the settlement, the chain's time (past validBefore) and
// the nonce's state (unused, at the lagging node's head) come from
// different blocks: reconciliation must not release the payment. It reads
// one block, the finalized one, and asks the nonce at that block's number,
// which the lagging node does not have: the row stays counted. Once the
// node catches up the row is settled, with the transaction that used it.
// An authorization never used is released only once a finalized block is
// past its validBefore.
func TestReconcileReadsOneBlock(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s := newSimBook(t, be)
		sim, l, w := s.sim, s.book, s.wallet
		front := &laggingFront{node: sim.URL()}
		srv := httptest.NewServer(front)
		t.Cleanup(srv.Close)
		checker := evm.NewRPCChecker(map[payments.Network]string{sim.Network(): srv.URL})
		t.Cleanup(checker.Close)

		validBefore := time.Now().Add(60 * time.Second).Truncate(time.Second)
		// refused books an authorization of amount, refused by the seller, and
		// returns its row and the authorization.
		refused := func(amount int64) (string, evm.Authorization) {
			t.Helper()
			id, a := s.signedRow(t, amount, validBefore)
			must(t, l.Reject(ctx, id, "the seller answered 402"))
			return id, a
		}
		settledID, a := refused(1_000)
		unusedID, _ := refused(2_000)
		before, err := sim.Client().BlockNumber(ctx)
		must(t, err)
		sig, err := w.Sign(sim.Domain(), a)
		must(t, err)
		tx, err := sim.TransferWithAuthorization(ctx, a, sig) // the seller settles it anyway
		must(t, err)
		// The chain moves past validBefore, and far enough for a block past it
		// to be final.
		must(t, sim.AdjustTime(2*time.Minute))
		must(t, sim.Seal(40))

		front.lag.Store(int64(before)) // the call node lags before the settlement
		rep, err := l.Reconcile(ctx, proveWith(checker))
		must(t, err)
		if r, _ := l.Get(ctx, settledID); r.State != payments.StateRejected {
			t.Fatalf("a payment settled on chain became %s (%+v): the lagging node's state was paired with the up-to-date node's time", r.State, rep)
		}
		if rep.Released != 0 || rep.Settled != 0 || len(rep.Errors) != 2 || !strings.Contains(rep.Errors[0], "header not found") {
			t.Fatalf("report with a lagging node: %+v", rep)
		}
		if s, _ := l.Summary(ctx); s.Pending != 3_000 {
			t.Fatalf("summary %+v: both refused payments must stay counted", s)
		}

		front.lag.Store(0) // caught up
		rep, err = l.Reconcile(ctx, proveWith(checker))
		must(t, err)
		r, _ := l.Get(ctx, settledID)
		if r.State != payments.StateSettled || r.Transaction != tx.Hex() || r.Reason != ledger.ReasonUsedOnChain {
			t.Fatalf("settled on chain: row %s tx %q (%s), want settled with %s; report %+v", r.State, r.Transaction, r.Reason, tx.Hex(), rep)
		}
		if r, _ := l.Get(ctx, unusedID); r.State != payments.StateReleased || r.Reason != ledger.ReasonUnusedExpired {
			t.Fatalf("never used, expired at a finalized block: %s (%+v)", r.State, rep)
		}
		if s, _ := l.Summary(ctx); s.Settled != 1_000 || s.Pending != 0 {
			t.Fatalf("summary %+v", s)
		}
	})
}

// TestReconcileWaitsForFinality: unused at a head past validBefore is not
// enough while the finalized block is before it: the payment stays counted
// until a finalized block is past validBefore.
func TestReconcileWaitsForFinality(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s := newSimBook(t, be)
		sim, l, checker := s.sim, s.book, s.checker
		must(t, sim.Seal(40)) // a finalized block exists, before what follows
		head, err := sim.Time(ctx)
		must(t, err)
		id, _ := s.signedRow(t, 500, head.Add(5*time.Minute)) // blocks sealed in a burst run ahead of the wall clock
		must(t, l.MarkUnknown(ctx, id, "connection lost"))
		must(t, sim.AdjustTime(time.Hour)) // the head is past validBefore; the finalized block is not
		rep, err := l.Reconcile(ctx, proveWith(checker))
		must(t, err)
		if row, _ := l.Get(ctx, id); row.State != payments.StateUnknown || rep.StillOpen != 1 {
			t.Fatalf("released before a finalized block was past validBefore: %s %+v", row.State, rep)
		}
		must(t, sim.Seal(32))
		rep, err = l.Reconcile(ctx, proveWith(checker))
		must(t, err)
		if row, _ := l.Get(ctx, id); row.State != payments.StateReleased || rep.Released != 1 {
			t.Fatalf("after finality: %s %+v", row.State, rep)
		}
	})
}
