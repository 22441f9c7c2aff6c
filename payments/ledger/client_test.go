package ledger_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// TestPaidCallsOnDurableLedger: the paying client with the durable ledger
// leaves one settled row per call, holding what the seller received; a
// second payment for the same call is refused before signing.
func TestPaidCallsOnDurableLedger(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s := localseller.New(localseller.Config{})
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		w, err := wallet.ParseHexKey("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
		must(t, err)
		s.Facilitator().Fund(w.Address(), 1_000_000)
		b := payments.Budget{Total: 1_000_000, PerDay: 500_000}
		l := mustOpen(t, be.new(t), b)
		c := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Ledger: l,
			Policy: payments.Policy{Networks: []payments.Network{"eip155:84532"}, Budget: b}}
		get := func(path string) *http.Request {
			req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			must(t, err)
			return req
		}
		lim := payments.Limit{Tool: "weather", CallID: "call_0123456789abcdef0123456789abcdef", Session: "stdio-1"}
		res, err := c.Do(ctx, get("/v2/weather/paris"), lim)
		if err != nil || res.Charged != payments.Charged {
			t.Fatalf("res %v err %v", res, err)
		}
		rows, err := l.List(ctx, ledger.Filter{})
		must(t, err)
		got := s.ReceivedPayments()
		if len(rows) != 1 || len(got) != 1 {
			t.Fatalf("%d rows, %d payments received", len(rows), len(got))
		}
		r := rows[0]
		if r.ID != res.Receipt.LedgerID || r.State != payments.StateSettled || r.Transaction != res.Receipt.Transaction || r.Transaction == "" ||
			r.Payload != got[0].Value || r.Header != got[0].Header || r.Nonce != evm.MustPayload(got[0].Payload.Payload).Authorization.Nonce ||
			r.CallID != lim.CallID || r.Session != "stdio-1" || r.Tool != "weather" || r.Payer != w.Address().Hex() ||
			r.Amount != 1000 || r.X402Version != 2 || r.ValidBefore.Before(time.Now()) {
			t.Fatalf("row %+v", r)
		}
		t.Logf("a v2 payment header is %d bytes (BenchmarkReserveSettle assumes %d)", len(r.Payload), payloadSize)
		if sum, _ := l.Summary(ctx); sum.Settled != 1000 || sum.Pending != 0 || sum.Day != 1000 || sum.DayLeft() != 499_000 {
			t.Fatalf("summary %+v", sum)
		}
		// The same call id again: refused before anything is signed.
		_, err = c.Do(ctx, get("/v2/weather/paris"), lim)
		if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodeInternal || pe.Charged != payments.NotCharged {
			t.Fatalf("second payment for one call: %v", err)
		}
		if n := s.PaymentHeadersSeen(); n != 1 {
			t.Fatalf("seller saw %d payments", n)
		}
	})
}
