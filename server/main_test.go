package server_test

import (
	"os"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/pgtest"
)

// TestMain stops the PostgreSQL cluster the tests of the dashboard's data
// on PostgreSQL shared (pgtest), once they are done.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
