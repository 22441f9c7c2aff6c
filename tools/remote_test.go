package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/payments"
)

func TestRemoteEntryValidation(t *testing.T) {
	_, err := Parse("r.yaml", []byte(`
version: 1
tools:
  - name: a
    kind: mcp
    method: POST
    url: "ftp://x"
    max_price: "0.01"
  - name: b
    kind: rpc
    description: d
    url: "https://x"
    max_price: "0.01"
  - name: c
    description: d
    url: "https://x"
    prefix: c_
    max_price: "0.01"
  - name: d
    kind: mcp
    url: "https://x/mcp"
    prefix: x402_
    max_price: "0.01"
`), testFamilies)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"a": prefix: missing`, `"a": url:`, `"a": method: does not apply`, `"b": kind: "rpc"`, `"c": prefix: only applies`, `"d": prefix: prefixes starting with "x402_"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	reg, err := Parse("r.yaml", []byte(`
version: 1
tools:
  - name: remote
    kind: mcp
    url: "https://mcp.example.com/mcp"
    prefix: acme_
    headers: {Authorization: "Bearer ${TOKEN}"}
    max_price: "0.01"
`), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := reg.Entry("remote"); e.Kind != KindMCP || e.Prefix != "acme_" {
		t.Fatalf("entry %+v", e)
	}
	if len(Build(reg, nil, nil)) != 0 {
		t.Error("Build listed a kind: mcp entry itself")
	}
}

// fakeRemote is a paid MCP server whose paid answer misbehaves.
func fakeRemote(t *testing.T, rpc402 bool, paidAnswer func() (*mcp.CallToolResult, error)) (string, *atomic.Int32) {
	var seen atomic.Int32
	s := mcpserver.NewMCPServer("fake", "1")
	s.AddTool(mcp.NewTool("job", mcp.WithDescription("A job.")), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if req.Params.Meta != nil && req.Params.Meta.AdditionalFields[MetaPayment] != nil {
			seen.Add(1)
			if _, ok := req.Params.Meta.AdditionalFields[MetaPayment].(map[string]any); !ok {
				t.Errorf("payment is not a JSON object: %T", req.Params.Meta.AdditionalFields[MetaPayment])
			}
			return paidAnswer()
		}
		if rpc402 {
			t.Error("an unpaid call got past the JSON-RPC 402 answer")
		}
		return remoteChallenge(""), nil
	})
	var h http.Handler = mcpserver.NewStreamableHTTPServer(s)
	if rpc402 {
		h = rpcChallenge(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp", &seen
}

// rpcChallenge answers an unpaid tools/call with a JSON-RPC error 402.
func rpcChallenge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Meta map[string]any `json:"_meta"`
			} `json:"params"`
		}
		if json.Unmarshal(body, &msg) == nil && msg.Method == "tools/call" && msg.Params.Meta[MetaPayment] == nil {
			var pr any
			_ = json.Unmarshal([]byte(remoteChallenge("").Content[0].(mcp.TextContent).Text), &pr)
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": msg.ID,
				"error": map[string]any{"code": 402, "message": "Payment required", "data": pr}})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func remoteChallenge(reason string) *mcp.CallToolResult {
	extra, _ := json.Marshal(evm.Extra{Name: "USDC", Version: "2"})
	pr := map[string]any{"x402Version": 2, "error": reason, "resource": map[string]any{"url": "mcp://tool/job"},
		"accepts": []any{map[string]any{"scheme": "exact", "network": "eip155:84532", "amount": "1000",
			"asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
			"maxTimeoutSeconds": 60, "extra": json.RawMessage(extra)}}}
	b, _ := json.Marshal(pr)
	// Text only: the client falls back to content[0].text.
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{mcp.NewTextContent(string(b))}}
}

func TestRemoteRejectedAndUnknown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rpc402  bool
		answer  func() (*mcp.CallToolResult, error)
		code    payments.Code
		charged string
	}{
		{"json-rpc 402 then paid", true, func() (*mcp.CallToolResult, error) {
			r := mcp.NewToolResultText("done")
			r.Meta = &mcp.Meta{AdditionalFields: map[string]any{MetaPaymentResponse: map[string]any{"success": true, "transaction": "0xabc", "network": "eip155:84532"}}}
			return r, nil
		}, "", "charged"},
		// The server refused a payment it received: not proven unused.
		{"second challenge", false, func() (*mcp.CallToolResult, error) { return remoteChallenge("invalid_signature"), nil }, payments.CodePaymentRejected, "unknown"},
		// Refused as already used: it may have settled (a resend of one
		// that did), an unknown outcome as over HTTP, not a refusal.
		{"second challenge: nonce already used", false, func() (*mcp.CallToolResult, error) {
			return remoteChallenge("invalid_exact_evm_nonce_already_used"), nil
		}, payments.CodeOutcomeUnknown, "unknown"},
		{"error after paying", false, func() (*mcp.CallToolResult, error) { return nil, errors.New("boom") }, payments.CodeOutcomeUnknown, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, seen := fakeRemote(t, tc.rpc402, tc.answer)
			reg, err := Parse("r.yaml", []byte("version: 1\ntools:\n  - name: remote\n    kind: mcp\n    url: \""+url+"\"\n    prefix: fk_\n    max_price: \"0.01\"\n"), testFamilies)
			if err != nil {
				t.Fatal(err)
			}
			w, _ := wallet.GenerateEVMKey()
			c := &payments.Client{Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: reg.Policy(), Ledger: payments.NewMemoryLedger(reg.Policy().Budget, nil)}
			ts := BuildRemote(context.Background(), reg, c, nil, nil)
			if len(ts) != 1 || ts[0].Tool.Name != "fk_job" {
				t.Fatalf("tools %+v", ts)
			}
			req := mcp.CallToolRequest{}
			req.Params.Name = "fk_job"
			res, _ := ts[0].Handler(context.Background(), req)
			if tc.code == "" {
				rc, _ := meta(res)[MetaPaymentResponse].(map[string]any)
				if res.IsError || meta(res)[MetaCharged] != tc.charged || rc["transaction"] != "0xabc" || !strings.Contains(resultText(res), "done") {
					t.Errorf("result %s %v", resultText(res), meta(res))
				}
			} else if xe, _ := meta(res)[MetaError].(map[string]any); !res.IsError || xe["code"] != string(tc.code) || xe["charged"] != tc.charged {
				t.Errorf("result %s %v", resultText(res), meta(res))
			} else if strings.Contains(resultText(res), "Paid ") {
				t.Errorf("a payment that did not settle is shown as paid: %s", resultText(res))
			}
			if seen.Load() != 1 {
				t.Errorf("the server saw %d payments, want exactly 1 (never re-signed)", seen.Load())
			}
		})
	}
}

// TestRemoteInvalidNamesLoggedOnce: a remote server listing hundreds of
// tools whose names cannot be local tool names gets one warning that
// counts them and names the first few, not a warning each.
func TestRemoteInvalidNamesLoggedOnce(t *testing.T) {
	s := mcpserver.NewMCPServer("fake", "1")
	noop := func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("ok"), nil
	}
	s.AddTool(mcp.NewTool("job"), noop)
	for i := range 300 {
		s.AddTool(mcp.NewTool(fmt.Sprintf("bad name %03d", i)), noop)
	}
	srv := httptest.NewServer(mcpserver.NewStreamableHTTPServer(s))
	defer srv.Close()
	reg, err := Parse("r.yaml", []byte("version: 1\ntools:\n  - name: remote\n    kind: mcp\n    url: \""+srv.URL+"/mcp\"\n    prefix: fk_\n    max_price: \"0.01\"\n"), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ts := BuildRemote(context.Background(), reg, nil, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	if len(ts) != 1 || ts[0].Tool.Name != "fk_job" {
		t.Fatalf("%d tools", len(ts))
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || logs.Len() > 2<<10 ||
		!strings.Contains(logs.String(), "skipped=300") || !strings.Contains(logs.String(), "fk_bad name 000") {
		t.Fatalf("%d warnings, %d bytes of logs:\n%.600s", n, logs.Len(), logs.String())
	}
}
