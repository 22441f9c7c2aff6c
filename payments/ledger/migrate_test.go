package ledger_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// schemaAt writes a ledger file at path with the first n migrations only, as
// an older x402-mcp left it.
func schemaAt(t *testing.T, path string, n int) *sql.DB {
	t.Helper()
	must(t, os.MkdirAll(dirOf(path), 0o700))
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	must(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(`CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at INTEGER NOT NULL) STRICT`)
	must(t, err)
	for i, name := range []string{"0001_init.sql", "0002_tips.sql", "0003_rejected_counts.sql", "0004_assets.sql"}[:n] {
		b, err := os.ReadFile("migrations/" + name)
		must(t, err)
		_, err = db.Exec(string(b))
		must(t, err)
		_, err = db.Exec(`INSERT INTO schema_version VALUES (?, 0)`, i+1)
		must(t, err)
	}
	return db
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[:i]
		}
	}
	return "."
}

// TestMigrationRejectedCounts: a ledger written under schema 2 (a rejected
// payment counted only until it expired, added at read time) is migrated so
// that every rejected payment counts, expired or not, and the running sums
// equal what the rows say, exactly.
func TestMigrationRejectedCounts(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	db := schemaAt(t, path, 2)
	past, future := t0.Add(-time.Hour).UnixMilli(), t0.Add(time.Hour).UnixMilli()
	created := t0.Add(-2 * time.Hour).UnixMilli()
	for _, r := range []struct {
		kind, tool, state string
		amount            int64
		validBefore       int64
	}{
		{"payment", "a", "settled", 10, past},
		{"payment", "a", "rejected", 20, past}, // expired by the clock: the old rule had stopped counting it
		{"tip", "x402_tip", "rejected", 40, future},
		{"payment", "b", "unknown", 80, past},
		{"payment", "b", "released", 160, past},
		{"payment", "b", "reserved", 320, 0},
	} {
		// Rows walk their states as the old code wrote them, so that the old
		// triggers keep the old sums.
		res, err := db.Exec(`INSERT INTO payments (kind, tool, host, session, network, amount, state, created_at, updated_at)
			VALUES (?, ?, 'h:443', 's1', 'eip155:84532', ?, 'reserved', ?, ?)`, r.kind, r.tool, r.amount, created, created)
		must(t, err)
		id, _ := res.LastInsertId()
		path := map[string][]string{"settled": {"signed", "settled"}, "rejected": {"signed", "rejected"},
			"unknown": {"signed", "unknown"}, "released": {"released"}}[r.state]
		for _, st := range path {
			_, err = db.Exec(`UPDATE payments SET state = ?, valid_before = ?, nonce = '0x01' WHERE id = ?`, st, r.validBefore, id)
			must(t, err)
		}
	}
	var before int64
	must(t, db.QueryRow(`SELECT amount FROM spend WHERE scope = 'total'`).Scan(&before))
	if before != 10+80+320 {
		t.Fatalf("schema 2 summed %d, want 410 (no rejected rows)", before)
	}
	must(t, db.Close())

	l := mustOpen(t, path, payments.Budget{Total: 1000, PerDay: 1000}, ledger.WithNow(func() time.Time { return t0 }))
	s, err := l.Summary(ctx)
	must(t, err)
	if s.Settled != 10 || s.Counted() != 10+20+40+80+320 || s.Day != s.Counted() {
		t.Fatalf("after the migration: %+v", s)
	}
	sp, err := l.Spent(ctx, payments.Reservation{Tool: "a", Kind: payments.KindTip, Host: "h:443", Session: "s1", Network: "eip155:84532"})
	must(t, err)
	if sp.Total != 470 || sp.Tool != 30 || sp.Host != 470 || sp.Session != 470 || sp.Network != 470 || sp.TipDay != 40 {
		t.Fatalf("spent %+v", sp)
	}
	checkSums(t, backends[0], path)
	// The new triggers count a rejection and uncount a release.
	id, err := l.Reserve(ctx, res("c", 5))
	must(t, err)
	must(t, l.MarkSigned(ctx, id, signed(t0.Add(-time.Minute))))
	must(t, l.Reject(ctx, id, "no"))
	checkSums(t, backends[0], path)
	if s, _ := l.Summary(ctx); s.Counted() != 475 {
		t.Fatalf("a new rejection: %+v", s)
	}
}
