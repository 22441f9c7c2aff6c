package ledger_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
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
	for i, name := range []string{"0001_init.sql", "0002_tips.sql", "0003_rejected_counts.sql", "0004_assets.sql",
		"0005_proofs.sql", "0006_principal.sql", "0007_upto.sql"}[:n] {
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
		id, err := res.LastInsertId()
		must(t, err)
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
	checkSums(t, backendNamed("sqlite"), path)
	// The new triggers count a rejection and uncount a release.
	id, err := l.Reserve(ctx, res("c", 5))
	must(t, err)
	must(t, l.MarkSigned(ctx, id, signed(t0.Add(-time.Minute))))
	must(t, l.Reject(ctx, id, "no"))
	checkSums(t, backendNamed("sqlite"), path)
	if s, _ := l.Summary(ctx); s.Counted() != 475 {
		t.Fatalf("a new rejection: %+v", s)
	}
}

// TestMigrationFrom4: a ledger as every x402-mcp before proofs, principals
// and upto left it (schema 4, the newest in the field) opens under every
// migration at once, 0005_proofs, 0006_principal, 0007_upto and then
// 0008_authorized_immutable, with
// its rows in every state, in USDC and in a declared asset: each migration
// is recorded once; every signed row is an EVM exact payment whose expiry
// is its validBefore in seconds, belongs to no principal and authorized no
// maximum; nothing that counted stops counting and the running sums, old
// and new, equal the rows; the old rows' principal and amount cannot be
// changed; reconciliation proves them through their proofs and the
// principal sums stay exact; new rows name their principal and keep their
// proof; a principal's upto payment settled for less gives the rest back to
// the gateway's sums and the principal's alike.
func TestMigrationFrom4(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	db := schemaAt(t, path, 4)
	created := t0.Add(-2 * time.Hour).UnixMilli()
	vb := t0.Add(-time.Hour).UnixMilli() + 250 // expired, and not on a second
	const eurcUnit = "eip155:84532/0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238"
	type old struct {
		kind, tool, state, nonce, unit string
		amount                         int64
	}
	rows := []old{
		{"payment", "weather", "settled", "0x11", "USDC", 10},
		{"payment", "weather", "rejected", "0x12", "USDC", 20},
		{"tip", "x402_tip", "rejected", "0x13", "USDC", 40},
		{"payment", "search", "unknown", nonce1, "USDC", 80},
		{"payment", "search", "released", "", "USDC", 160},
		{"payment", "search", "reserved", "", "USDC", 320},
		{"payment", "search", "signed", "0x14", "USDC", 100},
		{"payment", "weather", "unknown", "0x15", eurcUnit, 7},
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		symbol := "USDC"
		if r.unit != "USDC" {
			symbol = "EURC"
		}
		// Rows walk their states as the old code wrote them, so that 0004's
		// triggers keep 0004's sums.
		res, err := db.Exec(`INSERT INTO payments (kind, tool, host, session, network, asset, amount, state, created_at, updated_at, symbol, decimals, unit)
			VALUES (?, ?, 'h:443', 's1', 'eip155:84532', '0x036CbD53842c5426634e7929541eC2318f3dCF7e', ?, 'reserved', ?, ?, ?, 6, ?)`,
			r.kind, r.tool, r.amount, created, created, symbol, r.unit)
		must(t, err)
		id, err := res.LastInsertId()
		must(t, err)
		ids[i] = fmt.Sprint(id)
		if r.nonce != "" {
			_, err = db.Exec(`UPDATE payments SET state = 'signed', nonce = ?, valid_before = ?, payer = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
				header = 'PAYMENT-SIGNATURE', payload = 'eyJ4NDAyVmVyc2lvbiI6Mn0=' WHERE id = ?`, r.nonce, vb, id)
			must(t, err)
		}
		if r.state != "reserved" && r.state != "signed" {
			_, err = db.Exec(`UPDATE payments SET state = ? WHERE id = ?`, r.state, id)
			must(t, err)
		}
	}
	var before int64
	must(t, db.QueryRow(`SELECT amount FROM spend WHERE scope = 'total' AND unit = 'USDC'`).Scan(&before))
	if before != 10+20+40+80+320+100 {
		t.Fatalf("schema 4 counted %d", before)
	}
	must(t, db.Close())

	b := payments.Budget{Total: 1000, Principals: map[string]payments.PrincipalBudget{"team-a": {Total: 100}}}
	l := mustOpen(t, path, b, ledger.WithNow(func() time.Time { return t0 }))
	if v := schemaVersion(t); v != 8 {
		t.Fatalf("schema version %d, want 8", v)
	}
	check, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	must(t, err)
	defer check.Close()
	var versions string
	must(t, check.QueryRow(`SELECT group_concat(version, ',') FROM (SELECT version FROM schema_version ORDER BY version)`).Scan(&versions))
	if versions != "1,2,3,4,5,6,7,8" {
		t.Fatalf("migrations recorded: %s", versions)
	}
	for i, r := range rows {
		row, err := l.Get(ctx, ids[i])
		must(t, err)
		if row.Principal != "" || string(row.State) != r.state || int64(row.Amount) != r.amount || row.Unit != r.unit || row.Authorized != 0 {
			t.Fatalf("old row %d: principal %q state %s amount %d unit %s authorized %d", i, row.Principal, row.State, row.Amount, row.Unit, row.Authorized)
		}
		if r.nonce == "" {
			if row.Family != "" || row.Scheme != "" || row.Expiry != 0 {
				t.Fatalf("old row %d, never signed: family %q scheme %q expiry %d", i, row.Family, row.Scheme, row.Expiry)
			}
			continue
		}
		p := row.Proof()
		if p.Family != "evm" || p.Scheme != "exact" || p.ID != r.nonce || p.Expiry != uint64(vb/1000+1) || !p.Deadline.Equal(time.UnixMilli(vb)) ||
			p.Payer != "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" || p.Network != "eip155:84532" || len(p.Data) != 0 {
			t.Fatalf("old row %d: proof %+v", i, p)
		}
	}
	checkSums(t, backendNamed("sqlite"), path)
	if s, err := l.Summary(ctx); err != nil || int64(s.Settled+s.Pending) != before {
		t.Fatalf("after the migrations %+v %v, want %d counted", s, err, before)
	}
	if _, err := check.Exec(`UPDATE payments SET principal = 'team-a' WHERE id = ?`, ids[0]); err == nil {
		t.Fatal("an old row was given a principal")
	}
	if _, err := check.Exec(`UPDATE payments SET amount = 5 WHERE id = ?`, ids[0]); err == nil {
		t.Fatal("an old settled row's amount was lowered")
	}

	// New rows name their principal and keep their proof; the old rows are
	// no principal's, but still the gateway's.
	id, err := l.Reserve(ctx, byPrincipal("team-a", "weather", 100))
	must(t, err)
	s := signed(t0.Add(time.Minute))
	s.Proof.ID = "0x0202020202020202020202020202020202020202020202020202020202020202"
	must(t, l.MarkSigned(ctx, id, s))
	row, err := l.Get(ctx, id)
	must(t, err)
	if row.Principal != "team-a" || row.Family != "evm" || row.Scheme != "exact" || row.Nonce != s.Proof.ID || row.Expiry != s.Proof.Expiry {
		t.Fatalf("new row: principal %q family %q scheme %q nonce %s expiry %d", row.Principal, row.Family, row.Scheme, row.Nonce, row.Expiry)
	}
	if _, err := l.Reserve(ctx, byPrincipal("team-a", "weather", 1)); overScope(t, err) != payments.ScopePrincipalTotal {
		t.Fatal("team-a past its own total")
	}
	if _, err := l.Reserve(ctx, byPrincipal("team-b", "search", payments.Amount(1000-before-100+1))); overScope(t, err) != payments.ScopeTotal {
		t.Fatal("the gateway's total lost the old rows")
	}
	checkSums(t, backendNamed("sqlite"), path)

	// Reconciliation proves the old rows through the proofs 0005 gave them.
	pv := &proofProver{fates: map[string]payments.Fate{
		nonce1:     {State: payments.FateSettled, Transaction: "0x" + strings.Repeat("ab", 32)},
		"0x12":     {State: payments.FateUnusable},
		"0x13":     {State: payments.FateUnusable},
		"0x14":     {State: payments.FateSettled},
		"0x15":     {State: payments.FateUnusable},
		s.Proof.ID: {State: payments.FateOpen},
	}}
	rep, err := l.Reconcile(ctx, pv)
	must(t, err)
	if rep.Settled != 2 || rep.Released != 4 || len(rep.Errors) != 0 {
		t.Fatalf("report %+v", rep)
	}
	for i, want := range []payments.State{payments.StateSettled, payments.StateReleased, payments.StateReleased, payments.StateSettled,
		payments.StateReleased, payments.StateReleased, payments.StateSettled, payments.StateReleased} {
		row, err := l.Get(ctx, ids[i])
		must(t, err)
		if row.State != want {
			t.Fatalf("old row %d is %s, want %s", i, row.State, want)
		}
	}
	if len(pv.asked) != 6 {
		t.Fatalf("asked about %d proofs, want 6", len(pv.asked))
	}
	for _, p := range pv.asked {
		if p.ID == s.Proof.ID {
			continue
		}
		if p.Family != "evm" || p.Scheme != "exact" || p.Expiry != uint64(vb/1000+1) {
			t.Fatalf("asked about %+v", p)
		}
	}
	checkSums(t, backendNamed("sqlite"), path)
	if sum, err := l.PrincipalSummary(ctx, "team-a"); err != nil || sum.Pending != 100 || sum.Settled != 0 {
		t.Fatalf("team-a's books %+v %v", sum, err)
	}

	// An upto payment by a principal, on the migrated ledger: the maximum
	// held, the settled amount booked, the rest given back everywhere.
	up := byPrincipal("team-b", "llm", 50)
	up.UpTo = true
	uid, err := l.Reserve(ctx, up)
	must(t, err)
	us := signed(t0.Add(time.Minute))
	us.Proof.ID = "0x0303030303030303030303030303030303030303030303030303030303030303"
	must(t, l.MarkSigned(ctx, uid, us))
	must(t, l.Settle(ctx, uid, payments.Receipt{Amount: 20, Maximum: 50, State: "settled"}))
	row, err = l.Get(ctx, uid)
	must(t, err)
	if row.Principal != "team-b" || row.Amount != 20 || row.Authorized != 50 || row.State != payments.StateSettled {
		t.Fatalf("the upto row: principal %q amount %d authorized %d state %s", row.Principal, row.Amount, row.Authorized, row.State)
	}
	if sum, err := l.PrincipalSummary(ctx, "team-b"); err != nil || sum.Settled != 20 || sum.Pending != 0 {
		t.Fatalf("team-b's books %+v %v", sum, err)
	}
	checkSums(t, backendNamed("sqlite"), path)
}

// TestMigrationFrom7: a ledger as x402-mcp with upto left it (schema 7,
// whose immutability trigger did not name `authorized`) opens under
// 0008_authorized_immutable, with upto and exact rows in every state, a
// principal's among them: the migration is recorded once; every row keeps
// its amount and maximum; no row's maximum can be changed any more (schema 7
// let it), while an upto amount is still lowered to what settled and never
// raised; a new settlement for less gives the rest back; the running sums
// equal the rows throughout.
func TestMigrationFrom7(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	db := schemaAt(t, path, 7)
	created := t0.Add(-2 * time.Hour).UnixMilli()
	vb := t0.Add(time.Hour).UnixMilli()
	type old struct {
		principal, tool, scheme, state string
		authorized, amount             int64 // amount: what the row holds in its state
	}
	rows := []old{
		{"team-a", "llm", "upto", "settled", 10_000, 1_858}, // settled for less under schema 7
		{"", "llm", "upto", "unknown", 10_000, 10_000},
		{"", "llm", "upto", "reserved", 10_000, 10_000},
		{"", "weather", "exact", "signed", 0, 5_000},
		{"team-a", "weather", "exact", "settled", 0, 40},
		{"", "llm", "upto", "released", 10_000, 10_000},
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		// Rows walk their states as schema 7's code wrote them, so that its
		// triggers keep its sums.
		res, err := db.Exec(`INSERT INTO payments (kind, tool, host, session, network, asset, amount, state, created_at, updated_at, principal, authorized)
			VALUES ('payment', ?, 'h:443', 's1', 'eip155:84532', '0x036CbD53842c5426634e7929541eC2318f3dCF7e', ?, 'reserved', ?, ?, ?, ?)`,
			r.tool, max(r.authorized, r.amount), created, created, r.principal, r.authorized)
		must(t, err)
		id, err := res.LastInsertId()
		must(t, err)
		ids[i] = fmt.Sprint(id)
		if r.state == "reserved" || r.state == "released" {
			if r.state == "released" {
				_, err = db.Exec(`UPDATE payments SET state = 'released' WHERE id = ?`, id)
				must(t, err)
			}
			continue
		}
		_, err = db.Exec(`UPDATE payments SET state = 'signed', nonce = ?, valid_before = ?, expiry = ?, family = 'evm', scheme = ?,
			payer = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266', header = 'PAYMENT-SIGNATURE', payload = 'eyJ4NDAyVmVyc2lvbiI6Mn0=' WHERE id = ?`,
			fmt.Sprintf("%d", 1000+i), vb, vb/1000, r.scheme, id)
		must(t, err)
		if r.state != "signed" {
			_, err = db.Exec(`UPDATE payments SET state = ?, amount = ? WHERE id = ?`, r.state, r.amount, id)
			must(t, err)
		}
	}
	// The gap 0008 closes: schema 7 let a row's maximum change.
	if _, err := db.Exec(`UPDATE payments SET authorized = 20000 WHERE id = ?`, ids[1]); err != nil {
		t.Fatalf("schema 7 refused a change of authorized (%v): this test no longer starts from the schema it means", err)
	}
	_, err := db.Exec(`UPDATE payments SET authorized = 10000 WHERE id = ?`, ids[1])
	must(t, err)
	var before int64
	must(t, db.QueryRow(`SELECT amount FROM spend WHERE scope = 'total' AND unit = 'USDC' AND key = ''`).Scan(&before))
	if before != 1_858+10_000+10_000+5_000+40 {
		t.Fatalf("schema 7 counted %d", before)
	}
	must(t, db.Close())

	l := mustOpen(t, path, payments.Budget{Total: 1_000_000}, ledger.WithNow(func() time.Time { return t0 }))
	if v := schemaVersion(t); v != 8 {
		t.Fatalf("schema version %d, want 8", v)
	}
	be := backendNamed("sqlite")
	check := be.db(t, path)
	var versions string
	must(t, check.QueryRow(`SELECT group_concat(version, ',') FROM (SELECT version FROM schema_version ORDER BY version)`).Scan(&versions))
	if versions != "1,2,3,4,5,6,7,8" {
		t.Fatalf("migrations recorded: %s", versions)
	}
	for i, r := range rows {
		row, err := l.Get(ctx, ids[i])
		must(t, err)
		if string(row.State) != r.state || int64(row.Amount) != r.amount || int64(row.Authorized) != r.authorized || row.Principal != r.principal {
			t.Fatalf("old row %d: state %s amount %d authorized %d principal %q", i, row.State, row.Amount, row.Authorized, row.Principal)
		}
	}
	checkSums(t, be, path)
	if s, err := l.Summary(ctx); err != nil || int64(s.Counted()) != before {
		t.Fatalf("after the migration %+v %v, want %d counted", s, err, before)
	}

	// No row's maximum changes now, whatever its state or scheme.
	for i := range rows {
		for _, a := range []int64{0, 1, 20_000} {
			if a == rows[i].authorized {
				continue
			}
			_, err := check.Exec(`UPDATE payments SET authorized = ? WHERE id = ?`, a, ids[i])
			if err == nil || !strings.Contains(err.Error(), "authorized") || !strings.Contains(err.Error(), "never change") {
				t.Errorf("old row %d (%s %s): authorized set to %d: %v, want the schema's refusal", i, rows[i].scheme, rows[i].state, a, err)
			}
		}
	}
	// 0007's amount rule holds under the recreated trigger: a settled upto
	// amount is lowered (the seller's later, smaller receipt), never raised;
	// an exact amount never changes.
	_, err = check.Exec(`UPDATE payments SET amount = 1000 WHERE id = ?`, ids[0])
	must(t, err)
	for _, q := range []string{`UPDATE payments SET amount = 2000 WHERE id = ` + ids[0], `UPDATE payments SET amount = 1, state = 'settled' WHERE id = ` + ids[3],
		`UPDATE payments SET amount = 1 WHERE id = ` + ids[2]} {
		if _, err := check.Exec(q); err == nil || !strings.Contains(err.Error(), "never change") {
			t.Errorf("%s: %v, want the schema's refusal", q, err)
		}
	}
	checkSums(t, be, path)

	// The old unknown upto payment settles for less through the ledger: the
	// rest of its maximum is given back at once.
	must(t, l.Settle(ctx, ids[1], payments.Receipt{Amount: 2_500, Maximum: 10_000, State: "settled"}))
	row, err := l.Get(ctx, ids[1])
	must(t, err)
	if row.State != payments.StateSettled || row.Amount != 2_500 || row.Authorized != 10_000 {
		t.Fatalf("the old unknown upto row: state %s amount %d authorized %d", row.State, row.Amount, row.Authorized)
	}
	if s, err := l.Summary(ctx); err != nil || s.Settled != 1_000+2_500+40 || s.Counted() != 1_000+2_500+10_000+5_000+40 {
		t.Fatalf("after settling for less: %+v %v", s, err)
	}
	if s, err := l.PrincipalSummary(ctx, "team-a"); err != nil || s.Settled != 1_000+40 || s.Pending != 0 {
		t.Fatalf("team-a's books %+v %v", s, err)
	}
	checkSums(t, be, path)
}
