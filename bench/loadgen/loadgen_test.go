package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/internal/component"
	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
)

// The smoke tests run the load generator for real, with a tiny N, against
// the built x402-mcp and (when bench/ref's npm packages are installed) the
// reference server, both paying an in-process local seller whose facilitator
// checks every signature by ecrecover. They check that every call is a paid
// success, that exactly the price moved per call, and that the figures are
// sane; they assert no timing goal.

// binary is x402-mcp, built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "x402-loadgen")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "x402-mcp")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/x402-mcp")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build x402-mcp:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Anvil's well-known test keys #0 (x402-mcp's wallet) and #1 (the reference's).
const (
	ourKey = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
	refKey = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
)

var (
	ourPayer = common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
	refPayer = common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
)

const funding payments.Amount = 1_000_000_000 // 1,000 USDC each

// price is get_weather's: the seller's weather route.
var price = localseller.DefaultPrices.Weather

type fixture struct {
	seller *localseller.Running
	dir    string
	reg    string // x402-mcp's registry.yaml: get_weather only
	refCat string // the reference's JSON catalog: get_weather only
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	seller.Facilitator.Fund(ourPayer, funding)
	seller.Facilitator.Fund(refPayer, funding)
	f := &fixture{seller: seller, dir: t.TempDir()}
	y, j, err := GenCatalog(1, seller.URL)
	if err != nil {
		t.Fatal(err)
	}
	f.reg, f.refCat = filepath.Join(f.dir, "bench.yaml"), filepath.Join(f.dir, "bench.json")
	writeFile(t, f.reg, y)
	writeFile(t, f.refCat, j)
	t.Setenv("X402_PRIVATE_KEY", ourKey)
	t.Setenv("X402_LOG_LEVEL", "warn")
	t.Setenv("EVM_PRIVATE_KEY", refKey)
	t.Setenv("SELLER_URL", seller.URL)
	return f
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// loadCase is one load run: the server's command line is built from the
// fixture, a listen address and a ledger path.
type loadCase struct {
	name      string
	server    string
	transport string
	c         int
	token     string
	command   func(f *fixture, addr, ledger string) []string
	payer     common.Address
}

func ourStdio(f *fixture, _, ledger string) []string {
	return []string{binary, "serve", "--registry", f.reg, "--ledger", ledger}
}

func ourHTTP(f *fixture, addr, ledger string) []string {
	return []string{binary, "serve", "--http", addr, "--registry", f.reg, "--ledger", ledger}
}

func refStdio(f *fixture, _, _ string) []string {
	return []string{"node", refServer(), "--catalog", f.refCat}
}

func refHTTP(f *fixture, addr, _ string) []string {
	return []string{"node", refServer(), "--catalog", f.refCat, "--http", addr}
}

func refServer() string { return filepath.Join("..", "ref", "server.mjs") }

const testToken = "loadgen-smoke-test-token-0123456789"

// requireReference returns when the reference server can run here (node,
// and bench/ref's packages); otherwise a plain go test skips its cases, and
// .ci/run, which installs them and sets X402_REQUIRE_NODE, fails them.
func requireReference(t *testing.T) {
	t.Helper()
	component.RequireNode(t, component.Node{
		For:     "the smoke test of the benchmark's reference server (bench/ref) runs it",
		Modules: "bench/ref/node_modules",
		Check:   filepath.Join("..", "ref", "node_modules", "@x402", "fetch"),
		Install: "npm ci --prefix bench/ref",
		Run:     "go test ./bench/loadgen",
	})
}

func TestLoadSmoke(t *testing.T) {
	const n, warmup = 12, 3
	tests := []loadCase{
		{name: "x402-mcp stdio c1", server: ours, transport: "stdio", c: 1, command: ourStdio, payer: ourPayer},
		{name: "x402-mcp stdio c4", server: ours, transport: "stdio", c: 4, command: ourStdio, payer: ourPayer},
		{name: "x402-mcp http c4", server: ours, transport: "http", c: 4, token: testToken, command: ourHTTP, payer: ourPayer},
		{name: "reference stdio c4", server: ref, transport: "stdio", c: 4, command: refStdio, payer: refPayer},
		{name: "reference http c4", server: ref, transport: "http", c: 4, command: refHTTP, payer: refPayer},
	}
	f := newFixture(t)
	t.Setenv("X402_MCP_TOKEN", testToken)
	var all []LoadResult
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.server == ref {
				requireReference(t)
			}
			addr := freePort(t)
			before := f.seller.Facilitator.Balance(tt.payer)
			settled := f.seller.Seller.PaidCount(localseller.RouteWeather)
			r, err := Load(t.Context(), LoadConfig{
				Server: tt.server, Transport: tt.transport, URL: "http://" + addr + "/mcp", Token: tt.token,
				Command: tt.command(f, addr, filepath.Join(t.TempDir(), "ledger.db")),
				N:       n, C: tt.c, Warmup: warmup, Tool: "get_weather", Args: map[string]any{"city": "paris"},
				WatchPID: os.Getpid(), // the seller runs in this process
			})
			if err != nil {
				t.Fatal(err)
			}
			wantWarm := max(warmup, 1)
			if tt.transport == "http" {
				wantWarm = max(warmup, tt.c)
			}
			if r.OK != n || r.Failed != 0 || r.DistinctTx != n || r.Warmup != wantWarm {
				t.Fatalf("ok %d, failed %d, distinct tx %d, warm-up %d; want %d, 0, %d, %d", r.OK, r.Failed, r.DistinctTx, r.Warmup, n, n, wantWarm)
			}
			// Exactly the price moved per call, warm-up included.
			calls := n + r.Warmup
			if got, want := before-f.seller.Facilitator.Balance(tt.payer), price*payments.Amount(calls); got != want {
				t.Fatalf("payer's balance fell by %d, want %d (%d calls at %d)", got, want, calls, price)
			}
			if got := f.seller.Seller.PaidCount(localseller.RouteWeather) - settled; got != calls {
				t.Fatalf("%d settlements, want %d", got, calls)
			}
			if !(r.P50ms > 0 && r.P50ms <= r.P99ms && r.P99ms <= r.MaxMs && r.MeanMs > 0 && r.MeanMs <= r.MaxMs) {
				t.Fatalf("latencies not sane: p50 %v, p99 %v, mean %v, max %v", r.P50ms, r.P99ms, r.MeanMs, r.MaxMs)
			}
			if r.CallsPerSec <= 0 || r.Seconds <= 0 || r.CPUSeconds < 0 || r.SellerCPUPerCallMs < 0 || r.LoadgenCPUPerCallMs < 0 ||
				r.PeakRSSMB < 5 || r.PeakRSSMB > 4096 {
				t.Fatalf("figures not sane: %+v", r)
			}
			if r.Protocol == "" {
				t.Fatal("no negotiated protocol version")
			}
			all = append(all, *r)
		})
	}

	var buf bytes.Buffer
	writeReport(&buf, &results{load: all})
	out := buf.String()
	for _, r := range all {
		row := fmt.Sprintf("| %s | %s | %d | 1 × %d |", r.Server, r.Transport, r.Concurrency, r.N)
		if !strings.Contains(out, row) {
			t.Errorf("report lacks the row %q:\n%s", row, out)
		}
	}
}

// TestLoadFailsLoudly: a server whose calls are not paid successes (here:
// its wallet has no funds at the seller, so every payment is refused) makes
// Load fail, with the count and the first reason.
func TestLoadFailsLoudly(t *testing.T) {
	f := newFixture(t)
	t.Setenv("X402_PRIVATE_KEY", "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356") // Anvil #9: unfunded
	_, err := Load(t.Context(), LoadConfig{
		Server: ours, Transport: "stdio", Command: ourStdio(f, "", filepath.Join(t.TempDir(), "ledger.db")),
		N: 3, C: 1, Warmup: 0, Tool: "get_weather", Args: map[string]any{"city": "paris"},
	})
	if err == nil || !strings.Contains(err.Error(), "warm-up calls failed") || !strings.Contains(err.Error(), "insufficient") {
		t.Fatalf("err = %v, want the warm-up failures with the seller's reason", err)
	}
}

func TestColdStartAndIdle(t *testing.T) {
	f := newFixture(t)
	y, j, err := GenCatalog(50, f.seller.URL)
	if err != nil {
		t.Fatal(err)
	}
	reg, cat := filepath.Join(f.dir, "c50.yaml"), filepath.Join(f.dir, "c50.json")
	writeFile(t, reg, y)
	writeFile(t, cat, j)
	tests := []struct {
		name, server string
		argv         []string
		tools        int
	}{
		{"x402-mcp", ours, []string{binary, "serve", "--registry", reg, "--ledger", filepath.Join(f.dir, "cs.db")}, 50},
		{"reference", ref, []string{"node", refServer(), "--catalog", cat}, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.server == ref {
				requireReference(t)
			}
			c, err := ColdStart(t.Context(), tt.server, tt.argv, 2, tt.tools, "")
			if err != nil {
				t.Fatal(err)
			}
			if c.Runs != 2 || len(c.AllMs) != 2 || c.Tools < tt.tools || !(c.MinMs > 0 && c.MinMs <= c.MedianMs && c.MedianMs <= c.MaxMs) {
				t.Fatalf("cold start not sane: %+v", c)
			}
			if _, err := ColdStart(t.Context(), tt.server, tt.argv, 1, tt.tools+100, ""); err == nil || !strings.Contains(err.Error(), "at least") {
				t.Fatalf("fewer tools than --min-tools: err = %v", err)
			}
			i, err := Idle(t.Context(), tt.server, tt.argv, 100*time.Millisecond, "")
			if err != nil {
				t.Fatal(err)
			}
			if i.Tools < tt.tools || i.RSSMB < 5 || i.RSSMB > i.PeakRSSMB || i.PeakRSSMB > 4096 {
				t.Fatalf("idle not sane: %+v", i)
			}
		})
	}
}

// TestProfileDuringLoad fetches a CPU profile from x402-mcp's --pprof
// listener while the measured calls run.
func TestProfileDuringLoad(t *testing.T) {
	f := newFixture(t)
	pprofAddr := freePort(t)
	out := filepath.Join(t.TempDir(), "cpu.pprof")
	argv := append(ourStdio(f, "", filepath.Join(t.TempDir(), "ledger.db")), "--pprof", pprofAddr)
	r, err := Load(t.Context(), LoadConfig{
		Server: ours, Transport: "stdio", Command: argv, N: 20, C: 2, Warmup: 1, Tool: "get_weather", Args: map[string]any{"city": "oslo"},
		ProfileURL: "http://" + pprofAddr + "/debug/pprof/profile", ProfileSeconds: 1, ProfileOut: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 20 {
		t.Fatalf("ok %d, want 20", r.OK)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b { // a gzipped profile.proto
		t.Fatalf("profile is %d bytes starting %x, want a gzipped pprof profile", len(b), b[:min(len(b), 4)])
	}
}

func TestReadProc(t *testing.T) {
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU < 0 || s.RSS <= 0 || s.HWM < s.RSS {
		t.Fatalf("self: %+v", s)
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Fatal("no error for a pid that does not exist")
	}
}

func TestPercentile(t *testing.T) {
	ds := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{ds(7), 50, 7 * time.Millisecond},
		{ds(1, 2), 50, 1 * time.Millisecond},
		{ds(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %d) = %v, want %v", tt.sorted, tt.p, got, tt.want)
		}
	}
}

func TestReport(t *testing.T) {
	lines := strings.Join([]string{
		`{"kind":"load","server":"x402-mcp","transport":"stdio","concurrency":1,"n":10,"ok":10,"p50ms":2,"p99ms":4,"callsPerSec":400,"cpuPerCallMs":1,"peakRssMB":30}`,
		`{"kind":"load","server":"reference","transport":"stdio","concurrency":1,"n":10,"ok":10,"p50ms":8,"p99ms":16,"callsPerSec":100,"cpuPerCallMs":4,"peakRssMB":150}`,
		`{"kind":"load","server":"x402-mcp","transport":"stdio","concurrency":50,"n":10,"ok":10,"p50ms":100,"callsPerSec":300}`,
		`{"kind":"load","server":"x402-mcp","transport":"stdio","concurrency":50,"n":10,"ok":10,"p50ms":120,"callsPerSec":200}`,
		`{"kind":"load","server":"x402-mcp","transport":"stdio","concurrency":50,"n":10,"ok":10,"p50ms":90,"callsPerSec":350}`,
		`{"kind":"load","server":"reference","transport":"stdio","concurrency":50,"n":10,"ok":10,"p50ms":400,"callsPerSec":100}`,
		`{"kind":"coldstart","server":"x402-mcp","runs":3,"tools":1003,"medianMs":80}`,
		`{"kind":"idle","server":"x402-mcp","tools":4,"rssMB":20}`,
	}, "\n")
	r, err := readResults(strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	writeReport(&buf, r)
	out := buf.String()
	for _, want := range []string{
		"| stdio | 1 | 0.25× | 0.25× | 4.00× | 0.25× | 0.20× |",
		"| x402-mcp | stdio | 50 | 3 × 10 | 100.00 |", // medians of three runs…
		"| 300 (200–350) |", // …and the range of calls/s
		"= 0.25× the reference's (goal ≤ 0.5×) ✔",
		"= 3.00× the reference's (goal ≥ 5×) ✘: missed by 1.67× (would need 500 calls/s)",
		"median 80.0 ms (goal ≤ 50 ms) ✘: missed by 1.60×",
		"idle RSS with 4 tools: 20.0 MB (goal ≤ 30 MB) ✔",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if _, err := readResults(strings.NewReader(`{"kind":"nope"}`)); err == nil {
		t.Error("no error for an unknown kind")
	}
}

func TestGenCatalog(t *testing.T) {
	y, j, err := GenCatalog(3, "http://127.0.0.1:9/")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"- name: get_weather", "- name: weather_0002", "- name: weather_0003", `"http://127.0.0.1:9/v2/weather/{city}"`} {
		if !strings.Contains(y, want) {
			t.Errorf("yaml lacks %q", want)
		}
	}
	if strings.Count(j, `"name": "city"`) != 3 || !strings.Contains(j, `"name": "weather_0003"`) {
		t.Errorf("json catalog:\n%s", j)
	}
	if _, _, err := GenCatalog(0, "http://x"); err == nil {
		t.Error("no error for n = 0")
	}
	// The generated catalog is one x402-mcp accepts.
	path := filepath.Join(t.TempDir(), "r.yaml")
	writeFile(t, path, y)
	out, err := exec.CommandContext(context.Background(), binary, "check", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "weather_0003") {
		t.Fatalf("x402-mcp check: %v\n%s", err, out)
	}
}

// TestLoadRunningServer drives an HTTP server that is already running (no
// command after --): with its pid, its CPU and RSS are read; without, they
// are not, and the calls are still checked.
func TestLoadRunningServer(t *testing.T) {
	f := newFixture(t)
	t.Setenv("X402_MCP_TOKEN", testToken)
	addr := freePort(t)
	p, err := spawn(ourHTTP(f, addr, filepath.Join(t.TempDir(), "ledger.db")), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	url := "http://" + addr + "/mcp"
	if err := p.waitListening(t.Context(), url, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pid     int
		wantRSS bool
	}{
		{"with its pid", p.pid(), true},
		{"pid unknown", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.seller.Facilitator.Balance(ourPayer)
			r, err := Load(t.Context(), LoadConfig{
				Server: ours, Transport: "http", URL: url, Token: testToken, PID: tt.pid,
				N: 6, C: 2, Warmup: 2, Tool: "get_weather", Args: map[string]any{"city": "lima"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.OK != 6 || r.DistinctTx != 6 {
				t.Fatalf("ok %d, distinct tx %d; want 6, 6", r.OK, r.DistinctTx)
			}
			if got, want := before-f.seller.Facilitator.Balance(ourPayer), price*payments.Amount(6+r.Warmup); got != want {
				t.Fatalf("payer's balance fell by %d, want %d", got, want)
			}
			if (r.PeakRSSMB > 5) != tt.wantRSS {
				t.Fatalf("peak RSS %.1f MB with pid %d", r.PeakRSSMB, tt.pid)
			}
		})
	}
	if p.exited() {
		t.Fatal("Load stopped a server it did not start")
	}
}

// failingWriter fails every write, as a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestOutputWriteFails: report and gencatalog fail when what they print
// cannot be written, instead of exiting 0 with it lost.
func TestOutputWriteFails(t *testing.T) {
	results := filepath.Join(t.TempDir(), "results.jsonl")
	writeFile(t, results, `{"kind":"idle","server":"x402-mcp","tools":4,"rssMB":20}`+"\n")
	for _, args := range [][]string{
		{"report", results},
		{"gencatalog", "--n", "2", "--seller", "http://127.0.0.1:9/", "--yaml", filepath.Join(t.TempDir(), "r.yaml")},
	} {
		if err := run(context.Background(), args, failingWriter{}); err == nil || !strings.Contains(err.Error(), "no space left on device") {
			t.Errorf("%s: err = %v, want the failed write", args[0], err)
		}
	}
}
