package ledger

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

// AuthorizationChecker asks the chain whether an EIP-3009 authorization was
// used (USDC's authorizationState(payer, nonce)). payments/chain has the real
// one.
type AuthorizationChecker interface {
	AuthorizationUsed(ctx context.Context, network payments.Network, asset, payer common.Address, nonce [32]byte) (bool, error)
}

// ReconcileReport says what Reconcile did. Checked = Settled + Released +
// StillOpen, counting the rows asked about on chain; Released also counts
// the stale reservations released without asking.
type ReconcileReport struct {
	Checked   int      `json:"checked"`
	Settled   int      `json:"settled"`
	Released  int      `json:"released"`
	StillOpen int      `json:"stillOpen"`
	Errors    []string `json:"errors,omitempty"`
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
//   - for each Unresolved payment, c says whether its authorization was
//     used: used → settled; unused and expired → released; otherwise it
//     stays as it is. Expired means the chain's latest block is at or past
//     validBefore when c is also a ChainClock, else validBefore +
//     ExpiryGrace is in the past by the ledger's clock.
//
// A row changed meanwhile (its call recorded an outcome) is left alone.
// A checker error for one row is recorded in Errors and the row left as it
// is; the error returned is the ledger's own.
func (l *Ledger) Reconcile(ctx context.Context, c AuthorizationChecker) (ReconcileReport, error) {
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
	// The chain's own clock, read per network before any authorization is
	// checked: a nonce unused after the head was already past validBefore
	// can never be used (later blocks are never older), with no grace.
	clock, _ := c.(ChainClock)
	chainNow := map[string]time.Time{}
	if clock != nil {
		for _, r := range rows {
			if _, seen := chainNow[r.Network]; seen {
				continue
			}
			t, err := clock.ChainTime(ctx, payments.Network(r.Network))
			if err != nil {
				t = time.Time{} // fall back to our clock and ExpiryGrace
			}
			chainNow[r.Network] = t
		}
	}
	for _, r := range rows {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Checked++
		used, err := l.check(ctx, c, r)
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
		switch {
		case used:
			to = payments.StateSettled
			res, err = l.w.ExecContext(ctx, `UPDATE payments SET state = 'settled', reason = ?2, reconciled_at = ?3, updated_at = ?3
	WHERE id = ?1 AND state IN ('signed', 'unknown', 'rejected')`, id, ReasonUsedOnChain, now.UnixMilli())
		case expired(r, chainNow[r.Network], now):
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
		if n, _ := res.RowsAffected(); n == 1 {
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

// ChainClock is an optional part of an AuthorizationChecker: the timestamp
// of a network's latest block. With it, Reconcile proves an authorization
// expired by the chain's clock; without it, by its own plus ExpiryGrace.
type ChainClock interface {
	ChainTime(ctx context.Context, network payments.Network) (time.Time, error)
}

// expired says an unused authorization can no longer be used: the chain's
// head (read before the check) is at or past validBefore, or, with no chain
// time, validBefore + ExpiryGrace is past by our clock.
func expired(r Row, chainTime, now time.Time) bool {
	if r.ValidBefore.IsZero() {
		return false
	}
	if !chainTime.IsZero() {
		return !chainTime.Before(r.ValidBefore)
	}
	return r.ValidBefore.Add(ExpiryGrace).Before(now)
}

func (l *Ledger) check(ctx context.Context, c AuthorizationChecker, r Row) (bool, error) {
	if !common.IsHexAddress(r.Asset) {
		return false, fmt.Errorf("asset %q is not an address", r.Asset)
	}
	if !common.IsHexAddress(r.Payer) {
		return false, fmt.Errorf("payer %q is not an address", r.Payer)
	}
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(r.Nonce, "0x"), "0X"))
	if err != nil || len(b) != 32 {
		return false, fmt.Errorf("nonce %q is not 32 bytes of hex", r.Nonce)
	}
	var nonce [32]byte
	copy(nonce[:], b)
	return c.AuthorizationUsed(ctx, payments.Network(r.Network), common.HexToAddress(r.Asset), common.HexToAddress(r.Payer), nonce)
}
