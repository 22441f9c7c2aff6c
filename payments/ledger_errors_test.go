package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
)

// failingLedger is a real MemoryLedger whose outcome writes fail, as a full
// disk or a broken ledger file would make them fail. (A fake only in the
// failure it injects: reserving and signing go to the real ledger.)
type failingLedger struct {
	*payments.MemoryLedger
	err error
}

func (l *failingLedger) Settle(context.Context, string, payments.Receipt) error { return l.err }
func (l *failingLedger) Reject(context.Context, string, string) error           { return l.err }
func (l *failingLedger) MarkUnknown(context.Context, string, string) error      { return l.err }
func (l *failingLedger) Release(context.Context, string, string) error          { return l.err }

// logBuffer collects JSON log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the records whose message is msg.
func (b *logBuffer) records(msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(b.buf.String(), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) == nil && r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// TestLedgerWriteErrorsAreLogged: a ledger write that fails after the
// payment left (the receipt, a refusal, an unknown outcome) and a release
// that fails are logged with the ledger id and the error, never dropped.
func TestLedgerWriteErrorsAreLogged(t *testing.T) {
	for _, tt := range []struct {
		name, path, op string
		lim            payments.Limit
	}{
		{"settled", "/v2/weather/paris", "settle", payments.Limit{Tool: "t", MaxPrice: 10_000}},
		{"rejected", "/v2/misbehave/second_402", "reject", payments.Limit{Tool: "t", MaxPrice: 10_000}},
		{"unknown", "/v2/misbehave/error_no_receipt", "mark unknown", payments.Limit{Tool: "t", MaxPrice: 10_000}},
		{"released", "/v2/weather/paris", "release", payments.Limit{Tool: "t", MaxPrice: 10_000, ApproveAbove: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 1_000_000)
			var logs logBuffer
			f.client.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			mem := payments.NewMemoryLedger(f.client.Policy.Budget, nil)
			f.client.Ledger = &failingLedger{MemoryLedger: mem, err: errors.New("disk I/O error")}
			_, _ = f.client.Do(context.Background(), get(t, f.url+tt.path), tt.lim) // the outcome is not what is tested
			recs := logs.records("ledger write failed")
			if len(recs) != 1 {
				t.Fatalf("%d ledger write failures logged, want 1:\n%s", len(recs), logs.buf.String())
			}
			r := recs[0]
			if r["ledger"] != "mem-1" || r["op"] != tt.op || r["err"] != "disk I/O error" || r["level"] != "ERROR" {
				t.Fatalf("logged %v", r)
			}
		})
	}
}
