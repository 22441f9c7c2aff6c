package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/pgtest"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// TestPostgresSignedCommitIsSynchronous: the signed record of a payment is
// on the server's disk before the payment leaves: MarkSigned's commit waits
// for it (synchronous_commit on, whatever the connection's default);
// ReserveSigned's commit does not (it holds the budget lock), but it
// returns only once the server's log is flushed past the record. Under
// DurableSigned the other commits do not wait, under DurableAll every one
// does. A trigger added for the test records the setting each transaction
// ran with and where the log was; the server's background flush is put off
// (wal_writer_delay) so that only the ledger's own can explain a flush.
func TestPostgresSignedCommitIsSynchronous(t *testing.T) {
	ctx := context.Background()
	be := backendNamed("postgres")
	pg := pgtest.StartFor(t, "wal_writer_delay=10000ms", "wal_writer_flush_after=0")
	for _, tt := range []struct {
		d                    ledger.Durability
		signed, oneStep, set string
		flushed              bool
	}{
		{ledger.DurableSigned, "on", "off", "off", true},
		{ledger.DurableAll, "on", "on", "on", true},
		{ledger.DurableProcess, "off", "off", "off", false},
	} {
		url := pgtest.NewDatabase(t, pg.URL("postgres"))
		l := mustOpen(t, url, payments.Budget{Total: 100}, ledger.WithDurability(tt.d))
		db := be.db(t, url)
		for _, q := range []string{
			`CREATE TABLE commits (id BIGINT, state TEXT, sync TEXT, lsn pg_lsn)`,
			`CREATE FUNCTION note_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO commits VALUES (NEW.id, NEW.state, current_setting('synchronous_commit'), pg_current_wal_insert_lsn());
	RETURN NULL;
END $$`,
			`CREATE TRIGGER note_commit AFTER INSERT OR UPDATE OF state ON payments FOR EACH ROW EXECUTE FUNCTION note_commit()`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		id, err := l.Reserve(ctx, res("a", 10))
		must(t, err)
		must(t, l.MarkSigned(ctx, id, signed(time.Now().Add(time.Minute))))
		must(t, l.Settle(ctx, id, payments.Receipt{}))
		id2, err := l.ReserveSigned(ctx, res("a", 10), func() (payments.Signed, error) { return signed(time.Now().Add(time.Minute)), nil })
		must(t, err)
		var flushed bool
		must(t, db.QueryRow(`SELECT pg_current_wal_flush_lsn() > lsn FROM commits WHERE id = $1 AND state = 'signed'`, id2).Scan(&flushed))
		if flushed != tt.flushed {
			t.Errorf("durability %d: ReserveSigned returned with its signed record flushed: %v, want %v", tt.d, flushed, tt.flushed)
		}
		must(t, l.MarkUnknown(ctx, id2, "lost"))
		got := map[string]string{}
		rows, err := db.Query(`SELECT id, state, sync FROM commits`)
		must(t, err)
		for rows.Next() {
			var rid, state, sync string
			must(t, rows.Scan(&rid, &state, &sync))
			got[rid+" "+state] = sync
		}
		must(t, rows.Err())
		want := map[string]string{id + " signed": tt.signed, id + " settled": tt.set, id2 + " signed": tt.oneStep, id2 + " unknown": tt.set}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("durability %d: payment %s ran with synchronous_commit %q, want %q (all: %v)", tt.d, k, got[k], v, got)
			}
		}
	}
}

// TestPostgresReconcileOneAtATime: while another session holds the
// reconciliation lock (another replica's pass), TryReconcile skips and
// Reconcile waits; once it is free a pass runs and gives it back.
func TestPostgresReconcileOneAtATime(t *testing.T) {
	ctx := context.Background()
	be := backendNamed("postgres")
	url := be.new(t)
	c := newClock(t0)
	l := mustOpen(t, url, payments.Budget{Total: 1000}, ledger.WithNow(c.Now))
	_, err := l.Reserve(ctx, res("a", 10)) // never signed: a stale reservation
	must(t, err)
	c.Add(ledger.StaleReservation + time.Minute)
	other := be.db(t, url)
	conn, err := other.Conn(ctx)
	must(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `SELECT pg_advisory_lock(402002, 0)`)
	must(t, err)

	p := proveWith(newFakeChain(t0))
	rep, err := l.TryReconcile(ctx, p)
	if err != nil || !rep.Skipped || rep.Released != 0 {
		t.Fatalf("a pass while another holds the lock: %+v %v", rep, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	rep, err = l.Reconcile(wctx, p)
	cancel()
	if err == nil || rep.Released != 0 {
		t.Fatalf("Reconcile did not wait for the lock: %+v %v", rep, err)
	}
	if s, _ := l.Summary(ctx); s.Pending != 10 {
		t.Fatalf("a skipped pass changed the books: %+v", s)
	}
	// The pass that gave up left nothing waiting on the server: a session
	// still blocked there would take the lock the moment it is freed, and
	// every replica's next pass would find it taken by nobody.
	var waiting int
	must(t, conn.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 402002 AND objid = 0 AND NOT granted`).Scan(&waiting))
	if waiting != 0 {
		t.Fatalf("%d sessions still wait for the reconciliation lock after the pass gave up", waiting)
	}
	_, err = conn.ExecContext(ctx, `SELECT pg_advisory_unlock(402002, 0)`)
	must(t, err)
	rep, err = l.TryReconcile(ctx, p)
	if err != nil || rep.Skipped || rep.Released != 1 {
		t.Fatalf("a pass once the lock is free: %+v %v", rep, err)
	}
	// The pass gave the lock back: another session takes it at once.
	var got bool
	must(t, conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(402002, 0)`).Scan(&got))
	if !got {
		t.Fatal("the pass kept the reconciliation lock")
	}
}

// slowProver answers "still open" after a pause, and records how many
// passes asked it at once at most (it stands in for a chain: what is under
// test is who asks).
type slowProver struct {
	mu           sync.Mutex
	now, most, n int
}

func (p *slowProver) Prove(context.Context, payments.Proof) (payments.Fate, error) {
	p.mu.Lock()
	p.now++
	p.n++
	p.most = max(p.most, p.now)
	p.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	p.mu.Lock()
	p.now--
	p.mu.Unlock()
	return payments.Fate{}, nil
}

// TestPostgresReplicasReconcileOneAtATime: three replicas' background
// reconcilers on one PostgreSQL ledger, each pass slow: the chain is never
// asked by two passes at once, passes that find another under way are
// skipped, and the replicas between them keep reconciling.
func TestPostgresReplicasReconcileOneAtATime(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := backendNamed("postgres").new(t)
	first := mustOpen(t, url, payments.Budget{Total: 1000})
	for i := range 3 {
		id, err := first.Reserve(ctx, res("a", 10))
		must(t, err)
		s := signed(time.Now().Add(time.Hour))
		s.Proof.ID = fmt.Sprintf("0x%064x", i+1)
		must(t, first.MarkSigned(ctx, id, s))
		must(t, first.MarkUnknown(ctx, id, "lost"))
	}
	p := &slowProver{}
	var mu sync.Mutex
	ran, skipped := 0, 0
	var wg sync.WaitGroup
	for i := range 3 {
		l := first
		if i > 0 {
			l = mustOpen(t, url, payments.Budget{Total: 1000})
		}
		r := &ledger.Reconciler{Ledger: l, Prover: p, Every: 20 * time.Millisecond, Soon: 10 * time.Millisecond,
			OnPass: func(rep ledger.ReconcileReport, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("pass: %v", err)
				}
				if rep.Skipped {
					skipped++
				} else {
					ran++
				}
			}}
		wg.Add(1)
		go func() { defer wg.Done(); r.Run(ctx) }()
	}
	time.Sleep(1500 * time.Millisecond)
	cancel()
	wg.Wait()
	if p.most != 1 || ran < 3 || skipped == 0 {
		t.Fatalf("%d passes ran, %d skipped, at most %d asking the chain at once: want one at a time", ran, skipped, p.most)
	}
	t.Logf("%d passes ran, %d skipped, %d proofs asked", ran, skipped, p.n)
}
