package payments

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// TestWarmMemory: the warm path's memory stays bounded however many
// requests and entries it sees, keeps no URL (nor the secret a resolved URL
// may carry) in clear, and never forgets that an entry is cold or has a
// warm payment in flight: not when full, not on Reset.
func TestWarmMemory(t *testing.T) {
	const secret = "s3cret-from-env"
	w := &Warm{}
	now := time.Now()
	pr := &x402.PaymentRequired{X402Version: 2, Accepts: []x402.Requirement{{Scheme: "exact", Amount: "1000", MaxTimeoutSeconds: 300}}}
	req := func(i int) *http.Request {
		return httptest.NewRequest("GET", fmt.Sprintf("https://seller.example/v2/weather/c%d?api_key=%s", i, secret), nil)
	}
	w.chill("cold", now, now)
	if w.take("flying", req(0), now) != nil {
		t.Fatal("took terms never stored")
	}
	w.store("flying", req(0), pr, &pr.Accepts[0], now, now, time.Time{})
	if w.take("flying", req(0), now) == nil {
		t.Fatal("fresh terms not taken")
	}
	if w.take("flying", req(0), now) != nil {
		t.Fatal("a second warm payment of one entry taken while the first is in flight")
	}
	for i := range 3 * maxWarmEntries {
		// Distinct entries and requests, more than either bound.
		w.store(fmt.Sprintf("entry%d", i), req(i), pr, &pr.Accepts[0], now, now, time.Time{})
		w.store("one entry", req(i), pr, &pr.Accepts[0], now, now, time.Time{})
	}
	w.mu.Lock()
	n := 0
	for k, e := range w.entries {
		n += len(e.terms)
		for rk := range e.terms {
			if strings.Contains(rk, secret) || strings.Contains(rk, "seller.example") {
				t.Fatalf("a request key holds the URL in clear: %q", rk)
			}
		}
		if strings.Contains(k, "entry") || strings.Contains(k, "cold") {
			t.Fatalf("an entry key holds the entry in clear: %q", k)
		}
	}
	entries, nterms := len(w.entries), w.nterms
	w.mu.Unlock()
	if n != nterms || nterms > maxWarmTerms || entries > maxWarmEntries {
		t.Fatalf("%d terms (counted %d) in %d entries; bounds %d and %d", n, nterms, entries, maxWarmTerms, maxWarmEntries)
	}
	w.Reset()
	w.store("cold", req(1), pr, &pr.Accepts[0], now, now, time.Time{})
	if w.take("cold", req(1), now) != nil {
		t.Fatal("a cold entry took warm terms after the memory filled up and was reset")
	}
	w.store("flying", req(0), pr, &pr.Accepts[0], now, now, time.Time{})
	if w.take("flying", req(0), now) != nil {
		t.Fatal("an entry in flight lost its flight when the memory filled up and was reset")
	}
	w.land("flying")
	if w.take("flying", req(0), now) == nil {
		t.Fatal("an entry stays in flight after it landed")
	}
}

// TestWarmTermsNeverOutliveThePayment: terms are not paid warm past when
// the payment that proved them is expected to expire (store's until: a
// Solana blockhash's life), even within the TTL.
func TestWarmTermsNeverOutliveThePayment(t *testing.T) {
	w := &Warm{}
	now := time.Now()
	pr := &x402.PaymentRequired{X402Version: 2, Accepts: []x402.Requirement{{Scheme: "exact", Amount: "1000", MaxTimeoutSeconds: 300}}}
	req := httptest.NewRequest("GET", "https://seller.example/v2/weather/oslo", nil)
	w.store("e", req, pr, &pr.Accepts[0], now, now, now.Add(5*time.Second))
	if w.take("e", req, now.Add(4*time.Second)) == nil {
		t.Fatal("terms not taken before the payment's expiry")
	}
	w.land("e")
	if w.take("e", req, now.Add(5*time.Second)) != nil {
		t.Fatal("terms taken at the payment's expiry, within the TTL")
	}
}
