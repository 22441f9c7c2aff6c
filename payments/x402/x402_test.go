package x402

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const v2Challenge = `{"x402Version":2,"error":"PAYMENT-SIGNATURE header is required","resource":{"url":"https://api.example.com/premium-data","description":"Access to premium market data","mimeType":"application/json"},"accepts":[{"scheme":"exact","network":"eip155:84532","amount":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2","n":1.50}}],"extensions":{"payment-identifier":{"info":{"required":false},"schema":{"type":"object"}}}}`

const v1Challenge = `{"x402Version":1,"error":"X-PAYMENT header is required","accepts":[{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"2000","resource":"http://x/v1/quote","description":"quote","mimeType":"application/json","outputSchema":null,"payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","extra":{"name":"USDC","version":"2"}}]}`

func TestParseChallenge(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(v2Challenge))
	tests := []struct {
		name    string
		header  string
		body    string
		version int
		price   string
		errLike string
	}{
		{name: "v2 header", header: b64, body: "{}", version: 2, price: "10000"},
		{name: "v2 header unpadded", header: strings.TrimRight(b64, "="), version: 2, price: "10000"},
		{name: "v1 body", body: v1Challenge, version: 1, price: "2000"},
		{name: "v2 in body", body: v2Challenge, version: 2, price: "10000"},
		{name: "header wins over body", header: b64, body: v1Challenge, version: 2, price: "10000"},
		{name: "not base64", header: "%%%not base64%%%", errLike: "not base64"},
		{name: "base64 of garbage", header: base64.StdEncoding.EncodeToString([]byte("<html>")), errLike: "not valid x402 JSON"},
		{name: "no header no body", errLike: "does not speak x402"},
		{name: "html body", body: "<html>pay</html>", errLike: "not valid x402 JSON"},
		{name: "no version", body: `{"accepts":[{"scheme":"exact"}]}`, errLike: "no x402Version"},
		{name: "version 3", body: `{"x402Version":3,"accepts":[{"scheme":"exact"}]}`, errLike: "versions 1 and 2"},
		{name: "no accepts", body: `{"x402Version":2,"error":"sold out","accepts":[]}`, errLike: "sold out"},
		{name: "accept not object", body: `{"x402Version":2,"accepts":[5]}`, errLike: "accepts[0]"},
		{name: "huge header", header: strings.Repeat("A", 70000), errLike: "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Payment-Required", tt.header)
			}
			pr, err := ParseChallenge(h, []byte(tt.body))
			if tt.errLike != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errLike) {
					t.Fatalf("err = %v, want one containing %q", err, tt.errLike)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pr.X402Version != tt.version || pr.Accepts[0].Price() != tt.price {
				t.Fatalf("got version %d price %s", pr.X402Version, pr.Accepts[0].Price())
			}
			if len(pr.Accepts[0].Raw) == 0 {
				t.Fatal("raw accept not kept")
			}
		})
	}
}

// TestAcceptedEchoedVerbatim: v2 servers match `accepted` by deep equality, so
// the payload must carry the seller's bytes, numbers and unknown keys intact.
func TestAcceptedEchoedVerbatim(t *testing.T) {
	var pr PaymentRequired
	if err := json.Unmarshal([]byte(v2Challenge), &pr); err != nil {
		t.Fatal(err)
	}
	p := PaymentPayload{X402Version: 2, Accepted: pr.Accepts[0].Raw, Resource: pr.Resource, Extensions: pr.Extensions,
		Payload: json.RawMessage(`{"signature":"0x01"}`)}
	name, val, err := p.Encode()
	if err != nil || name != HeaderPaymentSignature {
		t.Fatalf("Encode = %s, %v", name, err)
	}
	back, err := DecodePaymentHeader(val)
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(v2Challenge, `{"scheme"`)
	want := v2Challenge[start : strings.Index(v2Challenge, `}}],`)+2]
	if string(back.Accepted) != want {
		t.Fatalf("accepted = %s\nwant       %s", back.Accepted, want)
	}
	if !strings.Contains(string(back.Accepted), `"n":1.50`) {
		t.Fatal("number in extra was rewritten")
	}
	v1 := PaymentPayload{X402Version: 1, Scheme: "exact", Network: "base-sepolia"}
	if name, _, _ := v1.Encode(); name != HeaderXPayment {
		t.Fatalf("v1 header = %s", name)
	}
}

func TestParseSettlement(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	h := http.Header{}
	if s, err := ParseSettlement(h); s != nil || err != nil {
		t.Fatalf("no header: %v %v", s, err)
	}
	h.Set(HeaderXPaymentResponse, enc(`{"success":true,"transaction":"0xabc","network":"base-sepolia","payer":"0x1"}`))
	s, err := ParseSettlement(h)
	if err != nil || !s.Success || s.Transaction != "0xabc" {
		t.Fatalf("v1: %+v %v", s, err)
	}
	h.Set(HeaderPaymentResponse, enc(`{"success":false,"errorReason":"settlement_pending","transaction":"0xdef","network":"eip155:84532"}`))
	s, err = ParseSettlement(h)
	if err != nil || s.Success || s.ErrorReason != ReasonSettlementPending || s.Transaction != "0xdef" {
		t.Fatalf("v2 preferred: %+v %v", s, err)
	}
	h.Set(HeaderPaymentResponse, "!!!")
	if _, err := ParseSettlement(h); err == nil {
		t.Fatal("bad base64 accepted")
	}
}

func TestWithPaymentIDKeepsServerFields(t *testing.T) {
	raw := json.RawMessage(`{"info":{"required":true,"x":1.0},"schema":{"type":"object"}}`)
	got, err := WithPaymentID(raw, "pay_0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	var ext struct {
		Info   map[string]json.RawMessage `json:"info"`
		Schema json.RawMessage            `json:"schema"`
	}
	if err := json.Unmarshal(got, &ext); err != nil {
		t.Fatal(err)
	}
	if string(ext.Info["id"]) != `"pay_0123456789abcdef"` || string(ext.Info["required"]) != "true" || string(ext.Info["x"]) != "1.0" || string(ext.Schema) != `{"type":"object"}` {
		t.Fatalf("extension = %s", got)
	}
}

func TestSanitize(t *testing.T) {
	if got := Sanitize("a\x1b[31mred\nline\x00", 100); got != "a[31mred line" {
		t.Fatalf("got %q", got)
	}
	if got := Sanitize("héllo wörld", 6); got != "héllo…" {
		t.Fatalf("got %q", got)
	}
}

// TestPaymentHeaderNeedsASchemePayload: a header whose "payload" is missing,
// null or not an object is refused by name (FuzzDecodePaymentHeader found a
// missing one decoding to nil and encoding back as null).
func TestPaymentHeaderNeedsASchemePayload(t *testing.T) {
	for _, body := range []string{
		`{"x402Version":2}`,
		`{"x402Version":2,"payload":null}`,
		`{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":"0x01"}`,
		`{"x402Version":2,"payload":[]}`,
	} {
		_, err := DecodePaymentHeader(base64.StdEncoding.EncodeToString([]byte(body)))
		if err == nil || !strings.Contains(err.Error(), `"payload" field must be a JSON object`) {
			t.Errorf("%s: err = %v, want the missing scheme payload named", body, err)
		}
	}
	p, err := DecodePaymentHeader(base64.StdEncoding.EncodeToString([]byte(`{"x402Version":2,"payload": {}}`)))
	if err != nil || string(p.Payload) != "{}" {
		t.Fatalf("an empty object payload: %v, %v", p, err)
	}
}

// TestParsersQuoteLittleOfALongNumber: a number too long for its field (a
// version, a timeout) is refused with an error that names the field and
// quotes only the start of the number; before, encoding/json quoted all
// 5,000 digits.
func TestParsersQuoteLittleOfALongNumber(t *testing.T) {
	zeros := strings.Repeat("0", 5000)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	challenge := func(body string) error { _, err := ParseChallenge(nil, []byte(body)); return err }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"challenge version", challenge(`{"x402Version":1.` + zeros + `,"accepts":[{}]}`), "x402Version of type int"},
		{"challenge timeout", challenge(`{"x402Version":2,"accepts":[{"scheme":"exact","maxTimeoutSeconds":1` + zeros + `}]}`), "accepts[0]: maxTimeoutSeconds is not a number: json: cannot unmarshal number 1000"},
		{"challenge timeout in the header", func() error {
			h := http.Header{}
			h.Set(HeaderPaymentRequired, b64(`{"x402Version":2,"accepts":[{"scheme":"exact","maxTimeoutSeconds":-1`+zeros+`}]}`))
			_, err := ParseChallenge(h, nil)
			return err
		}(), "of type float64"},
		{"payment header version", func() error {
			_, err := DecodePaymentHeader(b64(`{"x402Version":2` + zeros + `,"payload":{}}`))
			return err
		}(), "x402Version of type int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("parsed")
			}
			msg := tt.err.Error()
			if len(msg) > 300 || !strings.Contains(msg, tt.want) || strings.Contains(msg, zeros[:100]) {
				t.Fatalf("error of %d bytes, want one naming %q: %.300s", len(msg), tt.want, msg)
			}
		})
	}
}
