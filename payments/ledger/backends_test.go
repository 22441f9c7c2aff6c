package ledger_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/pgtest"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// backend is one durable ledger implementation: the conformance suite runs
// every ledger test against each (eachBackend, implNames).
type backend struct {
	name string
	// new returns where a new, empty ledger lives: a file path or a
	// database URL. A PostgreSQL backend without a server skips the test
	// (pgtest: it fails under X402_REQUIRE_POSTGRES=1).
	new func(t testing.TB) string
	// db opens the ledger at loc for inspection, read-write.
	db func(t testing.TB, loc string) *sql.DB
	// hour is the SQL of the 10-digit hour key of a time column.
	hour func(col string) string
}

var backends = []backend{
	{
		name: "sqlite",
		new:  tempPath,
		db: func(t testing.TB, loc string) *sql.DB {
			db, err := sql.Open("sqlite", loc+"?_pragma=busy_timeout(5000)")
			must(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		},
		hour: func(col string) string { return fmt.Sprintf("printf('%%010d', %s / 3600000)", col) },
	},
	{
		name: "postgres",
		new:  pgtest.URL,
		db: func(t testing.TB, loc string) *sql.DB {
			db, err := sql.Open("pgx", loc)
			must(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		},
		hour: func(col string) string { return fmt.Sprintf("lpad((%s / 3600000)::text, 10, '0')", col) },
	},
}

func backendNamed(name string) backend {
	for _, be := range backends {
		if be.name == name {
			return be
		}
	}
	panic("no backend " + name)
}

// eachBackend runs f as a subtest per durable backend.
func eachBackend(t *testing.T, f func(t *testing.T, be backend)) {
	t.Helper()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { f(t, be) })
	}
}

// implNames names every payments.Ledger: the durable backends and the
// in-memory one. The budget rules must agree.
var implNames = []string{"sqlite", "postgres", "memory"}

// implOf opens the implementation name (one of implNames) for t.
func implOf(t *testing.T, name string, b payments.Budget, now func() time.Time) payments.Ledger {
	t.Helper()
	if name == "memory" {
		return payments.NewMemoryLedger(b, now)
	}
	return mustOpen(t, backendNamed(name).new(t), b, ledger.WithNow(now))
}

// implAt opens the implementation name like implOf; for a durable one it
// also returns its backend and location (for checkSums and direct SQL),
// and loc is empty for the in-memory one.
func implAt(t *testing.T, name string, b payments.Budget, now func() time.Time) (l payments.Ledger, be backend, loc string) {
	t.Helper()
	if name == "memory" {
		return payments.NewMemoryLedger(b, now), backend{name: name}, ""
	}
	be = backendNamed(name)
	loc = be.new(t)
	return mustOpen(t, loc, b, ledger.WithNow(now)), be, loc
}

func tempPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "state", "x402-mcp", "ledger.db")
}
