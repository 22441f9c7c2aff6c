package payments_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
)

// exactFixture is a local seller behind a request counter and a client paying
// on Base Sepolia up to 0.1 USDC a call, with the given budget.
type exactFixture struct {
	seller   *localseller.Seller
	url      string
	client   *payments.Client
	requests atomic.Int64
}

func newExactFixture(t *testing.T, budget payments.Budget) *exactFixture {
	t.Helper()
	f := &exactFixture{seller: localseller.New(localseller.Config{})}
	h := f.seller.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	w, err := wallet.ParseHexKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	f.seller.Facilitator().Fund(w.Address(), 100_000_000)
	pol := payments.Policy{Networks: []payments.Network{"eip155:84532"}, PerCall: 100_000, Budget: budget}
	f.client = &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: payments.NewMemoryLedger(budget, nil)}
	return f
}

// tip pays GET /v2/tip/alice?amount=<amount> with the amount as the call's
// exact price.
func (f *exactFixture) tip(t *testing.T, amount payments.Amount, lim payments.Limit, inflate bool) (*payments.Result, error) {
	t.Helper()
	url := f.url + "/v2/tip/alice?amount=" + amount.String()
	if inflate {
		url += "&inflate=1"
	}
	lim.Tool, lim.ExactAmount, lim.ExactArg = "tip", amount, "amount"
	return f.client.Do(context.Background(), get(t, url), lim)
}

// TestExactAmountPays: a tip pays exactly the amount chosen, at any
// amount up to the cap, and the wallet moves by exactly that.
func TestExactAmountPays(t *testing.T) {
	for _, amt := range []payments.Amount{1, 12_345, 50_000} {
		t.Run(amt.String(), func(t *testing.T) {
			f := newExactFixture(t, payments.Budget{Total: 1_000_000})
			fac := f.seller.Facilitator()
			payer := f.client.Signers[0].(*wallet.EVMKey).Address()
			before := fac.Balance(payer)
			res, err := f.tip(t, amt, payments.Limit{MaxPrice: 50_000}, false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != 200 || res.Charged != payments.Charged || res.Receipt.Amount != amt || res.Receipt.AmountAtom != amt.Atomic() {
				t.Fatalf("status %d charged %s receipt %+v", res.Status, res.Charged, res.Receipt)
			}
			if d := before - fac.Balance(payer); d != amt {
				t.Fatalf("wallet moved by %d, want exactly %d", d, amt)
			}
			if sum, _ := f.client.Ledger.Summary(context.Background()); sum.Settled != amt {
				t.Fatalf("ledger settled %d, want %d", sum.Settled, amt)
			}
		})
	}
}

// TestExactAmountRefusals: every refusal of an argued price signs nothing;
// one above the cap does not even reach the seller.
func TestExactAmountRefusals(t *testing.T) {
	for _, tt := range []struct {
		name     string
		budget   payments.Budget
		lim      payments.Limit
		amount   payments.Amount
		inflate  bool
		code     payments.Code
		requests int64  // requests the seller received
		inMsg    string // in the refusal message
	}{
		{name: "the seller asks double", lim: payments.Limit{MaxPrice: 50_000}, amount: 10_000, inflate: true,
			code: payments.CodePriceMismatch, requests: 1, inMsg: `the seller asks 0.02 USDC, not 0.01 USDC (the amount in argument "amount")`},
		{name: "the seller asks double, above max_price", lim: payments.Limit{MaxPrice: 50_000}, amount: 40_000, inflate: true,
			code: payments.CodePriceMismatch, requests: 1, inMsg: "asks 0.08 USDC, not 0.04 USDC"},
		{name: "above max_price", lim: payments.Limit{MaxPrice: 50_000}, amount: 50_001,
			code: payments.CodePriceAboveCap, requests: 0, inMsg: "above the max_price of tip (0.05 USDC)"},
		{name: "above the per-call cap", amount: 100_001,
			code: payments.CodePriceAboveCap, requests: 0, inMsg: "above the per-call cap (0.1 USDC)"},
		{name: "total budget", budget: payments.Budget{Total: 20_000}, amount: 20_001,
			code: payments.CodeOverBudget, requests: 1, inMsg: "0.020001"},
		{name: "tool budget", budget: payments.Budget{Total: 1_000_000}, lim: payments.Limit{ToolBudget: 5_000}, amount: 5_001,
			code: payments.CodeOverBudget, requests: 1},
		{name: "per-session budget", budget: payments.Budget{Total: 1_000_000, PerSession: 1_000}, amount: 1_001,
			code: payments.CodeOverBudget, requests: 1},
		{name: "per-host budget", budget: payments.Budget{Total: 1_000_000, PerHost: 1_000}, amount: 2_000,
			code: payments.CodeOverBudget, requests: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.budget.Total == 0 {
				tt.budget.Total = 1_000_000
			}
			f := newExactFixture(t, tt.budget)
			_, err := f.tip(t, tt.amount, tt.lim, tt.inflate)
			pe, ok := payments.AsError(err)
			if !ok || pe.Code != tt.code || pe.Charged != payments.NotCharged || !strings.Contains(pe.Message, tt.inMsg) {
				t.Fatalf("err = %v, want %s not charged containing %q", err, tt.code, tt.inMsg)
			}
			if n := f.requests.Load(); n != tt.requests {
				t.Fatalf("seller received %d requests, want %d", n, tt.requests)
			}
			if n := f.seller.PaymentHeadersSeen(); n != 0 {
				t.Fatalf("seller saw %d payment headers: something was signed", n)
			}
			if sum, _ := f.client.Ledger.Summary(context.Background()); sum.Counted() != 0 {
				t.Fatalf("ledger counted %d", sum.Counted())
			}
		})
	}
}

// TestExactAmountBudgetAcrossCalls: two tips under a budget that covers one
// and a half: the first pays, the second is refused before signing.
func TestExactAmountBudgetAcrossCalls(t *testing.T) {
	f := newExactFixture(t, payments.Budget{Total: 30_000})
	if _, err := f.tip(t, 20_000, payments.Limit{}, false); err != nil {
		t.Fatal(err)
	}
	_, err := f.tip(t, 20_000, payments.Limit{}, false)
	if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodeOverBudget || pe.Charged != payments.NotCharged {
		t.Fatalf("second tip: %v", err)
	}
	if n := f.seller.PaymentHeadersSeen(); n != 1 {
		t.Fatalf("seller saw %d payment headers, want 1", n)
	}
	if got := f.seller.Facilitator().Balance(f.seller.PayTo()); got != 20_000 {
		t.Fatalf("seller received %d, want 20000", got)
	}
}

// TestExactAmountApproval: the approval threshold applies to an argued
// price: the question carries that amount, and a decline signs nothing.
func TestExactAmountApproval(t *testing.T) {
	for _, tt := range []struct {
		name      string
		threshold payments.Amount
		amount    payments.Amount
		answer    error
		asked     bool
		code      payments.Code
	}{
		{"below the threshold", 10_000, 10_000, nil, false, ""},
		{"above, approved", 10_000, 10_001, nil, true, ""},
		{"above, declined", 10_000, 10_001, fmt.Errorf("no: %w", payments.ErrDeclined), true, payments.CodeApprovalDeclined},
		{"entry threshold", 0, 2_000, errors.New("cannot ask"), true, payments.CodeApprovalRequired},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newExactFixture(t, payments.Budget{Total: 1_000_000})
			lim := payments.Limit{}
			if tt.threshold != 0 {
				f.client.Policy.ApproveAbove = tt.threshold
			} else {
				lim.ApproveAbove = 1_000
			}
			var asked []payments.Amount
			f.client.Approve = func(_ context.Context, r payments.ApprovalRequest) error {
				asked = append(asked, r.Amount)
				return tt.answer
			}
			res, err := f.tip(t, tt.amount, lim, false)
			if tt.asked != (len(asked) == 1) || len(asked) > 1 || tt.asked && asked[0] != tt.amount {
				t.Fatalf("asked %v, want asked=%v for %d", asked, tt.asked, tt.amount)
			}
			if tt.code == "" {
				if err != nil || res.Receipt == nil || res.Receipt.Amount != tt.amount {
					t.Fatalf("err %v res %+v", err, res)
				}
				return
			}
			if pe, ok := payments.AsError(err); !ok || pe.Code != tt.code || pe.Charged != payments.NotCharged {
				t.Fatalf("err %v, want %s", err, tt.code)
			}
			if n := f.seller.PaymentHeadersSeen(); n != 0 {
				t.Fatalf("seller saw %d payment headers", n)
			}
		})
	}
}
