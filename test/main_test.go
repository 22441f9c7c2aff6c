// Package e2e holds x402-mcp's end-to-end tests: the built binary, started
// over stdio by a real MCP client (mcp-go), pointed at the local seller whose
// facilitator verifies every payment by ecrecover.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
)

var update = flag.Bool("update", false, "rewrite golden files")

// binary is the x402-mcp executable built once for all tests.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "x402-mcp-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "x402-mcp")
	build := exec.Command("go", "build", "-o", binary, "../cmd/x402-mcp")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build x402-mcp:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testKey is Anvil's account #0: a well-known key, so a leak is easy to spot.
const testKey = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

// payer is testKey's address; walletFunding is its test-USDC balance at the seller.
var payer = common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")

const walletFunding payments.Amount = 10_000_000

// lockedBuffer collects a stream safely across goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// session is a running x402-mcp binary and an initialized MCP client on its stdio.
type session struct {
	t      testing.TB
	cli    *client.Client
	cmd    *exec.Cmd
	stdout *lockedBuffer // every byte the server wrote on stdout
	stderr *lockedBuffer
	seller *localseller.Running
	once   sync.Once
}

// catalog is a registry template; {{URL}} becomes the seller's base URL.
type catalog string

// start runs the binary with the catalog against a fresh funded seller.
func start(t testing.TB, cat catalog, extraEnv ...string) *session {
	t.Helper()
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	seller.Facilitator.Fund(payer, walletFunding)
	return startWith(t, seller, cat, extraEnv...)
}

func startWith(t testing.TB, seller *localseller.Running, cat catalog, extraEnv ...string) *session {
	t.Helper()
	return startSession(t, seller, cat, sessionOptions{env: extraEnv})
}

// sessionOptions tune startSession: extra environment for the binary, the
// mcp-go client's options and the protocol version it asks for (the latest
// when empty).
type sessionOptions struct {
	env     []string
	args    []string // extra flags for serve
	client  []client.ClientOption
	version string
}

// startSession runs the binary over stdio against seller with the catalog
// and returns an initialized mcp-go client session on it.
func startSession(t testing.TB, seller *localseller.Running, cat catalog, o sessionOptions) *session {
	t.Helper()
	dir := t.TempDir()
	reg := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(reg, []byte(strings.ReplaceAll(string(cat), "{{URL}}", seller.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, append([]string{"serve", "--registry", reg}, o.args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "X402_PRIVATE_KEY=" + testKey, "X402_LOG_LEVEL=debug"}, o.env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, seller: seller}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Record every byte of stdout on its way to the client.
	tee := io.TeeReader(stdoutPipe, s.stdout)
	s.cli = client.NewClient(transport.NewIO(tee, stdin, io.NopCloser(strings.NewReader(""))), o.client...)
	t.Cleanup(s.close)
	// The transport keeps Start's context for every request the server sends
	// the client (elicitation/create on older protocol versions): it must
	// live as long as the client, not just the handshake.
	if err := s.cli.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if o.version != "" {
		init.Params.ProtocolVersion = o.version
	}
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e", Version: "1"}
	if _, err := s.cli.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize: %v\nstderr:\n%s", err, s.stderr.String())
	}
	if v := s.cli.ProtocolVersion(); o.version != "" && v != o.version || o.version == "" && !mcp.IsModernProtocol(v) {
		t.Fatalf("negotiated protocol %q, want %q", v, o.version)
	}
	return s
}

func (s *session) close() { s.once.Do(s.stop) }

func (s *session) stop() {
	_ = s.cli.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		s.t.Errorf("x402-mcp did not exit within 10s of stdin closing")
	}
}

// call invokes a tool and returns its result.
func (s *session) call(name string, args map[string]any) *mcp.CallToolResult {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := s.callCtx(ctx, name, args)
	if err != nil {
		s.t.Fatalf("tools/call %s: %v\nstderr:\n%s", name, err, s.stderr.String())
	}
	return res
}

// callCtx invokes a tool and returns its result or the transport's error.
func (s *session) callCtx(ctx context.Context, name string, args map[string]any) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	return s.cli.CallTool(ctx, req)
}

// text joins a result's text content.
func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// meta returns a result's _meta field decoded as generic JSON.
func meta(res *mcp.CallToolResult, key string) map[string]any {
	if res.Meta == nil {
		return nil
	}
	v, ok := res.Meta.AdditionalFields[key]
	if !ok {
		return nil
	}
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// stdoutIsJSONRPC checks every line the server wrote on stdout is a JSON-RPC message.
func (s *session) stdoutIsJSONRPC(t *testing.T) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(s.stdout.String()))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var msg struct {
			JSONRPC string `json:"jsonrpc"`
		}
		if err := json.Unmarshal(line, &msg); err != nil || msg.JSONRPC != "2.0" {
			t.Fatalf("stdout carried a non-JSON-RPC line: %.200q", line)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no JSON-RPC on stdout at all")
	}
}
