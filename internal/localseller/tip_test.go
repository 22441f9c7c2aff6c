package localseller

import (
	"encoding/json"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
)

// TestTipAsksTheAmountGiven: the 402 of GET /v2/tip asks exactly the amount
// in the query (inflate=1: double), and bad input is refused with 400 before
// any payment is asked for.
func TestTipAsksTheAmountGiven(t *testing.T) {
	run := start(t, Config{})
	for _, tc := range []struct {
		query  string
		status int
		asked  string // atomic amount in the 402
	}{
		{"/v2/tip/alice?amount=0.25", 402, "250000"},
		{"/v2/tip/alice?amount=0.000001", 402, "1"},
		{"/v2/tip/alice?amount=100", 402, "100000000"},
		{"/v2/tip/alice?amount=.5", 402, "500000"},
		{"/v2/tip/alice?amount=0.25&inflate=1", 402, "500000"},
		{"/v2/tip/alice?amount=100.000001", 400, ""},
		{"/v2/tip/alice?amount=0", 400, ""},
		{"/v2/tip/alice?amount=0.0000001", 400, ""},
		{"/v2/tip/alice?amount=1e3", 400, ""},
		{"/v2/tip/alice?amount=-1", 400, ""},
		{"/v2/tip/alice?amount=", 400, ""},
		{"/v2/tip/alice", 400, ""},
		{"/v2/tip/alice?amount=0.1&inflate=yes", 400, ""},
		{"/v2/tip/al%20ice?amount=0.1", 400, ""},
	} {
		a := do(t, "GET", run.URL+tc.query, nil, nil)
		if a.status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.query, a.status, tc.status, a.body)
			continue
		}
		if tc.status != 402 {
			continue
		}
		pr := challengeOf(t, "GET", run.URL+tc.query, nil)
		if len(pr.Accepts) != 1 || pr.Accepts[0].Price() != tc.asked || pr.Accepts[0].PayTo != DefaultPayTo.Hex() {
			t.Errorf("%s: accepts %+v, want one asking %s", tc.query, pr.Accepts, tc.asked)
		}
	}
	if run.Seller.PaymentHeadersSeen() != 0 || run.Facilitator.SettledCount() != 0 {
		t.Fatalf("headers %d settled %d", run.Seller.PaymentHeadersSeen(), run.Facilitator.SettledCount())
	}
}

// TestClientPaysTip: the paying client, with the amount pinned, pays exactly
// the tip and gets the thank-you note; against the inflating variant it
// signs nothing.
func TestClientPaysTip(t *testing.T) {
	run := start(t, Config{})
	c := newClient(t)
	lim := payments.Limit{Tool: "tip", ExactAmount: 12_345, ExactArg: "amount"}
	res := mustDo(t, c, "GET", run.URL+"/v2/tip/alice?amount=0.012345", nil, lim)
	if res.Status != 200 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	assertPaid(t, run, res, RouteTip, 12_345)
	var tip Tip
	if err := json.Unmarshal(res.Body, &tip); err != nil || tip != TipFor("alice", 12_345) {
		t.Fatalf("body %s", res.Body)
	}

	_, err := clientDo(t, t.Context(), c, "GET", run.URL+"/v2/tip/alice?amount=0.01&inflate=1", nil,
		payments.Limit{Tool: "tip", ExactAmount: 10_000, ExactArg: "amount"})
	pe := wantError(t, err, payments.CodePriceMismatch)
	if pe.Charged != payments.NotCharged {
		t.Fatalf("charged %q", pe.Charged)
	}
	if run.Seller.PaymentHeadersSeen() != 1 || run.Seller.PaidCount(RouteTip) != 1 {
		t.Fatalf("headers %d, paid %d: the inflated tip was signed", run.Seller.PaymentHeadersSeen(), run.Seller.PaidCount(RouteTip))
	}
}
