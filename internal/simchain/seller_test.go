package simchain

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// chainSeller is a local seller whose facilitator settles on a sim, with
// Anvil #0 holding 1 USDC there, and the paying client for it.
type chainSeller struct {
	sim    *Sim
	run    *localseller.Running
	client *payments.Client
	payer  common.Address
}

func startChainSeller(t *testing.T) *chainSeller {
	t.Helper()
	s := startSim(t)
	run, err := localseller.Start(localseller.Config{
		Facilitator: localseller.NewFacilitator(localseller.FacilitatorConfig{Chain: s}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Close() })
	w := key(t, anvilKey0)
	run.Facilitator.Fund(w.Address(), 1_000_000) // mints on chain
	// The sim's token is no USDC x402-mcp knows (there is none on
	// eip155:1337): it is declared, with a budget of its own, as
	// registry.yaml's assets: does.
	tok := payments.Asset{Network: Network, Address: s.Token().Hex(), Name: s.Domain().Name, Version: s.Domain().Version, Symbol: "USDC", Decimals: 6}
	pol := payments.Policy{Networks: []payments.Network{Network}, Assets: []payments.AssetPolicy{{Asset: tok, PerCall: 100_000}},
		Budget: payments.Budget{Assets: map[string]payments.AssetBudget{tok.Currency().Budget: {Currency: tok.Currency(), Total: 1_000_000}}}}
	return &chainSeller{
		sim: s, run: run, payer: w.Address(),
		client: &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: payments.NewMemoryLedger(pol.Budget, nil)},
	}
}

// limit pins the sim's token: evm.KnownUSDC has no USDC on eip155:1337,
// so only a declared asset, pinned, is paid there (as with assets: and
// `asset:` in registry.yaml).
func (cs *chainSeller) limit(tool string) payments.Limit {
	cur := cs.client.Policy.Assets[0].Currency()
	return payments.Limit{Tool: tool, MaxPrice: 10_000, Network: Network, Asset: cs.sim.Token().Hex(), Currency: cur}
}

func TestPaidCallSettlesOnChain(t *testing.T) {
	for _, tt := range []struct {
		path    string
		version int
		price   payments.Amount
	}{{"/v2/weather/paris", 2, 1_000}, {"/v1/quote?symbol=ACME", 1, 2_000}} {
		t.Run(tt.path, func(t *testing.T) {
			cs := startChainSeller(t)
			ctx := context.Background()
			payTo := cs.run.Seller.PayTo()
			payerBefore, payeeBefore := balance(t, cs.sim, cs.payer), balance(t, cs.sim, payTo)

			req, err := http.NewRequest(http.MethodGet, cs.run.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := cs.client.Do(ctx, req, cs.limit("t"))
			if err != nil {
				t.Fatal(err)
			}
			rc := res.Receipt
			if res.Status != 200 || res.Charged != payments.Charged || rc == nil || rc.State != "settled" ||
				rc.Amount != tt.price || rc.X402Version != tt.version || rc.Network != "eip155:1337" || rc.Payer != cs.payer.Hex() {
				t.Fatalf("status %d charged %s receipt %+v", res.Status, res.Charged, rc)
			}
			// Exactly the price moved on chain.
			if d := payerBefore - balance(t, cs.sim, cs.payer); d != tt.price {
				t.Fatalf("payer paid %d on chain, want %d", d, tt.price)
			}
			if d := balance(t, cs.sim, payTo) - payeeBefore; d != tt.price {
				t.Fatalf("payee got %d on chain, want %d", d, tt.price)
			}
			// The receipt's transaction is the real one, mined successfully,
			// and it used the authorization the seller received.
			c := dial(t, cs.sim)
			txr, err := c.TransactionReceipt(ctx, common.HexToHash(rc.Transaction))
			if err != nil || txr.Status != 1 || txr.ContractAddress != (common.Address{}) {
				t.Fatalf("receipt of %s: %+v, %v", rc.Transaction, txr, err)
			}
			tx, _, err := c.TransactionByHash(ctx, txr.TxHash)
			if err != nil || tx.To() == nil || *tx.To() != cs.sim.Token() {
				t.Fatalf("transaction %s does not call the token: %v", rc.Transaction, err)
			}
			a := receivedAuthorization(t, cs.run.Seller, 0)
			checker := evm.NewRPCChecker(map[payments.Network]string{Network: cs.sim.URL()})
			defer checker.Close()
			if used, err := checker.AuthorizationUsed(ctx, Network, cs.sim.Token(), cs.payer, a.Nonce); err != nil || !used {
				t.Fatalf("authorizationState over RPC: %v, %v", used, err)
			}
			if st := cs.run.Facilitator.Settlements(); len(st) != 1 || st[0].Transaction != rc.Transaction {
				t.Fatalf("facilitator settlements %+v", st)
			}
		})
	}
}

// TestLostAnswerIsUsedOnChain is reconciliation's case: the seller settles
// on chain and the answer is lost, so the client cannot know; the chain,
// read over RPC, says the authorization was used.
func TestLostAnswerIsUsedOnChain(t *testing.T) {
	cs := startChainSeller(t)
	ctx := context.Background()
	req, err := http.NewRequest(http.MethodGet, cs.run.URL+"/v2/misbehave/"+localseller.ModeDropAfterSettle, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.client.Do(ctx, req, cs.limit("drop"))
	if pe, ok := payments.AsError(err); !ok || pe.Charged == payments.NotCharged {
		t.Logf("client verdict on a lost answer: %v", err)
	}
	a := receivedAuthorization(t, cs.run.Seller, 0)
	used, err := evm.NewRPCChecker(map[payments.Network]string{Network: cs.sim.URL()}).AuthorizationUsed(ctx, Network, cs.sim.Token(), cs.payer, a.Nonce)
	if err != nil || !used {
		t.Fatalf("authorizationState: %v, %v; want used", used, err)
	}
	if got := balance(t, cs.sim, cs.run.Seller.PayTo()); got != 1_000 {
		t.Fatalf("payee holds %d on chain, want 1000", got)
	}
}

// receivedAuthorization returns the authorization of the i-th payment the
// seller received.
func receivedAuthorization(t *testing.T, s *localseller.Seller, i int) evm.Authorization {
	t.Helper()
	rp := s.ReceivedPayments()
	if len(rp) <= i || rp[i].Payload == nil {
		t.Fatalf("seller received %d payments, want payment %d", len(rp), i)
	}
	a, err := evm.ParseAuthorization(evm.MustPayload(rp[i].Payload.Payload).Authorization)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestConcurrentSettlesOnChain: parallel paid calls all settle, each in its
// own transaction, and the same authorization settled concurrently moves
// money once.
func TestConcurrentSettlesOnChain(t *testing.T) {
	cs := startChainSeller(t)
	ctx := context.Background()
	const calls = 8
	var wg sync.WaitGroup
	txs := make(chan string, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, cs.run.URL+"/v2/weather/oslo", nil)
			res, err := cs.client.Do(ctx, req, cs.limit("weather"))
			if err != nil || res.Receipt == nil {
				t.Errorf("call: %v", err)
				return
			}
			txs <- res.Receipt.Transaction
		}()
	}
	wg.Wait()
	close(txs)
	seen := map[string]bool{}
	for tx := range txs {
		seen[tx] = true
	}
	if len(seen) != calls {
		t.Fatalf("%d distinct transactions for %d calls", len(seen), calls)
	}
	if got := balance(t, cs.sim, cs.run.Seller.PayTo()); got != calls*1_000 {
		t.Fatalf("payee holds %d, want %d", got, calls*1_000)
	}

	// One payment, settled five times at once: one transfer.
	fac := cs.run.Facilitator
	req, _ := http.NewRequest(http.MethodGet, cs.run.URL+"/v2/weather/rome", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr, err := x402.ParseChallenge(resp.Header, nil)
	if err != nil {
		t.Fatal(err)
	}
	rq := pr.Accepts[0]
	w := key(t, anvilKey0)
	a := auth(t, w, 1_000)
	a.To = cs.run.Seller.PayTo()
	p := &x402.PaymentPayload{X402Version: 2, Accepted: rq.Raw, Resource: pr.Resource,
		Payload: evm.Payload{Signature: hexutil.Encode(sign(t, w, fac.Domain(), a)), Authorization: a.JSON()}.Raw()}
	var ok, nonceUsed atomic.Int32
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sr := fac.Settle(ctx, p, rq)
			switch {
			case sr.Success:
				ok.Add(1)
			case sr.ErrorReason == localseller.ReasonNonceUsed:
				nonceUsed.Add(1)
			default:
				t.Errorf("settle: %+v", sr)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || nonceUsed.Load() != 4 {
		t.Fatalf("%d settled, %d refused as used; want 1 and 4", ok.Load(), nonceUsed.Load())
	}
	if got := balance(t, cs.sim, cs.run.Seller.PayTo()); got != (calls+1)*1_000 {
		t.Fatalf("payee holds %d, want %d", got, (calls+1)*1_000)
	}
}
