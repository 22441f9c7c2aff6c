package x402

// Fuzz tests of every parser in this package: 402 challenges (v1 body, v2
// header, x402 over MCP), receipts and the payment header. Run one with
//
//	go test -run='^$' -fuzz='^FuzzParseChallenge$' -fuzztime=60s ./payments/x402
//
// Inputs that once failed are kept in testdata/fuzz/<name>/ and run with
// the ordinary tests.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/fuzzcheck"
)

// FuzzParseChallenge: any 402 (a PAYMENT-REQUIRED header, a body, or both)
// parses or fails with a short error, never panics; what parses is version 1
// or 2 with at least one accept that keeps its raw bytes, and reads the same
// once re-encoded.
func FuzzParseChallenge(f *testing.F) {
	b64 := base64.StdEncoding.EncodeToString
	f.Add("", []byte(v1Challenge))
	f.Add(b64([]byte(v2Challenge)), []byte("{}"))
	f.Add("", []byte(v2Challenge))
	f.Add(strings.TrimRight(b64([]byte(v2Challenge)), "="), []byte(nil))
	f.Add(b64([]byte(`{"x402Version":2,"accepts":[{"scheme":"exact","maxTimeoutSeconds":3e2,"extra":null}]}`)), []byte(nil))
	f.Add("", []byte(`{"x402Version":1,"error":"sold out","accepts":[]}`))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		h := http.Header{}
		if header != "" {
			h.Set(HeaderPaymentRequired, header)
		}
		pr, err := ParseChallenge(h, body)
		fuzzcheck.ErrorText(t, err)
		if err != nil {
			return
		}
		if pr.X402Version != 1 && pr.X402Version != 2 || len(pr.Accepts) == 0 {
			t.Fatalf("parsed version %d with %d accepts", pr.X402Version, len(pr.Accepts))
		}
		for i, a := range pr.Accepts {
			if !json.Valid(a.Raw) {
				t.Fatalf("accepts[%d] raw bytes are not JSON: %q", i, a.Raw)
			}
			if a.MaxTimeoutSeconds < 0 {
				t.Fatalf("accepts[%d] timeout %d", i, a.MaxTimeoutSeconds)
			}
		}
		// Re-encoded with the raw accepts, the challenge reads the same.
		raws := make([]json.RawMessage, len(pr.Accepts))
		for i, a := range pr.Accepts {
			raws[i] = a.Raw
		}
		again, err := json.Marshal(map[string]any{"x402Version": pr.X402Version, "error": pr.Error, "accepts": raws})
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		pr2, err := ParseChallengeJSON(again)
		if err != nil {
			t.Fatalf("the re-encoded challenge does not parse: %v\n%s", err, again)
		}
		if pr2.X402Version != pr.X402Version || len(pr2.Accepts) != len(pr.Accepts) {
			t.Fatalf("re-encoded: version %d, %d accepts; was %d, %d", pr2.X402Version, len(pr2.Accepts), pr.X402Version, len(pr.Accepts))
		}
		for i := range pr.Accepts {
			a, b := pr.Accepts[i], pr2.Accepts[i]
			if a.Price() != b.Price() || a.PayTo != b.PayTo || a.Asset != b.Asset || a.Network != b.Network || a.Scheme != b.Scheme {
				t.Fatalf("accepts[%d] changed on re-encoding: %+v != %+v", i, a, b)
			}
		}
	})
}

// FuzzParseSettlement: any PAYMENT-RESPONSE or X-PAYMENT-RESPONSE value
// parses or fails with a short error; what parses round-trips through
// EncodeHeaderJSON unchanged.
func FuzzParseSettlement(f *testing.F) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	f.Add(true, b64(`{"success":true,"transaction":"0xabc","network":"eip155:84532","payer":"0x1"}`))
	f.Add(false, b64(`{"success":true,"transaction":"0xabc","network":"base-sepolia","payer":"0x1"}`))
	f.Add(true, b64(`{"success":false,"errorReason":"settlement_pending","transaction":"0xdef","network":"eip155:84532","amount":"1000"}`))
	f.Add(true, "!!!")
	f.Fuzz(func(t *testing.T, v2 bool, value string) {
		h := http.Header{}
		name := HeaderXPaymentResponse
		if v2 {
			name = HeaderPaymentResponse
		}
		h.Set(name, value)
		s, err := ParseSettlement(h)
		fuzzcheck.ErrorText(t, err)
		if err != nil || s == nil {
			return
		}
		enc, err := EncodeHeaderJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		h.Set(name, enc)
		s2, err := ParseSettlement(h)
		if err != nil || s2 == nil || *s2 != *s {
			t.Fatalf("round trip: %+v, %v; was %+v", s2, err, s)
		}
	})
}

// FuzzDecodePaymentHeader: any PAYMENT-SIGNATURE or X-PAYMENT value (what
// a seller reads; the local seller uses this) decodes or fails with a short
// error, and what decodes re-encodes to the same payload: the same JSON
// value, though not always the same bytes (encoding/json compacts a raw
// field and escapes <, > and & in it), and encoding again changes nothing.
func FuzzDecodePaymentHeader(f *testing.F) {
	var pr PaymentRequired
	if err := json.Unmarshal([]byte(v2Challenge), &pr); err != nil {
		f.Fatal(err)
	}
	p := PaymentPayload{X402Version: 2, Accepted: pr.Accepts[0].Raw, Resource: pr.Resource, Extensions: pr.Extensions,
		Payload: json.RawMessage(`{"signature":"0x01","authorization":{"from":"0x1","to":"","value":"10000","validAfter":"","validBefore":"","nonce":"0x02"}}`)}
	_, v, err := p.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v)
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{}}`)))
	f.Fuzz(func(t *testing.T, value string) {
		p, err := DecodePaymentHeader(value)
		fuzzcheck.ErrorText(t, err)
		if err != nil {
			return
		}
		_, enc, err := p.Encode()
		if err != nil {
			// Raw fields hold the sender's bytes; encoding checks them.
			return
		}
		p2, err := DecodePaymentHeader(enc)
		if err != nil || p2.X402Version != p.X402Version || !sameJSON(t, p2.Payload, p.Payload) {
			t.Fatalf("round trip: %+v, %v; was %+v", p2, err, p)
		}
		if _, enc2, err := p2.Encode(); err != nil || enc2 != enc {
			t.Fatalf("encoding again: %q, %v; was %q", enc2, err, enc)
		}
	})
}

// sameJSON says whether a and b hold the same JSON value (numbers compared
// as written, invalid UTF-8 read as encoding/json reads it).
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	read := func(raw []byte) any {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("payload %q does not decode: %v", raw, err)
		}
		return v
	}
	return reflect.DeepEqual(read(a), read(b))
}
