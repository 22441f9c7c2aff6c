package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/solanatest"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// exchange is one HTTP request that reached the seller and its answer.
type exchange struct {
	paid    bool   // it carried a payment header
	payment string // that header's value
	status  int
}

func (e exchange) String() string {
	if e.paid {
		return "paid→" + http.StatusText(e.status)
	}
	return "unpaid→" + http.StatusText(e.status)
}

// sellerLog is what reached the seller, in order: a front in front of the
// local seller records each request and the status it answered.
type sellerLog struct {
	mu  sync.Mutex
	all []exchange
}

// since returns the exchanges after the first n.
func (l *sellerLog) since(n int) []exchange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]exchange(nil), l.all[n:]...)
}

func (l *sellerLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

// statusRecorder keeps the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// loggedSeller starts a local seller taking USDC on Solana alone through
// the reference facilitator (extra as extra says, when set), behind a front
// that logs every request and its answer. The binary talks to the front.
func (w *solanaWorld) loggedSeller(t *testing.T, extra func() map[string]any) (*localseller.Running, *sellerLog) {
	t.Helper()
	seller := localseller.New(localseller.Config{Solana: &localseller.SolanaConfig{
		Network: payments.Network(w.env.Network), Mint: w.env.USDCMint, PayTo: w.payee, FeePayer: w.env.FeePayer,
		Facilitator: localseller.NewRemote(w.env.FacilitatorURL), Only: true, Extra: extra,
	}})
	log := &sellerLog{}
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		v := r.Header.Get(x402.HeaderPaymentSignature) + r.Header.Get(x402.HeaderXPayment)
		rec := &statusRecorder{ResponseWriter: rw}
		seller.Handler().ServeHTTP(rec, r)
		log.mu.Lock()
		log.all = append(log.all, exchange{paid: v != "", payment: v, status: rec.status})
		log.mu.Unlock()
	}))
	t.Cleanup(front.Close)
	return &localseller.Running{URL: front.URL, Seller: seller}, log
}

// TestSolanaWarmPath drives the built binary over stdio against a
// Solana-priced seller whose payments the reference @x402/svm facilitator
// verifies and settles on a real Solana (Surfnet). For each of two catalog
// entries of the same seller route:
//
//   - the first call pays after a 402 (the seller sees an unpaid request
//     answered 402, then a paid one answered 200);
//   - the second pays warm: the seller sees one paid request, no 402 before
//     it;
//   - the seller reprices (up for the first entry, down for the second):
//     the warm payment at the old price is refused by the seller with its
//     new terms, and the call pays the new price once, in the same tool
//     call.
//
// The payee's token account moves by exactly the settled amounts, and the
// wallet's by the same: the refused warm transactions never landed. The
// ledger books every paid call settled with its landed transaction, and
// each refused warm payment rejected, counted, until reconciliation proves
// from the chain that it can never land (the finalized block height past
// its blockhash's last valid block height): only then is it released.
func TestSolanaWarmPath(t *testing.T) {
	// 200 ms slots: a blockhash lives about 30 s, twice the binary's reuse
	// of a blockhash it read (svm.BlockhashReuse, 15 s).
	w := newSolanaWorld(t, solanatest.Options{SlotMs: 200})
	seller, log := w.loggedSeller(t, nil)
	book := t.TempDir() + "/ledger.db"
	const cat catalog = `version: 1
defaults:
  networks: [solana-devnet]
  max_per_call: "0.05"
budget:
  total: "1.00"
rpc:
  solana-devnet: "{{RPC}}"
tools:
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.002"
    pay_to: "{{PAYEE}}"
  - name: forecast
    description: The same resource, as a second catalog entry.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.002"
    pay_to: "{{PAYEE}}"
`
	s := startWith(t, seller, w.catalog(cat), solanaEnv, "X402_LEDGER="+book)
	payerStart, payeeStart := w.balance(t, solanaTestAddress, w.env.USDCMint), w.balance(t, w.payee, w.env.USDCMint)

	// pay calls tool and checks it paid price on Solana with exchanges
	// reaching the seller as want says; it returns the landed transaction.
	pay := func(what, tool string, price uint64, want string) string {
		t.Helper()
		n := log.len()
		payeeBefore := w.balance(t, w.payee, w.env.USDCMint)
		res := s.call(tool, map[string]any{"city": "quito"})
		if res.IsError || !strings.Contains(text(res), `"city":"quito"`) {
			t.Fatalf("%s: %s\n%s", what, text(res), s.stderr.String())
		}
		rc := meta(res, "x402/payment-response")
		tx, _ := rc["transaction"].(string)
		if rc["network"] != w.env.Network || rc["payer"] != solanaTestAddress || rc["payTo"] != w.payee ||
			rc["amountAtomic"] != payments.Amount(price).Atomic() || rc["state"] != "settled" || len(tx) < 64 {
			t.Fatalf("%s: receipt %v, want %d atomic USDC (6 decimals) settled on %s", what, rc, price, w.env.Network)
		}
		var got []string
		for _, e := range log.since(n) {
			got = append(got, e.String())
		}
		if strings.Join(got, ", ") != want {
			t.Fatalf("%s: the seller saw %q, want %q", what, strings.Join(got, ", "), want)
		}
		if d := w.balance(t, w.payee, w.env.USDCMint) - payeeBefore; d != price {
			t.Fatalf("%s: the payee's token account moved by %d atomic USDC on chain, want exactly %d", what, d, price)
		}
		return tx
	}
	const (
		cold     = "unpaid→Payment Required, paid→OK"
		warm     = "paid→OK"
		refused  = "paid→Payment Required, paid→OK" // the warm payment, then the new price
		up, down = 1500, 400
	)
	var txs []string
	txs = append(txs, pay("weather, first call", "weather", 1000, cold))
	txs = append(txs, pay("weather, second call", "weather", 1000, warm))
	seller.Seller.SetPrices(localseller.Prices{Weather: up})
	txs = append(txs, pay("weather, after the price went up", "weather", up, refused))
	// The second entry learns the new price, pays it warm, then the price
	// goes down.
	txs = append(txs, pay("forecast, first call", "forecast", up, cold))
	txs = append(txs, pay("forecast, second call", "forecast", up, warm))
	seller.Seller.SetPrices(localseller.Prices{Weather: down})
	txs = append(txs, pay("forecast, after the price went down", "forecast", down, refused))

	const settled = 1000 + 1000 + up + up + up + down
	if d := payerStart - w.balance(t, solanaTestAddress, w.env.USDCMint); d != settled {
		t.Errorf("the wallet's token account moved by %d atomic USDC on chain, want exactly %d: nothing overspent", d, settled)
	}
	if d := w.balance(t, w.payee, w.env.USDCMint) - payeeStart; d != settled {
		t.Errorf("the payee's token account moved by %d atomic USDC on chain, want exactly %d", d, settled)
	}
	// Both refused warm payments are counted as pending beside what settled.
	var st struct {
		Budget struct {
			Settled string `json:"settled"`
			Pending string `json:"pending"`
		} `json:"budget"`
	}
	b, _ := json.Marshal(s.call("x402_wallet", nil).StructuredContent)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Budget.Settled != "0.0069" || st.Budget.Pending != "0.0025" {
		t.Errorf("x402_wallet counts %s settled and %s pending USDC, want 0.0069 and 0.0025 (the refused 0.001 and 0.0015): %s", st.Budget.Settled, st.Budget.Pending, b)
	}
	// The refused warm payments are the ones the seller answered 402, each
	// signed for the old price.
	var refusedSent []string
	for _, e := range log.since(0) {
		if e.paid && e.status == http.StatusPaymentRequired {
			refusedSent = append(refusedSent, e.payment)
		}
	}
	s.stdoutIsJSONRPC(t)
	s.close()

	rows := readLedger(t, book)
	slices.Reverse(rows) // oldest first
	type want struct {
		tool   string
		amount payments.Amount
		state  payments.State
	}
	wants := []want{
		{"weather", 1000, payments.StateSettled}, {"weather", 1000, payments.StateSettled},
		{"weather", 1000, payments.StateRejected}, {"weather", up, payments.StateSettled},
		{"forecast", up, payments.StateSettled}, {"forecast", up, payments.StateSettled},
		{"forecast", up, payments.StateRejected}, {"forecast", down, payments.StateSettled},
	}
	if len(rows) != len(wants) {
		t.Fatalf("%d ledger rows, want %d", len(rows), len(wants))
	}
	var rejected []int
	paid := 0
	for i, r := range rows {
		wt := wants[i]
		if r.Tool != wt.tool || r.Amount != wt.amount || r.State != wt.state || r.Family != svm.Name || r.Network != w.env.Network {
			t.Fatalf("row %d: %s %d %s (%s on %s), want %s %d %s", i, r.Tool, r.Amount, r.State, r.Family, r.Network, wt.tool, wt.amount, wt.state)
		}
		var p svm.Proof
		if err := json.Unmarshal(r.ProofData, &p); err != nil {
			t.Fatalf("row %d: proof %v", i, err)
		}
		if p.Amount != r.Amount.Atomic() || p.PayerSignature != r.Nonce {
			t.Fatalf("row %d: the signed transaction pays %s (signature %s), the row %d (%s)", i, p.Amount, p.PayerSignature, r.Amount, r.Nonce)
		}
		if r.State == payments.StateRejected {
			rejected = append(rejected, i)
			if !strings.Contains(r.Reason, "warm payment refused, the seller's terms changed") {
				t.Errorf("row %d's reason: %q", i, r.Reason)
			}
			if k := len(rejected) - 1; k >= len(refusedSent) || r.Payload != refusedSent[k] {
				t.Errorf("row %d is not the payment the seller refused", i)
			}
			if next := rows[i+1]; !strings.HasPrefix(next.CallID, r.CallID) || next.CallID == r.CallID {
				t.Errorf("call ids %q then %q: want the new price's derived from the refused one's", r.CallID, next.CallID)
			}
			continue
		}
		if r.Transaction != txs[paid] {
			t.Errorf("row %d is settled with %s, the receipt named %s", i, r.Transaction, txs[paid])
		}
		paid++
	}
	if len(refusedSent) != 2 {
		t.Fatalf("the seller refused %d paid requests, want the 2 warm ones", len(refusedSent))
	}

	// Reconciliation: the refused transactions stay counted while their
	// blockhash may still land them, then are proven unused by the chain.
	reconcile := func() {
		t.Helper()
		if _, stderr, err := run(t, []string{"X402_LEDGER=" + book, "X402_REGISTRY=" + writeCatalog(t, w.catalog(cat), "http://127.0.0.1:1")}, "ledger", "reconcile"); err != nil {
			t.Fatalf("ledger reconcile: %v\n%s", err, stderr)
		}
	}
	reconcile()
	rows = readLedger(t, book)
	slices.Reverse(rows)
	for _, i := range rejected {
		if r := rows[i]; r.State != payments.StateRejected {
			t.Fatalf("row %d, the refused warm payment, is %s right after it was signed: it must stay counted while its blockhash lives", i, r.State)
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		rows = readLedger(t, book)
		slices.Reverse(rows)
		open := 0
		for _, i := range rejected {
			if rows[i].State != payments.StateReleased {
				open++
			}
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d refused warm payments never released", open)
		}
		time.Sleep(time.Second)
		reconcile()
	}
	var finalized struct {
		BlockHeight uint64 `json:"blockHeight"`
	}
	solanaRPC(t, w.env, "getEpochInfo", []any{map[string]string{"commitment": "finalized"}}, &finalized)
	for _, i := range rejected {
		if r := rows[i]; finalized.BlockHeight <= r.Expiry {
			t.Errorf("row %d released at finalized height %d, not past its last valid block height %d", i, finalized.BlockHeight, r.Expiry)
		}
	}
	var total payments.Amount
	for i, r := range rows {
		if r.State != wants[i].state && !slices.Contains(rejected, i) {
			t.Errorf("row %d went from %s to %s", i, wants[i].state, r.State)
		}
		if r.Counted() {
			total += r.Amount
		}
	}
	if total != settled {
		t.Errorf("the ledger counts %d atomic USDC, want exactly the %d that left the wallet on chain", total, settled)
	}
}

// TestSolanaSellerMemoPaidTwice: a seller that states its own extra.memo
// (the same on every 402, an order reference, say) is paid twice in a row,
// warm and with the warm path off. Both payments of a run are built on the
// blockhash the binary read for the first (it reuses one for
// svm.BlockhashReuse), with the seller's memo and the same price: each must
// still be a transaction of its own, or the facilitator and the chain take
// the second as the first sent again (duplicate_settlement) and the call
// fails. Both land, with the seller's memo, and the ledger books two
// settled payments with two transactions.
func TestSolanaSellerMemoPaidTwice(t *testing.T) {
	w := newSolanaWorld(t, solanatest.Options{SlotMs: 200})
	seller := w.seller(t, w.env.USDCMint, false, func(c *localseller.SolanaConfig) {
		c.Extra = func() map[string]any { return map[string]any{"memo": "order-7"} }
	})
	cat := w.singleSeller(seller)
	for _, tc := range []struct {
		name     string
		args     []string
		requests []int64 // HTTP requests per call
	}{{"warm", nil, []int64{2, 1}}, {"warm path off", []string{"--warm-path=false"}, []int64{2, 2}}} {
		t.Run(tc.name, func(t *testing.T) {
			book := t.TempDir() + "/ledger.db"
			s := startSession(t, seller, cat, sessionOptions{env: []string{solanaEnv, "X402_LEDGER=" + book}, args: tc.args})
			before := w.balance(t, w.payee, w.env.USDCMint)
			for i, want := range tc.requests {
				r0 := seller.Seller.Requests()
				res := s.call("weather", map[string]any{"city": "lima"})
				if res.IsError {
					t.Fatalf("call %d: %s", i, text(res))
				}
				if got := seller.Seller.Requests() - r0; got != want {
					t.Fatalf("call %d: %d HTTP requests reached the seller, want %d", i, got, want)
				}
			}
			if d := w.balance(t, w.payee, w.env.USDCMint) - before; d != 2000 {
				t.Errorf("the payee's token account moved by %d atomic USDC on chain, want 2000: both payments", d)
			}
			s.close()
			rows := readLedger(t, book)
			if len(rows) != 2 {
				t.Fatalf("%d ledger rows, want 2", len(rows))
			}
			for _, r := range rows {
				var p svm.Proof
				if err := json.Unmarshal(r.ProofData, &p); err != nil {
					t.Fatal(err)
				}
				if r.State != payments.StateSettled || r.Transaction == "" || p.Memo != "order-7" {
					t.Errorf("row %s: %s, tx %q, memo %q: want settled with the seller's memo", r.ID, r.State, r.Transaction, p.Memo)
				}
			}
			if rows[0].Transaction == rows[1].Transaction || rows[0].Nonce == rows[1].Nonce {
				t.Errorf("both payments are one transaction: %s (payer signature %s)", rows[0].Transaction, rows[0].Nonce)
			}
		})
	}
}

// TestSolanaWarmPathSellerBlockhash: a seller that states its own
// extra.recentBlockhash (the same until it refreshes it) is paid warm while
// that blockhash lives, on that blockhash. Once it has expired on chain the
// binary signs nothing on the remembered terms (a transaction on them could
// never land): the call asks the seller again and pays its fresh terms, one
// payment, no refusal, and no payment on the expired blockhash reaches the
// seller.
func TestSolanaWarmPathSellerBlockhash(t *testing.T) {
	// 50 ms slots: a blockhash lives about 7.5 s.
	w := newSolanaWorld(t, solanatest.Options{SlotMs: 50})
	var stated atomic.Value
	refresh := func() string {
		var latest struct {
			Value struct {
				Blockhash string `json:"blockhash"`
			} `json:"value"`
		}
		solanaRPC(t, w.env, "getLatestBlockhash", []any{map[string]string{"commitment": "confirmed"}}, &latest)
		stated.Store(latest.Value.Blockhash)
		return latest.Value.Blockhash
	}
	seller, log := w.loggedSeller(t, func() map[string]any { return map[string]any{"recentBlockhash": stated.Load()} })
	book := t.TempDir() + "/ledger.db"
	s := startWith(t, seller, w.singleSeller(seller), solanaEnv, "X402_LEDGER="+book)
	payerStart := w.balance(t, solanaTestAddress, w.env.USDCMint)
	// call pays for weather and returns what reached the seller and the
	// blockhash of the last payment it saw.
	call := func(what string) (string, string) {
		t.Helper()
		n := log.len()
		res := s.call("weather", map[string]any{"city": "lagos"})
		if res.IsError {
			t.Fatalf("%s: %s", what, text(res))
		}
		var got []string
		var last string
		for _, e := range log.since(n) {
			got = append(got, e.String())
			if e.paid {
				last = e.payment
			}
		}
		p, err := x402.DecodePaymentHeader(last)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var tx struct {
			Transaction string `json:"transaction"`
		}
		if err := json.Unmarshal(p.Payload, &tx); err != nil {
			t.Fatal(err)
		}
		decoded, err := solana.TransactionFromBase64(tx.Transaction)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, ", "), decoded.Message.RecentBlockhash.String()
	}
	first := refresh()
	if seen, hash := call("cold"); seen != "unpaid→Payment Required, paid→OK" || hash != first {
		t.Fatalf("cold call: the seller saw %q, paid on blockhash %s; want a 402 then a payment on the seller's %s", seen, hash, first)
	}
	if seen, hash := call("warm"); seen != "paid→OK" || hash != first {
		t.Fatalf("warm call: the seller saw %q, paid on blockhash %s; want one payment on the seller's %s", seen, hash, first)
	}
	waitBlockhashExpired(t, w.env, first)
	second := refresh()
	if seen, hash := call("after the blockhash expired"); seen != "unpaid→Payment Required, paid→OK" || hash != second {
		t.Fatalf("after the blockhash expired: the seller saw %q, paid on blockhash %s; want a 402 then a payment on the seller's new %s", seen, hash, second)
	}
	if d := payerStart - w.balance(t, solanaTestAddress, w.env.USDCMint); d != 3000 {
		t.Errorf("the wallet's token account moved by %d atomic USDC on chain, want exactly 3000", d)
	}
	s.close()
	for _, r := range readLedger(t, book) {
		if r.State != payments.StateSettled {
			t.Errorf("row %s is %s (%s), want every payment settled", r.ID, r.State, r.Reason)
		}
	}
}

// singleSeller is solanaCatalog with every entry at seller (its
// t22_weather entry included, which this seller answers in USDC).
func (w *solanaWorld) singleSeller(seller *localseller.Running) catalog {
	return catalog(strings.ReplaceAll(string(w.catalog(solanaCatalog)), "{{URL2}}", seller.URL))
}
