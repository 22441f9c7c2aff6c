package ledger

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/x402-mcp/x402-mcp/payments"
)

// PostgreSQL: a ledger shared by any number of x402-mcp replicas, selected
// by a postgres:// or postgresql:// URL instead of a file path. It keeps the
// same books with the same rules as SQLite:
//   - Reserve takes a transaction-scoped advisory lock per unit (budgets sum
//     one unit only) before it sums the budgets, so reservations of one unit
//     queue one after another across every replica, as SQLite's BEGIN
//     IMMEDIATE makes them queue across processes; the running sums it reads
//     are then up to date (READ COMMITTED takes a new snapshot per
//     statement, after the lock).
//   - The signed record of a payment is on the server's disk before the
//     payment leaves: MarkSigned's commit waits for it (synchronous_commit
//     on); ReserveSigned commits without waiting, so as not to hold the
//     budget lock through a flush, then waits for a flush that covers its
//     commit (flush, syncPG), shared by the payments that wait at the same
//     time. Under DurableSigned other commits do not wait
//     (synchronous_commit=off); under DurableAll every commit does.
//   - The state machine, the immutable columns and the running sums are the
//     database's own: CHECK constraints and triggers (migrations/postgres).
//   - Reconcile runs in one replica at a time: it holds a session advisory
//     lock for the pass (TryReconcile skips the pass when another holds it).
//
// The URL's password is never shown: Path, every error and every log line
// carry the URL with it redacted (Redact).

// Advisory lock keys: the first of the two int4 keys names what is locked.
const (
	lockBudget    = 402_001 // second key: hashtext(unit)
	lockReconcile = 402_002 // second key: 0
	lockMigrate   = 402_003 // second key: 0
)

// DefaultPostgresConns is how many connections one x402-mcp process opens to
// PostgreSQL at most, unless the URL's pool_max_conns says otherwise
// (max_connections must cover every replica's). Reservations of one asset
// take turns under one lock whatever the number of connections: more
// connections than this only queue in the server instead of in the
// process, where waiting is cheaper.
const DefaultPostgresConns = 4

// IsPostgres says whether a --ledger value names a PostgreSQL database (a
// postgres:// or postgresql:// URL) rather than a SQLite file.
func IsPostgres(location string) bool {
	l := strings.ToLower(location)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Redact returns a ledger location fit to show: a PostgreSQL URL with its
// password (in the user info, or as a password= parameter) replaced by
// "xxxxx"; a file path as it is.
func Redact(location string) string {
	if !IsPostgres(location) {
		return location
	}
	u, err := url.Parse(location)
	if err != nil {
		// Not a URL we can read: show no more than its scheme.
		return location[:strings.Index(location, ":")] + "://(a URL that does not parse)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q.Set(k, "xxxxx")
		}
	}
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// secretsOf returns the secrets in a PostgreSQL URL, each as it may appear
// in an error's text (raw and escaped).
func secretsOf(location string) []string {
	var out []string
	add := func(s string) {
		if s != "" && s != "xxxxx" {
			out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
		}
	}
	u, err := url.Parse(location)
	if err != nil {
		// Whatever follows the scheme's "//" up to an "@" may be a password.
		if i := strings.Index(location, "://"); i >= 0 {
			rest := location[i+3:]
			if at := strings.LastIndex(rest, "@"); at >= 0 {
				if c := strings.Index(rest[:at], ":"); c >= 0 {
					add(rest[c+1 : at])
				}
			}
		}
		return out
	}
	if p, ok := u.User.Password(); ok {
		add(p)
	}
	for k, vs := range u.Query() {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return out
}

// redactedError hides a URL's secrets in the text of an error it wraps.
type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string {
	s := e.err.Error()
	for _, p := range e.secrets {
		s = strings.ReplaceAll(s, p, "xxxxx")
	}
	return s
}

func (e *redactedError) Unwrap() error { return e.err }

func (l *Ledger) redactErr(err error) error {
	if err == nil || len(l.secrets) == 0 {
		return err
	}
	return &redactedError{err, l.secrets}
}

// openPostgres opens the ledger in the PostgreSQL database location names
// and brings its schema up to date.
func openPostgres(ctx context.Context, location string, b payments.Budget, cfg config) (*Ledger, error) {
	l, fail, err := newPostgres(location, b, cfg, false)
	if err != nil {
		return nil, err
	}
	// On a failure, the pool is closed and that failure is the one to
	// report.
	if err := migratePostgres(ctx, l.w, cfg.now()); err != nil {
		_ = l.w.Close()
		return nil, fail(err)
	}
	if l.ws, err = prepare(ctx, l.w); err != nil {
		_ = l.w.Close()
		return nil, fail(err)
	}
	l.rs = l.ws
	return l, nil
}

// openPostgresReadOnly opens an existing PostgreSQL ledger for reading only
// (OpenReadOnly): its sessions begin every transaction read-only
// (default_transaction_read_only), so PostgreSQL itself refuses every
// write. Nothing is created or migrated: a database without the ledger's
// schema, or with another version of it, is refused.
func openPostgresReadOnly(ctx context.Context, location string, b payments.Budget, cfg config) (*Ledger, error) {
	l, fail, err := newPostgres(location, b, cfg, true)
	if err != nil {
		return nil, err
	}
	want, err := PostgresSchemaVersion()
	var have int
	if err == nil {
		err = l.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have)
	}
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "42P01": // undefined_table
		err = errors.New("no ledger in this database: give the URL x402-mcp serve writes with --ledger URL (or X402_LEDGER)")
	case err == nil && have != want:
		err = fmt.Errorf("the ledger's schema is version %d and this x402-mcp reads version %d: ", have, want)
		if have < want {
			err = fmt.Errorf("%wopening it read-only never upgrades it; run `x402-mcp ledger list --ledger URL` with this URL once, which does", err)
		} else {
			err = fmt.Errorf("%wupgrade x402-mcp", err)
		}
	}
	if err == nil {
		l.rs, err = prepare(ctx, l.r)
	}
	if err != nil {
		_ = l.r.Close() // err is the one to report
		return nil, fail(err)
	}
	l.ws = l.rs
	return l, nil
}

// newPostgres returns a ledger on a pool of connections to the PostgreSQL
// database location names, not yet opened (no schema checked, no statement
// prepared), and fail, which wraps an error with the URL redacted and its
// secrets hidden. With readOnly, every transaction of its sessions is
// read-only.
func newPostgres(location string, b payments.Budget, cfg config, readOnly bool) (*Ledger, func(error) error, error) {
	shown := Redact(location)
	secrets := secretsOf(location)
	fail := func(err error) error {
		return &redactedError{fmt.Errorf("ledger %s: %w", shown, err), secrets}
	}
	location, conns, err := poolSize(location)
	if err != nil {
		return nil, fail, fail(err)
	}
	pc, err := pgx.ParseConfig(location)
	if err != nil {
		return nil, fail, fail(err)
	}
	if _, ok := pc.RuntimeParams["application_name"]; !ok {
		pc.RuntimeParams["application_name"] = "x402-mcp"
	}
	// Each commit's wait for the disk, by durability; the signed record's
	// transaction always asks for it (signedCommit).
	switch cfg.durability {
	case DurableAll:
		pc.RuntimeParams["synchronous_commit"] = "on"
	case DurableSigned, DurableProcess:
		pc.RuntimeParams["synchronous_commit"] = "off"
	}
	if readOnly {
		pc.RuntimeParams["default_transaction_read_only"] = "on"
	}
	db := sql.OpenDB(pgConnector{stdlib.GetConnector(*pc)})
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	l := &Ledger{path: shown, pg: true, secrets: secrets, owner: owner(), now: cfg.now, w: db, r: db,
		syncSigned: cfg.durability != DurableProcess, prompt: make(chan struct{}, 1)}
	l.SetBudget(b)
	return l, fail, nil
}

// owner names this open ledger's row of flushes: host, process, and a
// random part, in letters, digits and '-' only.
func owner() string {
	host, err := os.Hostname()
	if err != nil {
		// The random part keeps the name apart from every other's.
		slog.Warn("ledger: the host name cannot be read; this process's row of flushes is named without it", "err", err)
		host = "unknown-host"
	}
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, host)
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return fmt.Sprintf("%.40s-%d-%x", clean, os.Getpid(), b)
}

// poolSize takes the pool_max_conns parameter (as pgxpool names it) out of
// a URL: how many connections to open at most (DefaultPostgresConns when
// absent).
func poolSize(location string) (string, int, error) {
	u, err := url.Parse(location)
	if err != nil {
		return location, 0, errors.New("the URL does not parse")
	}
	q := u.Query()
	v := q.Get("pool_max_conns")
	if v == "" {
		return location, DefaultPostgresConns, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 2 || n > 1000 {
		return location, 0, fmt.Errorf("pool_max_conns=%q: give a number of connections from 2 to 1000", v)
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String(), n, nil
}

// migratePostgres applies the PostgreSQL migrations in one transaction,
// under an advisory lock, so that replicas starting together on a new
// database take turns.
func migratePostgres(ctx context.Context, db *sql.DB, now time.Time) error {
	ms, err := migrations("migrations/postgres")
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, lockMigrate); err != nil {
		return fmt.Errorf("open: wait for other replicas' migrations: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER NOT NULL,
	applied_at BIGINT  NOT NULL
)`); err != nil {
		return fmt.Errorf("schema_version: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return fmt.Errorf("schema_version: %w", err)
	}
	if have > len(ms) {
		return fmt.Errorf("the ledger's schema is version %d, newer than this x402-mcp knows (%d): upgrade x402-mcp, or point --ledger at another database", have, len(ms))
	}
	for v := have + 1; v <= len(ms); v++ {
		if _, err := tx.ExecContext(ctx, ms[v-1]); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)`, v, now.UnixMilli()); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return tx.Commit()
}

// PostgresSchemaVersion is the newest PostgreSQL schema this package knows.
// It fails when the embedded migrations are out of sequence.
func PostgresSchemaVersion() (int, error) {
	m, err := migrations("migrations/postgres")
	return len(m), err
}

// lockUnit takes the budget lock of unit for the rest of tx (PostgreSQL).
func lockUnit(ctx context.Context, tx *sql.Tx, unit string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockBudget, unit); err != nil {
		return fmt.Errorf("ledger: lock the budgets of %s: %w", unit, err)
	}
	return nil
}

// syncPG returns once every commit made before it is on the server's disk:
// it commits a transaction that writes to the log (its own row of flushes)
// and waits for its flush (PostgreSQL).
func (l *Ledger) syncPG(ctx context.Context) error {
	// One round trip: the simple protocol takes several statements (and no
	// parameters: owner is the ledger's own, letters, digits and '-').
	_, err := l.w.ExecContext(ctx, `BEGIN; SET LOCAL synchronous_commit TO on; `+
		`INSERT INTO flushes (owner, n, at) VALUES ('`+l.owner+`', 1, (extract(epoch from clock_timestamp()) * 1000)::bigint) `+
		`ON CONFLICT (owner) DO UPDATE SET n = flushes.n + 1, at = EXCLUDED.at; COMMIT`)
	return err
}

// syncThisCommit makes tx's commit wait for the disk (PostgreSQL).
func syncThisCommit(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO on`); err != nil {
		return fmt.Errorf("ledger: synchronous commit: %w", err)
	}
	return nil
}

// pgRetryable says a PostgreSQL transaction failed for want of an order
// between transactions (a deadlock, or a serialization failure) and may
// simply run again.
func pgRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

func pgUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// reconcileLock holds the reconciliation lock of a PostgreSQL ledger on
// one connection; release gives it back.
type reconcileLock struct{ conn *sql.Conn }

// reconcileLockPoll bounds how long a waiting pass sleeps between two
// tries of the reconciliation lock.
const reconcileLockPoll = 500 * time.Millisecond

// lockReconcile takes the reconciliation lock: waiting for it with wait,
// else returning nil when another process holds it.
//
// A waiting pass tries the lock again and again rather than block in
// pg_advisory_lock: a blocked wait that its context abandons leaves a
// server session still waiting, which the server does not end until it
// next writes to the client, that is, until it has taken the lock; for
// that moment every other replica's pass would find the lock taken, by
// nobody.
func (l *Ledger) lockReconcile(ctx context.Context, wait bool) (*reconcileLock, error) {
	conn, err := l.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger: reconcile: %w", err)
	}
	var got bool
	for pause := 20 * time.Millisecond; ; pause = min(2*pause, reconcileLockPoll) {
		err = conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, 0)`, lockReconcile).Scan(&got)
		if err != nil || got || !wait {
			break
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
		}
		t.Stop()
		if err != nil {
			break
		}
	}
	switch {
	case err != nil:
		// The session may hold the lock after all (an answer lost to the
		// context's end): end it, which frees every lock it holds, rather
		// than give it back to the pool.
		return nil, errors.Join(fmt.Errorf("ledger: reconcile: take the lock: %w", err), discardConn(conn))
	case !got:
		if err := conn.Close(); err != nil {
			return nil, fmt.Errorf("ledger: reconcile: %w", err)
		}
		return nil, nil
	}
	return &reconcileLock{conn}, nil
}

// discardConn closes a connection's session instead of returning it to
// the pool.
func discardConn(conn *sql.Conn) error {
	if err := conn.Raw(func(any) error { return driver.ErrBadConn }); err != nil && !errors.Is(err, driver.ErrBadConn) {
		return errors.Join(err, conn.Close())
	}
	return conn.Close()
}

func (rl *reconcileLock) release() error {
	// A fresh context: the pass's own may have ended.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ok bool
	err := rl.conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1, 0)`, lockReconcile).Scan(&ok)
	if err == nil && !ok {
		err = errors.New("the lock was not held")
	}
	if err != nil {
		// Close the session instead, which frees every lock it holds.
		return errors.Join(err, discardConn(rl.conn))
	}
	return rl.conn.Close()
}

// pgConnector opens pgx connections that take SQLite's placeholders: the
// ledger's SQL is written once, with ?NNN (or ?) placeholders, and runs on
// both. It also drops SQLite's INDEXED BY hints (PostgreSQL's planner picks
// the same partial index from the WHERE clause).
type pgConnector struct{ inner driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgConn{conn.(*stdlib.Conn)}, nil
}

func (c pgConnector) Driver() driver.Driver { return c.inner.Driver() }

type pgConn struct{ c *stdlib.Conn }

var (
	_ driver.ConnPrepareContext = (*pgConn)(nil)
	_ driver.ConnBeginTx        = (*pgConn)(nil)
	_ driver.ExecerContext      = (*pgConn)(nil)
	_ driver.QueryerContext     = (*pgConn)(nil)
	_ driver.Pinger             = (*pgConn)(nil)
	_ driver.NamedValueChecker  = (*pgConn)(nil)
	_ driver.SessionResetter    = (*pgConn)(nil)
)

func (p *pgConn) Prepare(query string) (driver.Stmt, error) { return p.c.Prepare(rebind(query)) }
func (p *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return p.c.PrepareContext(ctx, rebind(query))
}
func (p *pgConn) Close() error { return p.c.Close() }

func (p *pgConn) Begin() (driver.Tx, error) { return p.c.Begin() }
func (p *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return p.c.BeginTx(ctx, opts)
}
func (p *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return p.c.ExecContext(ctx, rebind(query), args)
}
func (p *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return p.c.QueryContext(ctx, rebind(query), args)
}
func (p *pgConn) Ping(ctx context.Context) error             { return p.c.Ping(ctx) }
func (p *pgConn) CheckNamedValue(v *driver.NamedValue) error { return p.c.CheckNamedValue(v) }
func (p *pgConn) ResetSession(ctx context.Context) error     { return p.c.ResetSession(ctx) }

var indexedBy = regexp.MustCompile(`(?i)\s+INDEXED\s+BY\s+[A-Za-z_][A-Za-z0-9_]*`)

// rebind turns SQLite's placeholders into PostgreSQL's: ?NNN becomes $NNN,
// and each bare ? the next number; text in quotes is left alone. It also
// drops INDEXED BY hints.
func rebind(q string) string {
	if !strings.ContainsRune(q, '?') && !strings.Contains(strings.ToUpper(q), "INDEXED") {
		return q
	}
	q = indexedBy.ReplaceAllString(q, "")
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	quote := byte(0)
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			b.WriteByte('$')
			if j > i+1 {
				b.WriteString(q[i+1 : j])
			} else {
				n++
				b.WriteString(strconv.Itoa(n))
			}
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
