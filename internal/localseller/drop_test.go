package localseller

import (
	"context"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
)

// TestDropAfterSettle checks the seller's side of drop_after_settle: the
// money moves, no answer arrives, and the client's resend of the same payment
// is refused as a spent nonce.
//
// Without a chain to ask, the client's verdict is outcome_unknown: the
// resend's 402 invalid_exact_evm_nonce_already_used follows a transport error
// on the same signed payment, so the first attempt may have settled. (With
// an rpc endpoint it asks the chain and answers charged: see
// internal/simchain TestUnknownAnsweredByTheChain.)
func TestDropAfterSettle(t *testing.T) {
	run := start(t, Config{})
	_, err := clientDo(t, context.Background(), newClient(t), "GET", run.URL+"/v2/misbehave/drop_after_settle", nil, payments.Limit{Tool: "drop"})
	pe, ok := payments.AsError(err)
	if !ok {
		t.Fatalf("err = %v, want a payment error", err)
	}
	if pe.Code != payments.CodeOutcomeUnknown || pe.Charged != payments.ChargeUnknown {
		t.Fatalf("%s reported %q although the payment settled", pe.Code, pe.Charged)
	}
	if run.Facilitator.SettledCount() != 1 || run.Facilitator.Balance(DefaultPayTo) != 1000 || run.Seller.PaidCount(MisbehaveRoute(ModeDropAfterSettle)) != 1 {
		t.Fatalf("settled %d, payee %s", run.Facilitator.SettledCount(), run.Facilitator.Balance(DefaultPayTo).USDC())
	}
	rp := run.Seller.ReceivedPayments()
	if len(rp) < 2 || rp[0].Value != rp[1].Value {
		t.Fatalf("want the same payment resent, got %d payment headers", len(rp))
	}
}
