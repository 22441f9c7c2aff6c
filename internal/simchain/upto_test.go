package simchain

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// uptoLimit is an upto entry of the Permit2 seller's token, whose metered
// route asks at most 0.01 (10,000 atomic) and settles 100 per unit.
func (p *p2Seller) uptoLimit() payments.Limit {
	lim := p.limit("metered")
	lim.Scheme = "upto"
	return lim
}

// row is the ledger's only row.
func (p *p2Seller) row(t *testing.T) ledger.Row {
	t.Helper()
	rows, err := p.ledger.List(context.Background(), ledger.Filter{})
	if err != nil || len(rows) != 1 {
		t.Fatalf("ledger rows %d (%v), want 1", len(rows), err)
	}
	return rows[0]
}

// TestUpToPaysWhatWasUsed: an upto entry signs the maximum for the upto
// proxy with the seller's facilitator in the witness; the budget holds the
// maximum until the seller settles; the ledger then books exactly the
// settled amount and gives the rest back at once; the receipt shows both;
// the chain moved exactly the settled amount, once.
func TestUpToPaysWhatWasUsed(t *testing.T) {
	p := startPermit2Seller(t, p2Options{approve: 1_000_000})
	var heldDuring payments.Amount
	// The approval question comes after the reservation: what the ledger
	// holds then is what it holds until the settlement.
	p.client.Approve = func(ctx context.Context, r payments.ApprovalRequest) error {
		_, heldDuring = p.counted(t)
		if r.Amount != 10_000 {
			t.Errorf("approval asked for %d, want the maximum 10000", r.Amount)
		}
		return nil
	}
	lim := p.uptoLimit()
	lim.ApproveAbove = 1
	res, err := p.get(t, "/v2/metered?units=37", lim)
	if err != nil {
		t.Fatal(err)
	}
	if heldDuring != 10_000 {
		t.Fatalf("the budget held %d while the call ran, want the maximum 10000", heldDuring)
	}
	rc := res.Receipt
	if res.Charged != payments.Charged || rc.State != "settled" || rc.Amount != 3_700 || rc.Maximum != 10_000 || rc.Transaction == "" {
		t.Fatalf("charged %s receipt %+v", res.Charged, rc)
	}
	var shown map[string]any
	b, _ := json.Marshal(rc)
	_ = json.Unmarshal(b, &shown)
	if shown["amount"] != "0.0037" || shown["maximum"] != "0.01" || shown["maximumAtomic"] != "10000" || !strings.Contains(rc.Line(), "0.0037 PUSD (3700 atomic) of at most 0.01 PUSD") {
		t.Fatalf("receipt shows %s / %q", b, rc.Line())
	}
	if payer, payee := p.balances(t); payer != 996_300 || payee != 3_700 {
		t.Fatalf("on chain: payer %d payee %d, want 996300 and 3700", payer, payee)
	}
	if settled, pending := p.counted(t); settled != 3_700 || pending != 0 {
		t.Fatalf("ledger: settled %d pending %d, want 3700 settled and the rest released", settled, pending)
	}
	if r := p.row(t); r.Amount != 3_700 || r.Authorized != 10_000 || r.Scheme != "upto" {
		t.Fatalf("row: amount %d authorized %d scheme %s", r.Amount, r.Authorized, r.Scheme)
	}
	if n, st := p.run.Seller.PaymentHeadersSeen(), p.run.Facilitator.Settlements(); n != 1 || len(st) != 1 || st[0].Value != 3_700 {
		t.Fatalf("%d payments sent, settlements %+v; want one of 3700", n, st)
	}
	pl, a := receivedPermit2(t, p.run.Seller, 0)
	_ = pl
	if !a.Upto() || *a.Facilitator != p.run.Facilitator.FacilitatorAddress() || a.Amount.Int64() != 10_000 || a.Spender.Hex() != "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002" {
		t.Fatalf("signed %+v", a)
	}
}

// TestUpToZeroSettlement: a seller that settles nothing sends no
// transaction; the call is charged 0, and the signed maximum, still usable
// until its deadline, stays counted until reconciliation proves it expired
// unused on chain.
func TestUpToZeroSettlement(t *testing.T) {
	ctx := context.Background()
	p := startPermit2Seller(t, p2Options{approve: 1_000_000})
	res, err := p.get(t, "/v2/metered?units=0", p.uptoLimit())
	if err != nil {
		t.Fatal(err)
	}
	rc := res.Receipt
	if rc.State != "unsettled" || rc.Amount != 0 || rc.Maximum != 10_000 || rc.Transaction != "" || !strings.Contains(rc.Line(), "the seller charged 0") {
		t.Fatalf("receipt %+v: %s", rc, rc.Line())
	}
	if payer, payee := p.balances(t); payer != 1_000_000 || payee != 0 {
		t.Fatalf("money moved: payer %d payee %d", payer, payee)
	}
	if settled, pending := p.counted(t); settled != 0 || pending != 10_000 {
		t.Fatalf("ledger: settled %d pending %d, want the maximum still counted", settled, pending)
	}
	// Not before the chain shows the deadline past.
	rep, err := p.ledger.Reconcile(ctx, p.client.Schemes)
	if err != nil || rep.Released != 0 || rep.StillOpen != 1 {
		t.Fatalf("reconcile before the deadline: %+v %v", rep, err)
	}
	if err := p.sim.AdjustTime(10 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := p.sim.Seal(40); err != nil {
		t.Fatal(err)
	}
	rep, err = p.ledger.Reconcile(ctx, p.client.Schemes)
	if err != nil || rep.Released != 1 {
		t.Fatalf("reconcile past the deadline: %+v %v", rep, err)
	}
	if settled, pending := p.counted(t); settled != 0 || pending != 0 {
		t.Fatalf("after reconciliation: settled %d pending %d, want nothing", settled, pending)
	}
}

// TestUpToSellerFault: a settlement response above the signed maximum is
// recorded as the seller's fault: counted at the maximum, never more, until
// reconciliation reads the transfer on chain and books what moved.
func TestUpToSellerFault(t *testing.T) {
	ctx := context.Background()
	p := startPermit2Seller(t, p2Options{approve: 1_000_000})
	res, err := p.get(t, "/v2/metered?units=12&overreport=1", p.uptoLimit())
	if err != nil {
		t.Fatal(err)
	}
	rc := res.Receipt
	if rc.SellerFault == "" || !strings.Contains(rc.SellerFault, "above the signed maximum") || !strings.Contains(rc.Line(), "seller fault") {
		t.Fatalf("receipt %+v: %s", rc, rc.Line())
	}
	if r := p.row(t); r.State != payments.StateUnknown || !strings.Contains(r.Reason, "seller fault") || r.Amount != 10_000 {
		t.Fatalf("row: %s %q amount %d", r.State, r.Reason, r.Amount)
	}
	if payer, payee := p.balances(t); payer != 998_800 || payee != 1_200 {
		t.Fatalf("on chain: payer %d payee %d, want 998800 and 1200", payer, payee)
	}
	rep, err := p.ledger.Reconcile(ctx, p.client.Schemes)
	if err != nil || rep.Settled != 1 {
		t.Fatalf("reconcile: %+v %v", rep, err)
	}
	if r := p.row(t); r.State != payments.StateSettled || r.Amount != 1_200 {
		t.Fatalf("after reconciliation: %s amount %d, want settled 1200 (the transfer on chain)", r.State, r.Amount)
	}
	if settled, pending := p.counted(t); settled != 1_200 || pending != 0 {
		t.Fatalf("ledger: settled %d pending %d", settled, pending)
	}
}

// TestUpToRefusals: a seller that tries to settle above the maximum is
// refused by the facilitator and nothing moves; approve_above judges the
// maximum, not what a call may use.
func TestUpToRefusals(t *testing.T) {
	t.Run("settlement above the maximum", func(t *testing.T) {
		p := startPermit2Seller(t, p2Options{approve: 1_000_000})
		_, err := p.get(t, "/v2/metered?units=5&overcharge=1", p.uptoLimit())
		pe, ok := payments.AsError(err)
		if !ok || pe.Code != payments.CodePaymentRejected || !strings.Contains(pe.Message, localseller.ReasonUptoExceeds) {
			t.Fatalf("err = %v", err)
		}
		if payer, payee := p.balances(t); payer != 1_000_000 || payee != 0 {
			t.Fatalf("money moved: payer %d payee %d", payer, payee)
		}
	})
	t.Run("approve_above judges the maximum", func(t *testing.T) {
		p := startPermit2Seller(t, p2Options{approve: 1_000_000})
		lim := p.uptoLimit()
		lim.ApproveAbove = 9_999 // one unit of use costs 100, but the maximum is 10000
		_, err := p.get(t, "/v2/metered?units=1", lim)
		pe, ok := payments.AsError(err)
		if !ok || pe.Code != payments.CodeApprovalRequired || !strings.Contains(pe.Message, "0.01 PUSD") {
			t.Fatalf("err = %v", err)
		}
		if n := p.run.Seller.PaymentHeadersSeen(); n != 0 {
			t.Fatalf("%d payments sent", n)
		}
	})
	t.Run("max_price caps the maximum", func(t *testing.T) {
		p := startPermit2Seller(t, p2Options{approve: 1_000_000})
		lim := p.uptoLimit()
		lim.MaxPrice = 9_999
		_, err := p.get(t, "/v2/metered?units=1", lim)
		if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodePriceAboveCap {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestUpToLostReceipt: when the settlement response is lost, the payment
// counts at its maximum; reconciliation finds the transfer that used its
// Permit2 nonce and books the amount it moved.
func TestUpToLostReceipt(t *testing.T) {
	ctx := context.Background()
	p := startPermit2Seller(t, p2Options{approve: 1_000_000})
	res, err := p.get(t, "/v2/metered?units=25&noreceipt=1", p.uptoLimit())
	if err != nil {
		t.Fatal(err)
	}
	if res.Receipt.State != "unconfirmed" {
		t.Fatalf("receipt %+v", res.Receipt)
	}
	if settled, pending := p.counted(t); settled != 0 || pending != 10_000 {
		t.Fatalf("ledger: settled %d pending %d, want the maximum counted", settled, pending)
	}
	rep, err := p.ledger.Reconcile(ctx, p.client.Schemes)
	if err != nil || rep.Settled != 1 {
		t.Fatalf("reconcile: %+v %v", rep, err)
	}
	r := p.row(t)
	if r.State != payments.StateSettled || r.Amount != 2_500 || r.Transaction != p.run.Facilitator.Settlements()[0].Transaction {
		t.Fatalf("after reconciliation: %s amount %d tx %s", r.State, r.Amount, r.Transaction)
	}
	if settled, pending := p.counted(t); settled != 2_500 || pending != 0 {
		t.Fatalf("ledger: settled %d pending %d, want 2500 and 0", settled, pending)
	}
}

// TestUpToByAPrincipal: an upto payment made for a principal (the HTTP
// transport's) is booked to it; the principal's own running sums hold the
// maximum until the settlement, then what settled, as the gateway's do:
// the rest leaves them at once, whether the seller's response said how
// much settled or reconciliation read it from the chain's transfer.
func TestUpToByAPrincipal(t *testing.T) {
	ctx := payments.WithPrincipal(context.Background(), "team-a")
	p := startPermit2Seller(t, p2Options{approve: 1_000_000})
	held := payments.Reservation{Tool: "metered", Principal: "team-a", Currency: p.asset.Currency(), Network: Network}
	spent := func() payments.Spent {
		t.Helper()
		s, err := p.ledger.Spent(context.Background(), held)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var heldDuring payments.Spent
	p.client.Approve = func(context.Context, payments.ApprovalRequest) error {
		heldDuring = spent()
		return nil
	}
	lim := p.uptoLimit()
	lim.ApproveAbove = 1
	get := func(path string) *payments.Result {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.run.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.client.Do(ctx, req, lim)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := get("/v2/metered?units=37")
	if heldDuring.Principal != 10_000 || heldDuring.PrincipalTool != 10_000 || heldDuring.PrincipalDay != 10_000 {
		t.Fatalf("the principal's sums held %+v while the call ran, want the maximum 10000", heldDuring)
	}
	if rc := res.Receipt; rc.State != "settled" || rc.Amount != 3_700 || rc.Maximum != 10_000 {
		t.Fatalf("receipt %+v", rc)
	}
	if s := spent(); s.Principal != 3_700 || s.PrincipalTool != 3_700 || s.PrincipalDay != 3_700 || s.Total != 3_700 {
		t.Fatalf("after settling 3700: %+v, want 3700 in the principal's sums and the gateway's", s)
	}
	if r := p.row(t); r.Principal != "team-a" || r.Amount != 3_700 || r.Authorized != 10_000 {
		t.Fatalf("row: principal %q amount %d authorized %d", r.Principal, r.Amount, r.Authorized)
	}

	// The settlement response lost: the maximum counts until
	// reconciliation reads the transfer.
	lim.ApproveAbove = 0
	if res := get("/v2/metered?units=25&noreceipt=1"); res.Receipt.State != "unconfirmed" {
		t.Fatalf("receipt %+v", res.Receipt)
	}
	if s := spent(); s.Principal != 13_700 || s.PrincipalTool != 13_700 || s.PrincipalDay != 13_700 {
		t.Fatalf("with a lost receipt: %+v, want 3700 and the maximum 10000", s)
	}
	rep, err := p.ledger.Reconcile(context.Background(), p.client.Schemes)
	if err != nil || rep.Settled != 1 {
		t.Fatalf("reconcile: %+v %v", rep, err)
	}
	if s := spent(); s.Principal != 6_200 || s.PrincipalTool != 6_200 || s.PrincipalDay != 6_200 || s.Total != 6_200 {
		t.Fatalf("after reconciliation: %+v, want 3700 + 2500 in the principal's sums and the gateway's", s)
	}
	if payer, payee := p.balances(t); payer != 993_800 || payee != 6_200 {
		t.Fatalf("on chain: payer %d payee %d, want 993800 and 6200", payer, payee)
	}
}
