package payments

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"
)

// State is where a payment row stands.
type State string

// Payment states. A row counts against the budget in every state but
// Released: once an authorization has left the process, only the chain can
// prove it unused (reconciliation), whatever the seller said.
const (
	StateReserved State = "reserved" // budget held, nothing signed yet
	StateSigned   State = "signed"   // an authorization exists and may be used
	StateSettled  State = "settled"  // the seller reported settlement, or the chain proved it
	StateRejected State = "rejected" // the seller refused it: counted until proven unused
	StateUnknown  State = "unknown"  // ambiguous outcome: counted until proven unused
	StateReleased State = "released" // never signed, never sent, or proven unused
)

// Reservation asks the ledger to hold an amount for one payment.
type Reservation struct {
	Tool     string
	Resource string
	// CallID is the tool call's idempotency key, recorded on the row: a
	// ledger holds at most one payment per non-empty CallID.
	CallID string
	// Amount is in Currency's atomic units.
	Amount  Amount
	Network Network
	// NetworkName is how people call Network ("Base Sepolia"), for
	// messages; empty: its id.
	NetworkName string
	// PayTo and Asset are in their family's canonical form.
	PayTo string
	Asset string
	// Currency is the asset's: how Amount reads and which budgets count it.
	// The zero value is USDC.
	Currency Currency
	// Host is the upstream's host:port, for the per-host budget.
	Host string
	// Session keys the per-session budget (the stdio process, or the
	// authenticated principal over HTTP).
	Session string
	// Principal names who made the call (the HTTP transport's
	// authenticated principal; "default" over stdio): the ledger records
	// it, and its own budgets (Budget.Principals) count the payment.
	Principal string
	// ToolBudget is the entry's own lifetime budget; zero means Budget.PerTool.
	ToolBudget Amount
	// Kind is KindPayment (also when empty) for a paid call, KindTip for a
	// tip: a tip also counts against Budget.TipPerDay.
	Kind string
	// Note is a tip's note, sanitized, for the books only (never sent).
	Note string
	// UpTo says Amount is a maximum the seller settles from nothing up to
	// (Terms.UpTo): it is held in full, and a settlement for less books
	// the settled amount and gives the rest back (Ledger.Settle).
	UpTo bool
}

// Kinds of ledger rows.
const (
	KindPayment = "payment" // a paid tool call
	KindTip     = "tip"     // a tip (x402_tip), paid through a facilitator
)

// IsTip says whether the reservation is a tip.
func (r Reservation) IsTip() bool { return r.Kind == KindTip }

// Signed records the signed payment before it leaves the process: once it
// is written, the payment counts until proven unused.
type Signed struct {
	// Proof is what its scheme proves the payment's fate with later: the
	// family, the scheme, the payer, the id on chain (EVM: the nonce), the
	// expiry and the family's own record.
	Proof Proof
	// Header and Payload are the payment header's name and the exact value
	// sent (every resend carries the same one).
	Header      string
	Payload     string
	X402Version int
	// PaymentID is the payment identifier offered to the seller (the
	// payment-identifier extension); empty when the seller asked for none.
	PaymentID string
}

// Summary is the budget as the ledger sees it: USDC's, with the declared
// assets' in Assets.
type Summary struct {
	Total    Amount `json:"-"` // the total limit; zero means none
	Settled  Amount `json:"-"` // reported settled
	Pending  Amount `json:"-"` // reserved, signed, unknown or rejected: not proven either way
	Payments int    `json:"payments"`
	// Budget is every limit the ledger enforces.
	Budget Budget `json:"-"`
	// Day is what counts within the current day window, which began at
	// DayStart; DayResets is when a calendar day ends (zero for a rolling
	// window).
	Day       Amount    `json:"-"`
	DayStart  time.Time `json:"-"`
	DayResets time.Time `json:"-"`
	// Assets are the budgets of the declared assets (Budget.Assets), sorted
	// by symbol, each with what counts against it in its own units.
	Assets []AssetSummary `json:"-"`
}

// AssetSummary is one declared asset's budget as the ledger sees it.
type AssetSummary struct {
	AssetBudget
	Settled  Amount // reported settled
	Pending  Amount // reserved, signed, unknown or rejected
	Payments int    // settled payments
	Day      Amount // counted within the current day window
}

// Counted is everything that counts against the asset's budget.
func (s AssetSummary) Counted() Amount { return addSat(s.Settled, s.Pending) }

// Left is what the asset's total budget still allows.
func (s AssetSummary) Left() Amount {
	if c := s.Counted(); c < s.Total {
		return s.Total - c
	}
	return 0
}

// sortAssets orders asset summaries by symbol, then by key.
func sortAssets(a []AssetSummary) {
	sort.Slice(a, func(i, j int) bool {
		if a[i].Currency.Symbol != a[j].Currency.Symbol {
			return a[i].Currency.Symbol < a[j].Currency.Symbol
		}
		return a[i].Currency.Budget < a[j].Currency.Budget
	})
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

// DayLeft is what the per-day budget still allows, or MaxAmount with none.
func (s Summary) DayLeft() Amount {
	if s.Budget.PerDay == 0 {
		return MaxAmount
	}
	if s.Day < s.Budget.PerDay {
		return s.Budget.PerDay - s.Day
	}
	return 0
}

// PrincipalSummary is one principal's books in USDC, as a ledger sees
// them: what it settled (and how many payments), the rest that counts, and
// what counts within the current day window, with its own budgets.
type PrincipalSummary struct {
	Name string
	// Budget is the principal's own budgets (zero: none).
	Budget   PrincipalBudget
	Settled  Amount
	Pending  Amount // reserved, signed, unknown or rejected
	Payments int    // settled payments
	Day      Amount
	// DayResets is when a calendar day ends (zero for a rolling window).
	DayResets time.Time
}

// Counted is everything the principal counted.
func (s PrincipalSummary) Counted() Amount { return addSat(s.Settled, s.Pending) }

// SigningLedger is a Ledger that can reserve a payment and record its signed
// authorization in one atomic step, for payments that need no approval
// between the two: the payment is never seen reserved but unsigned, and the
// ledger commits (and flushes) once instead of twice. sign is called once,
// after the budgets allowed the payment; an error from it records nothing.
// sign may run while the ledger holds its write lock: it must only compute.
type SigningLedger interface {
	Ledger
	ReserveSigned(ctx context.Context, r Reservation, sign func() (Signed, error)) (id string, err error)
}

// Ledger records every reservation and payment and enforces the budget.
// Reserve must check every budget and hold the amount in one atomic step.
// Implementations are safe for concurrent use.
//
// A payment walks reserved → signed → settled | rejected | unknown, and a
// reservation that was never signed → released. Only a ledger's
// reconciliation, with proof from the chain that the authorization is
// unused and can no longer be used, releases a payment whose authorization
// left the process; ReleaseUnsent releases one that provably never left.
type Ledger interface {
	// Reserve holds r.Amount, or returns an *Error with CodeOverBudget.
	Reserve(ctx context.Context, r Reservation) (id string, err error)
	// MarkSigned records the authorization before it is sent. It fails
	// unless the payment is reserved: a payment is signed at most once.
	MarkSigned(ctx context.Context, id string, s Signed) error
	// Settle records the seller's receipt. For an upto payment
	// (Reservation.UpTo) whose receipt settled less than its maximum
	// (Receipt.Amount below Receipt.Maximum), it books Receipt.Amount and
	// the rest stops counting at once.
	Settle(ctx context.Context, id string, rc Receipt) error
	// Reject records that the seller refused the payment. The seller had the
	// signed authorization and may still use it: the amount stays counted
	// until reconciliation proves it unused.
	Reject(ctx context.Context, id, reason string) error
	// MarkUnknown records an ambiguous outcome; the amount stays counted.
	MarkUnknown(ctx context.Context, id, reason string) error
	// Release frees a reservation that was never signed.
	Release(ctx context.Context, id, reason string) error
	// ReleaseUnsent frees a signed payment whose authorization provably never
	// left the process (the connection to send it was never made), and
	// forgets the signed payload and the proof's own record (which may hold
	// the signed transaction). It fails unless the payment is signed.
	ReleaseUnsent(ctx context.Context, id, reason string) error
	// Summary reports the budget.
	Summary(ctx context.Context) (Summary, error)
	// Spent reports what counts now against each budget r would touch
	// (Budget.Check with it says whether Reserve would accept r).
	Spent(ctx context.Context, r Reservation) (Spent, error)
}

// Counts says whether a payment in state s counts against the budgets:
// every state but released. A rejected payment counts like an unknown one:
// a seller that refused a signed payment it holds may still settle it, and
// its expiry proves nothing until the chain proves it unusable (EVM: the
// nonce unused at a block past validBefore).
func (s State) Counts() bool {
	switch s {
	case StateReserved, StateSigned, StateSettled, StateUnknown, StateRejected:
		return true
	}
	return false
}

// CanBecome says whether a payment may move from state s to state to.
// Settled, rejected and unknown may be written again (a later receipt or
// reason); reaching released from signed, rejected or unknown takes proof
// that the authorization is unused, which only reconciliation has.
func (s State) CanBecome(to State) bool {
	switch s {
	case StateReserved:
		return to == StateSigned || to == StateReleased
	case StateSigned:
		return to == StateSettled || to == StateRejected || to == StateUnknown || to == StateReleased
	case StateUnknown, StateRejected:
		return to == s || to == StateSettled || to == StateReleased
	case StateSettled:
		return to == StateSettled
	}
	return false
}

// ErrDuplicateCall is returned (wrapped) by Reserve when the call already
// has a payment: at most one payment per tool call.
var ErrDuplicateCall = errors.New("this tool call already has a payment")

// MemoryLedger is a Ledger held in memory: it enforces budgets within one
// process and forgets everything on exit. It applies the same budget rules as
// the durable ledger (payments/ledger), through Budget.Check. It has no
// reconciliation: a rejected or unknown payment counts until the process
// ends.
type MemoryLedger struct {
	budget Budget
	now    func() time.Time

	mu    sync.Mutex
	seq   int
	rows  map[string]*memRow
	calls map[string]string // call id → payment id
}

type memRow struct {
	Reservation
	state   State
	created time.Time
	signed  Signed
	receipt *Receipt
	reason  string
}

func (r *memRow) counted() bool { return r.state.Counts() }

// NewMemoryLedger returns an empty ledger enforcing b. now may be nil (time.Now).
func NewMemoryLedger(b Budget, now func() time.Time) *MemoryLedger {
	if now == nil {
		now = time.Now
	}
	return &MemoryLedger{budget: b, now: now, rows: map[string]*memRow{}, calls: map[string]string{}}
}

// ReserveSigned implements SigningLedger.
func (l *MemoryLedger) ReserveSigned(ctx context.Context, r Reservation, sign func() (Signed, error)) (string, error) {
	id, err := l.Reserve(ctx, r)
	if err != nil {
		return "", err
	}
	s, err := sign()
	if err == nil {
		err = l.MarkSigned(ctx, id, s)
	}
	if err != nil {
		// Nothing was recorded as signed, so nothing left: free the hold.
		if rerr := l.Release(ctx, id, "signing failed"); rerr != nil {
			return "", errors.Join(err, fmt.Errorf("ledger: payment %s stays reserved: %w", id, rerr))
		}
		return "", err
	}
	return id, nil
}

// Reserve implements Ledger.
func (l *MemoryLedger) Reserve(_ context.Context, r Reservation) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.CallID != "" {
		if id, ok := l.calls[r.CallID]; ok {
			return "", fmt.Errorf("ledger: call %s: %w (payment %s)", r.CallID, ErrDuplicateCall, id)
		}
	}
	now := l.now()
	if e := l.budget.Check(r, l.spentLocked(r, now), now); e != nil {
		if e.Over != nil && e.Over.Scope == ScopeTotal {
			e.Message += " (The in-memory ledger forgets its spending when x402-mcp restarts.)"
		}
		return "", e
	}
	l.seq++
	id := "mem-" + strconv.Itoa(l.seq)
	l.rows[id] = &memRow{Reservation: r, state: StateReserved, created: now}
	if r.CallID != "" {
		l.calls[r.CallID] = id
	}
	return id, nil
}

// Spent implements Ledger.
func (l *MemoryLedger) Spent(_ context.Context, r Reservation) (Spent, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spentLocked(r, l.now()), nil
}

func (l *MemoryLedger) spentLocked(r Reservation, now time.Time) Spent {
	var s Spent
	dayStart := l.budget.Day.Start(now)
	tipStart := dayStart // tips share the day window of budget.day
	unit := r.Currency.or().Budget
	for _, row := range l.rows {
		if !row.counted() || row.Currency.or().Budget != unit {
			continue // the budgets of r's currency count only rows in it
		}
		a := row.Amount
		s.Total = addSat(s.Total, a)
		if !row.created.Before(dayStart) {
			s.Day = addSat(s.Day, a)
			if s.DayOldest.IsZero() || row.created.Before(s.DayOldest) {
				s.DayOldest = row.created
			}
		}
		if row.Session == r.Session {
			s.Session = addSat(s.Session, a)
		}
		if r.Principal != "" && row.Principal == r.Principal {
			s.Principal = addSat(s.Principal, a)
			if row.Tool == r.Tool {
				s.PrincipalTool = addSat(s.PrincipalTool, a)
			}
			if !row.created.Before(dayStart) {
				s.PrincipalDay = addSat(s.PrincipalDay, a)
				if s.PrincipalDayOldest.IsZero() || row.created.Before(s.PrincipalDayOldest) {
					s.PrincipalDayOldest = row.created
				}
			}
		}
		if row.Tool == r.Tool {
			s.Tool = addSat(s.Tool, a)
		}
		if row.Host == r.Host {
			s.Host = addSat(s.Host, a)
		}
		if row.Network == r.Network {
			s.Network = addSat(s.Network, a)
		}
		if r.IsTip() && row.IsTip() && !row.created.Before(tipStart) {
			s.TipDay = addSat(s.TipDay, a)
			if s.TipDayOldest.IsZero() || row.created.Before(s.TipDayOldest) {
				s.TipDayOldest = row.created
			}
		}
	}
	return s
}

// addSat adds without wrapping: a sum past MaxAmount is over any limit anyway.
func addSat(a, b Amount) Amount {
	if s, ok := a.AddChecked(b); ok {
		return s
	}
	return MaxAmount
}

func (l *MemoryLedger) update(id string, to State, f func(*memRow)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	row, ok := l.rows[id]
	if !ok {
		return fmt.Errorf("ledger: no payment %q", id)
	}
	if !row.state.CanBecome(to) {
		return fmt.Errorf("ledger: payment %s is %s; it cannot become %s", id, row.state, to)
	}
	row.state = to
	f(row)
	return nil
}

// MarkSigned implements Ledger.
func (l *MemoryLedger) MarkSigned(_ context.Context, id string, s Signed) error {
	return l.update(id, StateSigned, func(r *memRow) { r.signed = s })
}

// Settle implements Ledger.
func (l *MemoryLedger) Settle(_ context.Context, id string, rc Receipt) error {
	return l.update(id, StateSettled, func(r *memRow) {
		r.receipt = &rc
		if r.UpTo && rc.Maximum != 0 && rc.Amount < r.Amount {
			r.Amount = rc.Amount
		}
	})
}

// Reject implements Ledger.
func (l *MemoryLedger) Reject(_ context.Context, id, reason string) error {
	return l.update(id, StateRejected, func(r *memRow) { r.reason = reason })
}

// MarkUnknown implements Ledger.
func (l *MemoryLedger) MarkUnknown(_ context.Context, id, reason string) error {
	return l.update(id, StateUnknown, func(r *memRow) { r.reason = reason })
}

// Release implements Ledger. A signed row can never be released here: only
// proof that its authorization is unused (the durable ledger's
// reconciliation) can.
func (l *MemoryLedger) Release(_ context.Context, id, reason string) error {
	return l.release(id, StateReserved, reason, "only an unsigned reservation can be released")
}

// ReleaseUnsent implements Ledger.
func (l *MemoryLedger) ReleaseUnsent(_ context.Context, id, reason string) error {
	return l.release(id, StateSigned, reason, "only a signed payment that was never sent can be released")
}

// release frees payment id if it is in state from, forgetting any signed
// payload; otherwise it fails, saying only.
func (l *MemoryLedger) release(id string, from State, reason, only string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	row, ok := l.rows[id]
	if !ok {
		return fmt.Errorf("ledger: no payment %q", id)
	}
	if row.state != from {
		return fmt.Errorf("ledger: payment %s is %s; %s", id, row.state, only)
	}
	row.state, row.reason = StateReleased, reason
	row.signed.Header, row.signed.Payload, row.signed.Proof.Data = "", "", nil
	return nil
}

// PrincipalSummary reports one principal's books (its USDC payments).
func (l *MemoryLedger) PrincipalSummary(_ context.Context, name string) (PrincipalSummary, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	s := PrincipalSummary{Name: name, Budget: l.budget.Principals[name], DayResets: l.budget.Day.Next(now)}
	dayStart := l.budget.Day.Start(now)
	for _, r := range l.rows {
		if !r.counted() || r.Principal != name || name == "" || !r.Currency.or().IsUSDC() {
			continue
		}
		if r.state == StateSettled {
			s.Settled = addSat(s.Settled, r.Amount)
			s.Payments++
		} else {
			s.Pending = addSat(s.Pending, r.Amount)
		}
		if !r.created.Before(dayStart) {
			s.Day = addSat(s.Day, r.Amount)
		}
	}
	return s, nil
}

// Summary implements Ledger.
func (l *MemoryLedger) Summary(context.Context) (Summary, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	s := Summary{Total: l.budget.Total, Budget: l.budget, DayStart: l.budget.Day.Start(now), DayResets: l.budget.Day.Next(now)}
	assets := map[string]*AssetSummary{}
	for unit, ab := range l.budget.Assets {
		assets[unit] = &AssetSummary{AssetBudget: ab}
	}
	for _, r := range l.rows {
		if !r.counted() {
			continue
		}
		settled, pending, payments, day := &s.Settled, &s.Pending, &s.Payments, &s.Day
		if cur := r.Currency.or(); !cur.IsUSDC() {
			a, ok := assets[cur.Budget]
			if !ok {
				continue // an asset no budget names any more
			}
			settled, pending, payments, day = &a.Settled, &a.Pending, &a.Payments, &a.Day
		}
		if r.state == StateSettled {
			*settled = addSat(*settled, r.Amount)
			*payments++
		} else {
			*pending = addSat(*pending, r.Amount)
		}
		if !r.created.Before(s.DayStart) {
			*day = addSat(*day, r.Amount)
		}
	}
	for _, a := range assets {
		s.Assets = append(s.Assets, *a)
	}
	sortAssets(s.Assets)
	return s, nil
}
