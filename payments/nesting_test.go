package payments_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// deepJSON is a JSON value nested one level deeper than jsonlimit allows.
var deepJSON = strings.Repeat("[", 513) + strings.Repeat("]", 513)

// withDeep puts deepJSON under a key x of the JSON object s.
func withDeep(s string) string {
	return strings.TrimSuffix(s, "}") + `,"x":` + deepJSON + `}`
}

// TestParsersRefuseDeepJSON: every parser of what a seller says refuses
// nesting deeper than 512 levels, however valid the rest, with an error that
// names the problem (a facilitator's answer: payments/facilitator's
// TestAnswerRefusesDeepJSON; a keystore file: payments/wallet's
// TestKeystoreRefusesDeepJSON).
func TestParsersRefuseDeepJSON(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	hdr := func(k, v string) http.Header { h := http.Header{}; h.Set(k, v); return h }
	settlement := `{"success":true,"transaction":"0xabc","network":"eip155:84532"}`
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
		{"payment header", func(d string) error { _, err := x402.DecodePaymentHeader(b64(d)); return err }, `{"x402Version":2,"payload":{}}`},
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
