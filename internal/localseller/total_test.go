package localseller

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
)

// TestSettledTotalNeverWraps: a settlement that would carry the
// facilitator's settled total past the largest amount is refused before
// anything moves (in memory or on chain), instead of wrapping the total
// around to a small number; one that reaches the largest amount exactly
// settles.
func TestSettledTotalNeverWraps(t *testing.T) {
	for _, tt := range []struct {
		name    string
		onChain bool
		total   payments.Amount // before the payment of 10,000
		settles bool
	}{
		{"in memory, one unit too many", false, math.MaxUint64 - 9_999, false},
		{"in memory, to the last unit", false, math.MaxUint64 - 10_000, true},
		{"on chain, one unit too many", true, math.MaxUint64 - 9_999, false},
		{"on chain, to the last unit", true, math.MaxUint64 - 10_000, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var f *fixture
			var ch *fakeChain
			if tt.onChain {
				f, ch = chainFixture(t)
			} else {
				f = newFixture(t)
			}
			p := f.payload(t, f.payer, nil)
			if tt.onChain {
				p = f.chainPayload(t)
			}
			f.fac.mu.Lock()
			f.fac.total = tt.total
			f.fac.mu.Unlock()
			sr := f.fac.Settle(context.Background(), p, f.req)
			if !tt.settles {
				if sr.Success || sr.ErrorReason != ReasonUnexpectedSettleError || !strings.Contains(sr.ErrorMessage, "settled total") {
					t.Fatalf("settle = %+v, want refused naming the settled total", sr)
				}
				if got := f.fac.SettledTotal(); got != tt.total {
					t.Errorf("settled total %d, want %d unchanged", got, tt.total)
				}
				if ch != nil && ch.transfers != 0 {
					t.Errorf("%d transfers sent, want none", ch.transfers)
				}
				f.assertUnmoved(t)
				return
			}
			if !sr.Success {
				t.Fatalf("settle = %+v, want settled", sr)
			}
			if got := f.fac.SettledTotal(); got != math.MaxUint64 {
				t.Errorf("settled total %d, want %d", got, uint64(math.MaxUint64))
			}
		})
	}
}
