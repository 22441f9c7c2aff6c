package localseller

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/x402-mcp/x402-mcp/payments"
)

func mustDo(t *testing.T, c *payments.Client, method, url string, body []byte, lim payments.Limit) *payments.Result {
	t.Helper()
	res, err := clientDo(t, context.Background(), c, method, url, body, lim)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return res
}

func clientDo(t *testing.T, ctx context.Context, c *payments.Client, method, url string, body []byte, lim payments.Limit) (*payments.Result, error) {
	t.Helper()
	var req *http.Request
	var err error
	if body != nil {
		req, err = http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req, err = http.NewRequestWithContext(ctx, method, url, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(ctx, req, lim)
}

func wantError(t *testing.T, err error, code payments.Code) *payments.Error {
	t.Helper()
	pe, ok := payments.AsError(err)
	if !ok || pe.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
	return pe
}

// assertPaid checks a settled payment of price for route, with a receipt.
func assertPaid(t *testing.T, run *Running, res *payments.Result, route string, price payments.Amount) {
	t.Helper()
	if res.Charged != payments.Charged || res.Receipt == nil || res.Receipt.State != "settled" {
		t.Fatalf("charged %q, receipt %+v", res.Charged, res.Receipt)
	}
	if res.Receipt.Amount != price || !txHashRE.MatchString(res.Receipt.Transaction) || res.Receipt.Payer != anvilAddr0.Hex() {
		t.Fatalf("receipt %+v", res.Receipt)
	}
	if got := run.Facilitator.Balance(DefaultPayTo); got != price {
		t.Fatalf("payee balance %s, want %s", got.USDC(), price.USDC())
	}
	if got := run.Facilitator.Balance(anvilAddr0); got != 1_000_000-price {
		t.Fatalf("payer balance %s, want %s", got.USDC(), (1_000_000 - price).USDC())
	}
	if n := run.Seller.PaidCount(route); n != 1 {
		t.Fatalf("PaidCount(%s) = %d", route, n)
	}
}

func TestClientPaysV2Weather(t *testing.T) {
	run := start(t, Config{})
	c := newClient(t)
	res := mustDo(t, c, "GET", run.URL+"/v2/weather/Paris?units=imperial", nil, payments.Limit{Tool: "weather"})
	if res.Status != 200 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	assertPaid(t, run, res, RouteWeather, 1000)
	var w Weather
	if err := json.Unmarshal(res.Body, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(w, WeatherFor("Paris", "imperial")) || w.Current.TempF == nil || w.Source != Source {
		t.Fatalf("body %s", res.Body)
	}
	sr := receiptOf(t, res.Header)
	if sr == nil || !sr.Success || res.Header.Get(x402.HeaderPaymentResponse) == "" || sr.Transaction != res.Receipt.Transaction {
		t.Fatalf("PAYMENT-RESPONSE %+v", sr)
	}
	got := run.Seller.ReceivedPayments()
	if len(got) != 1 || got[0].Header != x402.HeaderPaymentSignature || got[0].Payload == nil || got[0].Payload.X402Version != 2 {
		t.Fatalf("received %+v", got)
	}
	if run.Seller.PaymentHeadersSeen() != 1 || run.Facilitator.SettledCount() != 1 {
		t.Fatalf("headers %d, settled %d", run.Seller.PaymentHeadersSeen(), run.Facilitator.SettledCount())
	}
}

func TestClientPaysV1Quote(t *testing.T) {
	run := start(t, Config{})
	res := mustDo(t, newClient(t), "GET", run.URL+"/v1/quote?symbol=abc", nil, payments.Limit{Tool: "quote"})
	if res.Status != 200 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	assertPaid(t, run, res, RouteQuote, 2000)
	if res.Receipt.X402Version != 1 || res.Header.Get(x402.HeaderXPaymentResponse) == "" || res.Header.Get(x402.HeaderPaymentResponse) != "" {
		t.Fatalf("v1 receipt: %+v %v", res.Receipt, res.Header)
	}
	var q Quote
	if err := json.Unmarshal(res.Body, &q); err != nil || q != QuoteFor("ABC") {
		t.Fatalf("body %s", res.Body)
	}
	rp := run.Seller.ReceivedPayments()
	if len(rp) != 1 || rp[0].Header != x402.HeaderXPayment || rp[0].Payload.Network != "base-sepolia" {
		t.Fatalf("received %+v", rp)
	}
}

func TestClientPaysSummarizeTextImage(t *testing.T) {
	run := start(t, Config{})
	c := newClient(t)
	res := mustDo(t, c, "POST", run.URL+"/v2/summarize", []byte(`{"text":"Payments settle locally. Nothing leaves the machine! Really."}`), payments.Limit{Tool: "summarize"})
	var s Summary
	if err := json.Unmarshal(res.Body, &s); err != nil || res.Status != 200 || s.Summary != "Payments settle locally." || s.Words != 8 {
		t.Fatalf("summarize: %d %s", res.Status, res.Body)
	}
	assertPaid(t, run, res, RouteSummarize, 10_000)

	res = mustDo(t, c, "GET", run.URL+"/v2/text", nil, payments.Limit{Tool: "text"})
	if res.Status != 200 || string(res.Body) != TextBody || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") || res.Charged != payments.Charged {
		t.Fatalf("text: %d %q %v", res.Status, res.Body, res.Header)
	}
	res = mustDo(t, c, "GET", run.URL+"/v2/image", nil, payments.Limit{Tool: "image"})
	if res.Status != 200 || res.Header.Get("Content-Type") != "image/png" || res.Charged != payments.Charged {
		t.Fatalf("image: %d %v", res.Status, res.Header)
	}
	img, err := png.Decode(bytes.NewReader(res.Body))
	if err != nil || img.Bounds().Dx() != 16 {
		t.Fatalf("image is not a 16x16 PNG: %v", err)
	}
	if got := run.Facilitator.Balance(DefaultPayTo); got != 12_000 {
		t.Fatalf("payee got %s, want 0.012", got.USDC())
	}
	if run.Seller.PaidCount(RouteText) != 1 || run.Seller.PaidCount(RouteImage) != 1 {
		t.Fatalf("paid counts %v", run.Seller.PaidCounts())
	}
}

func TestFreeRoutesAndBadInputCostNothing(t *testing.T) {
	run := start(t, Config{})
	c := newClient(t)
	for _, tc := range []struct {
		method, path string
		body         []byte
		status       int
	}{
		{"GET", "/free/ping", nil, 200},
		{"GET", "/", nil, 200},
		{"GET", "/v2/weather/Paris?units=kelvin", nil, 400},
		{"GET", "/v1/quote", nil, 400},
		{"POST", "/v2/summarize", []byte(`{"text":"  "}`), 400},
		{"POST", "/v2/summarize", []byte(`not json`), 400},
		{"GET", "/v2/misbehave/nonsense", nil, 404},
		{"GET", "/nowhere", nil, 404},
	} {
		res := mustDo(t, c, tc.method, run.URL+tc.path, tc.body, payments.Limit{Tool: "free"})
		if res.Status != tc.status || res.Charged != payments.NotCharged || res.Receipt != nil {
			t.Errorf("%s %s: %d %s, charged %q", tc.method, tc.path, res.Status, res.Body, res.Charged)
		}
	}
	if run.Seller.PaymentHeadersSeen() != 0 || run.Facilitator.SettledCount() != 0 {
		t.Fatalf("headers %d settled %d", run.Seller.PaymentHeadersSeen(), run.Facilitator.SettledCount())
	}
}

func TestV2ChallengeShape(t *testing.T) {
	run := start(t, Config{})
	a := do(t, "GET", run.URL+"/v2/weather/Oslo", nil, nil)
	if a.status != 402 || string(a.body) != "{}" {
		t.Fatalf("%d %s", a.status, a.body)
	}
	raw, err := base64.StdEncoding.DecodeString(a.header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	res := c["resource"].(map[string]any)
	acc := c["accepts"].([]any)[0].(map[string]any)
	want := map[string]any{
		"scheme": "exact", "network": "eip155:84532", "amount": "1000", "asset": BaseSepoliaUSDC.Hex(), "payTo": DefaultPayTo.Hex(),
		"maxTimeoutSeconds": 300.0, "extra": map[string]any{"name": "USDC", "version": "2"},
	}
	if c["x402Version"] != 2.0 || c["error"] != ErrV2PaymentRequired || res["url"] != run.URL+"/v2/weather/Oslo" || res["mimeType"] != "application/json" || !reflect.DeepEqual(acc, want) {
		t.Fatalf("challenge %s", raw)
	}
}

func TestV1ChallengeShape(t *testing.T) {
	run := start(t, Config{})
	a := do(t, "GET", run.URL+"/v1/quote?symbol=XYZ", nil, nil)
	if a.status != 402 || a.header.Get(x402.HeaderPaymentRequired) != "" {
		t.Fatalf("%d %v", a.status, a.header)
	}
	var c struct {
		X402Version int              `json:"x402Version"`
		Error       string           `json:"error"`
		Accepts     []map[string]any `json:"accepts"`
	}
	if err := json.Unmarshal(a.body, &c); err != nil || c.X402Version != 1 || c.Error != "X-PAYMENT header is required" || len(c.Accepts) != 1 {
		t.Fatalf("body %s", a.body)
	}
	acc := c.Accepts[0]
	for _, k := range []string{"scheme", "network", "maxAmountRequired", "resource", "description", "mimeType", "outputSchema", "payTo", "maxTimeoutSeconds", "asset", "extra"} {
		if _, ok := acc[k]; !ok {
			t.Errorf("v1 accept has no %s: %s", k, a.body)
		}
	}
	if acc["network"] != "base-sepolia" || acc["maxAmountRequired"] != "2000" || acc["resource"] != run.URL+"/v1/quote?symbol=XYZ" || acc["outputSchema"] == nil {
		t.Fatalf("v1 accept %v", acc)
	}
}

func TestSellerRejectsBadPayments(t *testing.T) {
	run := start(t, Config{})
	url := run.URL + "/v2/text"
	pr := challengeOf(t, "GET", url, nil)
	w := mustWallet(t, anvilKey0)

	check := func(name string, p *x402.PaymentPayload, wantErr string) {
		t.Helper()
		a := do(t, "GET", url, nil, p)
		got, err := x402.ParseChallenge(a.header, a.body)
		if a.status != 402 || err != nil || got.Error != wantErr {
			t.Errorf("%s: %d error %q, want 402 %q", name, a.status, got.Error, wantErr)
		}
	}
	p := payloadFor(t, pr, 0, w, nil)
	p.Accepted = json.RawMessage(strings.Replace(string(p.Accepted), `"amount":"1000"`, `"amount":"1"`, 1))
	check("accepted changed", p, ErrNoMatchingAccept)
	check("wrong signer", payloadFor(t, pr, 0, mustWallet(t, anvilKey1), func(a *evm.Authorization) { a.From = w.Address() }), ReasonSignature)
	check("unfunded payer", payloadFor(t, pr, 0, mustWallet(t, anvilKey1), nil), ReasonInsufficientBalance)
	p = payloadFor(t, pr, 0, w, nil)
	p.X402Version = 1
	v1, err := x402.EncodeHeaderJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	a := doHeader(t, "GET", url, nil, x402.HeaderPaymentSignature, v1)
	if got, _ := x402.ParseChallenge(a.header, a.body); a.status != 402 || got.Error != ReasonInvalidVersion {
		t.Errorf("v1 payload on v2: %d %+v", a.status, got)
	}

	a = doHeader(t, "GET", url, nil, x402.HeaderPaymentSignature, "!!!")
	if got, _ := x402.ParseChallenge(a.header, a.body); a.status != 402 || got.Error != ReasonInvalidPayload {
		t.Errorf("garbage header: %d %+v", a.status, got)
	}
	// A v1 payment header on a v2 route is not read.
	a = doHeader(t, "GET", url, nil, x402.HeaderXPayment, "e30=")
	if got, _ := x402.ParseChallenge(a.header, a.body); a.status != 402 || got.Error != ErrV2PaymentRequired {
		t.Errorf("X-PAYMENT on v2: %d %+v", a.status, got)
	}
	if run.Facilitator.SettledCount() != 0 || run.Seller.PaymentHeadersSeen() != 6 {
		t.Fatalf("settled %d, headers %d", run.Facilitator.SettledCount(), run.Seller.PaymentHeadersSeen())
	}

	// Through the client: the rejection names the reason and nothing moved.
	c := newClient(t)
	c.Signers = payments.Signers{mustWallet(t, anvilKey1)}
	_, err = clientDo(t, context.Background(), c, "GET", url, nil, payments.Limit{Tool: "text"})
	pe := wantError(t, err, payments.CodePaymentRejected)
	if !strings.Contains(pe.Message, ReasonInsufficientBalance) {
		t.Fatalf("message %q", pe.Message)
	}
}

func TestV1PaymentManually(t *testing.T) {
	run := start(t, Config{})
	url := run.URL + "/v1/quote?symbol=XYZ"
	pr := challengeOf(t, "GET", url, nil)
	w := mustWallet(t, anvilKey0)
	p := payloadFor(t, pr, 0, w, func(a *evm.Authorization) { a.Value.SetInt64(1999) })
	a := do(t, "GET", url, nil, p)
	got, err := x402.ParseChallenge(a.header, a.body)
	if a.status != 402 || err != nil || got.Error != ReasonValueMismatch {
		t.Fatalf("underpaid v1: %d %s", a.status, a.body)
	}
	p = payloadFor(t, pr, 0, w, nil)
	a = do(t, "GET", url, nil, p)
	sr := receiptOf(t, a.header)
	if a.status != 200 || sr == nil || !sr.Success || a.header.Get(x402.HeaderXPaymentResponse) == "" {
		t.Fatalf("v1 payment: %d %s %v", a.status, a.body, a.header)
	}
	// Replaying the same X-PAYMENT is refused: the nonce is spent.
	a = do(t, "GET", url, nil, p)
	if got, _ := x402.ParseChallenge(a.header, a.body); a.status != 402 || got.Error != ReasonNonceUsed {
		t.Fatalf("replay: %d %s", a.status, a.body)
	}
	if run.Facilitator.Balance(DefaultPayTo) != 2000 {
		t.Fatalf("payee %s", run.Facilitator.Balance(DefaultPayTo).USDC())
	}
}

func TestSettleFailureWithholdsBody(t *testing.T) {
	fac := NewFacilitator(FacilitatorConfig{})
	s := New(Config{Facilitator: fac})
	w := mustWallet(t, anvilKey0)
	// Between verify and settle the payer's money goes elsewhere.
	s.beforeSettle = func() {
		fac.mu.Lock()
		fac.balances[w.Address()] = 0
		fac.mu.Unlock()
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	fac.Fund(w.Address(), 1_000_000)

	url := srv.URL + "/v2/weather/Rome"
	pr := challengeOf(t, "GET", url, nil)
	a := do(t, "GET", url, nil, payloadFor(t, pr, 0, w, nil))
	sr := receiptOf(t, a.header)
	got, err := x402.ParseChallenge(a.header, a.body)
	if a.status != 402 || string(a.body) != "{}" || err != nil || got.Error != ReasonInsufficientBalance ||
		sr == nil || sr.Success || sr.ErrorReason != ReasonInsufficientBalance {
		t.Fatalf("settle failure: %d %s %+v %+v", a.status, a.body, got, sr)
	}
	if fac.SettledCount() != 0 || s.PaidCount(RouteWeather) != 0 {
		t.Fatal("a failed settlement was counted")
	}

	fac.Fund(w.Address(), 1_000_000)
	_, err = clientDo(t, context.Background(), newClient(t), "GET", url, nil, payments.Limit{Tool: "weather"})
	pe := wantError(t, err, payments.CodePaymentRejected)
	if !strings.Contains(pe.Message, ReasonInsufficientBalance) {
		t.Fatalf("message %q", pe.Message)
	}
}

func TestIdempotent(t *testing.T) {
	run := start(t, Config{})
	url := run.URL + "/v2/idempotent"
	pr := challengeOf(t, "GET", url, nil)
	if ext := pr.Extensions[x402.ExtPaymentIdentifier]; !bytes.Contains(ext, []byte(`"info":{"required":true}`)) || !bytes.Contains(ext, []byte(`"schema":`)) {
		t.Fatalf("extension %s", ext)
	}

	const id = "call_0123456789abcdef"
	res := mustDo(t, newClient(t), "GET", url, nil, payments.Limit{Tool: "idem", CallID: id})
	if res.Status != 200 || res.Charged != payments.Charged || !bytes.Contains(res.Body, []byte(id)) {
		t.Fatalf("paid call: %d %s", res.Status, res.Body)
	}
	if ids := run.Seller.PaymentIDs(); !reflect.DeepEqual(ids, []string{id}) {
		t.Fatalf("ids %v", ids)
	}
	// The same payment again: the same answer, not settled twice.
	first := run.Seller.ReceivedPayments()[0]
	a := doHeader(t, "GET", url, nil, first.Header, first.Value)
	if a.status != 200 || !bytes.Equal(a.body, res.Body) || a.header.Get(x402.HeaderPaymentResponse) != res.Header.Get(x402.HeaderPaymentResponse) {
		t.Fatalf("replay: %d %s", a.status, a.body)
	}
	if run.Facilitator.SettledCount() != 1 || run.Facilitator.Balance(DefaultPayTo) != 1000 || run.Seller.PaidCount(RouteIdempotent) != 1 {
		t.Fatalf("settled %d times", run.Facilitator.SettledCount())
	}

	// The same id with another payment: 409.
	w := mustWallet(t, anvilKey0)
	p := payloadFor(t, pr, 0, w, nil)
	p.Extensions = map[string]json.RawMessage{x402.ExtPaymentIdentifier: json.RawMessage(`{"info":{"required":true,"id":"` + id + `"}}`)}
	if a := do(t, "GET", url, nil, p); a.status != http.StatusConflict {
		t.Fatalf("same id, other payment: %d %s", a.status, a.body)
	}
	// No id, or a malformed one: 400.
	for _, ext := range []map[string]json.RawMessage{
		nil,
		{x402.ExtPaymentIdentifier: json.RawMessage(`{"info":{"required":true}}`)},
		{x402.ExtPaymentIdentifier: json.RawMessage(`{"info":{"required":true,"id":"short"}}`)},
	} {
		p := payloadFor(t, pr, 0, w, nil)
		p.Extensions = ext
		if a := do(t, "GET", url, nil, p); a.status != http.StatusBadRequest {
			t.Fatalf("extension %v: %d %s", ext, a.status, a.body)
		}
	}
	// A fresh id pays again.
	p = payloadFor(t, pr, 0, w, nil)
	p.Extensions = map[string]json.RawMessage{x402.ExtPaymentIdentifier: json.RawMessage(`{"info":{"required":true,"id":"another_id_0123456789"}}`)}
	if a := do(t, "GET", url, nil, p); a.status != 200 {
		t.Fatalf("fresh id: %d %s", a.status, a.body)
	}
	if run.Facilitator.SettledCount() != 2 || len(run.Seller.PaymentIDs()) != 4 {
		t.Fatalf("settled %d, ids %v", run.Facilitator.SettledCount(), run.Seller.PaymentIDs())
	}
}

func TestMisbehaviour(t *testing.T) {
	tests := []struct {
		mode    string
		code    payments.Code // expected error, or "" for a result
		status  int
		charged payments.Charge
		state   string
		moved   payments.Amount // to DefaultPayTo
		headers int             // payment headers the seller saw
		check   func(t *testing.T, run *Running, res *payments.Result)
	}{
		{mode: ModePriceHigh, code: payments.CodePriceAboveCap},
		{mode: ModeUnknownNetwork, code: payments.CodeNotAllowed},
		{mode: ModeBadBase64, code: payments.CodeBadChallenge},
		{mode: ModeBadJSON, code: payments.CodeBadChallenge},
		// The seller refused a payment it received: not proven unused.
		{mode: ModeSecond402, code: payments.CodePaymentRejected, charged: payments.ChargeUnknown, headers: 1},
		{mode: ModeSwitchedPayee, status: 200, charged: payments.Charged, state: "settled", headers: 1,
			check: func(t *testing.T, run *Running, res *payments.Result) {
				if run.Facilitator.Balance(SwitchedPayTo) != 1000 || res.Receipt.PayTo != SwitchedPayTo.Hex() {
					t.Fatalf("switched payee got %s", run.Facilitator.Balance(SwitchedPayTo).USDC())
				}
			}},
		{mode: ModeMultiAccept, status: 200, charged: payments.Charged, state: "settled", moved: 1000, headers: 1,
			check: func(t *testing.T, run *Running, res *payments.Result) {
				if res.Receipt.Amount != 1000 {
					t.Fatalf("paid %s, want the cheapest 0.001", res.Receipt.Amount.USDC())
				}
			}},
		{mode: ModeErrorAfterSettle, status: 500, charged: payments.Charged, state: "settled", moved: 1000, headers: 1},
		{mode: ModeErrorNoReceipt, status: 502, charged: payments.ChargeUnknown, state: "unknown", moved: 1000, headers: 1},
		{mode: ModeHugeBody, status: 200, charged: payments.Charged, state: "settled", moved: 1000, headers: 1,
			check: func(t *testing.T, run *Running, res *payments.Result) {
				if !res.Truncated || len(res.Body) != payments.DefaultMaxBody {
					t.Fatalf("body %d bytes, truncated %v", len(res.Body), res.Truncated)
				}
			}},
		{mode: ModePending, status: 200, charged: payments.Charged, state: "pending", moved: 1000, headers: 1,
			check: func(t *testing.T, run *Running, res *payments.Result) {
				sr := receiptOf(t, res.Header)
				if sr.Success || sr.ErrorReason != x402.ReasonSettlementPending || !txHashRE.MatchString(res.Receipt.Transaction) {
					t.Fatalf("pending receipt %+v", sr)
				}
			}},
		{mode: ModeNoReceipt, status: 200, charged: payments.Charged, state: "unconfirmed", moved: 1000, headers: 1},
		// Settled, then "refused": the client cannot know, and must not say
		// not charged.
		{mode: ModeSettleThen402, code: payments.CodePaymentRejected, charged: payments.ChargeUnknown, moved: 1000, headers: 1},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			run := start(t, Config{})
			res, err := clientDo(t, context.Background(), newClient(t), "GET", run.URL+"/v2/misbehave/"+tt.mode, nil, payments.Limit{Tool: tt.mode})
			if tt.code != "" {
				want := tt.charged
				if want == "" {
					want = payments.NotCharged
				}
				if pe := wantError(t, err, tt.code); pe.Charged != want {
					t.Fatalf("charged %q, want %q", pe.Charged, want)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != tt.status || res.Charged != tt.charged || res.Receipt == nil || res.Receipt.State != tt.state {
					t.Fatalf("status %d charged %q receipt %+v", res.Status, res.Charged, res.Receipt)
				}
			}
			if got := run.Facilitator.Balance(DefaultPayTo); got != tt.moved {
				t.Errorf("payee balance %s, want %s", got.USDC(), tt.moved.USDC())
			}
			if got := run.Seller.PaymentHeadersSeen(); got != tt.headers {
				t.Errorf("payment headers seen %d, want %d", got, tt.headers)
			}
			wantPaid := 0
			if tt.moved != 0 || tt.state == "settled" {
				wantPaid = 1
			}
			if got := run.Seller.PaidCount(MisbehaveRoute(tt.mode)); got != wantPaid {
				t.Errorf("paid count %d, want %d", got, wantPaid)
			}
			if tt.check != nil {
				tt.check(t, run, res)
			}
		})
	}
}

func TestMisbehaveMultiAcceptOffers(t *testing.T) {
	run := start(t, Config{})
	pr := challengeOf(t, "GET", run.URL+"/v2/misbehave/multi_accept", nil)
	if len(pr.Accepts) != 3 || pr.Accepts[0].Scheme == "exact" || pr.Accepts[1].Amount != "50000" || pr.Accepts[2].Amount != "1000" {
		t.Fatalf("accepts %+v", pr.Accepts)
	}
	pr = challengeOf(t, "GET", run.URL+"/v2/misbehave/price_high", nil)
	if pr.Accepts[0].Amount != "5000000" {
		t.Fatalf("price_high asks %s", pr.Accepts[0].Amount)
	}
}

func TestSlowBody(t *testing.T) {
	run := start(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	res, err := clientDo(t, ctx, newClient(t), "GET", run.URL+"/v2/misbehave/slow_body", nil, payments.Limit{Tool: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || res.Charged != payments.Charged || res.BodyErr == nil || !bytes.HasPrefix(res.Body, []byte("tick\n")) {
		t.Fatalf("status %d charged %q bodyErr %v body %q", res.Status, res.Charged, res.BodyErr, res.Body)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	// Close must not wait for the 60-second body.
	done := make(chan error, 1)
	go func() { done <- run.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on a slow body")
	}
}

func TestDelay(t *testing.T) {
	run := start(t, Config{Delay: 3 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := clientDo(t, ctx, newClient(t), "GET", run.URL+"/free/ping", nil, payments.Limit{Tool: "ping"})
	wantError(t, err, payments.CodeUpstreamTimeout)
}

func TestFacilitatorMountedOnSeller(t *testing.T) {
	run := start(t, Config{})
	a := do(t, "GET", run.URL+"/facilitator/supported", nil, nil)
	if a.status != 200 || !bytes.Contains(a.body, []byte(`"eip155:84532"`)) {
		t.Fatalf("%d %s", a.status, a.body)
	}
	a = do(t, "GET", run.URL+"/", nil, nil)
	if a.status != 200 || !bytes.Contains(a.body, []byte(`"/v2/weather/{city}?units=metric|imperial"`)) || !bytes.Contains(a.body, []byte(`"price":"0.001"`)) {
		t.Fatalf("index %d %s", a.status, a.body)
	}
}

func TestConfigPricesAndPayee(t *testing.T) {
	payee := SwitchedPayTo
	run := start(t, Config{PayTo: payee, Prices: Prices{Weather: 5000}, MaxTimeoutSeconds: 60})
	pr := challengeOf(t, "GET", run.URL+"/v2/weather/Lima", nil)
	if rq := pr.Accepts[0]; rq.Amount != "5000" || rq.PayTo != payee.Hex() || rq.MaxTimeoutSeconds != 60 {
		t.Fatalf("accept %+v", rq)
	}
	if run.Seller.Prices().Summarize != DefaultPrices.Summarize {
		t.Fatal("unset price lost its default")
	}
	var seen []Received
	s := New(Config{OnPayment: func(r Received) { seen = append(seen, r) }})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	doHeader(t, "GET", srv.URL+"/free/ping", nil, x402.HeaderPaymentSignature, "eyJ4NDAyVmVyc2lvbiI6MiwicGF5bG9hZCI6e319")
	if len(seen) != 1 || seen[0].Path != "/free/ping" || seen[0].Payload == nil {
		t.Fatalf("OnPayment saw %+v", seen)
	}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in, summary string
		words       int
	}{
		{"One. Two.", "One.", 2},
		{"No end", "No end", 2},
		{"v1.2 is out! Yes", "v1.2 is out!", 4},
		{"  Spaces\n\tand lines?\nNext", "Spaces and lines?", 4},
	} {
		if got := Summarize(tc.in); got.Summary != tc.summary || got.Words != tc.words {
			t.Errorf("Summarize(%q) = %+v", tc.in, got)
		}
	}
	// The city is echoed as given; the weather ignores case and spacing.
	if WeatherFor("Paris", "metric").Current != WeatherFor(" paris ", "metric").Current {
		t.Error("weather depends on case or spacing")
	}
}
