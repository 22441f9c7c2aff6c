package ledger

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/x402-mcp/x402-mcp/payments"
)

// ReconcileReport says what Reconcile did. Checked = Settled + Released +
// StillOpen, counting the rows asked about on chain; Released also counts
// the stale reservations released without asking.
type ReconcileReport struct {
	Checked   int      `json:"checked"`
	Settled   int      `json:"settled"`
	Released  int      `json:"released"`
	StillOpen int      `json:"stillOpen"`
	Errors    []string `json:"errors,omitempty"`
	// NoRPC lists the networks of open payments that have no rpc endpoint:
	// those stay counted (in StillOpen) until one is configured.
	NoRPC []string `json:"noRpc,omitempty"`
	// Skipped: another process was reconciling the ledger (PostgreSQL),
	// so this pass did nothing (TryReconcile).
	Skipped bool `json:"skipped,omitempty"`
}

// Reason texts Reconcile records.
const (
	ReasonUsedOnChain   = "reconciled: authorization used on chain"
	ReasonUnusedExpired = "reconciled: authorization expired unused"
	ReasonNeverSigned   = "reconciled: reserved and never signed"
)

// Reconcile settles what the chain proves was paid and releases what it
// proves never will be:
//   - a reservation older than StaleReservation that was never signed is
//     released (its call died before signing);
//   - for each Unresolved payment, p asks the payment's own scheme
//     (payments.Schemes) to prove its fate from its Proof: used → settled,
//     with the transaction that used it when found; unusable forever (EVM:
//     the nonce unused at a block whose timestamp is at or past
//     validBefore) → released; otherwise it stays as it is, counted. The
//     clock proves nothing: with no chain answer, nothing is released.
//
// A row changed meanwhile (its call recorded an outcome) is left alone.
// An error for one row is recorded in Errors (or, for a network without an
// rpc endpoint, in NoRPC once) and the row left as it is; the error
// returned is the ledger's own.
//
// On PostgreSQL one process at a time reconciles a ledger: Reconcile waits
// (until ctx ends) while another holds the lock.
func (l *Ledger) Reconcile(ctx context.Context, p payments.Prover) (ReconcileReport, error) {
	rep, _, err := l.reconcileLocked(ctx, p, true)
	return rep, err
}

// TryReconcile is Reconcile, except that on PostgreSQL, while another
// process is reconciling the ledger, it does nothing and returns a report
// with Skipped set. (SQLite processes reconcile side by side: each change
// a pass makes is conditional on the row's state, so they never disagree.)
func (l *Ledger) TryReconcile(ctx context.Context, p payments.Prover) (ReconcileReport, error) {
	rep, ran, err := l.reconcileLocked(ctx, p, false)
	if !ran && err == nil {
		rep.Skipped = true
	}
	return rep, err
}

func (l *Ledger) reconcileLocked(ctx context.Context, p payments.Prover, wait bool) (rep ReconcileReport, ran bool, err error) {
	if !l.pg {
		rep, err = l.reconcile(ctx, p)
		return rep, true, err
	}
	lk, err := l.lockReconcile(ctx, wait)
	if err != nil || lk == nil {
		return rep, false, l.redactErr(err)
	}
	rep, err = l.reconcile(ctx, p)
	if rerr := lk.release(); rerr != nil {
		err = errors.Join(err, fmt.Errorf("ledger: reconcile: give the lock back: %w", rerr))
	}
	return rep, true, l.redactErr(err)
}

func (l *Ledger) reconcile(ctx context.Context, p payments.Prover) (ReconcileReport, error) {
	var rep ReconcileReport
	now := l.now()
	res, err := l.w.ExecContext(ctx, `UPDATE payments INDEXED BY payments_open SET state = 'released', reason = ?1, reconciled_at = ?2, updated_at = ?2
	WHERE `+open+` AND state = 'reserved' AND created_at < ?3`, ReasonNeverSigned, now.UnixMilli(), now.Add(-StaleReservation).UnixMilli())
	if err != nil {
		return rep, fmt.Errorf("ledger: release stale reservations: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil {
		rep.Released += int(n)
	}
	rows, err := l.Unresolved(ctx)
	if err != nil {
		return rep, err
	}
	noRPC := map[string]bool{}
	for _, r := range rows {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Checked++
		if noRPC[r.Network] {
			rep.StillOpen++
			continue
		}
		fate, err := p.Prove(ctx, r.Proof())
		if errors.Is(err, payments.ErrNoRPC) {
			noRPC[r.Network] = true
			rep.NoRPC = append(rep.NoRPC, r.Network)
			rep.StillOpen++
			continue
		}
		if err != nil {
			rep.StillOpen++
			rep.Errors = append(rep.Errors, fmt.Sprintf("payment %s: %v", r.ID, err))
			continue
		}
		id, err := parseID(r.ID)
		if err != nil {
			return rep, err
		}
		now := l.now()
		var to payments.State
		switch fate.State {
		case payments.FateSettled:
			to = payments.StateSettled
			amount := int64(-1) // an upto payment's amount stays its maximum unless the transfer says less
			if fate.HasAmount && fate.Amount <= math.MaxInt64 {
				amount = int64(fate.Amount)
			}
			res, err = l.w.ExecContext(ctx, `UPDATE payments SET state = 'settled', reason = ?2, reconciled_at = ?3, updated_at = ?3,
	tx = CASE WHEN tx = '' THEN ?4 ELSE tx END,
	amount = CASE WHEN authorized > 0 AND CAST(?5 AS BIGINT) >= 0 AND CAST(?5 AS BIGINT) < amount THEN CAST(?5 AS BIGINT) ELSE amount END
	WHERE id = ?1 AND state IN ('signed', 'unknown', 'rejected')`, id, ReasonUsedOnChain, now.UnixMilli(), sanitizeTx(fate.Transaction), amount)
		case payments.FateUnusable:
			to = payments.StateReleased
			res, err = l.w.ExecContext(ctx, `UPDATE payments SET state = 'released', reason = ?2, reconciled_at = ?3, updated_at = ?3
	WHERE id = ?1 AND state IN ('signed', 'unknown', 'rejected')`, id, ReasonUnusedExpired, now.UnixMilli())
		default:
			rep.StillOpen++
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("ledger: reconcile payment %s: %w", r.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return rep, fmt.Errorf("ledger: reconcile payment %s: %w", r.ID, err)
		}
		if n == 1 {
			if to == payments.StateSettled {
				rep.Settled++
			} else {
				rep.Released++
			}
			continue
		}
		// The call recorded an outcome meanwhile: report what it is now.
		cur, err := l.Get(ctx, r.ID)
		switch {
		case err != nil:
			return rep, err
		case cur.State == payments.StateSettled:
			rep.Settled++
		case cur.State == payments.StateReleased:
			rep.Released++
		default:
			rep.StillOpen++
		}
	}
	return rep, nil
}

// sanitizeTx keeps a transaction id only if it reads as one in some
// family: letters and digits only (EVM: 0x and 64 hex digits; Solana: a
// base58 signature), at most 128 of them.
func sanitizeTx(tx string) string {
	if tx == "" || len(tx) > 128 {
		return ""
	}
	for i := 0; i < len(tx); i++ {
		if c := tx[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return ""
		}
	}
	return tx
}
