package payments_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/rawhttp"
	"github.com/x402-mcp/x402-mcp/payments"
)

const testKey = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

type fixture struct {
	seller *localseller.Seller
	url    string
	client *payments.Client
	wallet *wallet.EVMKey
}

func newFixture(t *testing.T, budget payments.Amount) *fixture {
	t.Helper()
	s := localseller.New(localseller.Config{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	w, err := wallet.ParseHexKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	s.Facilitator().Fund(w.Address(), 100_000_000)
	pol := payments.Policy{Networks: []payments.Network{"eip155:84532"}, PerCall: 100_000, Budget: payments.Budget{Total: budget}}
	c := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: payments.NewMemoryLedger(pol.Budget, nil)}
	return &fixture{seller: s, url: srv.URL, client: c, wallet: w}
}

func get(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestPaidCallV2AndV1(t *testing.T) {
	for _, tt := range []struct {
		path    string
		version int
		price   payments.Amount
	}{{"/v2/weather/paris", 2, 1000}, {"/v1/quote?symbol=ACME", 1, 2000}} {
		t.Run(tt.path, func(t *testing.T) {
			f := newFixture(t, 1_000_000)
			fac := f.seller.Facilitator()
			before := fac.Balance(f.seller.PayTo())
			res, err := f.client.Do(context.Background(), get(t, f.url+tt.path), payments.Limit{Tool: "t", MaxPrice: 10_000})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != 200 || res.Charged != payments.Charged || res.Receipt == nil {
				t.Fatalf("status %d charged %s receipt %+v", res.Status, res.Charged, res.Receipt)
			}
			rc := res.Receipt
			if rc.Amount != tt.price || rc.X402Version != tt.version || rc.Transaction == "" || rc.State != "settled" ||
				rc.Payer != f.wallet.Address().Hex() || rc.Network != "eip155:84532" {
				t.Fatalf("receipt %+v", rc)
			}
			if got := fac.Balance(f.seller.PayTo()) - before; got != tt.price {
				t.Fatalf("payee balance moved by %d, want %d", got, tt.price)
			}
			sum, _ := f.client.Ledger.Summary(context.Background())
			if sum.Settled != tt.price || sum.Pending != 0 {
				t.Fatalf("ledger %+v", sum)
			}
		})
	}
}

// TestBudgetHoldsUnderConcurrency: 100 parallel paid calls at a budget that
// covers exactly 10 put exactly 10 payments through to the seller.
func TestBudgetHoldsUnderConcurrency(t *testing.T) {
	f := newFixture(t, 10*1000)
	paid, refused := payConcurrently(t, 100, func() (*payments.Result, error) {
		return f.client.Do(context.Background(), get(t, f.url+"/v2/weather/oslo"), payments.Limit{Tool: "weather", MaxPrice: 1000})
	})
	if paid != 10 || refused != 90 {
		t.Fatalf("paid %d refused %d, want 10 and 90", paid, refused)
	}
	if n := f.seller.Facilitator().SettledCount(); n != 10 {
		t.Fatalf("seller settled %d payments, want 10", n)
	}
	if n := f.seller.PaymentHeadersSeen(); n != 10 {
		t.Fatalf("seller saw %d payment headers, want 10", n)
	}
}

// payConcurrently runs n calls of do at once and counts the paid ones and
// the ones refused over budget, not charged; any other outcome fails t.
func payConcurrently(t *testing.T, n int, do func() (*payments.Result, error)) (paid, refused int64) {
	t.Helper()
	var p, r atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := do()
			if err == nil && res.Charged == payments.Charged {
				p.Add(1)
				return
			}
			if pe, ok := payments.AsError(err); ok && pe.Code == payments.CodeOverBudget && pe.Charged == payments.NotCharged {
				r.Add(1)
				return
			}
			t.Errorf("unexpected outcome: %v %v", res, err)
		})
	}
	wg.Wait()
	return p.Load(), r.Load()
}

// TestRefusalsSignNothing: every refusal before signing leaves the seller
// without a payment header and the ledger without a charge.
func TestRefusalsSignNothing(t *testing.T) {
	tests := []struct {
		name string
		path string
		lim  payments.Limit
		code payments.Code
	}{
		{"price above max_price", "/v2/weather/paris", payments.Limit{Tool: "w", MaxPrice: 999}, payments.CodePriceAboveCap},
		{"price above cap", "/v2/misbehave/price_high", payments.Limit{Tool: "w"}, payments.CodePriceAboveCap},
		{"switched payee vs pin", "/v2/misbehave/switched_payee", payments.Limit{Tool: "w", PayTo: localseller.DefaultPayTo.Hex()}, payments.CodeNotAllowed},
		{"unknown network", "/v2/misbehave/unknown_network", payments.Limit{Tool: "w"}, payments.CodeNotAllowed},
		{"bad base64", "/v2/misbehave/bad_base64", payments.Limit{Tool: "w"}, payments.CodeBadChallenge},
		{"bad json", "/v2/misbehave/bad_json", payments.Limit{Tool: "w"}, payments.CodeBadChallenge},
		{"asset pin", "/v2/weather/paris", payments.Limit{Tool: "w", Asset: "0x0000000000000000000000000000000000000001"}, payments.CodeNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 1_000_000)
			_, err := f.client.Do(context.Background(), get(t, f.url+tt.path), tt.lim)
			pe, ok := payments.AsError(err)
			if !ok || pe.Code != tt.code || pe.Charged != payments.NotCharged {
				t.Fatalf("err = %v, want %s not charged", err, tt.code)
			}
			if n := f.seller.PaymentHeadersSeen(); n != 0 {
				t.Fatalf("seller saw %d payment headers", n)
			}
			if sum, _ := f.client.Ledger.Summary(context.Background()); sum.Counted() != 0 {
				t.Fatalf("ledger counted %d", sum.Counted())
			}
		})
	}
}

// TestMisbehaviourAfterPayment: what happens to the money when the seller
// misbehaves after a valid payment.
func TestMisbehaviourAfterPayment(t *testing.T) {
	tests := []struct {
		mode      string
		status    int
		charged   payments.Charge
		code      payments.Code // when Do returns an error
		settled   int           // settlements at the facilitator
		truncated bool
		headers   int // payment headers the seller saw (default 1)
	}{
		// The seller had the signature when it refused: not proven unused.
		{mode: "second_402", code: payments.CodePaymentRejected, charged: payments.ChargeUnknown},
		{mode: "error_after_settle", status: 500, charged: payments.Charged, settled: 1},
		{mode: "error_no_receipt", status: 502, charged: payments.ChargeUnknown, settled: 1},
		{mode: "huge_body", status: 200, charged: payments.Charged, settled: 1, truncated: true},
		{mode: "pending", status: 200, charged: payments.Charged, settled: 1},
		{mode: "no_receipt", status: 200, charged: payments.Charged, settled: 1},
		{mode: "multi_accept", status: 200, charged: payments.Charged, settled: 1},
		// Settled, then the connection dropped: the resend of the same payment
		// is refused as a used nonce, which must not read as "not charged".
		{mode: "drop_after_settle", code: payments.CodeOutcomeUnknown, charged: payments.ChargeUnknown, settled: 1, headers: 2},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			f := newFixture(t, 1_000_000)
			f.client.MaxBody = 1 << 20
			res, err := f.client.Do(context.Background(), get(t, f.url+"/v2/misbehave/"+tt.mode), payments.Limit{Tool: "m", MaxPrice: 100_000})
			if tt.code != "" {
				pe, ok := payments.AsError(err)
				if !ok || pe.Code != tt.code || pe.Charged != tt.charged {
					t.Fatalf("err = %v, want %s %s", err, tt.code, tt.charged)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != tt.status || res.Charged != tt.charged || res.Receipt == nil || res.Truncated != tt.truncated {
					t.Fatalf("status %d charged %s receipt %v truncated %v", res.Status, res.Charged, res.Receipt, res.Truncated)
				}
				if res.Receipt.Amount != 1000 {
					t.Fatalf("paid %s, want the cheapest 0.001", res.Receipt.Amount.USDC())
				}
			}
			want := max(tt.headers, 1)
			if n := f.seller.PaymentHeadersSeen(); n != want {
				t.Fatalf("seller saw %d payment headers, want exactly %d", n, want)
			}
			if got := distinctPayments(f.seller.ReceivedPayments()); got != 1 {
				t.Fatalf("%d distinct signed payments reached the seller, want 1", got)
			}
			if n := f.seller.Facilitator().SettledCount(); n != tt.settled {
				t.Fatalf("settled %d, want %d", n, tt.settled)
			}
			// Whatever happened, the amount stays counted: it was signed.
			if sum, _ := f.client.Ledger.Summary(context.Background()); sum.Counted() != 1000 {
				t.Fatalf("ledger counts %d, want 1000", sum.Counted())
			}
		})
	}
}

func TestSlowBodyAfterPaymentKeepsReceipt(t *testing.T) {
	f := newFixture(t, 1_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	res, err := f.client.Do(ctx, get(t, f.url+"/v2/misbehave/slow_body"), payments.Limit{Tool: "m", MaxPrice: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Charged != payments.Charged || res.Receipt == nil || res.BodyErr == nil {
		t.Fatalf("charged %s receipt %v bodyErr %v", res.Charged, res.Receipt, res.BodyErr)
	}
}

// flakySeller drops the connection of the first paid requests, then serves.
// It is a hand-written seller because the local one cannot fail at the
// transport level; payments are still verified by the real facilitator.
func TestTransportRetryResendsSamePayment(t *testing.T) {
	for _, tt := range []struct {
		name  string
		drops int
		ok    bool
	}{{"recovers", 1, true}, {"gives up", 100, false}} {
		t.Run(tt.name, func(t *testing.T) {
			s := localseller.New(localseller.Config{})
			var mu sync.Mutex
			var headers []string
			inner := s.Handler()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if h := r.Header.Get("PAYMENT-SIGNATURE"); h != "" {
					mu.Lock()
					headers = append(headers, h)
					drop := len(headers) <= tt.drops
					mu.Unlock()
					if drop {
						conn, _, _ := w.(http.Hijacker).Hijack()
						conn.Close()
						return
					}
				}
				inner.ServeHTTP(w, r)
			}))
			defer srv.Close()
			w, _ := wallet.ParseHexKey(testKey)
			s.Facilitator().Fund(w.Address(), 1_000_000)
			pol := payments.Policy{Networks: []payments.Network{"eip155:84532"}}
			c := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: payments.NewMemoryLedger(payments.Budget{Total: 1_000_000}, nil), PaidRetries: 2}
			body := []byte(`{"text":"One. Two."}`)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v2/summarize", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			res, err := c.Do(context.Background(), req, payments.Limit{Tool: "s"})
			mu.Lock()
			defer mu.Unlock()
			for _, h := range headers[1:] {
				if h != headers[0] {
					t.Fatal("a resend carried a different payment: a second signature")
				}
			}
			if tt.ok {
				if err != nil || res.Charged != payments.Charged || len(headers) != 2 {
					t.Fatalf("res %v err %v headers %d", res, err, len(headers))
				}
				if s.Facilitator().SettledCount() != 1 {
					t.Fatal("not settled exactly once")
				}
				return
			}
			pe, ok := payments.AsError(err)
			if !ok || pe.Code != payments.CodeOutcomeUnknown || pe.Charged != payments.ChargeUnknown || !strings.Contains(pe.Message, "Do not retry") {
				t.Fatalf("err = %v", err)
			}
			if len(headers) != 3 {
				t.Fatalf("%d attempts, want 3 (1 + 2 resends)", len(headers))
			}
			if sum, _ := c.Ledger.Summary(context.Background()); sum.Pending != 10_000 {
				t.Fatalf("ambiguous payment not counted: %+v", sum)
			}
		})
	}
}

func TestPaymentIdentifierSent(t *testing.T) {
	f := newFixture(t, 1_000_000)
	id := "call_0123456789abcdef0123456789abcdef"
	res, err := f.client.Do(context.Background(), get(t, f.url+"/v2/idempotent"), payments.Limit{Tool: "i", CallID: id})
	if err != nil || res.Charged != payments.Charged {
		t.Fatalf("res %v err %v", res, err)
	}
	if ids := f.seller.PaymentIDs(); len(ids) != 1 || ids[0] != id {
		t.Fatalf("seller got payment ids %v, want [%s]", ids, id)
	}
}

func TestQuoteSignsNothing(t *testing.T) {
	f := newFixture(t, 1_000_000)
	q, err := f.client.Quote(context.Background(), get(t, f.url+"/v2/weather/rome"), payments.Limit{Tool: "w", MaxPrice: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if !q.WouldPay || q.Chosen == nil || q.Chosen.Amount != 1000 || q.X402Version != 2 {
		t.Fatalf("quote %+v", q)
	}
	q, _ = f.client.Quote(context.Background(), get(t, f.url+"/v2/weather/rome"), payments.Limit{Tool: "w", MaxPrice: 500})
	if q.WouldPay || !strings.Contains(q.Reason, "max_price") {
		t.Fatalf("quote over max_price %+v", q)
	}
	q, _ = f.client.Quote(context.Background(), get(t, f.url+"/free/ping"), payments.Limit{Tool: "p"})
	if !q.Free {
		t.Fatalf("free route quote %+v", q)
	}
	if n := f.seller.PaymentHeadersSeen(); n != 0 {
		t.Fatalf("quote sent %d payments", n)
	}
}

// TestQuoteOfManyOptions: a seller listing a thousand options, one of them
// payable, gets a quote of a few kilobytes: the option a call would pay
// and the first others, each field cut short, and the count offered. The
// quote listed every option, with every field as the seller wrote it.
func TestQuoteOfManyOptions(t *testing.T) {
	f := newFixture(t, 1_000_000)
	var accepts []string
	accepts = append(accepts, `{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"`+sepoliaUSDC+`","payTo":"`+strings.Repeat("p", 10_000)+`","maxTimeoutSeconds":60}`)
	for range 998 {
		accepts = append(accepts, `{"scheme":"deferred"}`)
	}
	accepts = append(accepts, accept("eip155:84532", "1000", sepoliaUSDC, sellerPayee, `{"name":"USDC","version":"2"}`))
	body := `{"x402Version":2,"accepts":[` + strings.Join(accepts, ",") + `]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("PAYMENT-REQUIRED", base64.StdEncoding.EncodeToString([]byte(body)))
		w.WriteHeader(http.StatusPaymentRequired)
	}))
	defer srv.Close()
	q, err := f.client.Quote(context.Background(), get(t, srv.URL+"/x"), payments.Limit{Tool: "w", MaxPrice: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if !q.WouldPay || q.Chosen == nil || q.Chosen.Index != 999 || q.Offered != 1000 {
		t.Fatalf("would pay %v, chosen %+v, offered %d", q.WouldPay, q.Chosen, q.Offered)
	}
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 4<<10 || len(q.Options) != payments.MaxQuoteOptions || q.Options[0].Index != 0 || q.Options[len(q.Options)-1].Index != 999 {
		t.Fatalf("quote of %d bytes, %d options", len(b), len(q.Options))
	}
	if p := q.Options[0].PayTo; len(p) > 100+len("…") || !strings.HasPrefix(p, "pppp") {
		t.Fatalf("payTo of %d bytes: %.120s", len(p), p)
	}
}

func TestUnreachableUpstreamNotCharged(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	f := newFixture(t, 1_000_000)
	_, err := f.client.Do(context.Background(), get(t, "http://"+addr+"/x"), payments.Limit{Tool: "w"})
	pe, ok := payments.AsError(err)
	if !ok || pe.Code != payments.CodeUpstreamFailed || pe.Charged != payments.NotCharged {
		t.Fatalf("err = %v", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal("wrong cause")
	}
}

func distinctPayments(rs []localseller.Received) int {
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.Value] = true
	}
	return len(seen)
}

// TestTransportErrorHidesURLSecrets: a secret expanded into a URL's query
// must not reach the model through a transport error.
func TestTransportErrorHidesURLSecrets(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	f := newFixture(t, 1_000_000)
	_, err := f.client.Do(context.Background(), get(t, "http://user:pw@"+addr+"/x?api_key=s3cr3t-value"), payments.Limit{Tool: "w"})
	pe, ok := payments.AsError(err)
	if !ok {
		t.Fatal(err)
	}
	if strings.Contains(pe.Message, "s3cr3t") || strings.Contains(pe.Message, "pw@") || !strings.Contains(pe.Message, addr) {
		t.Fatalf("message %q", pe.Message)
	}
}

// recordingLedger records what the client asks of the ledger.
type recordingLedger struct {
	payments.Ledger
	mu       sync.Mutex
	reserved []payments.Reservation
	signed   map[string]payments.Signed
}

func (l *recordingLedger) Reserve(ctx context.Context, r payments.Reservation) (string, error) {
	l.mu.Lock()
	l.reserved = append(l.reserved, r)
	l.mu.Unlock()
	return l.Ledger.Reserve(ctx, r)
}

func (l *recordingLedger) MarkSigned(ctx context.Context, id string, s payments.Signed) error {
	l.mu.Lock()
	if l.signed == nil {
		l.signed = map[string]payments.Signed{}
	}
	l.signed[id] = s
	l.mu.Unlock()
	return l.Ledger.MarkSigned(ctx, id, s)
}

// signedWith returns the signed record whose payload is v, if the ledger has it.
func (l *recordingLedger) signedWith(v string) (payments.Signed, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.signed {
		if s.Payload == v {
			return s, true
		}
	}
	return payments.Signed{}, false
}

// TestSignedRecordedBeforeSending: the ledger holds the signed record (the
// nonce and the exact header value) before the seller receives the payment,
// on every attempt, for v1 and v2.
func TestSignedRecordedBeforeSending(t *testing.T) {
	for _, tt := range []struct {
		path, header string
		version      int
		paymentID    bool
	}{
		{"/v2/weather/paris", x402.HeaderPaymentSignature, 2, false},
		{"/v1/quote?symbol=ACME", x402.HeaderXPayment, 1, false},
		{"/v2/idempotent", x402.HeaderPaymentSignature, 2, true},
	} {
		t.Run(tt.path, func(t *testing.T) {
			rec := &recordingLedger{Ledger: payments.NewMemoryLedger(payments.Budget{Total: 1_000_000}, nil)}
			var mu sync.Mutex
			var problems []string
			var arrived int
			s := localseller.New(localseller.Config{OnPayment: func(r localseller.Received) {
				mu.Lock()
				defer mu.Unlock()
				arrived++
				sg, ok := rec.signedWith(r.Value)
				switch {
				case !ok:
					problems = append(problems, "the payment arrived before the ledger recorded it")
				case sg.Header != r.Header:
					problems = append(problems, "header name "+sg.Header+" recorded, "+r.Header+" sent")
				case r.Payload == nil || sg.Proof.ID != evm.MustPayload(r.Payload.Payload).Authorization.Nonce:
					problems = append(problems, "the recorded nonce is not the one sent")
				}
			}})
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			w, _ := wallet.ParseHexKey(testKey)
			s.Facilitator().Fund(w.Address(), 1_000_000)
			c := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Ledger: rec,
				Policy: payments.Policy{Networks: []payments.Network{"eip155:84532"}}}
			start := time.Now()
			lim := payments.Limit{Tool: "t", CallID: "call_0123456789abcdef0123456789abcdef", Session: "sess-1", ToolBudget: 500_000}
			res, err := c.Do(context.Background(), get(t, srv.URL+tt.path), lim)
			if err != nil || res.Charged != payments.Charged {
				t.Fatalf("res %v err %v", res, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if arrived != 1 || len(problems) > 0 {
				t.Fatalf("%d payments arrived; %v", arrived, problems)
			}
			sg, _ := rec.signedWith(s.ReceivedPayments()[0].Value)
			if sg.Proof.Payer != w.Address().Hex() || sg.X402Version != tt.version || sg.Header != tt.header ||
				!sg.Proof.Deadline.After(start) || sg.Proof.Deadline.Nanosecond() != 0 || sg.Proof.ValidAfter.After(start) {
				t.Fatalf("signed record %+v", sg)
			}
			if got := sg.PaymentID; (got == lim.CallID) != tt.paymentID || !tt.paymentID && got != "" {
				t.Fatalf("payment id %q", got)
			}
			r := rec.reserved[0]
			host := strings.TrimPrefix(srv.URL, "http://")
			if r.Host != host || r.Session != "sess-1" || r.ToolBudget != 500_000 || r.CallID != lim.CallID || r.Tool != "t" {
				t.Fatalf("reservation %+v, want host %s", r, host)
			}
		})
	}
}

// TestCallIDGeneratedOnce: with no call id, the client makes one and uses it
// both as the ledger's idempotency key and as the payment identifier.
func TestCallIDGeneratedOnce(t *testing.T) {
	f := newFixture(t, 1_000_000)
	rec := &recordingLedger{Ledger: f.client.Ledger}
	f.client.Ledger = rec
	if _, err := f.client.Do(context.Background(), get(t, f.url+"/v2/idempotent"), payments.Limit{Tool: "i"}); err != nil {
		t.Fatal(err)
	}
	ids := f.seller.PaymentIDs()
	if len(rec.reserved) != 1 || len(ids) != 1 || rec.reserved[0].CallID == "" || rec.reserved[0].CallID != ids[0] {
		t.Fatalf("reserved %+v, seller got ids %v", rec.reserved, ids)
	}
}

// TestSessionBudgetThroughClient: a per-session budget refuses the call that
// would exceed it, before anything is signed, and names itself.
func TestSessionBudgetThroughClient(t *testing.T) {
	f := newFixture(t, 1_000_000)
	f.client.Ledger = payments.NewMemoryLedger(payments.Budget{PerSession: 1500}, nil)
	lim := payments.Limit{Tool: "w", MaxPrice: 1000, Session: "a"}
	if _, err := f.client.Do(context.Background(), get(t, f.url+"/v2/weather/oslo"), lim); err != nil {
		t.Fatal(err)
	}
	_, err := f.client.Do(context.Background(), get(t, f.url+"/v2/weather/oslo"), lim)
	pe, ok := payments.AsError(err)
	if !ok || pe.Code != payments.CodeOverBudget || pe.Over == nil || pe.Over.Scope != payments.ScopeSession ||
		!strings.Contains(pe.Message, "per-session budget") || !strings.Contains(pe.Message, "resets when this session ends") {
		t.Fatalf("err = %v", err)
	}
	if n := f.seller.PaymentHeadersSeen(); n != 1 {
		t.Fatalf("seller saw %d payments", n)
	}
	lim.Session = "" // the client's session
	f.client.Session = "b"
	if _, err := f.client.Do(context.Background(), get(t, f.url+"/v2/weather/oslo"), lim); err != nil {
		t.Fatalf("another session: %v", err)
	}
	q, err := f.client.Quote(context.Background(), get(t, f.url+"/v2/weather/oslo"), lim)
	if err != nil || q.WouldPay || !strings.Contains(q.Reason, "per-session budget") {
		t.Fatalf("quote %+v %v", q, err)
	}
}

// TestNewHTTPClientBoundsAnswers: the paying client reads no more than
// httplimit.MaxHeaderBytes of a seller's headers, and its errors quote
// little of a header line it cannot read (net/http alone reads 10 MB and
// quotes the line whole).
func TestNewHTTPClientBoundsAnswers(t *testing.T) {
	for name, answer := range map[string]string{
		"malformed line":  "HTTP/1.1 402 Payment Required\r\n" + strings.Repeat("x", 100<<10) + "\r\n\r\n",
		"1 MB of headers": "HTTP/1.1 402 Payment Required\r\nPayment-Required: " + strings.Repeat("x", 1<<20) + "\r\n\r\n",
	} {
		res, err := payments.NewHTTPClient().Get(rawhttp.Serve(t, answer))
		if err == nil {
			t.Fatalf("%s: read, status %d", name, res.StatusCode)
		}
		if len(err.Error()) > 1<<10 {
			t.Errorf("%s: error of %d bytes: %.200s", name, len(err.Error()), err)
		}
	}
}
