package payments

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// State is where a payment row stands.
type State string

// Payment states. A row counts against the budget in every state but Released,
// and a Rejected row only until its authorization expires.
const (
	StateReserved State = "reserved" // budget held, nothing signed yet
	StateSigned   State = "signed"   // an authorization exists and may be used
	StateSettled  State = "settled"  // the seller reported settlement
	StateRejected State = "rejected" // the seller refused it; held until it expires
	StateUnknown  State = "unknown"  // ambiguous outcome: counted until proven unused
	StateReleased State = "released" // never signed, or proven unused
)

// Reservation asks the ledger to hold an amount for one payment.
type Reservation struct {
	Tool     string
	Resource string
	CallID   string
	Amount   Amount
	Network  Network
	PayTo    string
	Asset    string
}

// Signed records the authorization before it leaves the process.
type Signed struct {
	Nonce       string
	ValidBefore time.Time
}

// Summary is the budget as the ledger sees it.
type Summary struct {
	Total    Amount `json:"-"` // the limit; zero means none
	Settled  Amount `json:"-"` // reported settled
	Pending  Amount `json:"-"` // reserved, signed, unknown, or rejected-but-unexpired
	Payments int    `json:"payments"`
}

// Counted is everything that counts against the budget.
func (s Summary) Counted() Amount { return s.Settled + s.Pending }

// Left is what the total budget still allows, or MaxAmount with no total.
func (s Summary) Left() Amount {
	if s.Total == 0 {
		return MaxAmount
	}
	if c := s.Counted(); c < s.Total {
		return s.Total - c
	}
	return 0
}

// Ledger records every reservation and payment and enforces the budget.
// Reserve must check the budget and hold the amount in one atomic step.
// Implementations are safe for concurrent use.
type Ledger interface {
	// Reserve holds r.Amount, or returns an *Error with CodeOverBudget.
	Reserve(ctx context.Context, r Reservation) (id string, err error)
	// MarkSigned records the authorization before it is sent.
	MarkSigned(ctx context.Context, id string, s Signed) error
	// Settle records the seller's receipt.
	Settle(ctx context.Context, id string, rc Receipt) error
	// Reject records that the seller refused the payment; the amount stays
	// held until the authorization expires.
	Reject(ctx context.Context, id, reason string) error
	// MarkUnknown records an ambiguous outcome; the amount stays counted.
	MarkUnknown(ctx context.Context, id, reason string) error
	// Release frees a reservation that was never signed.
	Release(ctx context.Context, id, reason string) error
	// Summary reports the budget.
	Summary(ctx context.Context) (Summary, error)
}

// MemoryLedger is a Ledger held in memory: it enforces budgets within one
// process and forgets everything on exit.
type MemoryLedger struct {
	budget Budget
	now    func() time.Time

	mu   sync.Mutex
	seq  int
	rows map[string]*memRow
}

type memRow struct {
	Reservation
	state       State
	validBefore time.Time
	receipt     *Receipt
	reason      string
}

// NewMemoryLedger returns an empty ledger enforcing b. now may be nil (time.Now).
func NewMemoryLedger(b Budget, now func() time.Time) *MemoryLedger {
	if now == nil {
		now = time.Now
	}
	return &MemoryLedger{budget: b, now: now, rows: map[string]*memRow{}}
}

// Reserve implements Ledger.
func (l *MemoryLedger) Reserve(_ context.Context, r Reservation) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.summaryLocked()
	if l.budget.Total != 0 {
		after, ok := s.Counted().AddChecked(r.Amount)
		if !ok || after > l.budget.Total {
			return "", &Error{Code: CodeOverBudget, Charged: NotCharged, Message: fmt.Sprintf(
				"the total budget would be exceeded: %s would bring the counted spend to more than the %s limit (%s counted, %s left). Nothing was signed. The operator can raise budget.total in registry.yaml; the in-memory budget resets when x402-mcp restarts.",
				r.Amount.USDC(), l.budget.Total.USDC(), s.Counted().USDC(), s.Left().USDC())}
		}
	}
	l.seq++
	id := "mem-" + strconv.Itoa(l.seq)
	l.rows[id] = &memRow{Reservation: r, state: StateReserved}
	return id, nil
}

func (l *MemoryLedger) update(id string, f func(*memRow) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	row, ok := l.rows[id]
	if !ok {
		return fmt.Errorf("ledger: no payment %q", id)
	}
	return f(row)
}

// MarkSigned implements Ledger.
func (l *MemoryLedger) MarkSigned(_ context.Context, id string, s Signed) error {
	return l.update(id, func(r *memRow) error {
		if r.state != StateReserved {
			return fmt.Errorf("ledger: payment %s is %s, not reserved", id, r.state)
		}
		r.state, r.validBefore = StateSigned, s.ValidBefore
		return nil
	})
}

// Settle implements Ledger.
func (l *MemoryLedger) Settle(_ context.Context, id string, rc Receipt) error {
	return l.update(id, func(r *memRow) error {
		r.state, r.receipt = StateSettled, &rc
		return nil
	})
}

// Reject implements Ledger.
func (l *MemoryLedger) Reject(_ context.Context, id, reason string) error {
	return l.update(id, func(r *memRow) error {
		r.state, r.reason = StateRejected, reason
		return nil
	})
}

// MarkUnknown implements Ledger.
func (l *MemoryLedger) MarkUnknown(_ context.Context, id, reason string) error {
	return l.update(id, func(r *memRow) error {
		r.state, r.reason = StateUnknown, reason
		return nil
	})
}

// Release implements Ledger. A signed row can never be released here: only
// proof that its authorization is unused (a later issue's reconciliation) can.
func (l *MemoryLedger) Release(_ context.Context, id, reason string) error {
	return l.update(id, func(r *memRow) error {
		if r.state != StateReserved {
			return fmt.Errorf("ledger: payment %s is %s; only an unsigned reservation can be released", id, r.state)
		}
		r.state, r.reason = StateReleased, reason
		return nil
	})
}

// Summary implements Ledger.
func (l *MemoryLedger) Summary(context.Context) (Summary, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.summaryLocked(), nil
}

func (l *MemoryLedger) summaryLocked() Summary {
	s := Summary{Total: l.budget.Total}
	now := l.now()
	for _, r := range l.rows {
		switch r.state {
		case StateSettled:
			s.Settled += r.Amount
			s.Payments++
		case StateReserved, StateSigned, StateUnknown:
			s.Pending += r.Amount
		case StateRejected:
			if now.Before(r.validBefore) {
				s.Pending += r.Amount
			}
		}
	}
	return s
}
