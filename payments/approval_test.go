package payments_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
)

// The weather route costs 0.001 USDC (1000 atomic).
func TestApproval(t *testing.T) {
	declined := func(context.Context, payments.ApprovalRequest) error {
		return fmt.Errorf("user said no: %w", payments.ErrDeclined)
	}
	unreachable := func(context.Context, payments.ApprovalRequest) error {
		return errors.New("session does not support elicitation")
	}
	approved := func(context.Context, payments.ApprovalRequest) error { return nil }
	for _, tt := range []struct {
		name          string
		policy, entry payments.Amount
		approver      payments.Approver
		asked         bool
		code          payments.Code // "" for a paid call
	}{
		{"no threshold", 0, 0, nil, false, ""},
		{"below the threshold", 1000, 0, nil, false, ""},
		{"approved", 999, 0, approved, true, ""},
		{"declined", 999, 0, declined, true, payments.CodeApprovalDeclined},
		{"cannot ask", 999, 0, unreachable, true, payments.CodeApprovalRequired},
		{"no approver fails closed", 999, 0, nil, false, payments.CodeApprovalRequired},
		{"entry override raises", 999, 1000, nil, false, ""},
		{"entry override lowers", 0, 500, declined, true, payments.CodeApprovalDeclined},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 1_000_000)
			f.client.Policy.ApproveAbove = tt.policy
			var got []payments.ApprovalRequest
			var mu sync.Mutex
			if tt.approver != nil {
				f.client.Approve = func(ctx context.Context, r payments.ApprovalRequest) error {
					mu.Lock()
					got = append(got, r)
					mu.Unlock()
					if _, ok := ctx.Deadline(); !ok {
						t.Error("the approval wait has no deadline")
					}
					return tt.approver(ctx, r)
				}
			}
			lim := payments.Limit{Tool: "weather", MaxPrice: 10_000, ApproveAbove: tt.entry, Description: "Weather for a city."}
			res, err := f.client.Do(context.Background(), get(t, f.url+"/v2/weather/paris"), lim)
			if (len(got) == 1) != tt.asked || len(got) > 1 {
				t.Fatalf("asked %d times, want asked=%v", len(got), tt.asked)
			}
			if tt.asked {
				r := got[0]
				if r.Tool != "weather" || r.Amount != 1000 || r.Network != "eip155:84532" || r.PayTo != f.seller.PayTo().Hex() ||
					r.Description != "Weather for a city." || r.Resource != "GET "+f.url+"/v2/weather/paris" || r.Asset == "" {
					t.Fatalf("approval request %+v", r)
				}
			}
			sum, _ := f.client.Ledger.Summary(context.Background())
			if tt.code == "" {
				if err != nil || res.Charged != payments.Charged {
					t.Fatalf("err %v", err)
				}
				if f.seller.PaymentHeadersSeen() != 1 || sum.Settled != 1000 {
					t.Fatalf("headers %d, ledger %+v", f.seller.PaymentHeadersSeen(), sum)
				}
				return
			}
			pe, ok := payments.AsError(err)
			if !ok || pe.Code != tt.code || pe.Charged != payments.NotCharged {
				t.Fatalf("err %v", err)
			}
			if f.seller.PaymentHeadersSeen() != 0 || sum.Pending != 0 || sum.Settled != 0 {
				t.Fatalf("something was signed: headers %d, ledger %+v", f.seller.PaymentHeadersSeen(), sum)
			}
			if tt.code == payments.CodeApprovalRequired && !strings.Contains(pe.Message, "defaults.approve_above") {
				t.Fatalf("message does not say how to raise the threshold: %s", pe.Message)
			}
		})
	}
}

// A cancel while the human is being asked signs nothing and frees the budget.
func TestCancelWhileApproving(t *testing.T) {
	f := newFixture(t, 1_000_000)
	f.client.Policy.ApproveAbove = 1
	ctx, cancel := context.WithCancel(context.Background())
	f.client.Approve = func(actx context.Context, _ payments.ApprovalRequest) error {
		cancel()
		<-actx.Done()
		return actx.Err()
	}
	_, err := f.client.Do(ctx, get(t, f.url+"/v2/weather/paris"), payments.Limit{Tool: "weather", MaxPrice: 10_000})
	if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodeApprovalRequired || pe.Charged != payments.NotCharged {
		t.Fatalf("err %v", err)
	}
	sum, _ := f.client.Ledger.Summary(context.Background())
	if f.seller.PaymentHeadersSeen() != 0 || sum.Pending != 0 {
		t.Fatalf("headers %d, ledger %+v", f.seller.PaymentHeadersSeen(), sum)
	}
}

// A call cancelled after the 402 but before reserving stops with nothing
// signed; the steps are reported in order.
func TestCancelBeforePaying(t *testing.T) {
	f := newFixture(t, 1_000_000)
	ctx, cancel := context.WithCancel(context.Background())
	var steps []string
	ctx = payments.WithProgress(ctx, func(step string) {
		steps = append(steps, step)
		cancel() // the call is cancelled once it has started
	})
	_, err := f.client.Do(ctx, get(t, f.url+"/v2/weather/paris"), payments.Limit{Tool: "weather", MaxPrice: 10_000})
	pe, ok := payments.AsError(err)
	if !ok || pe.Charged != payments.NotCharged {
		t.Fatalf("err %v", err)
	}
	if f.seller.PaymentHeadersSeen() != 0 {
		t.Fatalf("a payment reached the seller")
	}
	if len(steps) != 1 || steps[0] != payments.StepRequesting {
		t.Fatalf("steps %q", steps)
	}
}

func TestProgressSteps(t *testing.T) {
	f := newFixture(t, 1_000_000)
	f.client.Policy.ApproveAbove = 1
	f.client.Approve = func(context.Context, payments.ApprovalRequest) error { return nil }
	var steps []string
	ctx := payments.WithProgress(context.Background(), func(step string) { steps = append(steps, step) })
	if _, err := f.client.Do(ctx, get(t, f.url+"/v2/weather/paris"), payments.Limit{Tool: "weather", MaxPrice: 10_000}); err != nil {
		t.Fatal(err)
	}
	want := []string{payments.StepRequesting, payments.StepApproval, payments.StepPaying, payments.StepWaitingPaid}
	if fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Fatalf("steps %q, want %q", steps, want)
	}
}

// A cancel after signing leaves the payment unknown, never signed without an
// outcome.
func TestCancelAfterSigningIsUnknown(t *testing.T) {
	f := newFixture(t, 1_000_000)
	ctx, cancel := context.WithCancel(context.Background())
	ctx = payments.WithProgress(ctx, func(step string) {
		if step == payments.StepWaitingPaid {
			cancel()
		}
	})
	_, err := f.client.Do(ctx, get(t, f.url+"/v2/weather/paris"), payments.Limit{Tool: "weather", MaxPrice: 10_000})
	pe, ok := payments.AsError(err)
	if !ok || pe.Charged != payments.ChargeUnknown || pe.Code != payments.CodeOutcomeUnknown {
		t.Fatalf("err %v", err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		sum, _ := f.client.Ledger.Summary(context.Background())
		if sum.Pending == 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger %+v", sum)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
