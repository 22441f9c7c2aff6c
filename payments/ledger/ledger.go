// Package ledger is x402-mcp's durable ledger: every reservation and payment
// in one SQLite file (a pure-Go driver, no cgo), shared safely by every
// x402-mcp process that opens it, or in one PostgreSQL database shared by
// any number of replicas (Open with a postgres:// URL; postgres.go says how
// it keeps the same rules), reconciled against the chain through the
// payments' own schemes.
//
// Money rules:
//   - Reserve checks every budget and holds the amount in one IMMEDIATE
//     transaction (PostgreSQL: one transaction under an advisory lock per
//     unit), so goroutines, processes and replicas that share the ledger
//     never overspend by one atomic unit.
//   - A row walks reserved → signed → settled | rejected | unknown, and a
//     reservation that was never signed → released. The signed record (the
//     payment's Proof: its family and scheme, its id on chain, its expiry,
//     the family's own record; and the exact header value) is written
//     before the payment leaves.
//   - Reserved, signed, settled, unknown and rejected payments count against
//     the budgets; a released one does not. Once a signed payment has left
//     the process it counts until Reconcile proves its fate from the chain,
//     through its scheme (payments.Prover): used (settled), or unusable
//     forever (released; EVM: its nonce unused at a block past its
//     validBefore); a seller's refusal and the clock prove nothing.
//     ReleaseUnsent releases a signed payment that provably never left.
//   - Every row names its asset: its amount is in that asset's atomic units,
//     with its symbol and decimals, and its unit names the budgets that
//     count it ("USDC" for the USDC contracts x402-mcp knows, else the
//     declared asset's network/address). Budgets sum one unit only.
//   - Rows are never deleted; the schema refuses it.
//
// The file is in WAL mode with a 5 s busy timeout; every write transaction
// begins IMMEDIATE. Within one process all writes share one connection.
// Any number of processes may open a file that does not exist yet at the
// same moment: the switch to WAL and each migration wait their turn
// (OpenLockWait at most).
package ledger

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/x402-mcp/x402-mcp/payments"
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// Kinds of rows: a paid call, or a tip (Reservation.Kind).
const (
	KindPayment = payments.KindPayment
	KindTip     = payments.KindTip
)

// StaleReservation is how old an unsigned reservation must be for Reconcile
// to release it: a call signs within moments of reserving.
const StaleReservation = 10 * time.Minute

// Ledger is the durable payments.Ledger. It is safe for concurrent use, and
// several processes may open the same file (or PostgreSQL database).
type Ledger struct {
	// path is the SQLite file, or the PostgreSQL URL with its password
	// redacted (pg set; secrets are what errors must not show).
	path    string
	pg      bool
	secrets []string
	owner   string                          // PostgreSQL: this ledger's row of flushes
	budget  atomic.Pointer[payments.Budget] // replaced whole by SetBudget, never changed in place
	now     func() time.Time

	w, r   *sql.DB // writer (one connection, IMMEDIATE transactions) and readers
	ws, rs *stmts
	// syncSigned: MarkSigned's commit waits for the disk (DurableSigned).
	syncSigned bool
	dirSynced  atomic.Bool
	// Group flush: commits counts the commits that must reach the disk
	// before their payment leaves; synced is how many of them the last
	// flush covered. One flush covers every commit before it, so callers
	// that queue behind a flush in progress often need none of their own.
	commits atomic.Uint64
	syncMu  sync.Mutex
	synced  uint64 // guarded by syncMu
	// prompt wakes a Reconciler when a payment becomes rejected or unknown.
	prompt chan struct{}
}

var _ payments.Ledger = (*Ledger)(nil)

type config struct {
	now        func() time.Time
	durability Durability
}

// Option configures Open.
type Option func(*config)

// WithNow sets the clock (time.Now by default).
func WithNow(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Durability says which commits wait for the disk.
type Durability int

const (
	// DurableSigned (the default): the signed record of a payment waits for
	// the disk before the payment leaves, and with it everything written
	// before it. Other commits survive a crash of the process; a power loss
	// may undo the latest of them, which leaves a payment reserved or signed:
	// still counted, until Reconcile resolves it. Money can never leave
	// without a record that survives.
	DurableSigned Durability = iota
	// DurableAll: every commit waits for the disk (SQLite synchronous=FULL;
	// PostgreSQL synchronous_commit=on).
	DurableAll
	// DurableProcess: no commit waits for the disk (synchronous=NORMAL;
	// PostgreSQL synchronous_commit=off). Everything survives a crash of
	// x402-mcp, not a power loss (nor, on PostgreSQL, a crash of the server).
	DurableProcess
)

// WithDurability sets which commits wait for the disk (DurableSigned by
// default).
func WithDurability(d Durability) Option { return func(c *config) { c.durability = d } }

// Open opens the ledger at path, creating the file (0600) and its directory
// (0700) if needed, and brings its schema up to date. A path that is a
// postgres:// or postgresql:// URL (IsPostgres) opens that PostgreSQL
// database instead, with its own migrations; its password never shows in
// Path or in an error. It refuses a file whose
// schema is newer than this x402-mcp knows. b is the operator's budget, which
// Reserve enforces.
func Open(ctx context.Context, path string, b payments.Budget, opts ...Option) (*Ledger, error) {
	cfg := config{now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	sync := "NORMAL"
	switch cfg.durability {
	case DurableSigned, DurableProcess:
	case DurableAll:
		sync = "FULL"
	default:
		return nil, fmt.Errorf("ledger: unknown durability %d", cfg.durability)
	}
	if path == "" {
		return nil, errors.New("ledger: no path")
	}
	if IsPostgres(path) {
		return openPostgres(ctx, path, b, cfg)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	if strings.ContainsAny(abs, "?#") {
		return nil, fmt.Errorf("ledger %s: the path may not contain '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("ledger: create its directory: %w", err)
	}
	// SQLite would create the file world-readable; create it private first.
	// Its -wal and -shm files take the same permissions.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}

	// busy_timeout comes first, so that everything after it waits on a lock
	// held by another process instead of failing. The switch to WAL and the
	// migrations are not in the DSN: they take the file's locks, and SQLite
	// answers some of those waits (a journal-mode change, a lock upgrade
	// while another process creates the file) with SQLITE_BUSY at once,
	// whatever the timeout; Open retries them (retryBusy).
	const common = "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	w, err := sql.Open("sqlite", abs+common+"&_pragma=wal_autocheckpoint(4000)&_pragma=synchronous("+sync+")&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", abs, err)
	}
	// One writer connection: writes in this process queue for it instead of
	// sleeping in SQLite's busy handler.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	l := &Ledger{path: abs, now: cfg.now, w: w, syncSigned: cfg.durability == DurableSigned, prompt: make(chan struct{}, 1)}
	l.SetBudget(b)
	err = retryBusy(ctx, func() error { return walMode(ctx, w) })
	if err == nil {
		err = retryBusy(ctx, func() error { return migrate(ctx, w, cfg.now()) })
	}
	// On a failure below, what was opened is closed and err is the one
	// to report.
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("ledger %s: %w", abs, err)
	}
	l.r, err = sql.Open("sqlite", abs+common+"&_pragma=query_only(1)")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("ledger %s: %w", abs, err)
	}
	l.r.SetMaxOpenConns(4)
	if l.ws, err = prepare(ctx, w); err == nil {
		l.rs, err = prepare(ctx, l.r)
	}
	if err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("ledger %s: %w", abs, err)
	}
	return l, nil
}

// Path returns the ledger file's absolute path, or the PostgreSQL URL with
// its password redacted.
func (l *Ledger) Path() string { return l.path }

// Budget returns the budget the ledger enforces.
func (l *Ledger) Budget() payments.Budget { return *l.budget.Load() }

// SetBudget replaces the budgets the ledger enforces. Call it before the
// ledger takes payments: serve opens the ledger while the catalog that holds
// the budgets is still being read, then sets them.
func (l *Ledger) SetBudget(b payments.Budget) { l.budget.Store(&b) }

func (l *Ledger) bud() *payments.Budget { return l.budget.Load() }

// Close closes the database.
func (l *Ledger) Close() error {
	var errs []error
	for _, s := range []*stmts{l.ws, l.rs} {
		if s != nil {
			errs = append(errs, s.close())
		}
	}
	if l.r != nil {
		errs = append(errs, l.r.Close())
	}
	errs = append(errs, l.w.Close())
	return errors.Join(errs...)
}

// OpenLockWait bounds how long Open waits for other processes that are
// creating or migrating the same ledger file.
const OpenLockWait = 30 * time.Second

// retryBusy runs f until it does not fail with SQLITE_BUSY or SQLITE_LOCKED,
// waiting a little longer (with jitter) each time, for at most OpenLockWait
// or until ctx ends. Any number of processes opening one new file take
// turns this way: each step f makes is one transaction, or one pragma,
// that either happens whole or not at all.
func retryBusy(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(OpenLockWait)
	wait := 2 * time.Millisecond
	for {
		err := f()
		if err == nil || !isBusy(err) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w (other processes held the ledger file for %s)", err, OpenLockWait)
		}
		d := wait/2 + time.Duration(rand.Int64N(int64(wait)))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (while waiting for the ledger file: %v)", err, ctx.Err())
		case <-time.After(d):
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// isBusy says err is SQLite's "database is locked" (SQLITE_BUSY, in any of
// its extended forms) or "database table is locked" (SQLITE_LOCKED).
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// walMode puts the file in WAL mode (it stays so: later connections need
// not ask).
func walMode(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode=WAL`).Scan(&mode); err != nil {
		return fmt.Errorf("open: journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("open: journal mode is %q: SQLite refused WAL (is the file on a network file system?)", mode)
	}
	return nil
}

// migrations returns the embedded migrations in order: 0001_x.sql is version 1.
func migrations(dir string) ([]string, error) {
	names, err := fs.Glob(migrationFS, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for i, n := range names {
		v, err := strconv.Atoi(strings.SplitN(filepath.Base(n), "_", 2)[0])
		if err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s is out of sequence (want version %d)", n, i+1)
		}
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}

// SchemaVersion is the newest SQLite schema this package knows. It fails
// when the embedded migrations are out of sequence.
func SchemaVersion() (int, error) {
	m, err := migrations("migrations")
	return len(m), err
}

func migrate(ctx context.Context, db *sql.DB, now time.Time) error {
	ms, err := migrations("migrations")
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`); err != nil {
		return fmt.Errorf("schema_version: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return fmt.Errorf("schema_version: %w", err)
	}
	if have > len(ms) {
		return fmt.Errorf("the ledger's schema is version %d, newer than this x402-mcp knows (%d): upgrade x402-mcp, or point --ledger at another file", have, len(ms))
	}
	for v := have + 1; v <= len(ms); v++ {
		if _, err := tx.ExecContext(ctx, ms[v-1]); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`, v, now.UnixMilli()); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return tx.Commit()
}

// counted is the states that count against the budgets
// (0003_rejected_counts.sql, 0004_assets.sql).
const counted = `state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')`

// open is the WHERE clause of the partial index payments_open, verbatim: a
// query must repeat it for SQLite to use the index.
const open = `state IN ('reserved', 'signed', 'unknown', 'rejected')`

const rowColumns = `id, kind, call_id, tool, resource, host, session, network, asset, pay_to, amount, state,
	payer, nonce, valid_after, valid_before, x402_version, header, payload, payment_id, tx, reason,
	created_at, updated_at, reconciled_at, note, symbol, decimals, unit, family, scheme, expiry, proof, principal, authorized`

const signedSQL = `UPDATE payments SET state = 'signed', nonce = ?2, valid_after = ?3, valid_before = ?4, payer = ?5,
	header = ?6, payload = ?7, x402_version = ?8, payment_id = ?9, updated_at = ?10,
	family = ?11, scheme = ?12, expiry = ?13, proof = ?14
	WHERE id = ?1 AND state = 'reserved'`

// stmts are the prepared statements of one *sql.DB.
type stmts struct {
	spent, oldest, insert, byCall            *sql.Stmt
	insertSigned                             *sql.Stmt
	tipSpent, tipOldest                      *sql.Stmt
	principalSpent, principalOldest          *sql.Stmt
	principalSummary                         *sql.Stmt
	signed, settle, reject, unknown, release *sql.Stmt
	releaseUnsent                            *sql.Stmt
	state, summary, get                      *sql.Stmt
}

func prepare(ctx context.Context, db *sql.DB) (*stmts, error) {
	s := &stmts{}
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.spent, `SELECT
	(SELECT amount FROM spend WHERE scope = 'total' AND unit = ?8 AND key = ''),
	(SELECT amount FROM spend WHERE scope = 'tool' AND unit = ?8 AND key = ?1),
	(SELECT amount FROM spend WHERE scope = 'host' AND unit = ?8 AND key = ?2),
	(SELECT amount FROM spend WHERE scope = 'session' AND unit = ?8 AND key = ?3),
	(SELECT amount FROM spend WHERE scope = 'network' AND unit = ?8 AND key = ?4),
	(SELECT SUM(amount) FROM spend WHERE scope = 'hour' AND unit = ?8 AND key >= ?5),
	(SELECT SUM(amount) FROM payments WHERE created_at >= ?6 AND created_at < ?7 AND unit = ?8 AND ` + counted + `),
	(SELECT amount FROM spend WHERE scope = 'principal' AND unit = ?8 AND key = ?9),
	(SELECT amount FROM spend WHERE scope = 'principal_tool' AND unit = ?8 AND key = ?10)`},
		{&s.principalSpent, `SELECT
	(SELECT SUM(amount) FROM spend WHERE scope = 'principal_hour' AND unit = ?1 AND key >= ?2 AND key <= ?3),
	(SELECT SUM(amount) FROM payments WHERE principal = ?4 AND principal <> '' AND created_at >= ?5 AND created_at < ?6 AND unit = ?1 AND ` + counted + `)`},
		{&s.principalOldest, `SELECT MIN(created_at) FROM payments WHERE principal = ?1 AND principal <> '' AND created_at >= ?2 AND unit = ?3 AND ` + counted},
		{&s.principalSummary, `SELECT
	(SELECT amount FROM spend WHERE scope = 'principal' AND unit = ?1 AND key = ?2),
	(SELECT amount FROM spend WHERE scope = 'principal_settled' AND unit = ?1 AND key = ?2),
	(SELECT n FROM spend WHERE scope = 'principal_settled' AND unit = ?1 AND key = ?2)`},
		{&s.oldest, `SELECT MIN(created_at) FROM payments WHERE created_at >= ?1 AND unit = ?2 AND ` + counted},
		{&s.tipSpent, `SELECT
	(SELECT SUM(amount) FROM spend WHERE scope = 'tip_hour' AND unit = ?4 AND key >= ?1),
	(SELECT SUM(amount) FROM payments WHERE created_at >= ?2 AND created_at < ?3 AND kind = 'tip' AND unit = ?4 AND ` + counted + `)`},
		{&s.tipOldest, `SELECT MIN(created_at) FROM payments WHERE created_at >= ?1 AND kind = 'tip' AND unit = ?2 AND ` + counted},
		{&s.insert, `INSERT INTO payments (kind, call_id, tool, resource, host, session, network, asset, pay_to, amount, state, created_at, updated_at, note,
	symbol, decimals, unit, principal, authorized)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'reserved', ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`},
		{&s.insertSigned, `INSERT INTO payments (kind, call_id, tool, resource, host, session, network, asset, pay_to, amount, state, created_at, updated_at, note,
	symbol, decimals, unit, principal, authorized, nonce, valid_after, valid_before, payer, header, payload, x402_version, payment_id, family, scheme, expiry, proof)
	VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'signed', ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
	?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30) RETURNING id`},
		{&s.byCall, `SELECT id, state FROM payments WHERE call_id = ?1`},
		{&s.signed, signedSQL},
		{&s.settle, `UPDATE payments SET state = 'settled',
	tx = CASE WHEN ?2 <> '' THEN ?2 ELSE tx END,
	payer = CASE WHEN ?3 <> '' THEN ?3 ELSE payer END,
	reason = CASE WHEN ?4 <> '' THEN ?4 ELSE reason END,
	updated_at = ?5,
	amount = CASE WHEN authorized > 0 AND CAST(?6 AS BIGINT) >= 0 AND CAST(?6 AS BIGINT) < amount THEN CAST(?6 AS BIGINT) ELSE amount END
	WHERE id = ?1 AND state IN ('signed', 'unknown', 'rejected', 'settled')`},
		{&s.reject, `UPDATE payments SET state = 'rejected', reason = ?2, updated_at = ?3 WHERE id = ?1 AND state IN ('signed', 'rejected')`},
		{&s.unknown, `UPDATE payments SET state = 'unknown', reason = ?2, updated_at = ?3 WHERE id = ?1 AND state IN ('signed', 'unknown')`},
		{&s.release, `UPDATE payments SET state = 'released', reason = ?2, updated_at = ?3 WHERE id = ?1 AND state = 'reserved'`},
		{&s.releaseUnsent, `UPDATE payments SET state = 'released', reason = ?2, header = '', payload = '', proof = '', updated_at = ?3
	WHERE id = ?1 AND state = 'signed'`},
		{&s.state, `SELECT state FROM payments WHERE id = ?1`},
		{&s.summary, `SELECT
	(SELECT amount FROM spend WHERE scope = 'settled' AND unit = ?1 AND key = ''),
	(SELECT n FROM spend WHERE scope = 'settled' AND unit = ?1 AND key = '')`},
		{&s.get, `SELECT ` + rowColumns + ` FROM payments WHERE id = ?1`},
	} {
		st, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			_ = s.close() // err is the one to report
			return nil, fmt.Errorf("prepare: %w", err)
		}
		*p.dst = st
	}
	return s, nil
}

func (s *stmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.spent, s.oldest, s.tipSpent, s.tipOldest, s.principalSpent, s.principalOldest, s.principalSummary, s.insert, s.insertSigned, s.byCall, s.signed, s.settle, s.reject, s.unknown, s.release, s.releaseUnsent, s.state, s.summary, s.get} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

const hourMs = int64(time.Hour / time.Millisecond)

func amountOf(n sql.NullInt64) payments.Amount {
	if !n.Valid || n.Int64 < 0 {
		return 0
	}
	return payments.Amount(n.Int64)
}

// spent computes what counts against each scope of r at now, in one query.
// With day set it also sums the day window, and with pday the day window of
// r's principal (and, with oldest, finds the oldest payment of each).
func (l *Ledger) spent(ctx context.Context, tx *sql.Tx, st *stmts, r payments.Reservation, now time.Time, day, pday, oldest bool) (payments.Spent, error) {
	var s payments.Spent
	unit := unitOf(r.Currency)
	dayStart := l.bud().Day.Start(now).UnixMilli()
	// Whole hours from the first hour boundary at or after the window's
	// start come from the hourly sums; the part before it from the rows.
	firstHour := max((dayStart+hourMs-1)/hourMs, 0)
	edgeEnd := firstHour * hourMs
	if r.IsTip() {
		// The tip budget's window is the day window, summed the same way
		// from the tips' own hourly sums.
		var v [2]sql.NullInt64
		err := tx.StmtContext(ctx, st.tipSpent).QueryRowContext(ctx, fmt.Sprintf("%010d", firstHour), dayStart, edgeEnd, unit).Scan(&v[0], &v[1])
		if err != nil {
			return s, fmt.Errorf("ledger: sum the tip budget: %w", err)
		}
		s.TipDay = add(amountOf(v[0]), amountOf(v[1]))
		if oldest {
			var o sql.NullInt64
			if err := tx.StmtContext(ctx, st.tipOldest).QueryRowContext(ctx, dayStart, unit).Scan(&o); err != nil {
				return s, fmt.Errorf("ledger: oldest tip of the day window: %w", err)
			}
			if o.Valid {
				s.TipDayOldest = time.UnixMilli(o.Int64)
			}
		}
	}
	if pday && r.Principal != "" {
		if err := l.principalDay(ctx, tx, st, r.Principal, unit, &s, dayStart, edgeEnd, firstHour, oldest); err != nil {
			return s, err
		}
	}
	if !day {
		// An empty edge and no hours: the day is not needed.
		dayStart, edgeEnd, firstHour = 0, 0, math.MaxInt32
	}
	var v [9]sql.NullInt64
	dest := make([]any, len(v))
	for i := range v {
		dest[i] = &v[i]
	}
	err := tx.StmtContext(ctx, st.spent).QueryRowContext(ctx, r.Tool, r.Host, r.Session, string(r.Network),
		fmt.Sprintf("%010d", firstHour), dayStart, edgeEnd, unit, r.Principal, r.Principal+"/"+r.Tool).Scan(dest...)
	if err != nil {
		return s, fmt.Errorf("ledger: sum budgets: %w", err)
	}
	// Columns: the running sums of r's unit (total, tool, host, session and
	// network), then the day window: its whole hours and its edge, then the
	// principal's total and its sum for the tool (none without a principal).
	a := func(i int) payments.Amount { return amountOf(v[i]) }
	s.Total, s.Tool, s.Host, s.Session, s.Network = a(0), a(1), a(2), a(3), a(4)
	s.Principal, s.PrincipalTool = a(7), a(8)
	if day {
		s.Day = add(a(5), a(6))
		if oldest {
			var o sql.NullInt64
			if err := tx.StmtContext(ctx, st.oldest).QueryRowContext(ctx, l.bud().Day.Start(now).UnixMilli(), unit).Scan(&o); err != nil {
				return s, fmt.Errorf("ledger: oldest payment of the day window: %w", err)
			}
			if o.Valid {
				s.DayOldest = time.UnixMilli(o.Int64)
			}
		}
	}
	return s, nil
}

// principalDay sums what principal counted in unit within the day window
// that begins at dayStart: whole hours from its hourly sums, the edge before
// the first hour boundary from the rows; with oldest, it also finds the
// oldest of those payments.
func (l *Ledger) principalDay(ctx context.Context, tx *sql.Tx, st *stmts, principal, unit string, s *payments.Spent, dayStart, edgeEnd, firstHour int64, oldest bool) error {
	var v [2]sql.NullInt64
	err := tx.StmtContext(ctx, st.principalSpent).QueryRowContext(ctx, unit, fmt.Sprintf("%s/%010d", principal, firstHour), principal+"/9999999999",
		principal, dayStart, edgeEnd).Scan(&v[0], &v[1])
	if err != nil {
		return fmt.Errorf("ledger: sum the per-day budget of principal %s: %w", principal, err)
	}
	s.PrincipalDay = add(amountOf(v[0]), amountOf(v[1]))
	if !oldest {
		return nil
	}
	var o sql.NullInt64
	if err := tx.StmtContext(ctx, st.principalOldest).QueryRowContext(ctx, principal, dayStart, unit).Scan(&o); err != nil {
		return fmt.Errorf("ledger: oldest payment of principal %s in the day window: %w", principal, err)
	}
	if o.Valid {
		s.PrincipalDayOldest = time.UnixMilli(o.Int64)
	}
	return nil
}

// add never wraps: a sum past MaxAmount is over any limit anyway.
func add(a, b payments.Amount) payments.Amount {
	if s, ok := a.AddChecked(b); ok {
		return s
	}
	return payments.MaxAmount
}

// sub takes b, a part of a, away from a.
func sub(a, b payments.Amount) payments.Amount {
	if b >= a {
		return 0
	}
	return a - b
}

// unitOf is the ledger's unit column of a currency: the key of the budgets
// that count it ("USDC", or a declared asset's network/address).
func unitOf(c payments.Currency) string {
	if c == (payments.Currency{}) {
		return payments.BudgetUSDC
	}
	return c.Budget
}

// Reserve implements payments.Ledger: in one IMMEDIATE transaction it sums
// every budget scope r touches, checks them (Budget.Check) and inserts the
// reservation. A refusal is a *payments.Error with CodeOverBudget.
func (l *Ledger) Reserve(ctx context.Context, r payments.Reservation) (string, error) {
	return l.reserve(ctx, r, nil)
}

// ReserveSigned implements payments.SigningLedger: Reserve and MarkSigned in
// one IMMEDIATE transaction (one commit and, under DurableSigned, one flush
// instead of two commits), for payments that need no approval between the
// two. sign runs inside the transaction, after the budgets allowed the
// payment; an error from it records nothing.
func (l *Ledger) ReserveSigned(ctx context.Context, r payments.Reservation, sign func() (payments.Signed, error)) (string, error) {
	id, err := l.reserve(ctx, r, sign)
	if err != nil {
		return "", err
	}
	if l.syncSigned {
		if err := l.flush(ctx, l.commits.Add(1)); err != nil {
			// The row is committed, signed: it counts, and its payment must
			// not leave. The caller records nothing more for it; a restart's
			// reconciliation settles or releases it.
			return "", fmt.Errorf("ledger: payment %s → signed: flush the log to disk: %w", id, err)
		}
	}
	return id, nil
}

// pgAttempts bounds how often a PostgreSQL reservation runs again after a
// deadlock or serialization failure (each attempt rolled back whole).
const pgAttempts = 5

// reserve checks the budgets and inserts r in one transaction; with sign
// set, it also records the signed authorization sign returns before the
// transaction commits.
func (l *Ledger) reserve(ctx context.Context, r payments.Reservation, sign func() (payments.Signed, error)) (string, error) {
	if r.Amount > math.MaxInt64 {
		return "", &payments.Error{Code: payments.CodeBadChallenge, Charged: payments.NotCharged,
			Message: fmt.Sprintf("the price %s atomic units is too large for the ledger. Nothing was signed.", r.Amount.Atomic())}
	}
	if !l.pg {
		return l.reserveOnce(ctx, r, sign)
	}
	// A signature made in an attempt that rolled back was never recorded
	// and never leaves the process: the next attempt signs anew.
	for i := 1; ; i++ {
		id, err := l.reserveOnce(ctx, r, sign)
		if err == nil || i == pgAttempts || !pgRetryable(err) {
			return id, l.redactErr(err)
		}
	}
}

func (l *Ledger) reserveOnce(ctx context.Context, r payments.Reservation, sign func() (payments.Signed, error)) (string, error) {
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("ledger: begin: %w", err)
	}
	defer tx.Rollback()
	if l.pg {
		if err := lockUnit(ctx, tx, unitOf(r.Currency)); err != nil {
			return "", err
		}
	}
	now := l.now()
	budget := l.bud()
	pday := budget.Principals[r.Principal].PerDay != 0
	s, err := l.spent(ctx, tx, l.ws, r, now, budget.DayLimit(r.Currency) != 0, pday, false)
	if err != nil {
		return "", err
	}
	e := budget.Check(r, s, now)
	if e != nil && e.Over != nil && (e.Over.Scope == payments.ScopeDay || e.Over.Scope == payments.ScopeTipDay || e.Over.Scope == payments.ScopePrincipalDay) && !l.bud().Day.Calendar {
		// Only a refusal needs the oldest payment of a rolling window. (On
		// PostgreSQL the sums may have gone down since: a payment released
		// by another transaction. They never go up: reservations of the
		// unit wait for this one's lock. Check again, with both.)
		if s, err = l.spent(ctx, tx, l.ws, r, now, true, pday, true); err != nil {
			return "", err
		}
		e = budget.Check(r, s, now)
	}
	if e != nil {
		return "", e
	}
	if _, ok := s.Total.AddChecked(r.Amount); !ok || s.Total+r.Amount > math.MaxInt64 {
		return "", &payments.Error{Code: payments.CodeOverBudget, Charged: payments.NotCharged,
			Message: "the ledger cannot count more than 2^63-1 atomic units. Nothing was signed."}
	}
	ms := now.UnixMilli()
	kind := KindPayment
	if r.IsTip() {
		kind = KindTip
	}
	cur := r.Currency
	if cur == (payments.Currency{}) {
		cur = payments.USDC
	}
	var authorized int64
	if r.UpTo {
		authorized = int64(r.Amount)
	}
	var id int64
	args := []any{kind, r.CallID, r.Tool, r.Resource, r.Host, r.Session,
		string(r.Network), r.Asset, r.PayTo, int64(r.Amount), ms, ms, r.Note, cur.Symbol, cur.Decimals, unitOf(cur), r.Principal, authorized}
	insert := l.ws.insert
	if l.pg && sign != nil {
		// PostgreSQL: sign first and insert the row signed, one statement
		// less while the budget lock is held (every round trip counts
		// there). An error from sign records nothing, as below.
		sg, err := sign()
		if err != nil {
			return "", err
		}
		sa := signedArgs(0, sg, l.now())
		args[11] = sa[9] // updated_at: when it was signed
		args = append(append(args, sa[1:9]...), sa[10:]...)
		insert, sign = l.ws.insertSigned, nil
	}
	err = tx.StmtContext(ctx, insert).QueryRowContext(ctx, args...).Scan(&id)
	if err != nil {
		if l.isUnique(err) {
			// A transaction that failed in PostgreSQL takes no more
			// statements: ask outside it. (Rolling back the failed
			// transaction has nothing to report.)
			_ = tx.Rollback()
			var state string
			if qerr := l.rs.byCall.QueryRowContext(ctx, r.CallID).Scan(&id, &state); qerr == nil {
				return "", fmt.Errorf("ledger: call %s: %w (payment %d, %s)", r.CallID, payments.ErrDuplicateCall, id, state)
			}
			return "", fmt.Errorf("ledger: call %s: %w", r.CallID, payments.ErrDuplicateCall)
		}
		return "", fmt.Errorf("ledger: reserve: %w", err)
	}
	if sign != nil {
		sg, err := sign()
		if err != nil {
			return "", err // rolled back: nothing was recorded
		}
		args := signedArgs(id, sg, l.now())
		if res, err := tx.StmtContext(ctx, l.ws.signed).ExecContext(ctx, args...); err != nil {
			return "", fmt.Errorf("ledger: payment %d → signed: %w", id, err)
		} else if k, err := res.RowsAffected(); err != nil || k != 1 {
			return "", fmt.Errorf("ledger: payment %d → signed: %d rows changed (%v)", id, k, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("ledger: reserve: %w", err)
	}
	return strconv.FormatInt(id, 10), nil
}

func (l *Ledger) isUnique(err error) bool {
	if l.pg {
		return pgUnique(err)
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// Spent implements payments.Ledger.
func (l *Ledger) Spent(ctx context.Context, r payments.Reservation) (payments.Spent, error) {
	tx, err := l.readTx(ctx)
	if err != nil {
		return payments.Spent{}, fmt.Errorf("ledger: begin: %w", err)
	}
	defer tx.Rollback()
	return l.spent(ctx, tx, l.rs, r, l.now(), true, r.Principal != "", true)
}

// readTx begins a read-only transaction that sees one snapshot of the
// books (PostgreSQL's READ COMMITTED would take one per statement).
func (l *Ledger) readTx(ctx context.Context) (*sql.Tx, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if l.pg {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return l.r.BeginTx(ctx, opts)
}

func parseID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != id {
		return 0, fmt.Errorf("ledger: no payment %q", id)
	}
	return n, nil
}

// update runs one state-changing statement on payment id and explains a
// refusal by the payment's current state.
func (l *Ledger) update(ctx context.Context, id string, to payments.State, st *sql.Stmt, args ...any) error {
	n, err := parseID(id)
	if err != nil {
		return err
	}
	return l.explain(ctx, id, n, to)(st.ExecContext(ctx, append([]any{n}, args...)...))
}

// explain returns what checks the result of a statement that should have
// changed exactly payment n.
func (l *Ledger) explain(ctx context.Context, id string, n int64, to payments.State) func(sql.Result, error) error {
	return func(res sql.Result, err error) error {
		if err != nil {
			return fmt.Errorf("ledger: payment %s → %s: %w", id, to, err)
		}
		if k, err := res.RowsAffected(); err == nil && k == 1 {
			return nil
		}
		var state string
		if err := l.rs.state.QueryRowContext(ctx, n).Scan(&state); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("ledger: no payment %q", id)
			}
			return fmt.Errorf("ledger: payment %s: %w", id, err)
		}
		return fmt.Errorf("ledger: payment %s is %s; it cannot become %s", id, state, to)
	}
}

// signedArgs are the arguments of signedSQL for payment id: the signed
// record, with its proof.
func signedArgs(id int64, s payments.Signed, now time.Time) []any {
	pf := s.Proof
	var expiry any
	if pf.Expiry != 0 {
		expiry = int64(min(pf.Expiry, math.MaxInt64))
	}
	return []any{id, pf.ID, msOrNull(pf.ValidAfter), msOrNull(pf.Deadline), pf.Payer,
		s.Header, s.Payload, s.X402Version, s.PaymentID, now.UnixMilli(),
		pf.Family, pf.Scheme, expiry, string(pf.Data)}
}

func msOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// MarkSigned implements payments.Ledger: it records the authorization and the
// exact header value; it fails unless the payment is reserved. Under
// DurableSigned (the default) and DurableAll it returns once the record is
// on disk.
func (l *Ledger) MarkSigned(ctx context.Context, id string, s payments.Signed) error {
	n, err := parseID(id)
	if err != nil {
		return err
	}
	args := signedArgs(n, s, l.now())
	if l.pg {
		return l.markSignedPG(ctx, id, n, args)
	}
	if err := l.explain(ctx, id, n, payments.StateSigned)(l.ws.signed.ExecContext(ctx, args...)); err != nil {
		return err
	}
	if l.syncSigned {
		// The commit is in the log (the -wal file) but maybe not on disk yet:
		// flush the log, and with it every commit before this one.
		if err := l.flush(ctx, l.commits.Add(1)); err != nil {
			return fmt.Errorf("ledger: payment %s → signed: flush the log to disk: %w", id, err)
		}
	}
	return nil
}

// markSignedPG records the signed payment in a transaction whose commit
// waits for the server's disk.
func (l *Ledger) markSignedPG(ctx context.Context, id string, n int64, args []any) error {
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: payment %s → signed: begin: %w", id, err)
	}
	defer tx.Rollback()
	if l.syncSigned {
		if err := syncThisCommit(ctx, tx); err != nil {
			return err
		}
	}
	res, err := tx.StmtContext(ctx, l.ws.signed).ExecContext(ctx, args...)
	if k, kerr := rowsAffected(res, err); err != nil || kerr != nil || k != 1 {
		_ = tx.Rollback() // explain reports what failed
		return l.explain(ctx, id, n, payments.StateSigned)(res, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger: payment %s → signed: commit: %w", id, err)
	}
	return nil
}

func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// flush returns once commit number seq (counted after it committed) is on
// disk: at once when a flush that started after it already covered it, else
// after a flush of its own, which covers every commit counted so far.
//
// On PostgreSQL the commits before it did not wait for the server's disk
// (synchronous_commit off, so that the budget lock is not held through a
// flush); the flush is a transaction of its own that waits for the disk
// (syncPG): the server's write-ahead log is one sequence, so flushing it up
// to that transaction's commit flushes every commit before it.
func (l *Ledger) flush(ctx context.Context, seq uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced >= seq {
		return nil
	}
	upTo := l.commits.Load() // all committed before this flush begins
	sync := l.syncLog
	if l.pg {
		sync = func() error { return l.syncPG(ctx) }
	}
	if err := sync(); err != nil {
		return err
	}
	l.synced = upTo
	return nil
}

// syncLog flushes the write-ahead log to disk (and, once, the directory that
// holds it, as SQLite does for a new log). The log stays while this ledger's
// connections are open.
func (l *Ledger) syncLog() error {
	f, err := os.Open(l.path + "-wal")
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return err
	}
	if l.dirSynced.Load() {
		return nil
	}
	d, err := os.Open(filepath.Dir(l.path))
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return err
	}
	l.dirSynced.Store(true)
	return nil
}

// Settle implements payments.Ledger. For an upto payment (reserved with
// Reservation.UpTo) whose receipt settled less than the maximum, the amount
// becomes the receipt's, and every budget gets the rest back at once.
func (l *Ledger) Settle(ctx context.Context, id string, rc payments.Receipt) error {
	reason := ""
	if rc.State == "pending" {
		reason = "the seller reported settlement pending"
	}
	amount := int64(-1)
	if rc.Maximum != 0 && rc.Amount <= rc.Maximum {
		amount = int64(rc.Amount)
	}
	return l.update(ctx, id, payments.StateSettled, l.ws.settle, rc.Transaction, rc.Payer, reason, l.now().UnixMilli(), amount)
}

// Reject implements payments.Ledger. The payment stays counted; a
// Reconciler running on this ledger is prompted to check it soon.
func (l *Ledger) Reject(ctx context.Context, id, reason string) error {
	err := l.update(ctx, id, payments.StateRejected, l.ws.reject, reason, l.now().UnixMilli())
	if err == nil {
		l.promptReconciler()
	}
	return err
}

// MarkUnknown implements payments.Ledger. The payment stays counted; a
// Reconciler running on this ledger is prompted to check it soon.
func (l *Ledger) MarkUnknown(ctx context.Context, id, reason string) error {
	err := l.update(ctx, id, payments.StateUnknown, l.ws.unknown, reason, l.now().UnixMilli())
	if err == nil {
		l.promptReconciler()
	}
	return err
}

// Release implements payments.Ledger: it frees a reservation that was never
// signed, and fails for any other.
func (l *Ledger) Release(ctx context.Context, id, reason string) error {
	return l.update(ctx, id, payments.StateReleased, l.ws.release, reason, l.now().UnixMilli())
}

// ReleaseUnsent implements payments.Ledger: it frees a signed payment whose
// authorization never left the process, and clears its stored header,
// payload and proof record (the id stays, for the books), so that no copy
// of the signed payment remains. It fails for a payment in any other state.
func (l *Ledger) ReleaseUnsent(ctx context.Context, id, reason string) error {
	return l.update(ctx, id, payments.StateReleased, l.ws.releaseUnsent, reason, l.now().UnixMilli())
}

// Summary implements payments.Ledger.
func (l *Ledger) Summary(ctx context.Context) (payments.Summary, error) {
	now := l.now()
	sum := payments.Summary{Total: l.bud().Total, Budget: *l.bud(), DayStart: l.bud().Day.Start(now), DayResets: l.bud().Day.Next(now)}
	tx, err := l.readTx(ctx)
	if err != nil {
		return sum, fmt.Errorf("ledger: begin: %w", err)
	}
	defer tx.Rollback()
	if sum.Settled, sum.Pending, sum.Payments, sum.Day, err = l.unitSummary(ctx, tx, payments.USDC, now); err != nil {
		return sum, err
	}
	for _, ab := range sum.Budget.Assets {
		a := payments.AssetSummary{AssetBudget: ab}
		if a.Settled, a.Pending, a.Payments, a.Day, err = l.unitSummary(ctx, tx, ab.Currency, now); err != nil {
			return sum, err
		}
		sum.Assets = append(sum.Assets, a)
	}
	sort.Slice(sum.Assets, func(i, j int) bool {
		ai, aj := sum.Assets[i].Currency, sum.Assets[j].Currency
		return ai.Symbol < aj.Symbol || ai.Symbol == aj.Symbol && ai.Budget < aj.Budget
	})
	return sum, nil
}

// unitSummary is what counts in one currency: settled (and how many
// payments), the rest that counts, and what counts in the day window.
func (l *Ledger) unitSummary(ctx context.Context, tx *sql.Tx, cur payments.Currency, now time.Time) (settled, pending payments.Amount, n int, day payments.Amount, err error) {
	var st, cnt sql.NullInt64
	if err := tx.StmtContext(ctx, l.rs.summary).QueryRowContext(ctx, unitOf(cur)).Scan(&st, &cnt); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("ledger: summary: %w", err)
	}
	s, err := l.spent(ctx, tx, l.rs, payments.Reservation{Currency: cur}, now, true, false, false)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	// s.Total is everything counted, settled included.
	return amountOf(st), sub(s.Total, amountOf(st)), int(cnt.Int64), s.Day, nil
}

// PrincipalSummary reports one principal's books in USDC (its payments in
// other assets are not in them): settled, the rest that counts, and what
// counts in the current day window, with its own budgets. Rows with an
// empty principal belong to none.
func (l *Ledger) PrincipalSummary(ctx context.Context, name string) (payments.PrincipalSummary, error) {
	now := l.now()
	b := l.bud()
	sum := payments.PrincipalSummary{Name: name, Budget: b.Principals[name], DayResets: b.Day.Next(now)}
	if name == "" {
		return sum, nil
	}
	tx, err := l.readTx(ctx)
	if err != nil {
		return sum, fmt.Errorf("ledger: begin: %w", err)
	}
	defer tx.Rollback()
	var counted, settled, n sql.NullInt64
	if err := tx.StmtContext(ctx, l.rs.principalSummary).QueryRowContext(ctx, payments.BudgetUSDC, name).Scan(&counted, &settled, &n); err != nil {
		return sum, fmt.Errorf("ledger: books of principal %s: %w", name, err)
	}
	sum.Settled, sum.Pending, sum.Payments = amountOf(settled), sub(amountOf(counted), amountOf(settled)), int(n.Int64)
	s, err := l.spent(ctx, tx, l.rs, payments.Reservation{Principal: name}, now, false, true, false)
	if err != nil {
		return sum, err
	}
	sum.Day = s.PrincipalDay
	return sum, nil
}
