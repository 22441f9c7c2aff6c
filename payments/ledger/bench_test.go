package ledger_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// BenchmarkReserveSettle: one paid call's ledger work — reserve (every
// budget checked), record the signed payment (a real-size payload), settle —
// three commits. It reports payments/s and the file's bytes per row.
//
// It runs on each backend (sqlite/…, postgres/…: a throwaway cluster, or
// X402_TEST_POSTGRES's server); on PostgreSQL also with 16 goroutines
// paying at once (parallel), as replicas do.
func BenchmarkReserveSettle(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			for _, d := range []struct {
				name string
				d    ledger.Durability
			}{{"durable=signed", ledger.DurableSigned}, {"durable=all", ledger.DurableAll}, {"durable=process", ledger.DurableProcess}} {
				b.Run(d.name, func(b *testing.B) {
					benchReserveSettle(b, be, d.d, false, 1)
				})
				// What a payment that needs no approval costs: reserve and the
				// signed record in one transaction (ReserveSigned), then settle.
				b.Run(d.name+"/one-step", func(b *testing.B) {
					benchReserveSettle(b, be, d.d, true, 1)
				})
				if be.name == "postgres" {
					b.Run(d.name+"/one-step/parallel", func(b *testing.B) {
						benchReserveSettle(b, be, d.d, true, 8)
					})
				}
			}
		})
	}
}

const payloadSize = 1200

func benchReserveSettle(b *testing.B, be backend, d ledger.Durability, oneStep bool, workers int) {
	ctx := context.Background()
	path := be.new(b)
	l := mustOpen(b, path, payments.Budget{
		Total: payments.Amount(1) << 60, PerDay: payments.Amount(1) << 60, PerSession: payments.Amount(1) << 60,
		PerTool: payments.Amount(1) << 60, PerHost: payments.Amount(1) << 60,
		PerNetwork: map[payments.Network]payments.Amount{"eip155:84532": payments.Amount(1) << 60},
	}, ledger.WithDurability(d))
	s := signed(time.Now().Add(time.Minute))
	// A real v2 PAYMENT-SIGNATURE value (base64 JSON echoing the accepted
	// requirement and the resource) is about this long; see
	// TestPaidCallsOnDurableLedger's log.
	s.Payload = strings.Repeat("A", payloadSize)
	rc := payments.Receipt{Transaction: "0x" + fmt.Sprintf("%064x", 1), Payer: s.Proof.Payer}
	var n atomic.Int64
	pay := func() error {
		i := n.Add(1)
		r := res(fmt.Sprintf("tool%d", i%20), 1000)
		r.CallID = fmt.Sprintf("call_%032x", i)
		r.Resource = "GET https://api.example.com/v2/weather/paris"
		var id string
		var err error
		if oneStep {
			id, err = l.ReserveSigned(ctx, r, func() (payments.Signed, error) { return s, nil })
		} else if id, err = l.Reserve(ctx, r); err == nil {
			err = l.MarkSigned(ctx, id, s)
		}
		if err != nil {
			return err
		}
		return l.Settle(ctx, id, rc)
	}
	start := time.Now()
	b.ReportAllocs()
	if workers == 1 {
		for b.Loop() {
			if err := pay(); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(workers) // × GOMAXPROCS goroutines
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := pay(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "payments/s")
	b.StopTimer()
	if n.Load() >= 1000 && be.name == "sqlite" {
		b.ReportMetric(bytesPerRow(b, path, int(n.Load())), "bytes/row")
	}
}

func bytesPerRow(b *testing.B, path string, n int) float64 {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	var pages, size int64
	if err := db.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		b.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&size); err != nil {
		b.Fatal(err)
	}
	return float64(pages*size) / float64(n)
}
