package e2e

import (
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
)

// TestWarmPath drives the binary over stdio: the first paid call of a
// request takes two HTTP round trips (the 402, then the paid request), every
// later one of the same request takes one, and each moves exactly the price;
// another URL of the same entry starts cold. With --warm-path=false every
// call takes two. A seller that reprices is paid its new price within the
// same tool call.
func TestWarmPath(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		warm int64 // requests per call once warm
	}{{"on by default", nil, 1}, {"off", []string{"--warm-path=false"}, 2}} {
		t.Run(tt.name, func(t *testing.T) {
			seller, err := localseller.Start(localseller.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { seller.Close() })
			seller.Facilitator.Fund(payer, walletFunding)
			s := startSession(t, seller, mainCatalog, sessionOptions{args: tt.args})
			fac := seller.Facilitator
			seen := map[string]bool{}
			for i, city := range []string{"paris", "paris", "oslo", "oslo"} {
				r0, before := seller.Seller.Requests(), fac.Balance(payer)
				res := s.call("weather", map[string]any{"city": city})
				if res.IsError {
					t.Fatalf("call %d: %s", i, text(res))
				}
				want := tt.warm
				if !seen[city] {
					want = 2 // terms are remembered per request, not per URL template
				}
				seen[city] = true
				if got := seller.Seller.Requests() - r0; got != want {
					t.Fatalf("call %d (%s): %d HTTP requests reached the seller, want %d", i, city, got, want)
				}
				if d := before - fac.Balance(payer); d != 1000 {
					t.Fatalf("call %d: the wallet paid %d, want exactly 1000", i, d)
				}
			}

			// The seller reprices: the call still succeeds at the new price,
			// and exactly the new price leaves the wallet.
			seller.Seller.SetPrices(localseller.Prices{Weather: 800})
			before, settled := fac.Balance(payer), fac.SettledCount()
			res := s.call("weather", map[string]any{"city": "paris"})
			if res.IsError {
				t.Fatalf("after repricing: %s", text(res))
			}
			if rc := meta(res, "x402/payment-response"); rc == nil || rc["amountAtomic"] != payments.Amount(800).Atomic() {
				t.Fatalf("receipt %v, want the new price", rc)
			}
			if d := before - fac.Balance(payer); d != 800 {
				t.Fatalf("the wallet paid %d after repricing, want exactly 800", d)
			}
			if n := fac.SettledCount() - settled; n != 1 {
				t.Fatalf("%d settlements for one call", n)
			}
		})
	}
}
