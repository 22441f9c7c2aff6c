package payments_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// deepJSON is a JSON value nested one level deeper than jsonlimit allows.
var deepJSON = strings.Repeat("[", 513) + strings.Repeat("]", 513)

// withDeep puts deepJSON under a key x of the JSON object s.
func withDeep(s string) string {
	return strings.TrimSuffix(s, "}") + `,"x":` + deepJSON + `}`
}

// TestParsersRefuseDeepJSON: every parser of what a seller or a facilitator
// says refuses nesting deeper than 512 levels, however valid the rest, with
// an error that names the problem (a keystore file's parser:
// payments/wallet's TestKeystoreRefusesDeepJSON).
func TestParsersRefuseDeepJSON(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	hdr := func(k, v string) http.Header { h := http.Header{}; h.Set(k, v); return h }
	settlement := `{"success":true,"transaction":"0xabc","network":"eip155:84532"}`
	facilitator := func(answer string) error {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(answer))
		}))
		defer srv.Close()
		f := &payments.FacilitatorClient{URL: srv.URL}
		_, err := f.Settle(context.Background(), &x402.PaymentPayload{X402Version: 2}, &x402.Requirement{Raw: []byte(`{}`)})
		return err
	}
	tests := []struct {
		name  string
		parse func(doc string) error
		doc   string
	}{
		{"v1 challenge body", func(d string) error { _, err := x402.ParseChallenge(http.Header{}, []byte(d)); return err }, v1Challenge},
		{"v2 challenge header", func(d string) error {
			_, err := x402.ParseChallenge(hdr(x402.HeaderPaymentRequired, b64(d)), nil)
			return err
		}, v2Challenge},
		{"x402 over MCP challenge", func(d string) error { _, err := x402.ParseChallengeJSON([]byte(d)); return err }, v2Challenge},
		{"PAYMENT-RESPONSE", func(d string) error {
			_, err := x402.ParseSettlement(hdr(x402.HeaderPaymentResponse, b64(d)))
			return err
		}, settlement},
		{"X-PAYMENT-RESPONSE", func(d string) error {
			_, err := x402.ParseSettlement(hdr(x402.HeaderXPaymentResponse, b64(d)))
			return err
		}, settlement},
		{"payment header", func(d string) error { _, err := x402.DecodePaymentHeader(b64(d)); return err }, `{"x402Version":2}`},
		{"facilitator answer", facilitator, settlement},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.parse(tt.doc); err != nil {
				t.Fatalf("the document as it is: %v", err)
			}
			err := tt.parse(withDeep(tt.doc))
			if err == nil || !strings.Contains(err.Error(), "nested deeper than 512 levels") {
				t.Fatalf("err = %v, want one saying the JSON is nested deeper than 512 levels", err)
			}
		})
	}
}
