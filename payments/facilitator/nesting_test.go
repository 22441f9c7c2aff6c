package facilitator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// TestAnswerRefusesDeepJSON: a facilitator's answer nested deeper than 512
// levels, however valid the rest, is refused with an error that names the
// problem.
func TestAnswerRefusesDeepJSON(t *testing.T) {
	settlement := `{"success":true,"transaction":"0xabc","network":"eip155:84532"}`
	facilitator := func(answer string) error {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(answer))
		}))
		defer srv.Close()
		f := &Client{URL: srv.URL}
		_, err := f.Settle(context.Background(), &x402.PaymentPayload{X402Version: 2}, &x402.Requirement{Raw: []byte(`{}`)})
		return err
	}
	if err := facilitator(settlement); err != nil {
		t.Fatalf("the answer as it is: %v", err)
	}
	deep := strings.Repeat("[", 513) + strings.Repeat("]", 513)
	err := facilitator(strings.TrimSuffix(settlement, "}") + `,"x":` + deep + `}`)
	if err == nil || !strings.Contains(err.Error(), "nested deeper than 512 levels") {
		t.Fatalf("err = %v, want one saying the JSON is nested deeper than 512 levels", err)
	}
}
