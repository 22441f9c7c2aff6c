package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// LoadConfig is one load run.
type LoadConfig struct {
	Server    string   // name in the report
	Transport string   // stdio or http
	URL       string   // http: the Streamable HTTP endpoint
	Token     string   // http: bearer token, if any
	Command   []string // the server to spawn; over HTTP it may be empty to use a running server
	PID       int      // a running server's pid, for its CPU and RSS (0: not measured)
	Protocol  string
	N         int // measured calls
	C         int // concurrency
	Warmup    int // unmeasured calls before (at least one per HTTP session)
	Tool      string
	Args      map[string]any
	Timeout   time.Duration // per call
	// WatchPID, when set, is another process whose CPU time over the
	// measured calls is reported too (the seller's).
	WatchPID int

	// ProfileURL, when set, is fetched with ?seconds=ProfileSeconds while the
	// measured calls run (a Go server's /debug/pprof/profile); the profile is
	// written to ProfileOut.
	ProfileURL     string
	ProfileSeconds int
	ProfileOut     string
}

// LoadResult is what a load run measured.
type LoadResult struct {
	Kind        string  `json:"kind"` // "load"
	Server      string  `json:"server"`
	Transport   string  `json:"transport"`
	Concurrency int     `json:"concurrency"`
	N           int     `json:"n"`
	Warmup      int     `json:"warmup"`
	OK          int     `json:"ok"`
	Failed      int     `json:"failed"`
	DistinctTx  int     `json:"distinctTx"`
	P50ms       float64 `json:"p50ms"`
	P99ms       float64 `json:"p99ms"`
	MeanMs      float64 `json:"meanMs"`
	MaxMs       float64 `json:"maxMs"`
	Seconds     float64 `json:"seconds"`
	CallsPerSec float64 `json:"callsPerSec"`
	// CPUSeconds is the server process's utime+stime over the measured calls.
	CPUSeconds   float64 `json:"cpuSeconds"`
	CPUPerCallMs float64 `json:"cpuPerCallMs"`
	PeakRSSMB    float64 `json:"peakRssMB"` // VmHWM at the end
	// SellerCPUPerCallMs is the watched process's CPU per call (-watch-pid),
	// LoadgenCPUPerCallMs the load generator's own (the MCP clients).
	SellerCPUPerCallMs  float64  `json:"sellerCpuPerCallMs,omitempty"`
	LoadgenCPUPerCallMs float64  `json:"loadgenCpuPerCallMs"`
	Protocol            string   `json:"protocol"`
	Errors              []string `json:"errors,omitempty"`

	// Set by the report when it summarises repeated runs: how many, and
	// the range of their calls/s (every other figure is their median).
	Runs           int     `json:"-"`
	CallsPerSecMin float64 `json:"-"`
	CallsPerSecMax float64 `json:"-"`
}

func cmdRun(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen run", flag.ContinueOnError)
	c := addCommon(fs)
	cfg := LoadConfig{}
	fs.StringVar(&cfg.Transport, "transport", "stdio", "stdio or http")
	fs.StringVar(&cfg.URL, "url", "", "http: the server's Streamable HTTP URL, e.g. http://127.0.0.1:8402/mcp")
	fs.StringVar(&cfg.Token, "token", "", "http: bearer token")
	fs.IntVar(&cfg.PID, "pid", 0, "http with no command after --: the running server's pid, for its CPU time and RSS")
	fs.IntVar(&cfg.N, "n", 1000, "measured paid calls")
	fs.IntVar(&cfg.C, "c", 1, "concurrency: calls in flight (stdio) or sessions (http)")
	fs.IntVar(&cfg.Warmup, "warmup", 50, "unmeasured warm-up calls (at least one per session)")
	fs.StringVar(&cfg.Tool, "tool", "get_weather", "the paid tool to call")
	argsJSON := fs.String("args", `{"city":"paris"}`, "the tool's arguments, a JSON object")
	fs.DurationVar(&cfg.Timeout, "call-timeout", 60*time.Second, "per-call timeout")
	fs.IntVar(&cfg.WatchPID, "watch-pid", 0, "also report this process's CPU time over the measured calls (the seller's)")
	fs.StringVar(&cfg.ProfileURL, "cpuprofile-url", "", "fetch a CPU profile from this pprof URL during the measured calls")
	fs.IntVar(&cfg.ProfileSeconds, "cpuprofile-seconds", 5, "length of that profile")
	fs.StringVar(&cfg.ProfileOut, "cpuprofile-out", "cpu.pprof", "where to write it")
	cmd, err := splitCommand(fs, args)
	if err != nil {
		return err
	}
	cfg.Command, cfg.Server, cfg.Protocol = cmd, c.server, c.protocol
	if cfg.Args, err = parseArgsJSON(*argsJSON); err != nil {
		return err
	}
	res, err := Load(ctx, cfg)
	if res != nil {
		if e := emit(stdout, c.out, res); e != nil {
			return e
		}
		fmt.Fprintln(os.Stderr, markdownRow(res))
	}
	return err
}

// Load runs cfg and returns what it measured. A call that is not a paid
// success makes it return an error as well as the result.
func Load(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	if cfg.N <= 0 || cfg.C <= 0 {
		return nil, fmt.Errorf("-n and -c must be positive (got %d, %d)", cfg.N, cfg.C)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	stdio := cfg.Transport == "stdio"
	if !stdio && cfg.Transport != "http" {
		return nil, fmt.Errorf("--transport %q: use stdio or http", cfg.Transport)
	}
	if !stdio && cfg.URL == "" {
		return nil, errors.New("--transport http needs --url")
	}
	var p *serverProc
	var err error
	if len(cfg.Command) == 0 && !stdio {
		p = attach(cfg.PID)
	} else {
		if p, err = spawn(cfg.Command, stdio); err != nil {
			return nil, err
		}
		defer p.stop()
	}

	// Sessions: one over stdio (C calls in flight on it), C over HTTP.
	var clis []*client.Client
	if stdio {
		cli, err := p.stdioClient(ctx, cfg.Protocol)
		if err != nil {
			return nil, err
		}
		clis = []*client.Client{cli}
	} else {
		if err := p.waitListening(ctx, cfg.URL, 60*time.Second); err != nil {
			return nil, err
		}
		hc := newHTTPClient()
		clis = make([]*client.Client, cfg.C)
		for i := range clis {
			if clis[i], err = streamableClient(ctx, hc, cfg.URL, cfg.Token, cfg.Protocol); err != nil {
				return nil, p.failure(fmt.Errorf("session %d: %w", i, err))
			}
		}
	}
	defer func() {
		for _, c := range clis {
			_ = c.Close() // the measurement is over: closing has nothing to add
		}
	}()
	protocol := clis[0].ProtocolVersion()

	// Warm-up, unmeasured: every session pays at least once.
	warm := max(cfg.Warmup, len(clis))
	if wr := drive(ctx, clis, cfg, warm); wr.failed > 0 {
		return nil, p.failure(fmt.Errorf("%d of %d warm-up calls failed; first: %s", wr.failed, warm, wr.errors[0]))
	}

	before, err := p.stats()
	if err != nil {
		return nil, err
	}
	selfBefore, err := readProc(os.Getpid())
	if err != nil {
		return nil, err
	}
	var watchBefore procStats
	if cfg.WatchPID != 0 {
		if watchBefore, err = readProc(cfg.WatchPID); err != nil {
			return nil, fmt.Errorf("--watch-pid: %w", err)
		}
	}
	var profile chan error
	if cfg.ProfileURL != "" {
		profile = make(chan error, 1)
		go func() { profile <- fetchProfile(ctx, cfg.ProfileURL, cfg.ProfileSeconds, cfg.ProfileOut) }()
	}
	start := time.Now()
	d := drive(ctx, clis, cfg, cfg.N)
	elapsed := time.Since(start)
	after, err := p.stats()
	if err != nil {
		return nil, err
	}
	selfAfter, err := readProc(os.Getpid())
	if err != nil {
		return nil, err
	}
	var watchAfter procStats
	if cfg.WatchPID != 0 {
		if watchAfter, err = readProc(cfg.WatchPID); err != nil {
			return nil, fmt.Errorf("--watch-pid: %w", err)
		}
	}

	r := &LoadResult{
		Kind: "load", Server: cfg.Server, Transport: cfg.Transport, Concurrency: cfg.C, N: cfg.N, Warmup: warm,
		OK: cfg.N - d.failed, Failed: d.failed, DistinctTx: d.distinct,
		Seconds:     elapsed.Seconds(),
		CallsPerSec: float64(cfg.N-d.failed) / elapsed.Seconds(),
		CPUSeconds:  (after.CPU - before.CPU).Seconds(),
		PeakRSSMB:   float64(after.HWM) / (1 << 20),
		Protocol:    protocol,
		Errors:      d.errors,
	}
	perCall := func(a, b procStats) float64 { return (b.CPU - a.CPU).Seconds() * 1000 / float64(cfg.N) }
	r.CPUPerCallMs = perCall(before, after)
	r.LoadgenCPUPerCallMs = perCall(selfBefore, selfAfter)
	if cfg.WatchPID != 0 {
		r.SellerCPUPerCallMs = perCall(watchBefore, watchAfter)
	}
	if lat := d.latencies; len(lat) > 0 {
		slices.Sort(lat)
		var sum time.Duration
		for _, l := range lat {
			sum += l
		}
		r.P50ms = ms(percentile(lat, 50))
		r.P99ms = ms(percentile(lat, 99))
		r.MeanMs = ms(sum / time.Duration(len(lat)))
		r.MaxMs = ms(lat[len(lat)-1])
	}
	if profile != nil {
		if err := <-profile; err != nil {
			return r, err
		}
	}
	switch {
	case d.failed > 0:
		return r, p.failure(fmt.Errorf("%d of %d paid calls failed; first: %s", d.failed, cfg.N, d.errors[0]))
	case d.distinct != cfg.N:
		return r, fmt.Errorf("%d paid calls but %d distinct settlement transactions", cfg.N, d.distinct)
	}
	return r, nil
}

// percentile is the nearest-rank percentile of sorted latencies.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100 // ceil(n·p/100), 1-based rank
	return sorted[max(i-1, 0)]
}

// driven is what drive saw.
type driven struct {
	latencies []time.Duration // of the successful calls
	failed    int
	distinct  int
	errors    []string // the first few failures
}

// drive makes n calls at cfg.C in flight: worker i uses session i mod len(clis).
func drive(ctx context.Context, clis []*client.Client, cfg LoadConfig, n int) driven {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		out    driven
		txs    = make(map[string]struct{}, n)
		perWkr = make([][]time.Duration, cfg.C)
		wg     sync.WaitGroup
	)
	fail := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		out.failed++
		if len(out.errors) < 5 {
			out.errors = append(out.errors, msg)
		}
	}
	for w := 0; w < cfg.C; w++ {
		cli := clis[w%len(clis)]
		wg.Go(func() {
			req := mcp.CallToolRequest{}
			req.Params.Name, req.Params.Arguments = cfg.Tool, cfg.Args
			for next.Add(1) <= int64(n) {
				cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
				t0 := time.Now()
				res, err := cli.CallTool(cctx, req)
				lat := time.Since(t0)
				cancel()
				if err != nil {
					fail("tools/call: " + err.Error())
					continue
				}
				tx, why := paidSuccess(res)
				if why != "" {
					fail(why)
					continue
				}
				perWkr[w] = append(perWkr[w], lat)
				mu.Lock()
				txs[tx] = struct{}{}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	out.latencies = slices.Concat(perWkr...)
	out.distinct = len(txs)
	return out
}

// paidSuccess returns the settlement's transaction hash, or why the result
// is not a paid success.
func paidSuccess(res *mcp.CallToolResult) (tx, why string) {
	if res.IsError {
		return "", "tool error: " + resultText(res)
	}
	if res.Meta == nil {
		return "", "no _meta (no payment receipt): " + resultText(res)
	}
	pr, ok := res.Meta.AdditionalFields["x402/payment-response"].(map[string]any)
	if !ok {
		return "", "no _meta[\"x402/payment-response\"]: " + resultText(res)
	}
	if ok, _ := pr["success"].(bool); !ok {
		return "", fmt.Sprintf("payment-response not a success: %v", pr)
	}
	tx, _ = pr["transaction"].(string)
	if tx == "" {
		return "", fmt.Sprintf("payment-response without a transaction: %v", pr)
	}
	return tx, ""
}

func resultText(res *mcp.CallToolResult) string {
	for _, c := range res.Content {
		if t, ok := c.(mcp.TextContent); ok {
			return trimOutput(t.Text)
		}
	}
	return "(no text)"
}

// fetchProfile GETs url?seconds=s and writes the body to out.
func fetchProfile(ctx context.Context, url string, s int, out string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s+30)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s?seconds=%d", url, s), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1000))
		if err != nil {
			return fmt.Errorf("cpu profile: %s (its body: %w)", resp.Status, err)
		}
		return fmt.Errorf("cpu profile: %s: %s", resp.Status, b)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close() // the copy's error is the one to report
		return fmt.Errorf("cpu profile: %w", err)
	}
	return f.Close()
}
