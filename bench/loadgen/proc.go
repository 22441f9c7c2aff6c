package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports (sysconf(_SC_CLK_TCK) would need
// cgo).
const clockTicks = 100

// procStats is what /proc says about a process.
type procStats struct {
	CPU time.Duration // utime + stime
	HWM int64         // peak resident set, bytes (VmHWM)
	RSS int64         // resident set now, bytes (VmRSS)
}

// readProc reads pid's CPU time and memory from /proc.
func readProc(pid int) (procStats, error) {
	var s procStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("cpu time of pid %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces: fields count from after
	// its closing parenthesis, where field 3 (state) is index 0.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: no ')' in %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: %d fields after the name, want ≥ 13", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	s.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != "VmHWM" && k != "VmRSS" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmHWM" {
			s.HWM = kb << 10
		} else {
			s.RSS = kb << 10
		}
	}
	if s.HWM == 0 || s.RSS == 0 {
		return s, fmt.Errorf("/proc/%d/status has no VmHWM or VmRSS", pid)
	}
	return s, nil
}

// tail keeps the last bytes written to it (a server's stderr).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 64 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailBytes {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailBytes:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// serverProc is a server under test: spawned, or attached to (a running
// HTTP server, cmd nil, with its pid if known).
type serverProc struct {
	cmd    *exec.Cmd
	extPID int            // attached: the running server's pid, 0 if unknown
	stdin  io.WriteCloser // stdio only
	stdout io.Reader      // stdio only
	stderr *tail
	done   chan struct{}
	err    error // Wait's error, once done is closed
}

// spawn starts argv; with stdio, its stdin and stdout are kept for the
// transport. Its stderr is kept in a tail; stdout goes there too over HTTP.
func spawn(argv []string, stdio bool) (*serverProc, error) {
	if len(argv) == 0 {
		return nil, errors.New("no server command: give it after --")
	}
	p := &serverProc{cmd: exec.Command(argv[0], argv[1:]...), stderr: &tail{}, done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	if stdio {
		var err error
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			return nil, err
		}
		if p.stdout, err = p.cmd.StdoutPipe(); err != nil {
			return nil, err
		}
	} else {
		p.cmd.Stdout = p.stderr
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// attach stands for a server that is already running; pid may be 0.
func attach(pid int) *serverProc {
	return &serverProc{extPID: pid, stderr: &tail{}, done: make(chan struct{})}
}

func (p *serverProc) pid() int {
	if p.cmd == nil {
		return p.extPID
	}
	return p.cmd.Process.Pid
}

// stats reads the server's /proc figures; an attached server of unknown
// pid reads as zero.
func (p *serverProc) stats() (procStats, error) {
	if p.pid() == 0 {
		return procStats{}, nil
	}
	return readProc(p.pid())
}

// exited reports whether the process has ended.
func (p *serverProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the server: over stdio by closing its stdin (stdio servers exit
// on EOF), over HTTP (or if that is not enough) with SIGTERM, then SIGKILL.
func (p *serverProc) stop() {
	if p.cmd == nil {
		return // attached: not ours to stop
	}
	// Each step's error is left: whether it took, the next step tells by
	// waiting for the exit, and SIGKILL comes last.
	if p.stdin != nil {
		_ = p.stdin.Close()
		select {
		case <-p.done:
			return
		case <-time.After(2 * time.Second):
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// failure wraps err with the server's stderr.
func (p *serverProc) failure(err error) error {
	if p.exited() {
		err = fmt.Errorf("%w (server exited: %v)", err, p.err)
	}
	if s := trimOutput(p.stderr.String()); s != "" {
		err = fmt.Errorf("%w\nserver stderr:\n%s", err, s)
	}
	return err
}

// waitListening waits until the URL's host accepts TCP connections.
func (p *serverProc) waitListening(ctx context.Context, rawURL string, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			_ = c.Close() // a probe: it connected, which is all it asked
			return nil
		}
		if p.exited() {
			return p.failure(fmt.Errorf("server exited before listening on %s", u.Host))
		}
		if time.Now().After(deadline) {
			return p.failure(fmt.Errorf("server not listening on %s after %s", u.Host, timeout))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// stdioClient starts an mcp-go client on the process's stdio and initializes it.
func (p *serverProc) stdioClient(ctx context.Context, protocol string) (*client.Client, error) {
	cli := client.NewClient(transport.NewIO(p.stdout, p.stdin, io.NopCloser(strings.NewReader(""))))
	// The transport keeps Start's context for as long as the client lives.
	if err := cli.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, p.failure(fmt.Errorf("start stdio client: %w", err))
	}
	if err := initialize(ctx, cli, protocol); err != nil {
		return nil, p.failure(err)
	}
	return cli, nil
}

// httpClient is shared by every HTTP session: enough idle connections for
// each session to keep its own.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 1024, 1024
	return &http.Client{Transport: t}
}

// streamableClient opens one Streamable HTTP session and initializes it.
func streamableClient(ctx context.Context, hc *http.Client, rawURL, token, protocol string) (*client.Client, error) {
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	cli, err := client.NewStreamableHttpClient(rawURL, transport.WithHTTPHeaders(hdr), transport.WithHTTPBasicClient(hc))
	if err != nil {
		return nil, err
	}
	if err := cli.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("start http client: %w", err)
	}
	if err := initialize(ctx, cli, protocol); err != nil {
		_ = cli.Close() // err is the one to report
		return nil, err
	}
	return cli, nil
}

func initialize(ctx context.Context, cli *client.Client, protocol string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if protocol != "" {
		req.Params.ProtocolVersion = protocol
	}
	req.Params.ClientInfo = mcp.Implementation{Name: "x402-mcp-loadgen", Version: "1"}
	if _, err := cli.Initialize(ctx, req); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	return nil
}
