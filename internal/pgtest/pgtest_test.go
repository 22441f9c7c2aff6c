package pgtest_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"strings"
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

// TestHelper is the child of TestSkipOrFail: it asks for a database of the
// server X402_TEST_POSTGRES names. It does nothing in an ordinary run.
func TestHelper(t *testing.T) {
	if os.Getenv("X402_PGTEST_HELPER") == "" {
		return
	}
	pgtest.URL(t)
	t.Log("the helper got a database") // it must skip or fail first
}

// TestSkipOrFail: a server that does not answer skips a test in a plain go
// test, naming how to install one and run the tests, and fails it under
// X402_REQUIRE_POSTGRES (internal/component's rule, as for Node.js and
// Chromium). The child is this test binary again, pointed at a port where
// nothing listens.
func TestSkipOrFail(t *testing.T) {
	for _, tt := range []struct {
		require string
		fail    bool
		say     []string
	}{
		{"", false, []string{"--- SKIP", "no PostgreSQL server for the test", "apt-get install -y postgresql", "X402_REQUIRE_POSTGRES=1 go test ./payments/ledger", "with X402_REQUIRE_POSTGRES=1, as in .ci/run, it fails instead"}},
		{"1", true, []string{"--- FAIL", "no PostgreSQL server for the test", "X402_REQUIRE_POSTGRES is set"}},
	} {
		t.Run("require="+tt.require, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelper$", "-test.v")
			cmd.Env = append(os.Environ(), "X402_PGTEST_HELPER=1", pgtest.EnvURL+"=postgres://nobody@127.0.0.1:1/none?connect_timeout=2",
				pgtest.EnvRequire+"="+tt.require)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tt.fail {
				t.Fatalf("the child failed: %v, want %v:\n%s", failed, tt.fail, out)
			}
			for _, s := range tt.say {
				if !strings.Contains(string(out), s) {
					t.Errorf("the child's output lacks %q:\n%s", s, out)
				}
			}
			if strings.Contains(string(out), "the helper got a database") {
				t.Errorf("the helper went on without a server:\n%s", out)
			}
		})
	}
}
