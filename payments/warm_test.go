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

	"github.com/ethereum/go-ethereum/common"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/payments/localseller"
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
		if v := r.Header.Get(payments.HeaderPaymentSignature) + r.Header.Get(payments.HeaderXPayment); v != "" {
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
				r.Header.Del(payments.HeaderPaymentSignature)
				r.Header.Del(payments.HeaderXPayment)
			}
		}
		f.seller.Handler().ServeHTTP(w, r)
	})
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	w, err := payments.ParseHexKey(testKey)
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
		HTTP: payments.NewHTTPClient(), Wallet: w, Policy: pol, Ledger: f.ledger, Now: f.clock.Now,
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
// (other URLs of its template included) take one HTTP request each, sign
// once, and move exactly the price; v1 sellers too.
func TestWarmPathOneRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name  string
		paths []string
		price payments.Amount
	}{
		{"v2", []string{"/v2/weather/paris", "/v2/weather/paris", "/v2/weather/oslo", "/v2/weather/lima?api_key=s3cret"}, 1000},
		{"v1", []string{"/v1/quote?symbol=ACME", "/v1/quote?symbol=ACME", "/v1/quote?symbol=ZZZ"}, 2000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newWarmFixture(t, 1_000_000, localseller.Config{})
			fac := f.seller.Facilitator()
			before := fac.Balance(f.seller.PayTo())
			for i, p := range tt.paths {
				res, err, reqs, paid := f.call(t, p, weatherLim)
				mustPaid(t, res, err, tt.price)
				wantReqs := int64(1)
				if i == 0 {
					wantReqs = 2 // cold: the unpaid request, then the paid one
				}
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
				p, err := payments.DecodePaymentHeader(last)
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
			if st := f.client.Warm.Stats(); st.Hits != int64(len(tt.paths)-1) || st.Fallbacks != 0 || st.Refusals != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestWarmPathTermsChanged: the seller reprices between two calls. The warm
// payment at the old price is refused with a 402 carrying the new terms;
// the call pays the new terms and the model sees one result. The refused
// authorization was never settled; it stays counted until it expires and
// then stops counting; the entry stays cold for the cooldown.
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
			wp, derr := payments.DecodePaymentHeader(warmHeader)
			if derr != nil {
				t.Fatal(derr)
			}
			if wp.Payload.Authorization.Value != "1000" {
				t.Fatalf("the warm payment signed %s, want the remembered 1000", wp.Payload.Authorization.Value)
			}
			if fac.NonceUsed(f.client.Wallet.Address(), hashOf(t, wp.Payload.Authorization.Nonce)) {
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
// warm authorization), the call fails not charged, with nothing signed
// after the warm payment.
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
// outcome is unknown and counted; nothing is signed again; no fallback.
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
		return f.client.Do(context.Background(), get(t, f.url+"/v2/weather/oslo"), weatherLim)
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
