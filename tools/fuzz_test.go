package tools

// Fuzz tests of what this package reads from others: registry files,
// upstream answers through the result shaper, and remote MCP servers'
// results (x402 over MCP). Run one with
//
//	go test -run='^$' -fuzz='^FuzzShape$' -fuzztime=60s ./tools
//
// Inputs that once failed are kept in testdata/fuzz/<name>/ and run with
// the ordinary tests.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/jsonlimit"
)

// FuzzParseRegistry: any registry file parses or fails with errors that
// name the file; none panics. What parses lists tools whose definitions
// encode as JSON, and parses again to the same tools.
func FuzzParseRegistry(f *testing.F) {
	for _, s := range []string{fullRegistry, handlerRegistry, tipRegistry, schemaBomb(2), enumBomb(2),
		"version: 1\ntools:\n  - name: a\n    description: d\n    url: https://x/{id}\n    headers: &h {X-A: b}\n    params: [{name: id, in: path, required: true}]\n    max_price: \"0.01\"\n",
		"version: 1\ntools: [{name: r, kind: mcp, url: \"https://x/mcp\", prefix: r_, max_price: \"0.01\"}]\n",
		"", "version: 2", "version: 1\ntools: 5", "{{{{"} {
		f.Add([]byte(s))
	}
	for _, file := range []string{"../registry.yaml", "testdata/sample.yaml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("version: 1\ntools:\n  - name: a\n    description: d\n    url: \"${A:-http://x}/p/{id}?q=${B}\"\n    params: [{name: id, required: true, type: integer, enum: [1, 2], default: 1}]\n    result: 'items.#(id==2).name|@this'\n    max_price: \"0.01\"\n    amount_from: id\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The fuzzer reports no hangs by itself: a parse that takes this long
		// crashes the worker, which saves the input.
		watchdog := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("Parse of %d bytes took over 10s", len(data))) })
		defer watchdog.Stop()
		reg, err := Parse("fuzz.yaml", data, testFamilies)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("the error does not name the file: %.300q", err)
			}
			return
		}
		var names []string
		for _, e := range reg.Tools {
			names = append(names, e.Name)
			if _, err := json.Marshal(e.Tool()); err != nil {
				t.Fatalf("tool %q does not encode: %v", e.Name, err)
			}
			if len(e.schema) > 0 && !json.Valid(e.schema) {
				t.Fatalf("tool %q: schema is not JSON: %s", e.Name, e.schema)
			}
		}
		again, err := Parse("fuzz.yaml", data, testFamilies)
		if err != nil {
			t.Fatalf("parsed once, not twice: %v", err)
		}
		for i, e := range again.Tools {
			if e.Name != names[i] || string(e.schema) != string(reg.Tools[i].schema) {
				t.Fatalf("tool %d differs between two parses", i)
			}
		}
	})
}

// FuzzShape: any upstream answer (status, content type, body) becomes a
// result that encodes, is an error exactly when the status is not 2xx,
// shows at most max_result_bytes of the body plus short notes, and carries
// structured content only as a JSON object within the limits.
func FuzzShape(f *testing.F) {
	f.Add(200, "application/json; charset=utf-8", []byte(`{"current":{"temp":21.50},"big":12345678901234567890}`), uint8(1), 4096)
	f.Add(200, "application/json", []byte(`[1, 2]`), uint8(0), 1024)
	f.Add(200, "", []byte(`{"a":1}`), uint8(2), 2048)
	f.Add(200, "text/plain", []byte("héllo\x00\xff"), uint8(0), 1024)
	f.Add(200, "image/png", []byte("\x89PNG\r\n"), uint8(0), 1024)
	f.Add(502, "application/json", []byte(`{"error":"upstream exploded"}`), uint8(0), 1024)
	f.Add(302, "", []byte(nil), uint8(0), 1024)
	f.Add(200, "application/problem+json", []byte(strings.Repeat("[", 600)), uint8(3), 1024)
	paths := []string{"", "current", "current.temp", "items.#(id==2).name"}
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte, path uint8, maxBytes int) {
		status = 100 + (status%500+500)%500
		maxBytes = MinResultBytes + (maxBytes%(64<<10)+(64<<10))%(64<<10)
		h := http.Header{}
		h.Set("Content-Type", contentType)
		if status >= 300 && status < 400 {
			h.Set("Location", "https://elsewhere.example/"+contentType)
		}
		for _, charged := range []payments.Charge{payments.NotCharged, payments.Charged} {
			res := &payments.Result{Status: status, Header: h, Body: body, Charged: charged}
			if charged == payments.Charged {
				res.Receipt = testReceipt
			}
			r := Shape(&Entry{Name: "t", Result: paths[int(path)%len(paths)]}, res, maxBytes)
			if _, err := json.Marshal(r); err != nil {
				t.Fatalf("the result does not encode: %v", err)
			}
			if r.IsError != (status < 200 || status > 299) {
				t.Fatalf("status %d gave isError %v", status, r.IsError)
			}
			if meta(r)[MetaCharged] != string(charged) {
				t.Fatalf("x402/charged = %v, want %s", meta(r)[MetaCharged], charged)
			}
			text := resultText(r)
			if len(text) > maxBytes+2<<10 {
				t.Fatalf("%d bytes of text for a %d-byte limit", len(text), maxBytes)
			}
			if !utf8.ValidString(text) {
				t.Fatalf("text is not UTF-8: %q", text)
			}
			for _, c := range r.Content {
				if ic, ok := c.(mcp.ImageContent); ok && len(ic.Data) > maxBytes*4/3+4 {
					t.Fatalf("an image of %d base64 bytes for a %d-byte limit", len(ic.Data), maxBytes)
				}
			}
			if r.StructuredContent == nil {
				continue
			}
			raw, ok := r.StructuredContent.(json.RawMessage)
			if !ok || !strings.HasPrefix(string(raw), "{") || jsonlimit.Check(raw) != nil || len(raw) > maxBytes+len(`{"result":}`) {
				t.Fatalf("structured content %T of %d bytes: %.200s", r.StructuredContent, len(raw), raw)
			}
		}
	})
}

// FuzzRemoteResult: any tools/call result a remote MCP server sends (as
// the MCP client decodes it), and any bytes on the wire of a JSON-RPC
// error, are read for an x402 challenge and a receipt without panicking,
// and shaped into a result that encodes within the limits.
func FuzzRemoteResult(f *testing.F) {
	challenge, _ := json.Marshal(remoteChallenge(""))
	f.Add(challenge)
	f.Add([]byte(`{"content":[{"type":"text","text":"done"}],"structuredContent":{"ok":true},"_meta":{"x402/payment-response":{"success":true,"transaction":"0xabc","network":"eip155:84532","payer":"0x1"}}}`))
	f.Add([]byte(`{"isError":true,"content":[],"structuredContent":{"x402Version":2,"accepts":[{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60}]}}`))
	f.Add([]byte("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":402,\"message\":\"Payment required\",\"data\":{\"x402Version\":2,\"accepts\":[{\"scheme\":\"exact\"}]}}}\n\n"))
	f.Add([]byte(`{"content":[{"type":"image","data":"aGVsbG8=","mimeType":"image/png"},{"type":"audio","data":"","mimeType":"audio/wav"}]}`))
	rm := &remoteTool{entry: &Entry{Name: "r"}, maxBytes: 2048}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := &capture{}
		_, _ = c.Write(raw)
		if pr := c.challenge(); pr != nil && (len(pr.Accepts) == 0 || pr.X402Version < 1 || pr.X402Version > 2) {
			t.Fatalf("wire challenge: version %d, %d accepts", pr.X402Version, len(pr.Accepts))
		}
		msg := json.RawMessage(raw)
		res, err := mcp.ParseCallToolResult(&msg)
		if err != nil || res == nil {
			return
		}
		if pr := challengeOf(res); pr != nil && (len(pr.Accepts) == 0 || pr.X402Version < 1 || pr.X402Version > 2) {
			t.Fatalf("result challenge: version %d, %d accepts", pr.X402Version, len(pr.Accepts))
		}
		_ = settlementOf(res)
		out := rm.shape(res, payments.NotCharged, nil, nil)
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("the shaped result does not encode: %v", err)
		}
		if len(resultText(out)) > rm.maxBytes+2<<10 {
			t.Fatalf("%d bytes of text for a %d-byte limit", len(resultText(out)), rm.maxBytes)
		}
		if jsonlimit.CheckDepth(b) != nil {
			t.Fatalf("the shaped result nests deeper than %d levels", jsonlimit.MaxDepth)
		}
	})
}
