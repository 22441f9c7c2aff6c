package server_test

import (
	"context"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/server"
)

// benchRegistry has no per-session budget and a total no benchmark reaches.
var benchRegistry = strings.Replace(strings.Replace(httpRegistry, `total: "1"`, `total: "1000000"`, 1),
	"  per_session: \"0.002\"\n", "", 1)

// benchHTTPClient keeps a connection per session open (the default
// transport keeps only 2 idle per host, so 50 sessions would redial).
func benchHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 1024, 1024
	return &http.Client{Transport: t}
}

// BenchmarkHTTPPaidCalls measures paid tools/call over Streamable HTTP from
// 50 concurrent sessions (one token, so one principal) against the local
// seller, with the durable SQLite ledger: each call is a 402, an EIP-3009
// signature, the paid retry, the seller's verify and settle (ecrecover), and
// four ledger transactions. Server, seller and clients share this process.
func BenchmarkHTTPPaidCalls(b *testing.B) {
	const sessions = 50
	h := startHTTPWith(b, benchRegistry, 1_000_000_000_000, server.HTTPOptions{Token: testToken}, localseller.Config{})
	hc := benchHTTPClient()
	clis := make([]*client.Client, sessions)
	for i := range clis {
		clis[i] = mustConnectWith(b, "streamable", h.URL, testToken, hc)
	}
	var next atomic.Int64
	lat := make([][]time.Duration, sessions)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, cli := range clis {
		wg.Go(func() {
			req := mcp.CallToolRequest{}
			req.Params.Name, req.Params.Arguments = "weather", map[string]any{"city": "Paris"}
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				res, err := cli.CallTool(context.Background(), req)
				lat[i] = append(lat[i], time.Since(t0))
				if err != nil || res.IsError {
					b.Errorf("call: %v %v", err, res)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	if got := h.seller.Facilitator.SettledCount(); got < b.N {
		b.Fatalf("%d settlements for %d calls", got, b.N)
	}
}

// BenchmarkHTTPIdleSessions reports the heap one idle session holds, client
// and server side together (both live in this process): HeapInuse after
// opening and initializing N sessions, minus before, over N. A Streamable
// HTTP session holds no connection while idle; an SSE session holds its
// event stream (a connection and goroutines at each end).
func BenchmarkHTTPIdleSessions(b *testing.B) {
	const n = 500
	for _, kind := range []string{"streamable", "sse"} {
		b.Run(kind, func(b *testing.B) {
			h := startHTTPWith(b, benchRegistry, 1_000_000, server.HTTPOptions{Token: testToken}, localseller.Config{})
			hc := benchHTTPClient()
			for b.Loop() {
				before := heapInuse()
				clis := make([]*client.Client, n)
				for i := range clis {
					clis[i] = mustConnectWith(b, kind, h.URL, testToken, hc)
				}
				after := heapInuse()
				b.ReportMetric(float64(after-before)/n/1024, "KiB/session")
				for _, c := range clis {
					c.Close()
				}
			}
		})
	}
}

func heapInuse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

func mustConnectWith(t testing.TB, kind, base, token string, hc *http.Client) *client.Client {
	t.Helper()
	cli, err := connectWith(t, kind, base, token, hc)
	if err != nil {
		t.Fatalf("connect over %s: %v", kind, err)
	}
	return cli
}
