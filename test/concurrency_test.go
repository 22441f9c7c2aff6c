package e2e

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
)

// TestStdioRunsCallsConcurrently: a host's concurrent tool calls over stdio
// run at once, not a few at a time. The upstream holds every request until
// 30 are in flight together, which only a server running at least 30 calls
// at once can reach (mcp-go's default is 5).
func TestStdioRunsCallsConcurrently(t *testing.T) {
	const n = 30
	var inFlight atomic.Int64
	gate := make(chan struct{})
	var once sync.Once
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inFlight.Add(1) >= n {
			once.Do(func() { close(gate) })
		}
		select {
		case <-gate:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true}`))
		case <-time.After(20 * time.Second):
			http.Error(w, "not enough calls in flight", http.StatusGatewayTimeout)
		}
	}))
	t.Cleanup(up.Close)
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	s := startSession(t, seller, catalog(`version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.01"
tools:
  - name: slow
    description: A free endpoint that answers once 30 calls wait on it.
    url: "`+up.URL+`/"
    max_price: "0.001"
`), sessionOptions{})
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for range n {
		wg.Go(func() {
			if res := s.call("slow", nil); res.IsError {
				errs <- text(res)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("a call failed (the server ran fewer than %d at once?): %s", n, e)
	}
}
