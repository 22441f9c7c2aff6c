package payments_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// TestFailedReceiptReasonHidesSecrets: a seller that delivers with a
// receipt saying its settlement failed, and quotes the request (with the
// operator's ${ENV} secret in its path) in the reason, gets that reason
// booked in the ledger with the secret written ${NAME}, as every other
// reason is.
func TestFailedReceiptReasonHidesSecrets(t *testing.T) {
	const secret = "pathsecret8d41c2"
	seller := localseller.New(localseller.Config{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(x402.HeaderPaymentSignature) == "" {
			r = r.Clone(r.Context())
			r.URL.Path = strings.Replace(r.URL.Path, "/"+secret, "", 1)
			seller.Handler().ServeHTTP(w, r)
			return
		}
		receipt := `{"success":false,"errorReason":"could not settle ` + r.URL.Path + `","network":"eip155:84532"}`
		w.Header().Set(x402.HeaderPaymentResponse, base64.StdEncoding.EncodeToString([]byte(receipt)))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(up.Close)
	w, err := wallet.ParseHexKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	pol := payments.Policy{Networks: []payments.Network{"eip155:84532"}, PerCall: 100_000, Budget: payments.Budget{Total: 1_000_000}}
	book, err := ledger.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), pol.Budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = book.Close() })
	c := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: book}

	sent := up.URL + "/" + secret + "/v2/weather/paris"
	red := payments.NewRedaction(sent, up.URL+"/${KEY}/v2/weather/paris")
	red.AddSecret("KEY", secret)
	res, err := c.Do(context.Background(), get(t, sent), payments.Limit{Tool: "weather", MaxPrice: 10_000, Redaction: red})
	if err != nil {
		t.Fatal(err)
	}
	if res.Receipt == nil || res.Receipt.State != string(payments.StateUnknown) {
		t.Fatalf("receipt %+v: want a payment of unknown outcome", res.Receipt)
	}
	rows, err := book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !strings.Contains(rows[0].Reason, "could not settle /${KEY}/v2/weather/paris") {
		t.Fatalf("rows %+v: want the seller's reason, with the secret as ${KEY}", rows)
	}
	for _, r := range rows {
		if strings.Contains(r.Reason+r.Resource, secret) {
			t.Errorf("the ledger shows the secret: reason %q, resource %q", r.Reason, r.Resource)
		}
	}
}
