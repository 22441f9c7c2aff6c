package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/simchain"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// TestProcessesShareOneLedger: four x402-mcp processes on one ledger file,
// 40 paid calls racing for a total budget that covers exactly 10.
func TestProcessesShareOneLedger(t *testing.T) {
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer seller.Close()
	seller.Facilitator.Fund(payer, walletFunding)
	book := filepath.Join(t.TempDir(), "shared", "ledger.db")
	cat := catalog(strings.Replace(string(mainCatalog), `total: "1.00"`, `total: "0.010"`, 1))
	var sessions []*session
	for i := 0; i < 4; i++ {
		sessions = append(sessions, startWith(t, seller, cat, "X402_LEDGER="+book))
	}
	var paid, refused atomic.Int64
	var wg sync.WaitGroup
	for _, s := range sessions {
		for j := 0; j < 10; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := s.call("weather", map[string]any{"city": "oslo"})
				switch {
				case !res.IsError:
					paid.Add(1)
				case meta(res, "x402/error")["code"] == "over_budget":
					refused.Add(1)
				default:
					t.Errorf("unexpected result: %s", text(res))
				}
			}()
		}
	}
	wg.Wait()
	if paid.Load() != 10 || refused.Load() != 30 {
		t.Fatalf("paid %d refused %d, want exactly 10 and 30", paid.Load(), refused.Load())
	}
	if n := seller.Facilitator.SettledCount(); n != 10 {
		t.Fatalf("the seller settled %d payments, want 10", n)
	}
	if got := seller.Facilitator.SettledTotal(); got != 10_000 {
		t.Fatalf("the seller received %s, want exactly 0.01 USDC", got.USDC())
	}
}

// simSeller is a local seller whose facilitator settles on a real EVM
// (go-ethereum's simulated chain), and the catalog that points at it.
func simSeller(t *testing.T, maxTimeout int64) (*simchain.Sim, *localseller.Running, catalog) {
	t.Helper()
	sim, err := simchain.Start(context.Background(), simchain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	fac := localseller.NewFacilitator(localseller.FacilitatorConfig{Chain: sim})
	seller, err := localseller.Start(localseller.Config{Facilitator: fac, MaxTimeoutSeconds: maxTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	if err := sim.Mint(context.Background(), payer, 1_000_000); err != nil {
		t.Fatal(err)
	}
	cat := catalog(fmt.Sprintf(`
version: 1
defaults:
  networks: [eip155:1337]
  max_per_call: "0.01"
  timeout: 20s
budget:
  total: "1.00"
rpc:
  eip155:1337: %s
assets:
  # The simulated chain's test token: not a USDC contract x402-mcp knows, so
  # declared, with a budget of its own; its decimals are read from the chain.
  - symbol: USDC
    network: eip155:1337
    address: %q
    budget: {total: "1.00"}
tools:
  - name: weather
    description: Weather, settled on chain.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
    network: eip155:1337
    asset: %q
    pay_to: %q
  - name: weather_drop
    description: The seller settles, then drops the connection.
    url: "{{URL}}/v2/misbehave/drop_after_settle"
    max_price: "0.001"
    network: eip155:1337
    asset: %q
  - name: weather_refused
    description: A hostile seller settles, then answers 402 as if it had refused.
    url: "{{URL}}/v2/misbehave/settle_then_402"
    max_price: "0.001"
    network: eip155:1337
    asset: %q
`, sim.URL(), sim.Token().Hex(), sim.Token().Hex(), seller.Seller.PayTo().Hex(), sim.Token().Hex(), sim.Token().Hex()))
	return sim, seller, cat
}

// TestOnChainSettlementAndReconcile: a paid call settles with a real
// transferWithAuthorization; an ambiguous one is recorded as unknown, and
// reconciliation against the chain turns it into settled.
func TestOnChainSettlementAndReconcile(t *testing.T) {
	sim, seller, cat := simSeller(t, 300)
	book := filepath.Join(t.TempDir(), "ledger.db")
	// Served without an rpc endpoint, a lost answer stays unknown (with
	// one, the call asks the chain at once: TestServeAnswersLostPaymentFromChain).
	s := startWith(t, seller, withoutRPC(t, cat), "X402_LEDGER="+book)
	before, _ := sim.Balance(context.Background(), payer)
	res := s.call("weather", map[string]any{"city": "lima"})
	if res.IsError {
		t.Fatal(text(res))
	}
	tx := meta(res, "x402/payment-response")["transaction"].(string)
	rcpt, err := sim.Client().TransactionReceipt(context.Background(), common.HexToHash(tx))
	if err != nil || rcpt.Status != 1 {
		t.Fatalf("receipt of %s: %v %v", tx, rcpt, err)
	}
	res = s.call("weather_drop", nil)
	if !res.IsError || res.Meta.AdditionalFields["x402/charged"] != "unknown" {
		t.Fatalf("drop after settle: %s", text(res))
	}
	after, _ := sim.Balance(context.Background(), payer)
	if before-after != 2000 {
		t.Fatalf("the wallet paid %d on chain, want 2000", before-after)
	}
	s.close()

	out, stderr, err := run(t, []string{"X402_LEDGER=" + book, "X402_REGISTRY=" + writeCatalog(t, cat, seller.URL)}, "ledger", "reconcile")
	if err != nil {
		t.Fatalf("ledger reconcile: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, `"settled": 1`) {
		t.Fatalf("reconcile report: %s", out)
	}
	rows := readLedger(t, book)
	var settled payments.Amount
	for _, r := range rows {
		if r.State != payments.StateSettled {
			t.Fatalf("row %s is %s after reconciliation", r.ID, r.State)
		}
		settled += r.Amount
	}
	// Reconciliation filled in the transaction of the row it settled.
	if st := seller.Facilitator.Settlements(); len(st) != 2 || rows[0].Transaction != st[1].Transaction || rows[0].Reason != ledger.ReasonUsedOnChain {
		t.Fatalf("reconciled row %+v, settlements %+v", rows[0], st)
	}
	if settled != before-after {
		t.Fatalf("the ledger has %s settled, the chain moved %s", settled.USDC(), (before - after).USDC())
	}
	out, _, err = run(t, []string{"X402_LEDGER=" + book, "X402_REGISTRY=" + writeCatalog(t, cat, seller.URL)}, "ledger", "export", "--csv")
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, tx) {
		t.Fatalf("csv export (%v):\n%s", err, out)
	}
}

// withoutRPC is cat without its rpc: section. With no chain to read them
// from, declared assets that leave their decimals to the chain declare
// them (the simulated chain's token has 6).
func withoutRPC(t *testing.T, cat catalog) catalog {
	t.Helper()
	lines := strings.Split(string(cat), "\n")
	for i, l := range lines {
		if l == "rpc:" {
			lines = append(lines[:i:i], lines[i+2:]...)
			var out []string
			for _, l := range lines {
				out = append(out, l)
				if strings.HasPrefix(l, "    address: ") && !strings.Contains(string(cat), "\n    decimals: ") {
					out = append(out, "    decimals: 6")
				}
			}
			return catalog(strings.Join(out, "\n"))
		}
	}
	t.Fatal("the catalog has no rpc: section")
	return ""
}

// TestServeAnswersLostPaymentFromChain: the seller settles, then drops the
// connection; with an rpc endpoint the call asks the chain at once and
// answers charged, nothing delivered, with the transaction, and the ledger
// books it settled.
func TestServeAnswersLostPaymentFromChain(t *testing.T) {
	_, seller, cat := simSeller(t, 300)
	book := filepath.Join(t.TempDir(), "ledger.db")
	s := startWith(t, seller, cat, "X402_LEDGER="+book)
	res := s.call("weather_drop", nil)
	st := seller.Facilitator.Settlements()
	if len(st) != 1 {
		t.Fatalf("%d settlements", len(st))
	}
	rc := meta(res, "x402/payment-response")
	if !res.IsError || res.Meta.AdditionalFields["x402/charged"] != "charged" || rc["transaction"] != st[0].Transaction || rc["state"] != "settled" ||
		!strings.Contains(text(res), "nothing delivered") || !strings.Contains(text(res), "Paid 0.001 USDC") {
		t.Fatalf("lost answer: %s %v", text(res), res.Meta.AdditionalFields)
	}
	if rows := readLedger(t, book); len(rows) != 1 || rows[0].State != payments.StateSettled || rows[0].Transaction != st[0].Transaction {
		t.Fatalf("rows %+v", rows)
	}
}

// TestServeReconcilesRefusedPayment: a hostile seller settles a payment on
// chain and answers 402. The model is not told "not charged", and the
// running server (no restart, no `ledger reconcile`) soon finds the
// payment used on chain and books it settled with its transaction.
func TestServeReconcilesRefusedPayment(t *testing.T) {
	_, seller, cat := simSeller(t, 300)
	book := filepath.Join(t.TempDir(), "ledger.db")
	s := startWith(t, seller, cat, "X402_LEDGER="+book)
	res := s.call("weather_refused", nil)
	if !res.IsError || res.Meta.AdditionalFields["x402/charged"] != "unknown" || meta(res, "x402/error")["code"] != "payment_rejected" ||
		!strings.Contains(text(res), "until reconciliation proves it unused") {
		t.Fatalf("refused payment: %s %v", text(res), res.Meta.AdditionalFields)
	}
	st := seller.Facilitator.Settlements()
	if len(st) != 1 {
		t.Fatalf("%d settlements, want 1", len(st))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows := readLedger(t, book)
		if len(rows) == 1 && rows[0].State == payments.StateSettled {
			if rows[0].Transaction != st[0].Transaction || rows[0].Reason != ledger.ReasonUsedOnChain {
				t.Fatalf("row %+v, want settled with %s", rows[0], st[0].Transaction)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the running server did not reconcile the refused payment: %+v\nstderr:\n%s", rows, s.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The pending amount is now settled in x402_wallet's view too (the
	// simulated chain's token is a declared asset, with its own budget).
	var w struct {
		Assets []struct{ Settled, Pending string } `json:"assets"`
	}
	b, _ := json.Marshal(s.call("x402_wallet", nil).StructuredContent)
	if err := json.Unmarshal(b, &w); err != nil || len(w.Assets) != 1 || w.Assets[0].Settled != "0.001" || w.Assets[0].Pending != "0" {
		t.Fatalf("wallet %s (%v)", b, err)
	}
}

// TestCrashRecovery kills x402-mcp with SIGKILL at random points during a
// stream of paid calls settled on chain, and checks the books: every
// authorization the seller received has a row; what the ledger counts covers
// what left the wallet; once the chain is past every authorization's
// validBefore and the ledger is reconciled (as a restart does), settled
// equals what left the wallet exactly.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the binary several times; run without -short")
	}
	// Each settlement seals a block at least a second after the last, so the
	// simulated chain's clock runs ahead of ours by up to a second per
	// payment: give authorizations room.
	const validity = 600
	sim, seller, cat := simSeller(t, validity)
	book := filepath.Join(t.TempDir(), "ledger.db")
	start, _ := sim.Balance(context.Background(), payer)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 5; round++ {
		s := startWith(t, seller, cat, "X402_LEDGER="+book, "X402_LOG_LEVEL=error")
		var wg sync.WaitGroup
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := s.callCtx(ctx, "weather", map[string]any{"city": "kyiv"})
					cancel()
					if err != nil {
						return // the process died under us
					}
				}
			}()
		}
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
	// The seller may still be settling a payment whose caller was killed:
	// let every request it is handling finish before reading the books.
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	if err := seller.Shutdown(sctx); err != nil {
		t.Fatalf("seller shutdown: %v", err)
	}
	scancel()
	received := seller.Seller.ReceivedPayments()
	if len(received) == 0 {
		t.Fatal("no payment reached the seller: the kills came too early to test anything")
	}
	rows := readLedger(t, book)
	byNonce := map[string]ledger.Row{}
	var counted payments.Amount
	for _, r := range rows {
		if r.Nonce != "" {
			byNonce[strings.ToLower(r.Nonce)] = r
		}
		if r.Counted() {
			counted += r.Amount
		}
	}
	for _, rc := range received {
		nonce := strings.ToLower(evm.MustPayload(rc.Payload.Payload).Authorization.Nonce)
		if _, ok := byNonce[nonce]; !ok {
			t.Fatalf("the seller received authorization %s that the ledger has no row for", nonce)
		}
	}
	end, _ := sim.Balance(context.Background(), payer)
	if left := start - end; counted < left {
		t.Fatalf("the ledger counts %s but %s left the wallet", counted.USDC(), left.USDC())
	}

	// Move the chain past every authorization's validBefore (for good: no
	// later block is older), and far enough for a block past it to be
	// final (reconciliation releases an unused authorization only at a
	// finalized block), then reconcile: the books must now be exact.
	if err := sim.AdjustTime(2 * validity * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := sim.Seal(32); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := run(t, []string{"X402_LEDGER=" + book, "X402_REGISTRY=" + writeCatalog(t, cat, seller.URL)}, "ledger", "reconcile")
	if err != nil {
		t.Fatalf("reconcile: %v\n%s", err, stderr)
	}
	rows = readLedger(t, book)
	states := map[string]int{}
	for _, r := range rows {
		states[string(r.State)+": "+r.Reason]++
	}
	t.Logf("rows by state after reconciliation: %v", states)
	var settled payments.Amount
	for _, r := range rows {
		switch {
		case r.State == payments.StateSettled:
			settled += r.Amount
		case r.State == payments.StateReleased:
		case r.State == payments.StateReserved && r.Nonce == "":
			// Reserved and never signed: nothing can have left for it.
		default:
			t.Fatalf("row %s is still %s after reconciliation (%s)", r.ID, r.State, out)
		}
	}
	// Read the wallet again: the chain has sealed blocks since (AdjustTime
	// mines whatever reached its pool), and a read right after the last
	// settlement may see the head before its block.
	end, _ = sim.Balance(context.Background(), payer)
	if left := start - end; settled != left {
		t.Fatalf("after reconciliation the ledger has %s settled, but %s left the wallet", settled.USDC(), left.USDC())
	}
	t.Logf("%d rounds, %d authorizations received by the seller, %d rows, %s paid", 5, len(received), len(rows), settled.USDC())
}

func writeCatalog(t *testing.T, cat catalog, url string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "registry.yaml")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(cat), "{{URL}}", url)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readLedger(t *testing.T, path string) []ledger.Row {
	t.Helper()
	l, err := ledger.Open(context.Background(), path, payments.Budget{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rows, err := l.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
