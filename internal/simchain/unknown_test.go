package simchain

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// withChain gives cs's client the durable ledger and a chain checker that
// reads the sim over JSON-RPC, as `serve` wires them with an rpc: entry.
// The sim's token is a declared asset: budget gets its budget from cs's
// policy.
func (cs *chainSeller) withChain(t *testing.T, budget payments.Budget) *ledger.Ledger {
	t.Helper()
	budget.Assets = cs.client.Policy.Budget.Assets
	book, err := ledger.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { book.Close() })
	checker := evm.NewRPCChecker(map[payments.Network]string{Network: cs.sim.URL()})
	t.Cleanup(checker.Close)
	cs.client.Ledger, cs.client.Schemes = book, payments.NewSchemes(evm.NewExact(checker))
	return book
}

// TestUnknownAnsweredByTheChain: the seller settles on chain and then its
// answer is lost or says nothing of the settlement. With an rpc endpoint,
// the call asks the chain at once and answers charged, with the
// transaction, instead of unknown; the ledger row is settled with it; the
// receipt line says "Paid".
func TestUnknownAnsweredByTheChain(t *testing.T) {
	for _, tt := range []struct {
		mode   string
		code   payments.Code // an error (nothing delivered), or "" for a result
		status int
	}{
		{localseller.ModeDropAfterSettle, payments.CodeUpstreamFailed, 0}, // connection dropped, resend refused as "nonce used"
		{localseller.ModeErrorNoReceipt, "", 502},                         // an error status and no receipt
		{localseller.ModeNoReceipt, "", 200},                              // delivered, no receipt
	} {
		t.Run(tt.mode, func(t *testing.T) {
			cs := startChainSeller(t)
			book := cs.withChain(t, payments.Budget{Total: 1_000_000})
			req, err := http.NewRequest(http.MethodGet, cs.run.URL+"/v2/misbehave/"+tt.mode, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := cs.client.Do(context.Background(), req, cs.limit("m"))
			st := cs.run.Facilitator.Settlements()
			if len(st) != 1 {
				t.Fatalf("%d settlements, want 1", len(st))
			}
			var rc *payments.Receipt
			if tt.code != "" {
				pe, ok := payments.AsError(err)
				if !ok || pe.Code != tt.code || pe.Charged != payments.Charged || !strings.Contains(pe.Message, "settled on chain (transaction "+st[0].Transaction+")") ||
					!strings.Contains(pe.Message, "nothing delivered") {
					t.Fatalf("err = %v, want %s, charged, with the transaction", err, tt.code)
				}
				rc = pe.Receipt
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != tt.status || res.Charged != payments.Charged {
					t.Fatalf("status %d charged %s", res.Status, res.Charged)
				}
				rc = res.Receipt
			}
			if rc == nil || rc.State != "settled" || rc.Transaction != st[0].Transaction || !strings.HasPrefix(rc.Line(), "Paid 0.001 USDC") {
				t.Fatalf("receipt %+v", rc)
			}
			row, err := book.Get(context.Background(), rc.LedgerID)
			if err != nil || row.State != payments.StateSettled || row.Transaction != st[0].Transaction {
				t.Fatalf("ledger row %s tx %q (%v), want settled with %s", row.State, row.Transaction, err, st[0].Transaction)
			}
		})
	}
}

// TestUnknownCheckIsBounded: when the payment never reached the seller
// (the connection drops before it), the chain never shows it used: the
// call asks for at most ProveWithin, never past its own context, and ends
// unknown, counted.
func TestUnknownCheckIsBounded(t *testing.T) {
	cs := startChainSeller(t)
	book := cs.withChain(t, payments.Budget{Total: 1_000_000})
	target, _ := url.Parse(cs.run.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(x402.HeaderPaymentSignature) != "" {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close() // the paid request is lost before the seller sees it
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	for _, tt := range []struct {
		name           string
		within, ctxFor time.Duration
		max            time.Duration
		says           string // the paid request reached the seller's front: not "could not reach"
	}{
		{"ProveWithin", 800 * time.Millisecond, time.Minute, 2500 * time.Millisecond, "no answer came back from the upstream"},
		{"the call's context", time.Minute, 1500 * time.Millisecond, 2500 * time.Millisecond, "no answer came back from the upstream"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cs.client.ProveWithin = tt.within
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctxFor)
			defer cancel()
			req, _ := http.NewRequest(http.MethodGet, front.URL+"/v2/weather/oslo", nil)
			start := time.Now()
			_, err := cs.client.Do(ctx, req, cs.limit("w"))
			took := time.Since(start)
			pe, ok := payments.AsError(err)
			if !ok || pe.Charged != payments.ChargeUnknown || pe.Code != payments.CodeOutcomeUnknown {
				t.Fatalf("err = %v, want outcome_unknown", err)
			}
			if took > tt.max {
				t.Fatalf("the call took %s, want at most %s", took, tt.max)
			}
			if !strings.Contains(pe.Message, tt.says) || strings.Contains(pe.Message, "could not reach") {
				t.Fatalf("message %q, want one saying %q", pe.Message, tt.says)
			}
			if row, _ := book.Get(context.Background(), pe.Receipt.LedgerID); row.State != payments.StateUnknown {
				t.Fatalf("row %s, want unknown", row.State)
			}
		})
	}
}

// TestLostTipAnsweredByTheChain: the facilitator settles a tip on chain and
// its answer to /settle is lost; the chain says the tip was used, so the
// tip is reported tipped, with its transaction.
func TestLostTipAnsweredByTheChain(t *testing.T) {
	cs := startChainSeller(t)
	cur := cs.client.Policy.Assets[0].Currency()
	book := cs.withChain(t, payments.Budget{Total: 1_000_000, TipPerDay: 1_000_000, TipCurrency: cur})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		resp, err := http.Post(cs.run.URL+r.URL.Path, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if strings.HasSuffix(r.URL.Path, "/settle") {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close() // settled; the answer is lost
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(front.Close)
	alice := common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
	tips := &payments.Tipping{
		Network: Network, Family: evm.Family{}, Asset: payments.Asset{Network: Network, Address: cs.sim.Token().Hex(), Name: "USDC", Version: "2"}, Currency: cur, Facilitator: front.URL + "/facilitator",
		PerDay: 1_000_000, MaxTip: 100_000, Timeout: 5 * time.Second, Recipients: []payments.Recipient{{Name: "alice", Address: alice.Hex()}},
	}
	cs.client.Approve = func(context.Context, payments.ApprovalRequest) error { return nil }
	res, err := cs.client.Tip(context.Background(), tips, payments.TipRequest{Tool: "x402_tip", To: "alice", Amount: 2_500})
	if err != nil {
		t.Fatalf("tip: %v", err)
	}
	st := cs.run.Facilitator.Settlements()
	if len(st) != 1 || res.Charged != payments.Charged || res.Receipt.State != "settled" || res.Receipt.Transaction != st[0].Transaction ||
		!strings.HasPrefix(res.Line(), "Tipped 0.0025 USDC") {
		t.Fatalf("tip %+v receipt %+v, settlements %+v", res, res.Receipt, st)
	}
	if got := balance(t, cs.sim, alice); got != 2_500 {
		t.Fatalf("alice holds %d on chain", got)
	}
	row, err := book.Get(context.Background(), res.Receipt.LedgerID)
	if err != nil || row.State != payments.StateSettled || row.Transaction != st[0].Transaction {
		t.Fatalf("row %s %q %v", row.State, row.Transaction, err)
	}
}
