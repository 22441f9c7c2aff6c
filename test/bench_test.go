package e2e

import (
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
)

// BenchmarkPaidToolCall measures one paid tools/call round trip: the MCP
// client writes the call to the binary's stdin, x402-mcp sends the request,
// gets the 402, signs, retries with the payment, the local seller verifies
// (ecrecover) and settles, and the result with its receipt comes back on
// stdout. Everything is on loopback. "warm" is the default (after the first
// call, the 402 round trip is skipped: see docs/warm-path.md); "cold" runs
// with --warm-path=false, every call asking the seller first.
func BenchmarkPaidToolCall(b *testing.B) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"warm", nil}, {"cold", []string{"--warm-path=false"}}} {
		b.Run(mode.name, func(b *testing.B) { benchPaidToolCall(b, mode.args) })
	}
}

func benchPaidToolCall(b *testing.B, args []string) {
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer seller.Close()
	seller.Facilitator.Fund(payer, 1_000_000_000_000)
	cat := catalog(strings.Replace(string(mainCatalog), `total: "1.00"`, `total: "1000000"`, 1))
	s := startSession(b, seller, cat, sessionOptions{env: []string{"X402_LOG_LEVEL=error"}, args: args})
	callArgs := map[string]any{"city": "paris"}
	b.ResetTimer()
	for b.Loop() {
		res := s.call("weather", callArgs)
		if res.IsError {
			b.Fatal(text(res))
		}
	}
	b.StopTimer()
	if got := seller.Facilitator.SettledCount(); got < b.N {
		b.Fatalf("%d settlements for %d calls", got, b.N)
	}
}
