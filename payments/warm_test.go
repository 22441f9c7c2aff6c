package payments_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"
	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// warmFixture is a local seller behind a switchable front (that can drop
// payment headers or connections, as a seller or a network would) and a
// client with the warm path on, whose clock and ledger clock the test moves.
type warmFixture struct {
	seller *localseller.Seller
	url    string
	client *payments.Client
	ledger *ledger.Ledger
	clock  *testClock

	// strip removes the payment header of paid requests (the seller then
	// refuses them with its unchanged terms); drop closes the connection
	// of paid requests without an answer.
	strip, drop atomic.Bool
	mu          sync.Mutex
	paidSeen    []string // payment header values that reached the front
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newWarmFixture(t *testing.T, budget payments.Amount, cfg localseller.Config) *warmFixture {
	t.Helper()
	f := &warmFixture{seller: localseller.New(cfg), clock: &testClock{t: time.Now()}}
	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get(x402.HeaderPaymentSignature) + r.Header.Get(x402.HeaderXPayment); v != "" {
			f.mu.Lock()
			f.paidSeen = append(f.paidSeen, v)
			f.mu.Unlock()
			if f.drop.Load() {
				hj, ok := w.(http.Hijacker)
				if !ok {
					t.Error("cannot hijack")
					return
				}
				conn, _, _ := hj.Hijack()
				_ = conn.Close()
				return
			}
			if f.strip.Load() {
				r.Header.Del(x402.HeaderPaymentSignature)
				r.Header.Del(x402.HeaderXPayment)
			}
		}
		f.seller.Handler().ServeHTTP(w, r)
	})
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	w, err := wallet.ParseHexKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	f.seller.Facilitator().Fund(w.Address(), 100_000_000)
	pol := payments.Policy{Networks: []payments.Network{"eip155:84532"}, PerCall: 100_000, Budget: payments.Budget{Total: budget}}
	// The real ledger (SQLite), on the test's clock.
	f.ledger, err = ledger.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), pol.Budget, ledger.WithNow(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.ledger.Close() })
	f.client = &payments.Client{
		HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: f.ledger, Now: f.clock.Now,
		PaidRetries: -1, Warm: &payments.Warm{TTL: time.Minute, Cooldown: 10 * time.Minute},
	}
	return f
}

func (f *warmFixture) paidCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.paidSeen)
}

var weatherLim = payments.Limit{Tool: "weather", MaxPrice: 10_000, WarmKey: "weather GET /v2/weather/{city}"}

// call makes one paid call and returns its result or error with how many
// HTTP requests and payment headers reached the seller meanwhile.
func (f *warmFixture) call(t *testing.T, path string, lim payments.Limit) (res *payments.Result, err error, requests int64, paid int) {
	t.Helper()
	r0, p0 := f.seller.Requests(), f.paidCount()
	res, err = f.client.Do(context.Background(), get(t, f.url+path), lim)
	return res, err, f.seller.Requests() - r0, f.paidCount() - p0
}

func mustPaid(t *testing.T, res *payments.Result, err error, price payments.Amount) {
	t.Helper()
	if err != nil {
		t.Fatalf("paid call failed: %v", err)
	}
	if res.Status != 200 || res.Charged != payments.Charged || res.Receipt == nil || res.Receipt.Amount != price || res.Receipt.State != "settled" {
		t.Fatalf("status %d charged %s receipt %+v, want 200 charged %d settled", res.Status, res.Charged, res.Receipt, price)
	}
}

func summary(t *testing.T, l payments.Ledger) payments.Summary {
	t.Helper()
	s, err := l.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWarmPathOneRoundTrip: after one paid call, calls to the same entry
// for the same request take one HTTP request each, sign once, and move
// exactly the price (v2 sellers; v1 is never warm, see
// TestWarmPathNeverV1).
func TestWarmPathOneRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name  string
		paths []string
		price payments.Amount
	}{
		{"v2", []string{"/v2/weather/paris", "/v2/weather/paris", "/v2/weather/lima?api_key=s3cret", "/v2/weather/lima?api_key=s3cret"}, 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newWarmFixture(t, 1_000_000, localseller.Config{})
			fac := f.seller.Facilitator()
			before := fac.Balance(f.seller.PayTo())
			seen := map[string]bool{}
			for i, p := range tt.paths {
				res, err, reqs, paid := f.call(t, p, weatherLim)
				mustPaid(t, res, err, tt.price)
				wantReqs := int64(1)
				if !seen[p] {
					wantReqs = 2 // cold: the unpaid request, then the paid one
				}
				seen[p] = true
				if reqs != wantReqs || paid != 1 {
					t.Fatalf("call %d (%s): %d requests and %d payments reached the seller, want %d and 1", i, p, reqs, paid, wantReqs)
				}
			}
			if tt.name == "v2" {
				// The last (warm) payment names its own URL, without its
				// query (where an operator's secret may be).
				f.mu.Lock()
				last := f.paidSeen[len(f.paidSeen)-1]
				f.mu.Unlock()
				p, err := x402.DecodePaymentHeader(last)
				if err != nil {
					t.Fatal(err)
				}
				if want := `"url":"` + f.url + `/v2/weather/lima"`; !strings.Contains(string(p.Resource), want) || strings.Contains(string(p.Resource), "s3cret") {
					t.Fatalf("warm payment's resource %s lacks %s", p.Resource, want)
				}
			}
			n := payments.Amount(len(tt.paths))
			if got := fac.Balance(f.seller.PayTo()) - before; got != n*tt.price {
				t.Fatalf("payee got %d, want %d", got, n*tt.price)
			}
			if s := summary(t, f.ledger); s.Settled != n*tt.price || s.Pending != 0 || s.Payments != len(tt.paths) {
				t.Fatalf("ledger %+v", s)
			}
			if st := f.client.Warm.Stats(); st.Hits != int64(len(tt.paths)-len(seen)) || st.Fallbacks != 0 || st.Refusals != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestWarmPathTermsChanged: the seller reprices between two calls. The warm
// payment at the old price is refused with a 402 carrying the new terms;
// the call pays the new terms and the model sees one result. The refused
// authorization was never settled; it stays counted, past its expiry by
// the clock, until reconciliation proves it unused; the entry stays cold
// for the cooldown.
func TestWarmPathTermsChanged(t *testing.T) {
	for _, tt := range []struct {
		name     string
		newPrice payments.Amount
	}{{"price up", 3000}, {"price down", 400}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newWarmFixture(t, 1_000_000, localseller.Config{})
			fac := f.seller.Facilitator()
			res, err, _, _ := f.call(t, "/v2/weather/paris", weatherLim)
			mustPaid(t, res, err, 1000)
			f.seller.SetPrices(localseller.Prices{Weather: tt.newPrice})
			before := fac.Balance(f.seller.PayTo())
			settledBefore := fac.SettledCount()

			res, err, reqs, paid := f.call(t, "/v2/weather/paris", weatherLim)
			mustPaid(t, res, err, tt.newPrice)
			if reqs != 2 || paid != 2 {
				t.Fatalf("%d requests, %d payments reached the seller; want 2 and 2 (the refused warm one, the new one)", reqs, paid)
			}
			if got := fac.Balance(f.seller.PayTo()) - before; got != tt.newPrice {
				t.Fatalf("payee got %d, want exactly the new price %d", got, tt.newPrice)
			}
			if n := fac.SettledCount() - settledBefore; n != 1 {
				t.Fatalf("%d settlements for one call, want 1", n)
			}
			// The refused warm authorization: never settled on the chain…
			f.mu.Lock()
			warmHeader := f.paidSeen[len(f.paidSeen)-2]
			f.mu.Unlock()
			wp, derr := x402.DecodePaymentHeader(warmHeader)
			if derr != nil {
				t.Fatal(derr)
			}
			if evm.MustPayload(wp.Payload).Authorization.Value != "1000" {
				t.Fatalf("the warm payment signed %s, want the remembered 1000", evm.MustPayload(wp.Payload).Authorization.Value)
			}
			if fac.NonceUsed(f.client.Signers[0].(*wallet.EVMKey).Address(), hashOf(t, evm.MustPayload(wp.Payload).Authorization.Nonce)) {
				t.Fatal("the refused warm authorization was settled")
			}
			// …counted, never twice, and still counted once it expired by the
			// clock: only reconciliation's proof from the chain frees it.
			s := summary(t, f.ledger)
			if s.Settled != 1000+tt.newPrice || s.Pending != 1000 || s.Payments != 2 {
				t.Fatalf("ledger right after: %+v, want settled %d and the refused 1000 pending", s, 1000+tt.newPrice)
			}
			rows, lerr := f.ledger.List(context.Background(), ledger.Filter{})
			if lerr != nil {
				t.Fatal(lerr)
			}
			slices.Reverse(rows) // oldest first
			if got := rowStates(rows); got != "settled,rejected,settled" {
				t.Fatalf("row states %s", got)
			}
			if rows[1].CallID == rows[2].CallID || !strings.HasPrefix(rows[2].CallID, rows[1].CallID) {
				t.Fatalf("call ids %q then %q: want the second derived from the first", rows[1].CallID, rows[2].CallID)
			}
			f.clock.Add(time.Duration(localseller.DefaultMaxTimeoutSeconds+1) * time.Second)
			if s := summary(t, f.ledger); s.Settled != 1000+tt.newPrice || s.Pending != 1000 {
				t.Fatalf("ledger after the refused authorization expired by the clock: %+v", s)
			}
			if st := f.client.Warm.Stats(); st.Hits != 1 || st.Fallbacks != 1 {
				t.Fatalf("stats %+v", st)
			}

			// Cold for the cooldown (10 min, later than the 5 min expiry):
			// the next call asks the seller first.
			res, err, reqs, paid = f.call(t, "/v2/weather/paris", weatherLim)
			mustPaid(t, res, err, tt.newPrice)
			if reqs != 2 || paid != 1 {
				t.Fatalf("during the cooldown: %d requests, %d payments; want a cold call (2, 1)", reqs, paid)
			}
			f.clock.Add(10 * time.Minute)
			res, _, _, _ = f.call(t, "/v2/weather/paris", weatherLim) // learns the terms again
			mustPaid(t, res, nil, tt.newPrice)
			res, err, reqs, paid = f.call(t, "/v2/weather/paris", weatherLim)
			mustPaid(t, res, err, tt.newPrice)
			if reqs != 1 || paid != 1 {
				t.Fatalf("after the cooldown: %d requests, %d payments; want warm (1, 1)", reqs, paid)
			}
		})
	}
}

// TestWarmPathFallbackRefused: when the new terms are not payable (above
// the entry's max_price, or the budget cannot hold them beside the refused
// warm authorization), the call fails with nothing signed after the warm
// payment, its outcome unknown: the refused warm authorization left.
func TestWarmPathFallbackRefused(t *testing.T) {
	for _, tt := range []struct {
		name     string
		budget   payments.Amount
		newPrice payments.Amount
		code     payments.Code
	}{
		{"above max_price", 1_000_000, 20_000, payments.CodePriceAboveCap},
		// 1000 settled + 1000 refused (held) + 1500 > 3000.
		{"over budget", 3000, 1500, payments.CodeOverBudget},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newWarmFixture(t, tt.budget, localseller.Config{})
			res, err, _, _ := f.call(t, "/v2/weather/paris", weatherLim)
			mustPaid(t, res, err, 1000)
			f.seller.SetPrices(localseller.Prices{Weather: tt.newPrice})
			before := f.seller.Facilitator().SettledTotal()
			_, err, reqs, paid := f.call(t, "/v2/weather/paris", weatherLim)
			// The new terms were refused before signing, but the refused warm
			// authorization left: the call is not "not charged".
			pe, ok := payments.AsError(err)
			if !ok || pe.Code != tt.code || pe.Charged != payments.ChargeUnknown || pe.Receipt == nil || pe.Receipt.State != "rejected" ||
				!strings.Contains(pe.Message, "refused the warm payment of 0.001 USDC") || !strings.Contains(pe.Message, "until reconciliation proves it unused") {
				t.Fatalf("err %v, want %s with the refused warm payment's outcome unknown", err, tt.code)
			}
			if reqs != 1 || paid != 1 {
				t.Fatalf("%d requests, %d payments; want only the warm one", reqs, paid)
			}
			if got := f.seller.Facilitator().SettledTotal() - before; got != 0 {
				t.Fatalf("%d moved", got)
			}
			if s := summary(t, f.ledger); s.Settled != 1000 || s.Pending != 1000 {
				t.Fatalf("ledger %+v: want the refused warm 1000 held", s)
			}
		})
	}
}

// TestWarmPathSameTermsRefused: a seller that refuses the warm payment but
// offers the same terms again gets no second signature (as on the normal
// path), and the entry goes cold.
func TestWarmPathSameTermsRefused(t *testing.T) {
	f := newWarmFixture(t, 1_000_000, localseller.Config{})
	res, err, _, _ := f.call(t, "/v2/weather/paris", weatherLim)
	mustPaid(t, res, err, 1000)
	f.strip.Store(true)
	_, err, reqs, paid := f.call(t, "/v2/weather/paris", weatherLim)
	pe, ok := payments.AsError(err)
	if !ok || pe.Code != payments.CodePaymentRejected || pe.Charged != payments.ChargeUnknown {
		t.Fatalf("err %v, want payment_rejected, outcome unknown", err)
	}
	if reqs != 1 || paid != 1 {
		t.Fatalf("%d requests, %d payments; want the warm one only", reqs, paid)
	}
	if st := f.client.Warm.Stats(); st.Refusals != 1 || st.Fallbacks != 0 {
		t.Fatalf("stats %+v", st)
	}
	f.strip.Store(false)
	res, err, reqs, _ = f.call(t, "/v2/weather/paris", weatherLim)
	mustPaid(t, res, err, 1000)
	if reqs != 2 {
		t.Fatalf("after a refusal the entry must be cold: %d requests", reqs)
	}
}

// TestWarmPathLostAnswer: the warm paid request is lost in transit. The
// outcome is unknown and counted; nothing is signed again; no fallback; and
// the entry goes cold, as after any warm payment that went wrong: its next
// call asks the seller first.
func TestWarmPathLostAnswer(t *testing.T) {
	f := newWarmFixture(t, 1_000_000, localseller.Config{})
	f.client.PaidRetries = 2
	res, err, _, _ := f.call(t, "/v2/weather/paris", weatherLim)
	mustPaid(t, res, err, 1000)
	f.drop.Store(true)
	_, err, _, paid := f.call(t, "/v2/weather/paris", weatherLim)
	pe, ok := payments.AsError(err)
	if !ok || pe.Code != payments.CodeOutcomeUnknown || pe.Charged != payments.ChargeUnknown {
		t.Fatalf("err %v, want outcome_unknown", err)
	}
	f.mu.Lock()
	sent := append([]string(nil), f.paidSeen[len(f.paidSeen)-paid:]...)
	f.mu.Unlock()
	if len(sent) < 1 {
		t.Fatal("no payment reached the front")
	}
	for _, v := range sent {
		if v != sent[0] {
			t.Fatal("a resend carried a different payment: signed twice")
		}
	}
	if s := summary(t, f.ledger); s.Pending != 1000 || s.Settled != 1000 {
		t.Fatalf("ledger %+v: the unknown payment must stay counted", s)
	}
	f.drop.Store(false)
	res, err, reqs, _ := f.call(t, "/v2/weather/paris", weatherLim)
	mustPaid(t, res, err, 1000)
	if reqs != 2 {
		t.Fatalf("after a lost warm payment the entry must be cold: %d requests", reqs)
	}
}

// TestWarmPathRespectsLimits: remembered terms are paid only while fresh,
// allowed by the entry's current limits, and only when the warm path is on.
func TestWarmPathRespectsLimits(t *testing.T) {
	t.Run("TTL", func(t *testing.T) {
		f := newWarmFixture(t, 1_000_000, localseller.Config{})
		f.warmUp(t, weatherLim)
		f.clock.Add(61 * time.Second)
		res, err, reqs, _ := f.call(t, "/v2/weather/paris", weatherLim)
		mustPaid(t, res, err, 1000)
		if reqs != 2 {
			t.Fatalf("after the TTL: %d requests, want a cold call", reqs)
		}
	})
	t.Run("maxTimeoutSeconds below TTL", func(t *testing.T) {
		f := newWarmFixture(t, 1_000_000, localseller.Config{MaxTimeoutSeconds: 20})
		f.warmUp(t, weatherLim)
		f.clock.Add(21 * time.Second)
		_, _, reqs, _ := f.call(t, "/v2/weather/paris", weatherLim)
		if reqs != 2 {
			t.Fatalf("after maxTimeoutSeconds: %d requests, want a cold call", reqs)
		}
	})
	t.Run("max_price lowered", func(t *testing.T) {
		f := newWarmFixture(t, 1_000_000, localseller.Config{})
		f.warmUp(t, weatherLim)
		lim := weatherLim
		lim.MaxPrice = 500
		_, err, reqs, paid := f.call(t, "/v2/weather/paris", lim)
		if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodePriceAboveCap {
			t.Fatalf("err %v", err)
		}
		if reqs != 1 || paid != 0 {
			t.Fatalf("%d requests, %d payments: the lowered cap must be checked against a fresh 402, with nothing signed", reqs, paid)
		}
	})
	t.Run("payee pin", func(t *testing.T) {
		f := newWarmFixture(t, 1_000_000, localseller.Config{})
		f.warmUp(t, weatherLim)
		lim := weatherLim
		lim.PayTo = "0x000000000000000000000000000000000000dEaD"
		_, err, _, paid := f.call(t, "/v2/weather/paris", lim)
		if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodeNotAllowed || paid != 0 {
			t.Fatalf("err %v, %d payments", err, paid)
		}
	})
	t.Run("off", func(t *testing.T) {
		f := newWarmFixture(t, 1_000_000, localseller.Config{})
		f.client.Warm = nil
		for i := 0; i < 3; i++ {
			res, err, reqs, _ := f.call(t, "/v2/weather/paris", weatherLim)
			mustPaid(t, res, err, 1000)
			if reqs != 2 {
				t.Fatalf("warm path off: %d requests", reqs)
			}
		}
	})
	t.Run("reset (a catalog reload)", func(t *testing.T) {
		f := newWarmFixture(t, 1_000_000, localseller.Config{})
		f.warmUp(t, weatherLim)
		f.client.Warm.Reset()
		if _, _, reqs, _ := f.call(t, "/v2/weather/paris", weatherLim); reqs != 2 {
			t.Fatalf("after Reset: %d requests, want a cold call", reqs)
		}
	})
	t.Run("price from an argument", func(t *testing.T) {
		// amount_from entries: the remembered terms are paid only when they
		// ask exactly the amount this call chose.
		f := newWarmFixture(t, 1_000_000, localseller.Config{})
		lim := payments.Limit{Tool: "tip", MaxPrice: 10_000, WarmKey: "tip GET /v2/tip/{name}", ExactAmount: 2500, ExactArg: "amount"}
		for i, tt := range []struct {
			amount payments.Amount
			reqs   int64
		}{{2500, 2}, {2500, 1}, {700, 2}, {700, 1}} {
			lim.ExactAmount = tt.amount
			res, err, reqs, paid := f.call(t, "/v2/tip/alice?amount="+tt.amount.String(), lim)
			mustPaid(t, res, err, tt.amount)
			if reqs != tt.reqs || paid != 1 {
				t.Fatalf("call %d (%s): %d requests, %d payments; want %d and 1", i, tt.amount.USDC(), reqs, paid, tt.reqs)
			}
		}
	})
	t.Run("no key", func(t *testing.T) {
		f := newWarmFixture(t, 1_000_000, localseller.Config{})
		lim := weatherLim
		lim.WarmKey = ""
		f.warmUp(t, lim)
		if _, _, reqs, _ := f.call(t, "/v2/weather/paris", lim); reqs != 2 {
			t.Fatalf("no warm key: %d requests", reqs)
		}
	})
}

// TestWarmPathBudgetUnderConcurrency: 100 parallel warm calls at a budget
// that covers exactly 10 more put exactly 10 payments through.
func TestWarmPathBudgetUnderConcurrency(t *testing.T) {
	f := newWarmFixture(t, 11*1000, localseller.Config{})
	f.warmUp(t, weatherLim)
	paid, refused := payConcurrently(t, 100, func() (*payments.Result, error) {
		return f.client.Do(context.Background(), get(t, f.url+"/v2/weather/paris"), weatherLim)
	})
	if paid != 10 || refused != 90 {
		t.Fatalf("paid %d refused %d, want 10 and 90", paid, refused)
	}
	if n := f.seller.Facilitator().SettledCount(); n != 11 {
		t.Fatalf("seller settled %d, want 11", n)
	}
	if f.paidCount() != 11 {
		t.Fatalf("%d payment headers, want 11: a refused call must sign nothing", f.paidCount())
	}
}

// TestWarmPathKeyedOnRequest: remembered terms belong to the concrete
// request (the entry, the method and the resolved URL, path and query), never
// to the URL template: another URL of the same entry, or the same path with
// another query, asks the seller first. A pay-what-you-want route whose
// price is in the query is never paid the price learned for another amount.
func TestWarmPathKeyedOnRequest(t *testing.T) {
	t.Run("paths and queries", func(t *testing.T) {
		f := newWarmFixture(t, 1_000_000, localseller.Config{})
		for i, tt := range []struct {
			path string
			reqs int64
		}{
			{"/v2/weather/paris", 2}, {"/v2/weather/paris", 1},
			{"/v2/weather/oslo", 2}, {"/v2/weather/oslo", 1},
			{"/v2/weather/paris?units=imperial", 2}, {"/v2/weather/paris?units=imperial", 1},
			{"/v2/weather/paris", 1},
		} {
			res, err, reqs, paid := f.call(t, tt.path, weatherLim)
			mustPaid(t, res, err, 1000)
			if reqs != tt.reqs || paid != 1 {
				t.Fatalf("call %d (%s): %d requests, %d payments; want %d and 1", i, tt.path, reqs, paid, tt.reqs)
			}
		}
	})
	t.Run("price in the query", func(t *testing.T) {
		f := newWarmFixture(t, 1_000_000, localseller.Config{})
		lim := payments.Limit{Tool: "tip", MaxPrice: 10_000, WarmKey: "tip GET /v2/tip/{name}"}
		res, err, _, _ := f.call(t, "/v2/tip/alice?amount=0.002", lim)
		mustPaid(t, res, err, 2000)
		n0 := len(f.seller.ReceivedPayments())
		res, err, reqs, paid := f.call(t, "/v2/tip/bob?amount=0.001", lim)
		mustPaid(t, res, err, 1000)
		got := f.seller.ReceivedPayments()[n0:]
		if reqs != 2 || paid != 1 || len(got) != 1 || evm.MustPayload(got[0].Payload.Payload).Authorization.Value != "1000" {
			t.Fatalf("%d requests, %d payments (%v); want a cold call that signs 1000 once", reqs, paid, values(got))
		}
		if s := summary(t, f.ledger); s.Settled != 3000 || s.Pending != 0 {
			t.Fatalf("ledger %+v: want 3000 settled and nothing held", s)
		}
	})
}

// TestWarmPathNeverV1: a v1 seller's maxAmountRequired is never exceeded
// for the exact resource paid. v1 payments carry no echo of the terms and
// the v1 rule lets a seller take a payment that meets or exceeds its price,
// so v1 terms are never paid warm: every v1 call asks first, and a price
// cut on the very same URL is paid at the new price at once.
func TestWarmPathNeverV1(t *testing.T) {
	lim := payments.Limit{Tool: "quote", MaxPrice: 10_000, WarmKey: "quote GET /v1/quote"}
	f := newWarmFixture(t, 1_000_000, localseller.Config{})
	for i, price := range []payments.Amount{2000, 2000, 1000, 1000} {
		if i == 2 {
			f.seller.SetPrices(localseller.Prices{Quote: 1000})
		}
		n0 := len(f.seller.ReceivedPayments())
		res, err, reqs, paid := f.call(t, "/v1/quote?symbol=ACME", lim)
		mustPaid(t, res, err, price)
		if reqs != 2 || paid != 1 {
			t.Fatalf("call %d: %d requests, %d payments; a v1 call must ask first (2, 1)", i, reqs, paid)
		}
		for _, r := range f.seller.ReceivedPayments()[n0:] {
			if r.Payload == nil || evm.MustPayload(r.Payload.Payload).Authorization.Value != price.Atomic() {
				t.Fatalf("call %d: the seller received %v for a resource it quoted at %d", i, values(f.seller.ReceivedPayments()[n0:]), price)
			}
		}
	}
	if st := f.client.Warm.Stats(); st.Hits != 0 {
		t.Fatalf("stats %+v: no v1 payment may be warm", st)
	}
}

// TestWarmPathFreshFromStatement: the freshness window runs from the 402
// that stated the terms, not from the last warm payment: paying warm does
// not extend it.
func TestWarmPathFreshFromStatement(t *testing.T) {
	f := newWarmFixture(t, 1_000_000, localseller.Config{})
	f.warmUp(t, weatherLim) // the seller states its terms now (TTL 1 min)
	for i, tt := range []struct {
		after time.Duration
		reqs  int64
	}{
		{40 * time.Second, 1}, // 40 s after the statement: warm
		{30 * time.Second, 2}, // 70 s after it, 30 s after the warm payment: asked again
		{30 * time.Second, 1}, // 30 s after the new statement: warm
		{31 * time.Second, 2}, // 61 s after it
	} {
		f.clock.Add(tt.after)
		res, err, reqs, paid := f.call(t, "/v2/weather/paris", weatherLim)
		mustPaid(t, res, err, 1000)
		if reqs != tt.reqs || paid != 1 {
			t.Fatalf("call %d: %d requests, %d payments; want %d and 1", i, reqs, paid, tt.reqs)
		}
	}
}

// TestWarmPathSingleFlight: many concurrent calls of one entry while the
// seller changes its price. At most one warm payment of an entry is in
// flight at a time, so at most one authorization at the old price reaches
// the seller (the promise: one extra authorization per entry per cooldown),
// the others ask first; every call is paid at the new price or refused
// unsigned, and the budget holds to the atomic unit.
func TestWarmPathSingleFlight(t *testing.T) {
	const n, newPrice = 40, payments.Amount(1500)
	// The warm-up's 1000, the refused warm authorization's 1000 (counted),
	// and room for exactly 10 calls at the new price.
	const budget = 1000 + 1000 + 10*newPrice
	// Every answer takes a while, so that the calls overlap.
	f := newWarmFixture(t, budget, localseller.Config{Delay: 30 * time.Millisecond})
	f.warmUp(t, weatherLim)
	f.seller.SetPrices(localseller.Prices{Weather: newPrice})
	fac := f.seller.Facilitator()
	n0, settled0 := len(f.seller.ReceivedPayments()), fac.SettledTotal()

	// A call whose warm payment the seller refused with the new terms,
	// which the budget then cannot hold, is refused over budget with its
	// outcome unknown: the refused warm authorization left the process and
	// counts until reconciliation proves it unused. Any other refusal signs
	// nothing and is not charged.
	var warmRefused atomic.Int64
	paid, refused := payConcurrently(t, n, func() (*payments.Result, error) {
		res, err := f.client.Do(context.Background(), get(t, f.url+"/v2/weather/paris"), weatherLim)
		if pe, ok := payments.AsError(err); ok && pe.Code == payments.CodeOverBudget && pe.Charged == payments.ChargeUnknown &&
			pe.Receipt != nil && pe.Receipt.State == string(payments.StateRejected) && pe.Receipt.Amount == 1000 {
			warmRefused.Add(1)
			return nil, &payments.Error{Code: payments.CodeOverBudget, Charged: payments.NotCharged}
		}
		return res, err
	})
	got := f.seller.ReceivedPayments()[n0:]
	var old, fresh int64
	for _, r := range got {
		switch v := evm.MustPayload(r.Payload.Payload).Authorization.Value; v {
		case "1000":
			old++
		case newPrice.Atomic():
			fresh++
		default:
			t.Errorf("an authorization of %s", v)
		}
	}
	if old > 1 {
		t.Fatalf("%d authorizations at the old price reached the seller; the warm path promises at most one per entry per cooldown", old)
	}
	if w := warmRefused.Load(); w > old {
		t.Fatalf("%d calls report a refused warm payment, but %d reached the seller", w, old)
	}
	if paid != 10 || refused != n-10 || fresh != paid {
		t.Fatalf("paid %d, refused %d, %d authorizations at the new price; want 10, %d, 10 (a refused call signs nothing)", paid, refused, fresh, n-10)
	}
	if moved := fac.SettledTotal() - settled0; moved != 10*newPrice {
		t.Fatalf("%d moved, want %d", moved, 10*newPrice)
	}
	if s := summary(t, f.ledger); s.Counted() > budget || s.Settled != 1000+10*newPrice || s.Pending != payments.Amount(old)*1000 {
		t.Fatalf("ledger %+v over the %d budget, or not what moved and what is held", s, budget)
	}
	if st := f.client.Warm.Stats(); st.Hits != old || st.Fallbacks != old {
		t.Fatalf("stats %+v, want %d warm payment(s), each a fallback", st, old)
	}
}

func values(rs []localseller.Received) []string {
	var out []string
	for _, r := range rs {
		if r.Payload == nil {
			out = append(out, "(undecodable)")
			continue
		}
		out = append(out, evm.MustPayload(r.Payload.Payload).Authorization.Value)
	}
	return out
}

func hashOf(t *testing.T, nonce string) common.Hash {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(nonce, "0x"))
	if err != nil || len(b) != 32 {
		t.Fatalf("nonce %q", nonce)
	}
	return common.BytesToHash(b)
}

// warmUp makes one paid call to the weather route (1000 atomic).
func (f *warmFixture) warmUp(t *testing.T, lim payments.Limit) {
	t.Helper()
	res, err, _, _ := f.call(t, "/v2/weather/paris", lim)
	mustPaid(t, res, err, 1000)
}

func rowStates(rows []ledger.Row) string {
	s := make([]string, len(rows))
	for i, r := range rows {
		s[i] = string(r.State)
	}
	return strings.Join(s, ",")
}
