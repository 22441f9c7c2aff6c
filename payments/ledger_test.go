package payments

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryLedgerBudgetEdges(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		total    Amount
		amounts  []Amount
		accepted int
	}{
		{"exactly at the total", 30, []Amount{10, 10, 10, 1}, 3},
		{"one unit over", 29, []Amount{10, 10, 10}, 2},
		{"no total", 0, []Amount{MaxAmount / 2, MaxAmount / 2}, 2},
		{"overflow refused", MaxAmount, []Amount{MaxAmount, 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewMemoryLedger(Budget{Total: tt.total}, nil)
			ok := 0
			for _, a := range tt.amounts {
				_, err := l.Reserve(ctx, Reservation{Tool: "t", Amount: a})
				if err == nil {
					ok++
					continue
				}
				pe, isPE := AsError(err)
				if !isPE || pe.Code != CodeOverBudget || pe.Charged != NotCharged {
					t.Fatalf("refusal = %v", err)
				}
			}
			if ok != tt.accepted {
				t.Fatalf("accepted %d reservations, want %d", ok, tt.accepted)
			}
		})
	}
}

func TestMemoryLedgerStates(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	l := NewMemoryLedger(Budget{Total: 100}, func() time.Time { return now })
	id1, _ := l.Reserve(ctx, Reservation{Amount: 10})
	id2, _ := l.Reserve(ctx, Reservation{Amount: 20})
	id3, _ := l.Reserve(ctx, Reservation{Amount: 30})
	id4, _ := l.Reserve(ctx, Reservation{Amount: 5})
	for _, id := range []string{id1, id2, id3} {
		if err := l.MarkSigned(ctx, id, Signed{Proof: Proof{ID: "0x1", Deadline: now.Add(time.Minute)}}); err != nil {
			t.Fatal(err)
		}
	}
	_ = l.Settle(ctx, id1, Receipt{})
	_ = l.Reject(ctx, id2, "nope")
	_ = l.MarkUnknown(ctx, id3, "timeout")
	if err := l.Release(ctx, id4, "declined"); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx, id3, "try"); err == nil {
		t.Fatal("a signed payment was released")
	}
	s, _ := l.Summary(ctx)
	if s.Settled != 10 || s.Pending != 50 || s.Left() != 40 || s.Payments != 1 {
		t.Fatalf("summary %+v left %d", s, s.Left())
	}
	now = now.Add(2 * time.Hour) // the rejected authorization expired by the clock: proof of nothing
	s, _ = l.Summary(ctx)
	if s.Pending != 50 || s.Left() != 40 {
		t.Fatalf("after expiry %+v", s)
	}
}

// TestMemoryLedgerConcurrentReserve: N goroutines never overspend the total.
func TestMemoryLedgerConcurrentReserve(t *testing.T) {
	l := NewMemoryLedger(Budget{Total: 1000}, nil)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Reserve(context.Background(), Reservation{Amount: 7}); err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1000/7 {
		t.Fatalf("%d reservations of 7 fit a budget of 1000, want %d", ok.Load(), 1000/7)
	}
}
