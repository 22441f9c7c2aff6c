package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/component"
	"github.com/x402-mcp/x402-mcp/internal/localseller"
)

// tsClientOutput is the one JSON line ts/client.mjs prints.
type tsClientOutput struct {
	Tools   []string       `json:"tools"`
	IsError bool           `json:"isError"`
	Text    string         `json:"text"`
	Receipt map[string]any `json:"receipt"`
	Asked   []string       `json:"asked"`
	Error   string         `json:"error"` // the oauth mode's
	// Structured names the built-ins that declared an outputSchema and
	// answered structured content, which the SDK checked against it.
	Structured []string `json:"structured"`
	// Principal is the principal x402_wallet named.
	Principal string `json:"principal"`
}

// requireTSClient returns when the TypeScript SDK client can run here;
// otherwise a plain go test skips, and .ci/run (X402_REQUIRE_NODE) fails.
func requireTSClient(t *testing.T) {
	t.Helper()
	component.RequireNode(t, component.Node{
		For:     "the tests that drive x402-mcp with the official TypeScript MCP SDK client (test/ts) run it",
		Modules: "test/ts/node_modules",
		Check:   filepath.Join("ts", "node_modules", "@modelcontextprotocol", "sdk", "package.json"),
		Install: "(cd test/ts && npm ci)",
		Run:     "go test ./test -run 'TestTypeScriptSDK|TestGatewayOAuth'",
	})
}

// runTSClient runs ts/client.mjs with args and env and decodes its output line.
func runTSClient(t *testing.T, env []string, args ...string) tsClientOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join("ts", "client.mjs")}, args...)...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node ts/client.mjs %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	out := strings.TrimSuffix(stdout.String(), "\n")
	if out == "" || strings.Contains(out, "\n") {
		t.Fatalf("client.mjs must print exactly one JSON line, got:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	var got tsClientOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("client.mjs output is not JSON: %v\n%s", err, out)
	}
	return got
}

// TestTypeScriptSDKClient drives the built binary over stdio with the
// official TypeScript MCP SDK (@modelcontextprotocol/sdk, pinned in
// ts/package.json): another implementation than the mcp-go client the rest of
// the suite uses lists the tools and pays for a call.
func TestTypeScriptSDKClient(t *testing.T) {
	requireTSClient(t)
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	seller.Facilitator.Fund(payer, walletFunding)

	dir := t.TempDir()
	reg := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(reg, []byte(strings.ReplaceAll(string(mainCatalog), "{{URL}}", seller.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "X402_PRIVATE_KEY=" + testKey,
		"X402_LEDGER=" + filepath.Join(dir, "ledger.db")}

	fac, payTo := seller.Facilitator, seller.Seller.PayTo()
	payeeBefore, payerBefore := fac.Balance(payTo), fac.Balance(payer)
	got := runTSClient(t, env, "stdio", binary, reg)

	for _, want := range []string{"weather", "x402_wallet"} {
		if !slices.Contains(got.Tools, want) {
			t.Errorf("tools/list lacks %s: %v", want, got.Tools)
		}
	}
	if got.IsError {
		t.Fatalf("weather returned an error result: %s", got.Text)
	}
	if !strings.Contains(got.Text, `"city":"paris"`) {
		t.Errorf("result text %q lacks the seller's body", got.Text)
	}
	rc := got.Receipt
	if rc == nil {
		t.Fatalf("no _meta[\"x402/payment-response\"] in the result (text %q)", got.Text)
	}
	tx, _ := rc["transaction"].(string)
	if rc["amountAtomic"] != "1000" || rc["network"] != "eip155:84532" || rc["payer"] != payer.Hex() || !strings.HasPrefix(tx, "0x") {
		t.Fatalf("receipt %v: want amountAtomic 1000, network eip155:84532, payer %s, a 0x transaction", rc, payer.Hex())
	}
	if want := []string{"x402_wallet", "x402_quote", "x402_spend_history"}; !slices.Equal(got.Structured, want) {
		t.Errorf("the SDK checked the structured answers of %v against their outputSchema, want %v", got.Structured, want)
	}
	if d := fac.Balance(payTo) - payeeBefore; d != 1000 {
		t.Fatalf("seller balance moved by %d, want exactly 1000", d)
	}
	if d := payerBefore - fac.Balance(payer); d != 1000 {
		t.Fatalf("wallet balance moved by %d, want exactly 1000", d)
	}
}

// TestTypeScriptSDKClientHTTP: the official TypeScript SDK's Streamable HTTP
// transport, with the bearer token, against `x402-mcp serve --http`.
func TestTypeScriptSDKClientHTTP(t *testing.T) {
	requireTSClient(t)
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	seller.Facilitator.Fund(payer, walletFunding)
	p := startHTTPBinary(t, seller, mainCatalog)
	fac, payTo := seller.Facilitator, seller.Seller.PayTo()
	before := fac.Balance(payTo)
	got := runTSClient(t, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, "http", p.URL+"/mcp", httpToken)
	if got.IsError || got.Receipt == nil || got.Receipt["amountAtomic"] != "1000" || got.Receipt["payer"] != payer.Hex() {
		t.Fatalf("over Streamable HTTP: isError %v text %q receipt %v", got.IsError, got.Text, got.Receipt)
	}
	if d := fac.Balance(payTo) - before; d != 1000 {
		t.Fatalf("seller balance moved by %d, want exactly 1000", d)
	}
	if !slices.Contains(got.Tools, "x402_spend_history") {
		t.Errorf("tools/list lacks x402_spend_history: %v", got.Tools)
	}
}

// TestTypeScriptSDKClientSSEApproval: the official TypeScript SDK's legacy
// HTTP+SSE transport, declaring elicitation, against `x402-mcp serve
// --http`: a payment above approve_above is put to it over the SSE stream,
// paid after accept and not paid after decline. (mcp-go's SSE client cannot
// answer a server's request, so this is the real client that can.)
func TestTypeScriptSDKClientSSEApproval(t *testing.T) {
	requireTSClient(t)
	for _, tc := range []struct {
		answer string
		paid   bool
	}{{"accept", true}, {"decline", false}} {
		t.Run(tc.answer, func(t *testing.T) {
			seller := fundedSeller(t, localseller.Config{})
			p := startHTTPBinary(t, seller, approvalCatalog)
			fac, payTo := seller.Facilitator, seller.Seller.PayTo()
			before := fac.Balance(payTo)
			got := runTSClient(t, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, "sse", p.URL+"/sse", httpToken, tc.answer)
			if len(got.Asked) != 1 || !strings.Contains(got.Asked[0], "0.001 USDC") || !strings.Contains(got.Asked[0], `"weather"`) {
				t.Fatalf("questions %q (result %q)", got.Asked, got.Text)
			}
			moved := fac.Balance(payTo) - before
			if tc.paid {
				if got.IsError || got.Receipt == nil || got.Receipt["amountAtomic"] != "1000" || moved != 1000 {
					t.Fatalf("after accept: isError %v text %q receipt %v, seller +%d", got.IsError, got.Text, got.Receipt, moved)
				}
				return
			}
			if !got.IsError || got.Receipt != nil || moved != 0 || !strings.Contains(got.Text, "not charged") {
				t.Fatalf("after decline: isError %v text %q receipt %v, seller +%d", got.IsError, got.Text, got.Receipt, moved)
			}
			if n := seller.Seller.PaymentHeadersSeen(); n != 0 {
				t.Fatalf("%d payment headers reached the seller", n)
			}
		})
	}
}

// TestTypeScriptSDKOAuthClient: an OAuth-aware client (the TypeScript SDK's
// auth flow, which mcp-remote and MCP Inspector use) that reaches x402-mcp
// without the token finds no OAuth (404 on discovery) and reports the
// server's own words: send the bearer token. It never gets a registration.
func TestTypeScriptSDKOAuthClient(t *testing.T) {
	requireTSClient(t)
	seller := fundedSeller(t, localseller.Config{})
	p := startHTTPBinary(t, seller, mainCatalog)
	got := runTSClient(t, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, "oauth", p.URL+"/mcp")
	const want = "x402-mcp has no OAuth: send Authorization: Bearer <token> (the server's X402_MCP_TOKEN)"
	if got.Error != want {
		t.Fatalf("the client reports %q, want %q", got.Error, want)
	}
}
