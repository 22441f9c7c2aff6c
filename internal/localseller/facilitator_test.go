package localseller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/x402-mcp/x402-mcp/payments"
)

var testNow = time.Unix(1_800_000_000, 0)

// v2Requirement is a seller's accept as it arrives on the wire.
func v2Requirement(t testing.TB, payTo common.Address, amount string) x402.Requirement {
	t.Helper()
	raw := fmt.Sprintf(`{"scheme":"exact","network":"eip155:84532","amount":%q,"asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":%q,"maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}`,
		amount, payTo.Hex())
	var rq x402.Requirement
	if err := json.Unmarshal([]byte(raw), &rq); err != nil {
		t.Fatal(err)
	}
	rq.Raw = json.RawMessage(raw)
	return rq
}

func v1Requirement(t testing.TB, payTo common.Address, amount string) x402.Requirement {
	t.Helper()
	return x402.Requirement{
		Scheme: "exact", Network: "base-sepolia", MaxAmountRequired: amount, Asset: BaseSepoliaUSDC.Hex(),
		PayTo: payTo.Hex(), MaxTimeoutSeconds: 60, Extra: json.RawMessage(`{"name":"USDC","version":"2"}`),
		Resource: "http://x/v1/quote", MimeType: "application/json",
	}
}

type fixture struct {
	fac    *Facilitator
	payer  *wallet.EVMKey
	req    x402.Requirement
	price  payments.Amount
	payTo  common.Address
	funded payments.Amount
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{
		fac:    NewFacilitator(FacilitatorConfig{Now: func() time.Time { return testNow }}),
		payer:  mustWallet(t, anvilKey0),
		payTo:  DefaultPayTo,
		price:  10_000,
		funded: 1_000_000,
	}
	f.req = v2Requirement(t, f.payTo, f.price.Atomic())
	f.fac.Fund(f.payer.Address(), f.funded)
	return f
}

// payload signs a v2 payment for f.req; mod changes the authorization first.
func (f *fixture) payload(t *testing.T, signer *wallet.EVMKey, mod func(*evm.Authorization)) *x402.PaymentPayload {
	t.Helper()
	a := authFor(t, f.payer.Address(), f.req, testNow)
	if mod != nil {
		mod(&a)
	}
	return &x402.PaymentPayload{
		X402Version: 2,
		Accepted:    f.req.Raw,
		Payload:     evm.Payload{Signature: signWith(t, signer, f.fac.Domain(), a), Authorization: a.JSON()}.Raw(),
	}
}

func (f *fixture) assertUnmoved(t *testing.T) {
	t.Helper()
	if got := f.fac.Balance(f.payer.Address()); got != f.funded {
		t.Errorf("payer balance %s, want %s unchanged", got.USDC(), f.funded.USDC())
	}
	if got := f.fac.Balance(f.payTo); got != 0 {
		t.Errorf("payee balance %s, want 0", got.USDC())
	}
	if n := f.fac.SettledCount(); n != 0 {
		t.Errorf("settled %d payments, want 0", n)
	}
}

var txHashRE = regexp.MustCompile(`^0x[0-9a-f]{64}$`)

func TestFacilitatorSettlesValidPayment(t *testing.T) {
	f := newFixture(t)
	p := f.payload(t, f.payer, nil)
	ctx := context.Background()

	vr := f.fac.Verify(ctx, p, f.req)
	if !vr.IsValid || vr.Payer != anvilAddr0.Hex() {
		t.Fatalf("verify = %+v, want valid from %s", vr, anvilAddr0.Hex())
	}
	if f.fac.Balance(f.payer.Address()) != f.funded {
		t.Fatal("verify moved money")
	}
	sr := f.fac.Settle(ctx, p, f.req)
	if !sr.Success || sr.Network != "eip155:84532" || sr.Payer != anvilAddr0.Hex() || sr.Amount != "10000" {
		t.Fatalf("settle = %+v", sr)
	}
	a, _ := evm.ParseAuthorization(evm.MustPayload(p.Payload).Authorization)
	if want := crypto.Keccak256Hash(a.Nonce[:], anvilAddr0[:]).Hex(); sr.Transaction != want || !txHashRE.MatchString(sr.Transaction) {
		t.Fatalf("transaction %q, want keccak(nonce‖payer) %q", sr.Transaction, want)
	}
	if got := f.fac.Balance(f.payer.Address()); got != f.funded-f.price {
		t.Errorf("payer balance %s, want %s", got.USDC(), (f.funded - f.price).USDC())
	}
	if got := f.fac.Balance(f.payTo); got != f.price {
		t.Errorf("payee balance %s, want %s", got.USDC(), f.price.USDC())
	}
	if f.fac.SettledCount() != 1 || f.fac.SettledTotal() != f.price {
		t.Errorf("counters: %d settled, %s total", f.fac.SettledCount(), f.fac.SettledTotal().USDC())
	}
	got := f.fac.Settlements()[0]
	want := Settlement{Payer: anvilAddr0, To: f.payTo, Value: f.price, Nonce: a.Nonce, Transaction: sr.Transaction, Network: "eip155:84532", At: testNow}
	if got != want {
		t.Errorf("settlement %+v, want %+v", got, want)
	}
	if !f.fac.NonceUsed(anvilAddr0, a.Nonce) {
		t.Error("nonce not marked used")
	}
}

func TestFacilitatorRejects(t *testing.T) {
	other := mustWallet(t, anvilKey1)
	tests := []struct {
		name   string
		signer string // key; default the payer's
		mod    func(*evm.Authorization)
		req    func(t *testing.T, f *fixture) // changes the fixture
		reason string
	}{
		{name: "wrong signer", signer: anvilKey1, reason: ReasonSignature},
		{name: "from another address", mod: func(a *evm.Authorization) { a.From = other.Address() }, reason: ReasonSignature},
		{name: "wrong payee", mod: func(a *evm.Authorization) { a.To = SwitchedPayTo }, reason: ReasonRecipientMismatch},
		{name: "value above price", mod: func(a *evm.Authorization) { a.Value = big.NewInt(10_001) }, reason: ReasonValueMismatch},
		{name: "value below price", mod: func(a *evm.Authorization) { a.Value = big.NewInt(9_999) }, reason: ReasonValueMismatch},
		{name: "expired", mod: func(a *evm.Authorization) { a.ValidBefore = big.NewInt(testNow.Unix() - 1) }, reason: ReasonValidBefore},
		{name: "expires within the margin", mod: func(a *evm.Authorization) { a.ValidBefore = big.NewInt(testNow.Unix() + 6) }, reason: ReasonValidBefore},
		{name: "valid after in the future", mod: func(a *evm.Authorization) { a.ValidAfter = big.NewInt(testNow.Unix() + 60) }, reason: ReasonValidAfter},
		{name: "insufficient balance", req: func(t *testing.T, f *fixture) {
			f.fac = NewFacilitator(FacilitatorConfig{Now: func() time.Time { return testNow }})
			f.funded = 9_999
			f.fac.Fund(f.payer.Address(), f.funded)
		}, reason: ReasonInsufficientBalance},
		{name: "unknown network", req: func(t *testing.T, f *fixture) {
			f.req.Network = "eip155:8453"
			f.req.Raw = nil
		}, reason: ReasonInvalidNetwork},
		{name: "unsupported scheme", req: func(t *testing.T, f *fixture) {
			f.req.Scheme = "upto"
			f.req.Raw = nil
		}, reason: ReasonUnsupportedScheme},
		{name: "other asset", req: func(t *testing.T, f *fixture) {
			f.req.Asset = SwitchedPayTo.Hex()
			f.req.Raw = nil
		}, reason: ReasonInvalidRequirements},
		{name: "wrong token name", req: func(t *testing.T, f *fixture) {
			f.req.Extra = json.RawMessage(`{"name":"USD Coin","version":"2"}`)
			f.req.Raw = nil
		}, reason: ReasonTokenNameMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.req != nil {
				tt.req(t, f)
			}
			signer := f.payer
			if tt.signer != "" {
				signer = mustWallet(t, tt.signer)
			}
			p := f.payload(t, signer, tt.mod)
			if f.req.Raw == nil {
				p.Accepted, _ = json.Marshal(f.req)
			}
			ctx := context.Background()
			if vr := f.fac.Verify(ctx, p, f.req); vr.IsValid || vr.InvalidReason != tt.reason {
				t.Fatalf("verify = %+v, want invalid %s", vr, tt.reason)
			}
			if sr := f.fac.Settle(ctx, p, f.req); sr.Success || sr.ErrorReason != tt.reason || sr.Transaction != "" {
				t.Fatalf("settle = %+v, want failure %s", sr, tt.reason)
			}
			f.assertUnmoved(t)
		})
	}
}

func TestFacilitatorAcceptedMustMatch(t *testing.T) {
	f := newFixture(t)
	p := f.payload(t, f.payer, nil)

	// Same JSON, other key order and spacing: still the same requirement.
	p.Accepted = json.RawMessage(`{ "extra": {"version":"2","name":"USDC"}, "maxTimeoutSeconds": 300.0, "payTo": "` + f.payTo.Hex() +
		`", "asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","amount":"10000","network":"eip155:84532","scheme":"exact"}`)
	if vr := f.fac.Verify(context.Background(), p, f.req); !vr.IsValid {
		t.Fatalf("reordered accepted: %+v", vr)
	}
	for name, acc := range map[string]string{
		"changed timeout": strings.Replace(string(f.req.Raw), `"maxTimeoutSeconds":300`, `"maxTimeoutSeconds":301`, 1),
		"added key":       strings.Replace(string(f.req.Raw), `"scheme":"exact"`, `"scheme":"exact","x":1`, 1),
		"dropped extra":   strings.Replace(string(f.req.Raw), `,"extra":{"name":"USDC","version":"2"}`, ``, 1),
	} {
		p.Accepted = json.RawMessage(acc)
		if vr := f.fac.Verify(context.Background(), p, f.req); vr.IsValid || vr.InvalidReason != ReasonInvalidRequirements {
			t.Errorf("%s: verify = %+v, want %s", name, vr, ReasonInvalidRequirements)
		}
	}
	p.Accepted = nil
	if vr := f.fac.Verify(context.Background(), p, f.req); vr.InvalidReason != ReasonInvalidPayload {
		t.Errorf("no accepted: %+v", vr)
	}
	f.assertUnmoved(t)
}

func TestFacilitatorTamperedSignature(t *testing.T) {
	f := newFixture(t)
	for name, sig := range map[string]func(string) string{
		"flipped byte": func(s string) string {
			return s[:10] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", s[10])+1)%16]) + s[11:]
		},
		"short":   func(s string) string { return s[:len(s)-2] },
		"no 0x":   func(s string) string { return s[2:] },
		"not hex": func(s string) string { return "0xzz" + s[4:] },
	} {
		p := f.payload(t, f.payer, nil)
		pl := evm.MustPayload(p.Payload)
		pl.Signature = sig(pl.Signature)
		p.Payload = pl.Raw()
		if vr := f.fac.Verify(context.Background(), p, f.req); vr.IsValid || vr.InvalidReason != ReasonSignature {
			t.Errorf("%s: verify = %+v", name, vr)
		}
	}
	f.assertUnmoved(t)
}

func TestFacilitatorNonceReuse(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.payload(t, f.payer, nil)
	if sr := f.fac.Settle(ctx, p, f.req); !sr.Success {
		t.Fatalf("first settle: %+v", sr)
	}
	if vr := f.fac.Verify(ctx, p, f.req); vr.IsValid || vr.InvalidReason != ReasonNonceUsed {
		t.Fatalf("verify of a used nonce = %+v", vr)
	}
	if sr := f.fac.Settle(ctx, p, f.req); sr.Success || sr.ErrorReason != ReasonNonceUsed {
		t.Fatalf("second settle = %+v", sr)
	}
	// The same nonce in a fresh authorization is still a reused nonce.
	a, _ := evm.ParseAuthorization(evm.MustPayload(p.Payload).Authorization)
	p2 := f.payload(t, f.payer, func(b *evm.Authorization) { b.Nonce = a.Nonce })
	if sr := f.fac.Settle(ctx, p2, f.req); sr.ErrorReason != ReasonNonceUsed {
		t.Fatalf("settle of a re-signed nonce = %+v", sr)
	}
	if got := f.fac.Balance(f.payer.Address()); got != f.funded-f.price {
		t.Errorf("payer balance %s, want one payment taken", got.USDC())
	}
	if f.fac.SettledCount() != 1 {
		t.Errorf("settled %d", f.fac.SettledCount())
	}
}

func TestFacilitatorConcurrentDoubleSettle(t *testing.T) {
	f := newFixture(t)
	p := f.payload(t, f.payer, nil)
	const n = 32
	var wg sync.WaitGroup
	results := make(chan x402.SettlementResponse, n)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results <- f.fac.Settle(context.Background(), p, f.req)
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	ok := 0
	for sr := range results {
		switch {
		case sr.Success:
			ok++
		case sr.ErrorReason != ReasonNonceUsed:
			t.Errorf("failed settle with %q, want %s", sr.ErrorReason, ReasonNonceUsed)
		}
	}
	if ok != 1 {
		t.Fatalf("%d settles succeeded, want exactly 1", ok)
	}
	if got := f.fac.Balance(f.payTo); got != f.price {
		t.Fatalf("payee got %s, want %s", got.USDC(), f.price.USDC())
	}
}

func TestFacilitatorV1(t *testing.T) {
	f := newFixture(t)
	f.req = v1Requirement(t, f.payTo, "2000")
	a := authFor(t, f.payer.Address(), f.req, testNow)
	a.ValidAfter = big.NewInt(testNow.Unix() - 600)
	p := &x402.PaymentPayload{X402Version: 1, Scheme: "exact", Network: "base-sepolia",
		Payload: evm.Payload{Signature: signWith(t, f.payer, f.fac.Domain(), a), Authorization: a.JSON()}.Raw()}
	ctx := context.Background()

	bad := *p
	bad.X402Version = 2
	if vr := f.fac.Verify(ctx, &bad, f.req); vr.InvalidReason != ReasonInvalidVersion {
		t.Errorf("v2 payload for v1 requirements: %+v", vr)
	}
	bad = *p
	bad.Network = "base"
	if vr := f.fac.Verify(ctx, &bad, f.req); vr.InvalidReason != ReasonInvalidNetwork {
		t.Errorf("payload on base: %+v", vr)
	}
	if sr := f.fac.Settle(ctx, p, f.req); !sr.Success || sr.Network != "base-sepolia" {
		t.Fatalf("settle = %+v", sr)
	}
	if got := f.fac.Balance(f.payTo); got != 2000 {
		t.Fatalf("payee got %s", got.USDC())
	}
}

func TestFacilitatorCanceledContext(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sr := f.fac.Settle(ctx, f.payload(t, f.payer, nil), f.req); sr.Success || sr.ErrorReason != ReasonUnexpectedSettleError {
		t.Fatalf("settle = %+v", sr)
	}
	f.assertUnmoved(t)
}

func postJSON(t *testing.T, url string, v any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	a := doHeader(t, http.MethodPost, url, b, "", "")
	return a.status, a.body
}

func TestFacilitatorHTTP(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(f.fac.Handler())
	defer srv.Close()
	p := f.payload(t, f.payer, nil)
	body := map[string]any{"x402Version": 2, "paymentPayload": p, "paymentRequirements": f.req.Raw}

	status, b := postJSON(t, srv.URL+"/verify", body)
	var vr VerifyResponse
	if err := json.Unmarshal(b, &vr); err != nil || status != 200 || !vr.IsValid || vr.Payer != anvilAddr0.Hex() {
		t.Fatalf("/verify: %d %s", status, b)
	}
	status, b = postJSON(t, srv.URL+"/settle", body)
	var sr x402.SettlementResponse
	if err := json.Unmarshal(b, &sr); err != nil || status != 200 || !sr.Success || !txHashRE.MatchString(sr.Transaction) {
		t.Fatalf("/settle: %d %s", status, b)
	}
	// A second settle of the same payment fails, still with 200.
	status, b = postJSON(t, srv.URL+"/settle", body)
	sr = x402.SettlementResponse{}
	if err := json.Unmarshal(b, &sr); err != nil || status != 200 || sr.Success || sr.ErrorReason != ReasonNonceUsed {
		t.Fatalf("second /settle: %d %s", status, b)
	}
	if f.fac.Balance(f.payTo) != f.price {
		t.Fatalf("payee balance %s", f.fac.Balance(f.payTo).USDC())
	}

	// A mismatched requirement over HTTP is compared as JSON too.
	other := v2Requirement(t, f.payTo, "20000")
	status, b = postJSON(t, srv.URL+"/verify", map[string]any{"x402Version": 2, "paymentPayload": p, "paymentRequirements": other.Raw})
	vr = VerifyResponse{}
	if err := json.Unmarshal(b, &vr); err != nil || status != 200 || vr.IsValid || vr.InvalidReason != ReasonInvalidRequirements {
		t.Fatalf("/verify mismatched: %d %s", status, b)
	}

	a := doHeader(t, http.MethodPost, srv.URL+"/verify", []byte("{not json"), "", "")
	if a.status != http.StatusBadRequest {
		t.Fatalf("bad body: %d %s", a.status, a.body)
	}
	a = doHeader(t, http.MethodPost, srv.URL+"/settle", []byte(`{"x402Version":2}`), "", "")
	if a.status != http.StatusBadRequest {
		t.Fatalf("empty request: %d %s", a.status, a.body)
	}

	a = doHeader(t, http.MethodGet, srv.URL+"/supported", nil, "", "")
	var sup Supported
	if err := json.Unmarshal(a.body, &sup); err != nil || a.status != 200 {
		t.Fatalf("/supported: %d %s", a.status, a.body)
	}
	if len(sup.Kinds) != 2 || sup.Kinds[0].Network != "eip155:84532" || sup.Kinds[1].Network != "base-sepolia" || len(sup.Signers["eip155:*"]) != 1 {
		t.Fatalf("/supported = %s", a.body)
	}
	if !bytes.Contains(a.body, []byte(`"extra":{}`)) {
		t.Errorf("/supported kinds have no extra: %s", a.body)
	}
}

func TestNewFacilitatorConfig(t *testing.T) {
	f := NewFacilitator(FacilitatorConfig{Network: "base"})
	if f.Network() != "eip155:8453" || f.V1Network() != "base" || f.Asset() != common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913") || f.Domain().Name != "USD Coin" {
		t.Fatalf("base facilitator: %s %s %s %+v", f.Network(), f.V1Network(), f.Asset().Hex(), f.Domain())
	}
	for _, cfg := range []FacilitatorConfig{{Network: "eip155:0x2105"}, {Network: "eip155:999999"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v: no panic", cfg)
				}
			}()
			NewFacilitator(cfg)
		}()
	}
	custom := NewFacilitator(FacilitatorConfig{Network: "eip155:1337", Asset: SwitchedPayTo, Name: "Test", Version: "1"})
	if custom.V1Network() != "eip155:1337" || custom.Domain().ChainID.Int64() != 1337 {
		t.Fatalf("custom: %+v", custom.Domain())
	}
}
