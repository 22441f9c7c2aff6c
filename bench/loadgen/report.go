package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Names of the two servers in the report.
const (
	ours = "x402-mcp"
	ref  = "reference"
)

// Goals of issue 6, item 4 (on 2 cores).
const (
	goalP50Ratio      = 0.5  // warm paid call p50 ≤ 0.5× the reference's
	goalThroughput    = 5.0  // paid calls/s at concurrency 50 ≥ 5× the reference's
	goalColdStartMs   = 50.0 // cold start to the first tools/list answer
	goalIdleRSSMB     = 30.0
	goalThroughputAtC = 50
)

// results are the measurements of one benchmark run. Load runs repeated
// with the same server, transport and concurrency are summarised by
// medians (aggregate); for cold start and idle the last one counts.
type results struct {
	load      []LoadResult // one per key once aggregated
	coldstart []ColdStartResult
	idle      []IdleResult
}

func readResults(r io.Reader) (*results, error) {
	res := &results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var k struct{ Kind string }
		if err := json.Unmarshal(b, &k); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		var err error
		switch k.Kind {
		case "load":
			var l LoadResult
			if err = json.Unmarshal(b, &l); err == nil {
				res.load = append(res.load, l)
			}
		case "coldstart":
			var c ColdStartResult
			if err = json.Unmarshal(b, &c); err == nil {
				res.coldstart = slices.DeleteFunc(res.coldstart, func(o ColdStartResult) bool { return o.Server == c.Server && o.Tools == c.Tools })
				res.coldstart = append(res.coldstart, c)
			}
		case "idle":
			var i IdleResult
			if err = json.Unmarshal(b, &i); err == nil {
				res.idle = slices.DeleteFunc(res.idle, func(o IdleResult) bool { return o.Server == i.Server && o.Tools == i.Tools })
				res.idle = append(res.idle, i)
			}
		default:
			err = fmt.Errorf("unknown kind %q", k.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
	}
	return res, sc.Err()
}

func cmdReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen report", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("report needs the results file (JSON lines from run, coldstart and idle)")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := readResults(f)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	var b bytes.Buffer
	writeReport(&b, res)
	_, err = b.WriteTo(stdout)
	return err
}

func (r *results) find(server, transport string, c int) (LoadResult, bool) {
	for _, l := range r.load {
		if l.Server == server && l.Transport == transport && l.Concurrency == c {
			return l, true
		}
	}
	return LoadResult{}, false
}

// aggregate replaces repeated load runs of one key by one result whose
// every figure is the median of the runs', with the runs counted and the
// range of calls/s kept.
func (r *results) aggregate() {
	type key struct {
		server, transport string
		c                 int
	}
	var order []key
	groups := map[key][]LoadResult{}
	for _, l := range r.load {
		k := key{l.Server, l.Transport, l.Concurrency}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], l)
	}
	r.load = r.load[:0]
	for _, k := range order {
		g := groups[k]
		m := g[len(g)-1]
		med := func(f func(LoadResult) float64) float64 {
			v := make([]float64, len(g))
			for i, l := range g {
				v[i] = f(l)
			}
			slices.Sort(v)
			if len(v)%2 == 1 {
				return v[len(v)/2]
			}
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		m.P50ms = med(func(l LoadResult) float64 { return l.P50ms })
		m.P99ms = med(func(l LoadResult) float64 { return l.P99ms })
		m.MeanMs = med(func(l LoadResult) float64 { return l.MeanMs })
		m.CallsPerSec = med(func(l LoadResult) float64 { return l.CallsPerSec })
		m.CPUSeconds = med(func(l LoadResult) float64 { return l.CPUSeconds })
		m.CPUPerCallMs = med(func(l LoadResult) float64 { return l.CPUPerCallMs })
		m.SellerCPUPerCallMs = med(func(l LoadResult) float64 { return l.SellerCPUPerCallMs })
		m.LoadgenCPUPerCallMs = med(func(l LoadResult) float64 { return l.LoadgenCPUPerCallMs })
		m.PeakRSSMB = med(func(l LoadResult) float64 { return l.PeakRSSMB })
		m.Runs = len(g)
		m.CallsPerSecMin, m.CallsPerSecMax = m.CallsPerSec, m.CallsPerSec
		for _, l := range g {
			m.CallsPerSecMin, m.CallsPerSecMax = min(m.CallsPerSecMin, l.CallsPerSec), max(m.CallsPerSecMax, l.CallsPerSec)
		}
		r.load = append(r.load, m)
	}
}

// writeReport prints the markdown tables of docs/benchmarks.md into w (a
// buffer, whose writes never fail; cmdReport writes it out).
func writeReport(w *bytes.Buffer, r *results) {
	r.aggregate()
	slices.SortStableFunc(r.load, func(a, b LoadResult) int {
		if a.Transport != b.Transport {
			return strings.Compare(a.Transport, b.Transport)
		}
		if a.Concurrency != b.Concurrency {
			return a.Concurrency - b.Concurrency
		}
		return strings.Compare(b.Server, a.Server) // x402-mcp before reference
	})
	if len(r.load) > 0 {
		fmt.Fprintln(w, "| server | transport | concurrency | runs × paid calls | p50 ms | p99 ms | mean ms | calls/s (range) | server CPU ms/call | peak RSS MB | MCP protocol |")
		fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
		for _, l := range r.load {
			fmt.Fprintln(w, markdownRow(&l))
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Where the CPU went, ms per paid call (the server under test, the local seller with its facilitator, the load generator's MCP clients):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| server | transport | concurrency | server | seller | load generator | all |")
		fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: |")
		for _, l := range r.load {
			fmt.Fprintf(w, "| %s | %s | %d | %.2f | %.2f | %.2f | %.2f |\n", l.Server, l.Transport, l.Concurrency,
				l.CPUPerCallMs, l.SellerCPUPerCallMs, l.LoadgenCPUPerCallMs, l.CPUPerCallMs+l.SellerCPUPerCallMs+l.LoadgenCPUPerCallMs)
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Ratios, x402-mcp / reference (below 1 is better for p50, p99, CPU and RSS; above 1 is better for calls/s):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| transport | concurrency | p50 | p99 | calls/s | CPU per call | peak RSS |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, l := range r.load {
			if l.Server != ours {
				continue
			}
			o, ok := r.find(ref, l.Transport, l.Concurrency)
			if !ok {
				continue
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s |\n", l.Transport, l.Concurrency,
				ratio(l.P50ms, o.P50ms), ratio(l.P99ms, o.P99ms), ratio(l.CallsPerSec, o.CallsPerSec),
				ratio(l.CPUPerCallMs, o.CPUPerCallMs), ratio(l.PeakRSSMB, o.PeakRSSMB))
		}
		fmt.Fprintln(w)
	}
	if len(r.coldstart) > 0 {
		fmt.Fprintln(w, "| cold start, exec → first tools/list answer | tools | median ms | p90 ms | min ms | max ms | runs |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
		slices.SortStableFunc(r.coldstart, func(a, b ColdStartResult) int {
			if a.Tools != b.Tools {
				return a.Tools - b.Tools
			}
			return strings.Compare(b.Server, a.Server)
		})
		for _, c := range r.coldstart {
			fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f | %.1f | %d |\n", c.Server, c.Tools, c.MedianMs, c.P90ms, c.MinMs, c.MaxMs, c.Runs)
		}
		fmt.Fprintln(w)
	}
	if len(r.idle) > 0 {
		slices.SortStableFunc(r.idle, func(a, b IdleResult) int {
			if a.Tools != b.Tools {
				return a.Tools - b.Tools
			}
			return strings.Compare(b.Server, a.Server)
		})
		fmt.Fprintln(w, "| idle (after initialize, tools/list, a few idle seconds) | tools | VmRSS MB | VmHWM MB |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
		for _, i := range r.idle {
			fmt.Fprintf(w, "| %s | %d | %.1f | %.1f |\n", i.Server, i.Tools, i.RSSMB, i.PeakRSSMB)
		}
		fmt.Fprintln(w)
	}
	writeGoals(w, r)
}

// markdownRow is one load result as a row of the report's first table.
func markdownRow(l *LoadResult) string {
	runs, lo, hi := l.Runs, l.CallsPerSecMin, l.CallsPerSecMax
	if runs == 0 { // a single run, not aggregated
		runs, lo, hi = 1, l.CallsPerSec, l.CallsPerSec
	}
	return fmt.Sprintf("| %s | %s | %d | %d × %d | %.2f | %.2f | %.2f | %.0f (%.0f–%.0f) | %.2f | %.1f | %s |",
		l.Server, l.Transport, l.Concurrency, runs, l.N, l.P50ms, l.P99ms, l.MeanMs, l.CallsPerSec, lo, hi,
		l.CPUPerCallMs, l.PeakRSSMB, l.Protocol)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// writeGoals checks the goals against the results.
func writeGoals(w *bytes.Buffer, r *results) {
	var lines []string
	mark := func(ok bool) string {
		if ok {
			return "✔"
		}
		return "✘"
	}
	for _, t := range []string{"stdio", "http"} {
		if o, ok1 := r.find(ours, t, 1); ok1 {
			if f, ok2 := r.find(ref, t, 1); ok2 && f.P50ms > 0 {
				x := o.P50ms / f.P50ms
				s := fmt.Sprintf("- warm paid call p50 over %s, concurrency 1: %.2f ms vs %.2f ms = %.2f× the reference's (goal ≤ %.1f×) %s",
					t, o.P50ms, f.P50ms, x, goalP50Ratio, mark(x <= goalP50Ratio))
				if x > goalP50Ratio {
					s += fmt.Sprintf(": missed by %.2f× (p50 would have to fall to %.2f ms)", x/goalP50Ratio, f.P50ms*goalP50Ratio)
				}
				lines = append(lines, s)
			}
		}
		if o, ok1 := r.find(ours, t, goalThroughputAtC); ok1 {
			if f, ok2 := r.find(ref, t, goalThroughputAtC); ok2 && f.CallsPerSec > 0 {
				x := o.CallsPerSec / f.CallsPerSec
				s := fmt.Sprintf("- paid calls/s over %s, concurrency %d: %.0f vs %.0f = %.2f× the reference's (goal ≥ %.0f×) %s",
					t, goalThroughputAtC, o.CallsPerSec, f.CallsPerSec, x, goalThroughput, mark(x >= goalThroughput))
				if x < goalThroughput {
					s += fmt.Sprintf(": missed by %.2f× (would need %.0f calls/s)", goalThroughput/x, f.CallsPerSec*goalThroughput)
				}
				lines = append(lines, s)
			}
		}
	}
	for _, c := range r.coldstart {
		if c.Server != ours {
			continue
		}
		s := fmt.Sprintf("- cold start with %d tools: median %.1f ms (goal ≤ %.0f ms) %s", c.Tools, c.MedianMs, goalColdStartMs, mark(c.MedianMs <= goalColdStartMs))
		if c.MedianMs > goalColdStartMs {
			s += fmt.Sprintf(": missed by %.2f×", c.MedianMs/goalColdStartMs)
		}
		lines = append(lines, s)
	}
	for _, i := range r.idle {
		if i.Server != ours {
			continue
		}
		s := fmt.Sprintf("- idle RSS with %d tools: %.1f MB (goal ≤ %.0f MB) %s", i.Tools, i.RSSMB, goalIdleRSSMB, mark(i.RSSMB <= goalIdleRSSMB))
		if i.RSSMB > goalIdleRSSMB {
			s += fmt.Sprintf(": missed by %.2f×", i.RSSMB/goalIdleRSSMB)
		}
		lines = append(lines, s)
	}
	if len(lines) > 0 {
		fmt.Fprintln(w, "Goals (issue 6, item 4):")
		fmt.Fprintln(w)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}
