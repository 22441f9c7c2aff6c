package ledger_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 23, 15, 4, 5, 0, time.UTC)

func mustOpen(t testing.TB, path string, b payments.Budget, opts ...ledger.Option) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(context.Background(), path, b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func res(tool string, amount payments.Amount) payments.Reservation {
	return payments.Reservation{Tool: tool, Amount: amount, Host: "api.example.com:443", Session: "s1", Network: "eip155:84532",
		PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e"}
}

const nonce1 = "0x0101010101010101010101010101010101010101010101010101010101010101"

func signed(validBefore time.Time) payments.Signed {
	return payments.Signed{Proof: evmProof(nonce1, validBefore), Header: "PAYMENT-SIGNATURE", Payload: "eyJ4NDAyVmVyc2lvbiI6Mn0=", X402Version: 2, PaymentID: "call_0123456789abcdef"}
}

// evmProof is the proof of an EVM exact payment (evm.Exact.Sign's): its
// nonce and validBefore, paid by Anvil's account #0.
func evmProof(nonce string, validBefore time.Time) payments.Proof {
	p := payments.Proof{Family: "evm", Scheme: "exact", Network: "eip155:84532", Payer: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
		Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", ID: nonce, Deadline: validBefore}
	if secs := validBefore.Unix(); secs > 0 {
		if validBefore.Nanosecond() > 0 {
			secs++
		}
		p.Expiry = uint64(secs)
	}
	return p
}

// proveWith is the set of schemes reconciliation proves fates with: EVM's
// exact scheme over the checker c.
func proveWith(c evm.Checker) *payments.Schemes { return payments.NewSchemes(evm.NewExact(c)) }

func overScope(t *testing.T, err error) string {
	t.Helper()
	pe, ok := payments.AsError(err)
	if !ok || pe.Code != payments.CodeOverBudget || pe.Charged != payments.NotCharged || pe.Over == nil {
		t.Fatalf("refusal = %v, want over_budget", err)
	}
	return pe.Over.Scope
}

// TestScopes: every budget scope, in both ledgers, takes exactly its limit
// and refuses one atomic unit more; other keys of the scope are unaffected.
func TestScopes(t *testing.T) {
	ctx := context.Background()
	type step struct {
		r     payments.Reservation
		scope string // "" = accepted
	}
	other := func(f func(*payments.Reservation)) payments.Reservation {
		r := res("weather", 30)
		f(&r)
		return r
	}
	tests := []struct {
		name  string
		b     payments.Budget
		steps []step
	}{
		{"tool", payments.Budget{PerTool: 100}, []step{
			{res("weather", 70), ""}, {res("weather", 31), payments.ScopeTool}, {res("weather", 30), ""}, {res("weather", 1), payments.ScopeTool},
			{res("quote", 100), ""}}},
		{"entry budget", payments.Budget{PerTool: 1000}, []step{
			{other(func(r *payments.Reservation) { r.ToolBudget = 50 }), ""}, {other(func(r *payments.Reservation) { r.ToolBudget = 50 }), payments.ScopeTool},
			{other(func(r *payments.Reservation) { r.ToolBudget = 60 }), ""}}},
		{"host", payments.Budget{PerHost: 60}, []step{
			{res("a", 30), ""}, {res("b", 30), ""}, {res("c", 1), payments.ScopeHost},
			{other(func(r *payments.Reservation) { r.Host = "other.example:443" }), ""}}},
		{"session", payments.Budget{PerSession: 60}, []step{
			{res("a", 60), ""}, {res("a", 1), payments.ScopeSession},
			{other(func(r *payments.Reservation) { r.Session = "s2" }), ""}}},
		{"network", payments.Budget{PerNetwork: map[payments.Network]payments.Amount{"eip155:84532": 60}}, []step{
			{res("a", 60), ""}, {res("a", 1), payments.ScopeNetwork},
			{other(func(r *payments.Reservation) { r.Network = "eip155:8453" }), ""}}},
		{"day", payments.Budget{PerDay: 60}, []step{{res("a", 60), ""}, {res("a", 1), payments.ScopeDay}}},
		{"total", payments.Budget{Total: 60}, []step{{res("a", 59), ""}, {res("a", 2), payments.ScopeTotal}, {res("a", 1), ""}, {res("b", 1), payments.ScopeTotal}}},
	}
	for _, tt := range tests {
		for _, name := range implNames {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				l := implOf(t, name, tt.b, newClock(t0).Now)
				for i, s := range tt.steps {
					_, err := l.Reserve(ctx, s.r)
					switch {
					case s.scope == "" && err != nil:
						t.Fatalf("step %d refused: %v", i, err)
					case s.scope != "" && err == nil:
						t.Fatalf("step %d accepted, want %s refusal", i, s.scope)
					case s.scope != "":
						if got := overScope(t, err); got != s.scope {
							t.Fatalf("step %d refused by %s, want %s", i, got, s.scope)
						}
					}
				}
			})
		}
	}
}

// TestStates: what counts in each state, in both ledgers.
func TestStates(t *testing.T) {
	ctx := context.Background()
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) {
			c := newClock(t0)
			l := implOf(t, name, payments.Budget{Total: 100}, c.Now)
			id1, _ := l.Reserve(ctx, res("a", 10))
			id2, _ := l.Reserve(ctx, res("a", 20))
			id3, _ := l.Reserve(ctx, res("a", 30))
			id4, _ := l.Reserve(ctx, res("a", 5))
			for _, id := range []string{id1, id2, id3} {
				if err := l.MarkSigned(ctx, id, signed(t0.Add(time.Minute))); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.MarkSigned(ctx, id1, signed(t0.Add(time.Minute))); err == nil {
				t.Fatal("a payment was signed twice")
			}
			must(t, l.Settle(ctx, id1, payments.Receipt{Transaction: "0xabc", Payer: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}))
			must(t, l.Reject(ctx, id2, "nope"))
			must(t, l.MarkUnknown(ctx, id3, "timeout"))
			must(t, l.Release(ctx, id4, "declined"))
			if err := l.Release(ctx, id3, "try"); err == nil {
				t.Fatal("a signed payment was released")
			}
			for _, id := range []string{id1, id2, id3, id4} { // settled, rejected, unknown, released
				if err := l.ReleaseUnsent(ctx, id, "try"); err == nil {
					t.Fatalf("payment %s released as never sent, though it is not just signed", id)
				}
			}
			if err := l.Reject(ctx, id1, "late"); err == nil {
				t.Fatal("a settled payment became rejected")
			}
			if err := l.Settle(ctx, "999", payments.Receipt{}); err == nil {
				t.Fatal("settled a payment that does not exist")
			}
			s, err := l.Summary(ctx)
			must(t, err)
			if s.Settled != 10 || s.Pending != 50 || s.Left() != 40 || s.Payments != 1 || s.Day != 60 || s.Budget.Total != 100 {
				t.Fatalf("summary %+v", s)
			}
			// The rejected authorization expires by the clock: that proves
			// nothing (the seller may have settled it), so it still counts.
			c.Add(2 * time.Hour)
			s, _ = l.Summary(ctx)
			if s.Pending != 50 || s.Left() != 40 {
				t.Fatalf("after expiry %+v", s)
			}
			sp, err := l.Spent(ctx, res("a", 1))
			must(t, err)
			if sp.Total != 60 || sp.Tool != 60 || sp.Day != 60 || !sp.DayOldest.Equal(t0) {
				t.Fatalf("spent %+v", sp)
			}
			// Exactly the 40 left fit.
			if _, err := l.Reserve(ctx, res("b", 40)); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Reserve(ctx, res("b", 1)); overScope(t, err) != payments.ScopeTotal {
				t.Fatal("over the total")
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// schemaVersion is ledger.SchemaVersion; it fails t when the embedded
// migrations are out of sequence.
func schemaVersion(t testing.TB) int {
	t.Helper()
	v, err := ledger.SchemaVersion()
	must(t, err)
	return v
}

// postgresSchemaVersion is ledger.PostgresSchemaVersion, as schemaVersion.
func postgresSchemaVersion(t testing.TB) int {
	t.Helper()
	v, err := ledger.PostgresSchemaVersion()
	must(t, err)
	return v
}

func TestDuplicateCallID(t *testing.T) {
	ctx := context.Background()
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) {
			l := implOf(t, name, payments.Budget{}, time.Now)
			r := res("a", 1)
			r.CallID = "call_0123456789abcdef"
			if _, err := l.Reserve(ctx, r); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Reserve(ctx, r); !errors.Is(err, payments.ErrDuplicateCall) {
				t.Fatalf("second payment for one call: %v", err)
			}
			r.CallID = ""
			for range 2 {
				if _, err := l.Reserve(ctx, r); err != nil {
					t.Fatalf("calls without an id: %v", err)
				}
			}
		})
	}
}

// TestDayWindows: each durable ledger sums the day window exactly, from its
// hourly sums and the rows at the window's edge, for a rolling window and
// for a calendar day in a zone whose midnight is not on a UTC hour.
func TestDayWindows(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		kolkata, err := time.LoadLocation("Asia/Kolkata") // UTC+5:30
		if err != nil {
			t.Skip("no time zone database:", err)
		}
		for _, w := range []payments.DayWindow{{}, {Calendar: true, Location: kolkata}, {Calendar: true}} {
			t.Run(w.String(), func(t *testing.T) {
				c := newClock(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
				b := payments.Budget{PerDay: 1_000_000, Day: w}
				sq := mustOpen(t, be.new(t), b, ledger.WithNow(c.Now))
				mem := payments.NewMemoryLedger(b, c.Now)
				// A payment every 17 minutes 13 seconds for three days, with
				// some rejected (counted until they expire) and some released.
				for i := 0; c.Now().Before(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)); i++ {
					for _, l := range []payments.Ledger{sq, mem} {
						id, err := l.Reserve(ctx, res("a", payments.Amount(100+i%7)))
						must(t, err)
						switch i % 5 {
						case 1:
							must(t, l.MarkSigned(ctx, id, signed(c.Now().Add(20*time.Minute))))
							must(t, l.Reject(ctx, id, "no"))
						case 2:
							must(t, l.Release(ctx, id, "no"))
						}
					}
					c.Add(17*time.Minute + 13*time.Second)
					if i%7 == 0 {
						a, err := sq.Spent(ctx, res("a", 1))
						must(t, err)
						m, _ := mem.Spent(ctx, res("a", 1))
						if !sameSpent(a, m) {
							t.Fatalf("after %d payments: %s %+v, memory %+v", i, be.name, a, m)
						}
						if !a.DayOldest.IsZero() && a.DayOldest.Before(w.Start(c.Now())) {
							t.Fatalf("day %+v for window from %v", a, w.Start(c.Now()))
						}
					}
				}
			})
		}
	})
}

func sameSpent(a, b payments.Spent) bool {
	ta, tb := a.DayOldest, b.DayOldest
	a.DayOldest, b.DayOldest = time.Time{}, time.Time{}
	return a == b && ta.Equal(tb)
}

// TestRollingRefusalNamesFirstRelease: a refusal under a rolling window says
// when the oldest payment leaves it.
func TestRollingRefusalNamesFirstRelease(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		c := newClock(t0)
		l := mustOpen(t, be.new(t), payments.Budget{PerDay: 100}, ledger.WithNow(c.Now))
		_, err := l.Reserve(ctx, res("a", 60))
		must(t, err)
		c.Add(3 * time.Hour)
		_, err = l.Reserve(ctx, res("a", 40))
		must(t, err)
		_, err = l.Reserve(ctx, res("a", 1))
		pe, _ := payments.AsError(err)
		if overScope(t, err) != payments.ScopeDay || !pe.Over.Resets.Equal(t0.Add(24*time.Hour)) ||
			!strings.Contains(pe.Message, "first at "+t0.Add(24*time.Hour).Format(time.RFC3339)) {
			t.Fatalf("refusal %v (resets %v)", err, pe.Over.Resets)
		}
		c.Add(21*time.Hour + time.Second) // the first payment left the window
		if _, err := l.Reserve(ctx, res("a", 60)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestListFilterAndCSV(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		c := newClock(t0)
		l := mustOpen(t, be.new(t), payments.Budget{}, ledger.WithNow(c.Now))
		var ids []string
		for i, tool := range []string{"weather", "quote", "weather", "=cmd"} {
			r := res(tool, payments.Amount(10_000*(i+1)))
			r.CallID = fmt.Sprintf("call_%016d", i)
			r.Resource = "GET https://api.example.com/x"
			id, err := l.Reserve(ctx, r)
			must(t, err)
			ids = append(ids, id)
			c.Add(time.Minute)
		}
		must(t, l.MarkSigned(ctx, ids[0], signed(c.Now().Add(time.Minute))))
		must(t, l.Settle(ctx, ids[0], payments.Receipt{Transaction: "0xfeed", Payer: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}))
		must(t, l.Release(ctx, ids[1], "declined, \"quoted\"\nreason"))

		all, err := l.List(ctx, ledger.Filter{})
		must(t, err)
		if len(all) != 4 || all[0].ID != ids[3] || all[3].ID != ids[0] {
			t.Fatalf("list %v", all)
		}
		r0 := all[3]
		if r0.State != payments.StateSettled || r0.Transaction != "0xfeed" || r0.Nonce != nonce1 || r0.Payload == "" || r0.Header != "PAYMENT-SIGNATURE" ||
			r0.CallID != "call_0000000000000000" || r0.Kind != ledger.KindPayment || r0.X402Version != 2 || r0.Amount != 10_000 ||
			!r0.CreatedAt.Equal(t0) || r0.Host != "api.example.com:443" || r0.Session != "s1" || r0.PaymentID != "call_0123456789abcdef" {
			t.Fatalf("row %+v", r0)
		}
		for _, tt := range []struct {
			f    ledger.Filter
			want []string
		}{
			{ledger.Filter{Tool: "weather"}, []string{ids[2], ids[0]}},
			{ledger.Filter{State: payments.StateReserved}, []string{ids[3], ids[2]}},
			{ledger.Filter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []string{ids[2], ids[1]}},
			{ledger.Filter{Limit: 1}, []string{ids[3]}},
			{ledger.Filter{Tool: "none"}, nil},
		} {
			got, err := l.List(ctx, tt.f)
			must(t, err)
			var gotIDs []string
			for _, r := range got {
				gotIDs = append(gotIDs, r.ID)
			}
			if fmt.Sprint(gotIDs) != fmt.Sprint(tt.want) {
				t.Errorf("filter %+v: %v, want %v", tt.f, gotIDs, tt.want)
			}
		}
		if r, err := l.Get(ctx, ids[1]); err != nil || r.State != payments.StateReleased {
			t.Fatalf("get %+v %v", r, err)
		}
		if _, err := l.Get(ctx, "nope"); err == nil {
			t.Fatal("got a payment that does not exist")
		}

		var buf bytes.Buffer
		must(t, l.WriteCSV(ctx, &buf, ledger.Filter{}))
		if !strings.Contains(buf.String(), "\r\n") {
			t.Fatal("CSV lines do not end in CRLF")
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		must(t, err)
		if len(recs) != 5 || strings.Join(recs[0], ",") != strings.Join(ledger.CSVHeader, ",") {
			t.Fatalf("csv %q", recs)
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		settled := recs[4]
		if settled[col["id"]] != ids[0] || settled[col["amount_usdc"]] != "0.01" || settled[col["amount_atomic"]] != "10000" ||
			settled[col["state"]] != "settled" || settled[col["transaction"]] != "0xfeed" || settled[col["created_at"]] != "2026-11-23T15:04:05Z" {
			t.Fatalf("settled row %q", settled)
		}
		if got := recs[3][col["reason"]]; got != "declined, \"quoted\"\nreason" {
			t.Fatalf("reason round trip %q", got)
		}
		if got := recs[1][col["tool"]]; got != "'=cmd" {
			t.Fatalf("formula not defused: %q", got)
		}
		if strings.Contains(buf.String(), "eyJ4NDAy") {
			t.Fatal("the signed payload was exported")
		}
	})
}

// TestMigrations: a fresh file gets the schema at 0600 in a 0700 directory;
// re-opening keeps the data; a newer schema is refused.
func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	l, err := ledger.Open(ctx, path, payments.Budget{Total: 100})
	must(t, err)
	_, err = l.Reserve(ctx, res("a", 40))
	must(t, err)
	must(t, l.Close())
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v %v", fi.Mode(), err)
	}

	l = mustOpen(t, path, payments.Budget{Total: 100})
	if s, _ := l.Summary(ctx); s.Pending != 40 {
		t.Fatalf("after re-open %+v", s)
	}
	if _, err := l.Reserve(ctx, res("a", 61)); overScope(t, err) != payments.ScopeTotal {
		t.Fatal("re-opened ledger forgot its spending")
	}
	l.Close()

	db, err := sql.Open("sqlite", path)
	must(t, err)
	var v int
	must(t, db.QueryRow(`SELECT MAX(version) FROM schema_version`).Scan(&v))
	if v != schemaVersion(t) || v < 1 {
		t.Fatalf("schema version %d, want %d", v, schemaVersion(t))
	}
	_, err = db.Exec(`INSERT INTO schema_version (version, applied_at) VALUES (?, 0)`, schemaVersion(t)+1)
	must(t, err)
	db.Close()
	_, err = ledger.Open(ctx, path, payments.Budget{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema is version %d, newer than this x402-mcp knows", schemaVersion(t)+1)) {
		t.Fatalf("future schema: %v", err)
	}

	junk := filepath.Join(t.TempDir(), "junk.db")
	must(t, os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 100), 0o600))
	if _, err := ledger.Open(ctx, junk, payments.Budget{}); err == nil || !strings.Contains(err.Error(), junk) {
		t.Fatalf("junk file: %v", err)
	}
}

// TestRowsNeverDeleted: the schema refuses to delete a payment (or empty
// the table) or change what it counts against, or its state but as the
// state machine allows.
func TestRowsNeverDeleted(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		path := be.new(t)
		l := mustOpen(t, path, payments.Budget{})
		_, err := l.Reserve(ctx, res("a", 40))
		must(t, err)
		db := be.db(t, path)
		for _, q := range []string{`DELETE FROM payments`, `TRUNCATE payments`, `UPDATE payments SET amount = 1`, `UPDATE payments SET tool = 'b'`,
			`UPDATE payments SET state = 'settled'`, `UPDATE payments SET unit = 'X'`, `UPDATE payments SET created_at = 1`} {
			if _, err := db.Exec(q); err == nil {
				t.Errorf("%s was allowed", q)
			}
		}
	})
}

// TestConcurrentReserve: 200 goroutines reserving against one budget never
// overspend by one atomic unit, and the running sums match the rows.
func TestConcurrentReserve(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		const total = 8_009
		path := be.new(t)
		l := mustOpen(t, path, payments.Budget{Total: total, PerDay: 2 * total, PerTool: 2 * total, PerHost: 2 * total})
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for g := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 6 {
					amt := payments.Amount(1 + (g*7+i)%23)
					id, err := l.Reserve(ctx, res("t", amt))
					if err != nil {
						if overScope(t, err) != payments.ScopeTotal {
							t.Errorf("refused by %v", err)
						}
						refused.Add(1)
						continue
					}
					ok.Add(1)
					switch i % 3 {
					case 0:
						must(t, l.MarkSigned(ctx, id, signed(time.Now().Add(time.Minute))))
						must(t, l.Settle(ctx, id, payments.Receipt{}))
					case 1:
						must(t, l.Release(ctx, id, "x"))
					}
				}
			}()
		}
		wg.Wait()
		s, err := l.Summary(ctx)
		must(t, err)
		if s.Counted() > total || refused.Load() == 0 || ok.Load() == 0 {
			t.Fatalf("counted %d of %d; %d accepted, %d refused", s.Counted(), total, ok.Load(), refused.Load())
		}
		// What is left can be filled to the last unit, and not one more.
		for {
			if _, err := l.Reserve(ctx, res("t", 1)); err != nil {
				overScope(t, err)
				break
			}
		}
		if s, _ := l.Summary(ctx); s.Counted() != total {
			t.Fatalf("counted %d, want exactly %d", s.Counted(), total)
		}
		checkSums(t, be, path)
	})
}

// checkSums recomputes every running sum from the rows.
func checkSums(t *testing.T, be backend, loc string) {
	t.Helper()
	db := be.db(t, loc)
	hour := be.hour("created_at")
	// Every state but released counts in the running sums (a rejected
	// payment until reconciliation releases it), per unit.
	q := `
WITH c AS (SELECT * FROM payments WHERE state IN ('reserved', 'signed', 'settled', 'unknown', 'rejected')),
want AS (
	SELECT 'total' AS scope, unit, '' AS key, SUM(amount) AS amount, COUNT(*) AS n FROM c GROUP BY unit
	UNION ALL SELECT 'tool', unit, tool, SUM(amount), COUNT(*) FROM c GROUP BY unit, tool
	UNION ALL SELECT 'host', unit, host, SUM(amount), COUNT(*) FROM c GROUP BY unit, host
	UNION ALL SELECT 'session', unit, session, SUM(amount), COUNT(*) FROM c GROUP BY unit, session
	UNION ALL SELECT 'network', unit, network, SUM(amount), COUNT(*) FROM c GROUP BY unit, network
	UNION ALL SELECT 'hour', unit, ` + hour + `, SUM(amount), COUNT(*) FROM c GROUP BY unit, 3
	UNION ALL SELECT 'tip_hour', unit, ` + hour + `, SUM(amount), COUNT(*) FROM c WHERE kind = 'tip' GROUP BY unit, 3
	UNION ALL SELECT 'settled', unit, '', SUM(amount), COUNT(*) FROM c WHERE state = 'settled' GROUP BY unit
	UNION ALL SELECT 'principal', unit, principal, SUM(amount), COUNT(*) FROM c WHERE principal <> '' GROUP BY unit, principal
	UNION ALL SELECT 'principal_settled', unit, principal, SUM(amount), COUNT(*) FROM c WHERE principal <> '' AND state = 'settled' GROUP BY unit, principal
	UNION ALL SELECT 'principal_tool', unit, principal || '/' || tool, SUM(amount), COUNT(*) FROM c WHERE principal <> '' GROUP BY unit, 3
	UNION ALL SELECT 'principal_hour', unit, principal || '/' || ` + hour + `, SUM(amount), COUNT(*) FROM c WHERE principal <> '' GROUP BY unit, 3
)
SELECT w.scope, w.unit || ' ' || w.key, w.amount, w.n, s.amount, s.n FROM want w LEFT JOIN spend s ON s.scope = w.scope AND s.unit = w.unit AND s.key = w.key
WHERE w.n > 0 AND (s.amount IS DISTINCT FROM w.amount OR s.n IS DISTINCT FROM w.n)
UNION ALL
SELECT s.scope, s.unit || ' ' || s.key, NULL, NULL, s.amount, s.n FROM spend s WHERE s.n > 0
	AND NOT EXISTS (SELECT 1 FROM want w WHERE w.scope = s.scope AND w.unit = s.unit AND w.key = s.key AND w.n > 0)`
	rows, err := db.Query(q)
	must(t, err)
	defer rows.Close()
	for rows.Next() {
		var scope, key string
		var wa, wn, sa, sn sql.NullInt64
		must(t, rows.Scan(&scope, &key, &wa, &wn, &sa, &sn))
		t.Errorf("running sum %s/%q is %v (%v rows), the rows say %v (%v)", scope, key, sa.Int64, sn.Int64, wa.Int64, wn.Int64)
	}
	must(t, rows.Err())
}

func TestDurabilityModes(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		for _, d := range []ledger.Durability{ledger.DurableSigned, ledger.DurableAll, ledger.DurableProcess} {
			l := mustOpen(t, be.new(t), payments.Budget{Total: 10}, ledger.WithDurability(d))
			id, err := l.Reserve(ctx, res("a", 10))
			must(t, err)
			must(t, l.MarkSigned(ctx, id, signed(time.Now().Add(time.Minute))))
			must(t, l.Settle(ctx, id, payments.Receipt{}))
			if s, _ := l.Summary(ctx); s.Settled != 10 {
				t.Fatalf("durability %d: %+v", d, s)
			}
		}
		if _, err := ledger.Open(ctx, be.new(t), payments.Budget{}, ledger.WithDurability(99)); err == nil {
			t.Fatal("unknown durability accepted")
		}
	})
}

// TestPostgresMigrations: a new database gets the PostgreSQL schema; a
// re-opened one keeps its data; a newer schema is refused; replicas that
// open a new database at once take turns migrating it.
func TestPostgresMigrations(t *testing.T) {
	ctx := context.Background()
	be := backendNamed("postgres")
	url := be.new(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := ledger.Open(ctx, url, payments.Budget{Total: 100})
			if err == nil {
				err = l.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	must(t, errors.Join(errs...))
	l := mustOpen(t, url, payments.Budget{Total: 100})
	_, err := l.Reserve(ctx, res("a", 40))
	must(t, err)
	must(t, l.Close())
	l = mustOpen(t, url, payments.Budget{Total: 100})
	if s, _ := l.Summary(ctx); s.Pending != 40 {
		t.Fatalf("after re-open %+v", s)
	}
	if _, err := l.Reserve(ctx, res("a", 61)); overScope(t, err) != payments.ScopeTotal {
		t.Fatal("re-opened ledger forgot its spending")
	}
	db := be.db(t, url)
	var v, n int
	must(t, db.QueryRow(`SELECT MAX(version), COUNT(*) FROM schema_version`).Scan(&v, &n))
	if v != postgresSchemaVersion(t) || n != v || v < 1 {
		t.Fatalf("schema version %d in %d rows, want %d", v, n, postgresSchemaVersion(t))
	}
	_, err = db.Exec(`INSERT INTO schema_version (version, applied_at) VALUES ($1, 0)`, v+1)
	must(t, err)
	_, err = ledger.Open(ctx, url, payments.Budget{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema is version %d, newer than this x402-mcp knows", v+1)) {
		t.Fatalf("future schema: %v", err)
	}
}
