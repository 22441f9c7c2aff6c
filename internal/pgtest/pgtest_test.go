package pgtest_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestFreshDatabases: each test gets its own empty database on one server.
func TestFreshDatabases(t *testing.T) {
	a, b := pgtest.URL(t), pgtest.URL(t)
	if a == b {
		t.Fatalf("one database for two calls: %s", a)
	}
	for _, u := range []string{a, b} {
		db, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(context.Background(), `CREATE TABLE x (n int)`); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
}
