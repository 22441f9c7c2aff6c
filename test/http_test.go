package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
)

const httpToken = "e2e-token-3f9a1c0b7d2e4f5a6b8c"

// httpProcess is the binary serving MCP over HTTP.
type httpProcess struct {
	URL string
	// Registry and Ledger are the catalog and ledger files it serves.
	Registry, Ledger string
	cmd              *exec.Cmd
	stderr           *lockedBuffer
	exited           chan error
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startHTTPBinary runs `x402-mcp serve --http 127.0.0.1:0` with the catalog
// and waits for its "listening" log line to learn the port.
func startHTTPBinary(t testing.TB, seller *localseller.Running, cat catalog, extraEnv ...string) *httpProcess {
	t.Helper()
	return startGateway(t, seller, cat, gatewayOptions{env: append([]string{"X402_MCP_TOKEN=" + httpToken}, extraEnv...)})
}

// gatewayOptions tune startGateway: the address (127.0.0.1:0 when empty),
// extra flags for serve and the environment beyond PATH, HOME and the key.
type gatewayOptions struct {
	addr string
	args []string
	env  []string
}

// startGateway runs `x402-mcp serve --http` with the catalog and its ledger
// in a temp dir: p.Registry and p.Ledger.
func startGateway(t testing.TB, seller *localseller.Running, cat catalog, o gatewayOptions) *httpProcess {
	t.Helper()
	dir := t.TempDir()
	reg := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(reg, []byte(strings.ReplaceAll(string(cat), "{{URL}}", seller.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	if o.addr == "" {
		o.addr = "127.0.0.1:0"
	}
	ledgerPath := filepath.Join(dir, "ledger.db")
	cmd := exec.Command(binary, append([]string{"serve", "--http", o.addr, "--registry", reg, "--ledger", ledgerPath}, o.args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "X402_PRIVATE_KEY=" + testKey}, o.env...)
	p := &httpProcess{Registry: reg, Ledger: ledgerPath, cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Logf("stop x402-mcp: %v", err)
		}
		<-p.exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(p.stderr.String()); m != nil {
			p.URL = "http://" + m[1]
			return p
		}
		select {
		case err := <-p.exited:
			t.Fatalf("x402-mcp exited before listening: %v\n%s", err, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no listening line within 30s:\n%s", p.stderr.String())
	return nil
}

// connectHTTP opens an initialized Streamable HTTP client with the token.
func connectHTTP(t testing.TB, base string) *client.Client {
	t.Helper()
	return connectHTTPAs(t, base, httpToken)
}

// connectHTTPAs opens an initialized Streamable HTTP client with token.
func connectHTTPAs(t testing.TB, base, token string) *client.Client {
	t.Helper()
	cli, err := client.NewStreamableHttpClient(base+"/mcp",
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e-http", Version: "1"}
	if _, err := cli.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return cli
}

func TestServeHTTP(t *testing.T) {
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer seller.Close()
	seller.Facilitator.Fund(payer, walletFunding)
	p := startHTTPBinary(t, seller, mainCatalog)
	if strings.Contains(p.stderr.String(), httpToken) {
		t.Fatal("the log shows the token")
	}

	// Without the token: 401.
	res, err := http.Post(p.URL+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d", res.StatusCode)
	}

	cli := connectHTTP(t, p.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	list, err := cli.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil || len(list.Tools) == 0 {
		t.Fatalf("tools/list: %v %v", list, err)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "weather", map[string]any{"city": "Paris"}
	out, err := cli.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("tools/call: %v\n%s", err, p.stderr.String())
	}
	rc := meta(out, "x402/payment-response")
	if out.IsError || rc["state"] != "settled" || rc["amountAtomic"] != "1000" {
		t.Fatalf("paid call over HTTP: %s %v", text(out), rc)
	}
	if seller.Facilitator.SettledCount() != 1 {
		t.Fatalf("seller settled %d", seller.Facilitator.SettledCount())
	}

	mreq, _ := http.NewRequest(http.MethodGet, p.URL+"/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer "+httpToken)
	mres, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mres.Body)
	mres.Body.Close()
	if !strings.Contains(string(body), `x402_payments_total{tool="weather",network="eip155:84532",outcome="charged",principal="default"} 1`) {
		t.Fatalf("metrics:\n%s", body)
	}

	// SIGTERM: a clean exit.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit within 20s of SIGTERM:\n%s", p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "http stopped") {
		t.Fatalf("no shutdown log:\n%s", p.stderr.String())
	}
	// Neither the wallet key nor the bearer token reaches the logs or /metrics.
	for _, secret := range []string{testKey, strings.ToUpper(testKey), testKey[:16], httpToken} {
		if strings.Contains(p.stderr.String(), secret) || strings.Contains(string(body), secret) {
			t.Fatalf("a secret appears in the HTTP server's logs or metrics")
		}
	}
}

func TestServeHTTPPublicBindNeedsToken(t *testing.T) {
	cmd := exec.Command(binary, "serve", "--http", "0.0.0.0:0", "--ledger", filepath.Join(t.TempDir(), "ledger.db"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "X402_PRIVATE_KEY=" + testKey}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "without a bearer token") || !strings.Contains(string(out), "X402_MCP_TOKEN") {
		t.Fatalf("serve --http 0.0.0.0:0 without a token: %v\n%s", err, out)
	}
}
