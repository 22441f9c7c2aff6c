package ledger

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Row is one payment as the ledger holds it.
type Row struct {
	ID, CallID, Tool, Resource, Host, Session, Network, Asset, PayTo, Payer string
	Amount                                                                  payments.Amount
	State                                                                   payments.State
	Nonce                                                                   string
	ValidAfter, ValidBefore, CreatedAt, UpdatedAt                           time.Time
	Transaction, Reason                                                     string
	X402Version                                                             int
	// Kind is KindPayment or KindTip.
	Kind string
	// Note is a tip's note (empty for a payment).
	Note string
	// ReconciledAt is when Reconcile settled or released the row (zero if never).
	ReconciledAt time.Time
	// Header and Payload are the payment header's name and the exact value
	// sent; PaymentID is the payment identifier offered to the seller.
	Header, Payload, PaymentID string
	// Symbol and Decimals say how Amount reads ("USDC", 6); Unit names the
	// budgets that count it ("USDC", or a declared asset's network/address).
	Symbol   string
	Decimals int
	Unit     string
	// Principal names who made the call (empty for rows written before
	// principals were recorded).
	Principal string
	// Family and Scheme name who signed the payment and proves its fate
	// ("evm", "exact"; empty for a reservation never signed). Nonce is its
	// id on chain in the family's form, ValidBefore when it is expected to
	// expire, Expiry the point past which the chain can never take it in
	// the family's own measure, and ProofData the family's own record
	// (Proof puts them together).
	Family, Scheme string
	Expiry         uint64
	ProofData      json.RawMessage
	// Authorized is the maximum an upto payment signed (zero for a payment
	// of exactly Amount); Amount is what it settled for once it settled.
	Authorized payments.Amount
}

// Proof is what the row's scheme proves its fate with (Scheme.Prove): the
// proof recorded when it was signed, with the reservation's network and
// asset, and its time as Since.
func (r Row) Proof() payments.Proof {
	return payments.Proof{Family: r.Family, Scheme: r.Scheme, Network: payments.Network(r.Network), Payer: r.Payer, Asset: r.Asset,
		ID: r.Nonce, Expiry: r.Expiry, ValidAfter: r.ValidAfter, Deadline: r.ValidBefore, Since: r.CreatedAt, Data: r.ProofData}
}

// Currency returns the row's currency: how its amount reads and which
// budgets count it.
func (r Row) Currency() payments.Currency {
	return payments.Currency{Symbol: r.Symbol, Decimals: r.Decimals, Budget: r.Unit}
}

// Counted says whether the row counts against the budgets: in every state
// but released.
func (r Row) Counted() bool { return r.State.Counts() }

// Filter selects rows for List and WriteCSV. Zero fields select everything.
type Filter struct {
	Tool string
	// Kind selects payments (KindPayment) or tips (KindTip).
	Kind  string
	State payments.State
	// Principal selects one principal's payments.
	Principal string
	// Since and Until bound the reservation time: Since ≤ created < Until.
	Since, Until time.Time
	// Limit caps the rows returned; 0 means no limit.
	Limit int
}

type scanner interface{ Scan(dest ...any) error }

func scanRow(sc scanner) (Row, error) {
	var r Row
	var id, amount int64
	var state string
	var validAfter, validBefore, reconciled, expiry sql.NullInt64
	var created, updated int64
	var proof string
	var authorized int64
	err := sc.Scan(&id, &r.Kind, &r.CallID, &r.Tool, &r.Resource, &r.Host, &r.Session, &r.Network, &r.Asset, &r.PayTo,
		&amount, &state, &r.Payer, &r.Nonce, &validAfter, &validBefore, &r.X402Version, &r.Header, &r.Payload, &r.PaymentID,
		&r.Transaction, &r.Reason, &created, &updated, &reconciled, &r.Note, &r.Symbol, &r.Decimals, &r.Unit,
		&r.Family, &r.Scheme, &expiry, &proof, &r.Principal, &authorized)
	if err != nil {
		return r, err
	}
	r.Authorized = payments.Amount(max(authorized, 0))
	if expiry.Valid && expiry.Int64 > 0 {
		r.Expiry = uint64(expiry.Int64)
	}
	if proof != "" {
		r.ProofData = json.RawMessage(proof)
	}
	r.ID, r.Amount, r.State = strconv.FormatInt(id, 10), payments.Amount(amount), payments.State(state)
	r.ValidAfter, r.ValidBefore, r.ReconciledAt = msTime(validAfter), msTime(validBefore), msTime(reconciled)
	r.CreatedAt, r.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	return r, nil
}

func msTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64)
}

// Get returns one payment.
func (l *Ledger) Get(ctx context.Context, id string) (Row, error) {
	n, err := parseID(id)
	if err != nil {
		return Row{}, err
	}
	r, err := scanRow(l.rs.get.QueryRowContext(ctx, n))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("ledger: no payment %q", id)
	}
	if err != nil {
		return r, fmt.Errorf("ledger: payment %s: %w", id, err)
	}
	return r, nil
}

func (l *Ledger) query(ctx context.Context, q string, args ...any) ([]Row, error) {
	rows, err := l.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return out, nil
}

// List returns the payments f selects, newest first (in the order they were
// reserved).
func (l *Ledger) List(ctx context.Context, f Filter) ([]Row, error) {
	var where []string
	var args []any
	if f.Tool != "" {
		where, args = append(where, "tool = ?"), append(args, f.Tool)
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, string(f.State))
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if f.Principal != "" {
		where, args = append(where, "principal = ? AND principal <> ''"), append(args, f.Principal)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, f.Until.UnixMilli())
	}
	q := "SELECT " + rowColumns + " FROM payments"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return l.query(ctx, q, args...)
}

// Unresolved returns the payments whose outcome is not proven, oldest first:
// signed (sent, or about to be, with no outcome recorded), unknown, and
// rejected ones (a rejected authorization is not proven unused until the
// chain shows its nonce unused at a block past its validBefore). These are
// what Reconcile looks at; all of them count.
func (l *Ledger) Unresolved(ctx context.Context) ([]Row, error) {
	return l.query(ctx, "SELECT "+rowColumns+" FROM payments INDEXED BY payments_open WHERE "+open+" AND state IN ('signed', 'unknown', 'rejected') ORDER BY id")
}

// CSVHeader is the header row of WriteCSV.
var CSVHeader = []string{
	"id", "created_at", "updated_at", "kind", "state", "tool", "resource", "host", "session", "call_id",
	"network", "asset", "pay_to", "payer", "amount_usdc", "amount_atomic", "nonce", "valid_after", "valid_before",
	"transaction", "reason", "x402_version", "payment_id", "reconciled_at", "note",
	"amount", "symbol", "decimals", "principal",
}

// WriteCSV writes the payments f selects as CSV (RFC 4180, CRLF line ends),
// newest first, with a header row (CSVHeader). Each amount appears in
// atomic units (amount_atomic) and as a decimal of its own asset (amount,
// with symbol and decimals); amount_usdc repeats it for USDC rows and is
// empty for other assets. Times are RFC 3339 in UTC. The signed payload is
// left out: it is a spendable authorization until it expires. A text field
// that a spreadsheet would read as a formula is prefixed with an
// apostrophe.
func (l *Ledger) WriteCSV(ctx context.Context, w io.Writer, f Filter) error {
	rows, err := l.List(ctx, f)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, r := range rows {
		cur := r.Currency()
		usdc := ""
		if cur.IsUSDC() {
			usdc = cur.Decimal(r.Amount)
		}
		rec := []string{
			r.ID, csvTime(r.CreatedAt), csvTime(r.UpdatedAt), cell(r.Kind), string(r.State), cell(r.Tool), cell(r.Resource),
			cell(r.Host), cell(r.Session), cell(r.CallID), cell(r.Network), cell(r.Asset), cell(r.PayTo), cell(r.Payer),
			usdc, r.Amount.Atomic(), cell(r.Nonce), csvTime(r.ValidAfter), csvTime(r.ValidBefore),
			cell(r.Transaction), cell(r.Reason), strconv.Itoa(r.X402Version), cell(r.PaymentID), csvTime(r.ReconciledAt),
			cell(r.Note), cur.Decimal(r.Amount), cell(cur.Symbol), strconv.Itoa(cur.Decimals), cell(r.Principal),
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// cell guards against formula injection: seller-supplied text (a reason, a
// transaction hash) must not run in the operator's spreadsheet.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
