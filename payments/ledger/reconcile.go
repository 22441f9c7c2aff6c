package ledger

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

// AuthorizationChecker reads an EIP-3009 authorization's state on chain
// (USDC's authorizationState(payer, nonce)) at one block, with that
// block's number and timestamp. payments/chain's RPCChecker is the real one.
type AuthorizationChecker = payments.ChainChecker

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
//   - for each Unresolved payment, c reads its authorization at one block:
//     used → settled, with the transaction that used it when c found it;
//     unused at a block whose timestamp is at or past validBefore → it can
//     never be used (later blocks are never older) → released; otherwise it
//     stays as it is, counted. The clock proves nothing: with no chain
//     answer, nothing is released.
//
// A row changed meanwhile (its call recorded an outcome) is left alone.
// A checker error for one row is recorded in Errors (or, for a network
// without an rpc endpoint, in NoRPC once) and the row left as it is; the
// error returned is the ledger's own.
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
		st, err := l.check(ctx, c, r)
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
		switch {
		case st.Used:
			to = payments.StateSettled
			res, err = l.w.ExecContext(ctx, `UPDATE payments SET state = 'settled', reason = ?2, reconciled_at = ?3, updated_at = ?3,
	tx = CASE WHEN tx = '' THEN ?4 ELSE tx END
	WHERE id = ?1 AND state IN ('signed', 'unknown', 'rejected')`, id, ReasonUsedOnChain, now.UnixMilli(), sanitizeTx(st.Transaction))
		case expired(r, st):
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

// expired says an authorization read unused can no longer be used: the
// block it was read at is at or past its validBefore.
func expired(r Row, st payments.AuthorizationStatus) bool {
	return !r.ValidBefore.IsZero() && !st.BlockTime.IsZero() && !st.BlockTime.Before(r.ValidBefore)
}

// sanitizeTx keeps a transaction hash only if it is one: 0x and 64 hex
// digits.
func sanitizeTx(tx string) string {
	if len(tx) != 66 || !strings.HasPrefix(tx, "0x") {
		return ""
	}
	if _, err := hex.DecodeString(tx[2:]); err != nil {
		return ""
	}
	return tx
}

// check reads r's authorization on chain.
func (l *Ledger) check(ctx context.Context, c AuthorizationChecker, r Row) (payments.AuthorizationStatus, error) {
	if !common.IsHexAddress(r.Asset) {
		return payments.AuthorizationStatus{}, fmt.Errorf("asset %q is not an address", r.Asset)
	}
	if !common.IsHexAddress(r.Payer) {
		return payments.AuthorizationStatus{}, fmt.Errorf("payer %q is not an address", r.Payer)
	}
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(r.Nonce, "0x"), "0X"))
	if err != nil || len(b) != 32 {
		return payments.AuthorizationStatus{}, fmt.Errorf("nonce %q is not 32 bytes of hex", r.Nonce)
	}
	ref := payments.AuthorizationRef{Network: payments.Network(r.Network), Asset: common.HexToAddress(r.Asset), Payer: common.HexToAddress(r.Payer),
		Nonce: [32]byte(b), Since: r.CreatedAt}
	return c.CheckAuthorization(ctx, ref)
}
