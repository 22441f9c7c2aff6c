package payments_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// TestRefusedPaymentStaysCounted: the seller answers the paid request with a
// 402 after receiving the signed payment. It holds an authorization it may
// still settle, so the model is not told "not charged": the result says the
// seller refused it and reported no settlement, that it stays counted until
// reconciliation proves it unused, and not to retry blindly; and the amount
// stays counted in the durable ledger after validBefore passes by the clock.
func TestRefusedPaymentStaysCounted(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1_500)
	clock := &testClock{t: time.Now()}
	book, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), f.client.Policy.Budget, ledger.WithNow(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { book.Close() })
	f.client.Ledger, f.client.Now = book, clock.Now

	_, err = f.client.Do(ctx, get(t, f.url+"/v2/misbehave/"+localseller.ModeSecond402), payments.Limit{Tool: "m", MaxPrice: 10_000})
	pe, ok := payments.AsError(err)
	if !ok || pe.Code != payments.CodePaymentRejected || pe.Charged != payments.ChargeUnknown {
		t.Fatalf("err = %v, want payment_rejected with the outcome unknown", err)
	}
	for _, s := range []string{"refused the signed payment of 0.001 USDC", "reported no settlement", "stays counted", "until reconciliation proves it unused", "Do not retry"} {
		if !strings.Contains(pe.Message, s) {
			t.Errorf("message does not say %q: %s", s, pe.Message)
		}
	}
	if strings.Contains(strings.ToLower(pe.Message), "not charged") || strings.Contains(pe.Message, "Nothing was") {
		t.Errorf("message claims nothing moved: %s", pe.Message)
	}
	if pe.Receipt == nil || pe.Receipt.State != string(payments.StateRejected) || pe.Receipt.LedgerID == "" {
		t.Fatalf("receipt %+v", pe.Receipt)
	}
	// Long past validBefore by the clock, the refused 0.001 still counts: a
	// second call of 0.001 does not fit the 0.0015 budget.
	clock.Add(24 * time.Hour)
	if s, _ := book.Summary(ctx); s.Pending != 1000 {
		t.Fatalf("summary %+v, want the refused 1000 pending", s)
	}
	_, err = f.client.Do(ctx, get(t, f.url+"/v2/weather/paris"), payments.Limit{Tool: "w", MaxPrice: 10_000})
	if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodeOverBudget {
		t.Fatalf("a second payment beside the refused one: %v", err)
	}
}
