// Command loadgen drives a paid MCP server with the mcp-go client and
// measures it, for the side-by-side benchmark in docs/benchmarks.md
// (bench/run.sh runs it against x402-mcp and the reference server in
// bench/ref).
//
//	loadgen run --server NAME --transport stdio -n N -c C [--warmup W] -- CMD ARGS…
//	loadgen run --server NAME --transport http --url URL [--token T] -n N -c C -- CMD ARGS…
//	loadgen run --server NAME --transport http --url URL [--token T] [--pid PID] -n N -c C
//	loadgen coldstart --server NAME -k K [--min-tools M] -- CMD ARGS…
//	loadgen idle --server NAME [--wait 3s] -- CMD ARGS…
//	loadgen gencatalog --n 1000 --seller URL --yaml FILE --json FILE
//	loadgen report RESULTS.jsonl
//	loadgen freeport
//
// run spawns the server (over stdio it speaks on the child's stdin and
// stdout; over HTTP it waits until URL accepts connections), or over HTTP
// with no command uses a server already running (its CPU and RSS are read
// only when --pid names it). It initializes, makes warm-up calls that are
// not measured, then N paid tools/call at concurrency C: over stdio C calls
// in flight on the one session, over HTTP C sessions with one call in
// flight each. Every result must be a paid success: not an error, and
// _meta["x402/payment-response"] with success true and a transaction hash,
// each hash seen once. Any failure is counted, printed, and makes loadgen
// exit 1. It reports latency (p50, p99, mean), calls/s, the server
// process's CPU time over the measured calls (utime+stime from
// /proc/PID/stat), its peak RSS (VmHWM from /proc/PID/status), and the CPU
// of the load generator and of a --watch-pid process (the seller).
//
// coldstart times K fresh starts from exec to the answer to the first
// tools/list (initialize included), after one unmeasured start that warms
// the page cache. idle reads VmRSS after initialize, tools/list and a few
// seconds with nothing to do.
//
// Each measuring command prints one JSON object on stdout (run also a
// markdown row on stderr) and appends it to --out FILE when given; report
// turns such a file into markdown tables with the ratios of x402-mcp to the
// reference; freeport prints a free loopback TCP port for run.sh. A spawned
// server inherits loadgen's environment; its stderr is kept and shown if it
// fails.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("need a command: run, coldstart, idle, gencatalog, report or freeport")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, args, stdout)
	case "coldstart":
		return cmdColdStart(ctx, args, stdout)
	case "idle":
		return cmdIdle(ctx, args, stdout)
	case "gencatalog":
		return cmdGenCatalog(args, stdout)
	case "report":
		return cmdReport(args, stdout)
	case "freeport":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		_, err = fmt.Fprintln(stdout, ln.Addr().(*net.TCPAddr).Port)
		return err
	default:
		return fmt.Errorf("unknown command %q: use run, coldstart, idle, gencatalog, report or freeport", cmd)
	}
}

// commonFlags are the flags every measuring command has.
type commonFlags struct {
	server   string
	out      string
	protocol string
}

func addCommon(fs *flag.FlagSet) *commonFlags {
	c := &commonFlags{}
	fs.StringVar(&c.server, "server", "", "name of the server under test in the report (x402-mcp or reference)")
	fs.StringVar(&c.out, "out", "", "append the JSON result to this file")
	fs.StringVar(&c.protocol, "protocol", "", "MCP protocol version to ask for (default: mcp-go's latest; the server may answer with an older one)")
	return c
}

// splitCommand parses flags up to "--" and returns the command after it.
func splitCommand(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	cmd := fs.Args()
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	return cmd, nil
}

// emit prints r as one JSON line and appends it to out when set.
func emit(stdout io.Writer, out string, r any) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := stdout.Write(b); err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("results file: %w", err)
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Close())
}

func parseArgsJSON(s string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("--args %q is not a JSON object: %w", s, err)
	}
	return m, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func trimOutput(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}
