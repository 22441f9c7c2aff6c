package tools

import (
	"encoding/json"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/mcptest"
	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/jsonlimit"
)

// boundStack lowers the goroutine stack limit for the rest of the test, so a
// parser that recurses once per nesting level fails here (fatal: stack
// overflow) long before it would in production, where the limit is 1 GB.
func boundStack(t *testing.T) {
	t.Helper()
	prev := debug.SetMaxStack(64 << 20)
	t.Cleanup(func() { debug.SetMaxStack(prev) })
}

func nested(open, close string, n int) string {
	return strings.Repeat(open, n) + strings.Repeat(close, n)
}

// TestShapeDeepJSON: no nesting in an upstream body crashes the shaper or
// yields a result that cannot be sent. JSON nested deeper than
// jsonlimit.MaxDepth is shown as text with a note, never as structured
// content.
func TestShapeDeepJSON(t *testing.T) {
	boundStack(t)
	tooDeep := "nests deeper than 512 levels"
	cases := []struct {
		name       string
		res        *payments.Result
		structured bool
		isError    bool
		says       string
	}{
		// 10 MiB, the client's default body limit: gjson.ValidBytes recursed
		// once per "[" and overflowed the 1 GB stack.
		{name: "10 MiB of [", res: result(200, "application/json", strings.Repeat("[", payments.DefaultMaxBody)), says: tooDeep},
		{name: "10 MiB of objects", res: result(200, "application/json", strings.Repeat(`{"a":`, payments.DefaultMaxBody/5)), says: tooDeep},
		{name: "sniffed without a content type", res: result(200, "", strings.Repeat("[", 1<<20)), says: "[[[["},
		// Valid, under the default result size, deeper than encoding/json
		// encodes: as structured content the result could not be marshaled.
		{name: "valid, 20000 deep", res: result(200, "application/json", nested("[", "]", 20000)), says: tooDeep},
		{name: "valid, one level too deep", res: result(200, "application/json", nested("[", "]", jsonlimit.MaxDepth+1)), says: tooDeep},
		{name: "valid, at the limit", res: result(200, "application/json", nested("[", "]", jsonlimit.MaxDepth)), structured: true},
		{name: "error status with a deep body", res: result(502, "application/json", strings.Repeat("[", 4<<20)), isError: true, says: "Upstream said: [[["},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Shape(&Entry{Name: "t"}, tc.res, 0)
			if r.IsError != tc.isError {
				t.Fatalf("isError = %v: %.300s", r.IsError, resultText(r))
			}
			if got := r.StructuredContent != nil; got != tc.structured {
				t.Fatalf("structured content present = %v, want %v", got, tc.structured)
			}
			if !strings.Contains(resultText(r), tc.says) {
				t.Fatalf("text lacks %q: %.300s", tc.says, resultText(r))
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatalf("the result cannot be sent: %v", err)
			}
			if len(b) > 2*DefaultMaxResultBytes {
				t.Fatalf("the result is %d bytes, over twice the %d-byte result limit", len(b), DefaultMaxResultBytes)
			}
		})
	}
}

// TestPaidDeepJSONOverMCP: a seller takes a real payment, then answers
// 10 MiB of "[" as application/json. Through the real paying client, the
// tool handler and an MCP session, the call ends charged and delivered with
// the body shown as text, and the process lives on.
func TestPaidDeepJSONOverMCP(t *testing.T) {
	boundStack(t)
	run := localseller.New(localseller.Config{})
	up := httptest.NewServer(run.Handler())
	t.Cleanup(up.Close)
	reg := mustParse(t, `version: 1
defaults:
  networks: [eip155:84532]
tools:
  - name: deep
    description: A seller whose paid answer nests 10 MiB deep.
    url: ${SELLER}/v2/misbehave/deep_json
    max_price: "0.01"
`)
	w, err := wallet.ParseHexKey("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
	if err != nil {
		t.Fatal(err)
	}
	fac := run.Facilitator()
	fac.Fund(w.Address(), 1_000_000)
	pol := reg.Policy()
	client := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: payments.NewMemoryLedger(pol.Budget, nil)}
	srv, err := mcptest.NewServer(t, Build(reg, client, env(map[string]string{"SELLER": up.URL}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	res, err := srv.Client().CallTool(t.Context(), callReq("deep", nil))
	if err != nil {
		t.Fatal(err)
	}
	out := resultText(res)
	if res.IsError || meta(res)[MetaCharged] != string(payments.Charged) || res.StructuredContent != nil {
		t.Fatalf("isError %v, meta %v, structured %v: %.300s", res.IsError, meta(res), res.StructuredContent != nil, out)
	}
	for _, want := range []string{"nests deeper than", "[[[[", "Charged and delivered."} {
		if !strings.Contains(out, want) {
			t.Fatalf("text lacks %q: %.300s…%s", want, out, out[max(0, len(out)-400):])
		}
	}
	if got := fac.Balance(w.Address()); got != 1_000_000-1_000 {
		t.Fatalf("wallet holds %d, want %d", got, 1_000_000-1_000)
	}
	// The session still works.
	if _, err := srv.Client().ListTools(t.Context(), mcp.ListToolsRequest{}); err != nil {
		t.Fatal(err)
	}
}

// TestRemoteDeepStructuredContent: a remote MCP server's structured content
// nested deeper than 512 levels is not passed on to the host; a note says so.
func TestRemoteDeepStructuredContent(t *testing.T) {
	deep := func(n int) any {
		var v any = "leaf"
		for range n {
			v = []any{v}
		}
		return v
	}
	rm := &remoteTool{entry: &Entry{Name: "r"}}
	for _, tc := range []struct {
		depth int
		kept  bool
	}{{jsonlimit.MaxDepth, true}, {jsonlimit.MaxDepth + 1, false}} {
		res := &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent("done")}, StructuredContent: map[string]any{"v": deep(tc.depth - 1)}}
		out := rm.shape(res, payments.NotCharged, nil, nil)
		if got := out.StructuredContent != nil; got != tc.kept {
			t.Fatalf("depth %d: structured content kept = %v, want %v", tc.depth, got, tc.kept)
		}
		if note := strings.Contains(resultText(out), "nests deeper than 512 levels and was left out"); note == tc.kept {
			t.Fatalf("depth %d: text %q", tc.depth, resultText(out))
		}
	}
}
