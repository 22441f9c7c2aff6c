package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// ColdStartResult is the time from exec to the first tools/list answer.
type ColdStartResult struct {
	Kind     string    `json:"kind"` // "coldstart"
	Server   string    `json:"server"`
	Runs     int       `json:"runs"`
	Tools    int       `json:"tools"` // tools listed
	MedianMs float64   `json:"medianMs"`
	P90ms    float64   `json:"p90ms"`
	MinMs    float64   `json:"minMs"`
	MaxMs    float64   `json:"maxMs"`
	AllMs    []float64 `json:"allMs"`
}

// IdleResult is the server's memory after start, initialize, tools/list and
// a few idle seconds.
type IdleResult struct {
	Kind      string  `json:"kind"` // "idle"
	Server    string  `json:"server"`
	Tools     int     `json:"tools"`
	WaitSec   float64 `json:"waitSec"`
	RSSMB     float64 `json:"rssMB"`     // VmRSS
	PeakRSSMB float64 `json:"peakRssMB"` // VmHWM
}

func cmdColdStart(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen coldstart", flag.ContinueOnError)
	c := addCommon(fs)
	k := fs.Int("k", 20, "measured starts")
	minTools := fs.Int("min-tools", 1, "fail unless tools/list lists at least this many tools")
	cmd, err := splitCommand(fs, args)
	if err != nil {
		return err
	}
	r, err := ColdStart(ctx, c.server, cmd, *k, *minTools, c.protocol)
	if err != nil {
		return err
	}
	return emit(stdout, c.out, r)
}

// ColdStart starts argv k+1 times over stdio (the first start is not
// counted: it fills the page cache) and times each from exec to the answer
// to tools/list.
func ColdStart(ctx context.Context, server string, argv []string, k, minTools int, protocol string) (*ColdStartResult, error) {
	if k <= 0 {
		return nil, fmt.Errorf("-k must be positive (got %d)", k)
	}
	var all []time.Duration
	tools := 0
	for i := 0; i <= k; i++ {
		d, n, err := startOnce(ctx, argv, protocol)
		if err != nil {
			return nil, err
		}
		if n < minTools {
			return nil, fmt.Errorf("tools/list listed %d tools, want at least %d", n, minTools)
		}
		tools = n
		if i > 0 {
			all = append(all, d)
		}
	}
	r := &ColdStartResult{Kind: "coldstart", Server: server, Runs: k, Tools: tools}
	for _, d := range all {
		r.AllMs = append(r.AllMs, ms(d))
	}
	slices.Sort(all)
	r.MedianMs, r.P90ms = ms(percentile(all, 50)), ms(percentile(all, 90))
	r.MinMs, r.MaxMs = ms(all[0]), ms(all[len(all)-1])
	return r, nil
}

// startOnce spawns argv, initializes and lists the tools; it returns the
// time from just before exec to the tools/list answer, and the tool count.
func startOnce(ctx context.Context, argv []string, protocol string) (time.Duration, int, error) {
	t0 := time.Now()
	p, err := spawn(argv, true)
	if err != nil {
		return 0, 0, err
	}
	defer p.stop()
	cli, err := p.stdioClient(ctx, protocol)
	if err != nil {
		return 0, 0, err
	}
	defer cli.Close()
	lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := cli.ListTools(lctx, mcp.ListToolsRequest{})
	if err != nil {
		return 0, 0, p.failure(fmt.Errorf("tools/list: %w", err))
	}
	return time.Since(t0), len(res.Tools), nil
}

func cmdIdle(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen idle", flag.ContinueOnError)
	c := addCommon(fs)
	wait := fs.Duration("wait", 3*time.Second, "how long the server sits idle before its memory is read")
	cmd, err := splitCommand(fs, args)
	if err != nil {
		return err
	}
	r, err := Idle(ctx, c.server, cmd, *wait, c.protocol)
	if err != nil {
		return err
	}
	return emit(stdout, c.out, r)
}

// Idle starts argv over stdio, initializes, lists the tools, waits and
// reads the process's memory.
func Idle(ctx context.Context, server string, argv []string, wait time.Duration, protocol string) (*IdleResult, error) {
	p, err := spawn(argv, true)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	cli, err := p.stdioClient(ctx, protocol)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	res, err := cli.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		return nil, p.failure(fmt.Errorf("tools/list: %w", err))
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(wait):
	}
	st, err := readProc(p.pid())
	if err != nil {
		return nil, p.failure(err)
	}
	return &IdleResult{
		Kind: "idle", Server: server, Tools: len(res.Tools), WaitSec: wait.Seconds(),
		RSSMB: float64(st.RSS) / (1 << 20), PeakRSSMB: float64(st.HWM) / (1 << 20),
	}, nil
}
