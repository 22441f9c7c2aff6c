package tools

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/x402-mcp/x402-mcp/payments"
)

func result(status int, ct string, body string) *payments.Result {
	h := http.Header{}
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	return &payments.Result{Status: status, Header: h, Body: []byte(body), Charged: payments.NotCharged}
}

var testReceipt = &payments.Receipt{
	Tool: "weather", Amount: 10_000, AmountAtom: "10000", Network: "eip155:84532",
	PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
	Payer: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", Transaction: "0xabc", State: "settled", LedgerID: "L1", X402Version: 2,
}

func paid(r *payments.Result, c payments.Charge) *payments.Result {
	r.Charged = c
	r.Receipt = testReceipt
	return r
}

func structured(t *testing.T, r *mcp.CallToolResult) string {
	t.Helper()
	if r.StructuredContent == nil {
		return ""
	}
	raw, ok := r.StructuredContent.(json.RawMessage)
	if !ok {
		t.Fatalf("structured content is %T, want json.RawMessage", r.StructuredContent)
	}
	return string(raw)
}

func TestShape(t *testing.T) {
	withPath := func(p string) *Entry { return &Entry{Name: "t", Result: p} }
	long := strings.Repeat("é", 40) // 80 bytes
	cases := []struct {
		name       string
		entry      *Entry
		res        *payments.Result
		max        int
		isError    bool
		structured string   // "" means none
		text       []string // the text contents, in order
		images     int
	}{
		{name: "json object", res: result(200, "application/json; charset=utf-8", "{\n  \"temp\": 21.50,\n  \"big\": 12345678901234567890\n}"),
			structured: `{"temp":21.50,"big":12345678901234567890}`, text: []string{`{"temp":21.50,"big":12345678901234567890}`}},
		{name: "json array wrapped", res: result(200, "application/json", `[1, 2]`),
			structured: `{"result":[1,2]}`, text: []string{`[1,2]`}},
		{name: "json scalar wrapped", res: result(200, "application/json", `"hi"`),
			structured: `{"result":"hi"}`, text: []string{`"hi"`}},
		{name: "+json type", res: result(200, "application/problem+json", `{"a":1}`),
			structured: `{"a":1}`, text: []string{`{"a":1}`}},
		{name: "json sniffed without content type", res: result(200, "", `{"a":1}`),
			structured: `{"a":1}`, text: []string{`{"a":1}`}},
		{name: "result path picks an object", entry: withPath("current"), res: result(200, "application/json", `{"current":{"temp":21},"junk":[1,2,3]}`),
			structured: `{"temp":21}`, text: []string{`{"temp":21}`}},
		{name: "result path picks a number", entry: withPath("current.temp"), res: result(200, "application/json", `{"current":{"temp":21.0}}`),
			structured: `{"result":21.0}`, text: []string{`21.0`}},
		{name: "result path with a query", entry: withPath(`items.#(id==2).name`), res: result(200, "application/json", `{"items":[{"id":1,"name":"a"},{"id":2,"name":"b"}]}`),
			structured: `{"result":"b"}`, text: []string{`"b"`}},
		{name: "result path matches nothing", entry: withPath("current"), res: result(200, "application/json", `{"other": 1}`),
			text: []string{`The result path "current" matched nothing in the upstream's JSON answer; the whole answer follows.`, `{"other":1}`}},
		{name: "invalid json shown as text", res: result(200, "application/json", `{"a":`),
			text: []string{`{"a":`}},
		{name: "json over the cap is text, cut", res: result(200, "application/json", `{"k":"`+strings.Repeat("x", 100)+`"}`), max: 20,
			text: []string{`{"k":"xxxxxxxxxxxxxx` + "\n[truncated: showing 20 of 108 bytes; raise max_result_bytes or narrow the `result` path]"}},
		{name: "text", res: result(200, "text/plain; charset=utf-8", "hello\nworld"),
			text: []string{"hello\nworld"}},
		{name: "xml is text", res: result(200, "application/xml", "<a/>"),
			text: []string{"<a/>"}},
		{name: "text cut on a rune boundary", res: result(200, "text/plain", long), max: 11,
			text: []string{strings.Repeat("é", 5) + "\n[truncated: showing 10 of 80 bytes; raise max_result_bytes or narrow the `result` path]"}},
		{name: "invalid utf-8 replaced", res: result(200, "text/plain", "a\xffb"),
			text: []string{"a\uFFFDb"}},
		{name: "image", res: result(200, "image/png", "\x89PNG\r\n\x1a\nDATA"),
			images: 1, text: []string{"image/png image, 12 bytes."}},
		{name: "image over the cap", res: result(200, "image/jpeg", strings.Repeat("j", 2000)), max: 1024,
			text: []string{"The upstream returned a 2000-byte image/jpeg image, over the 1024-byte limit of what the model is shown (max_result_bytes); not shown."}},
		{name: "svg is text", res: result(200, "image/svg+xml", "<svg/>"),
			text: []string{"<svg/>"}},
		{name: "octet-stream described", res: result(200, "application/octet-stream", strings.Repeat("\x00", 12345)),
			text: []string{"The upstream returned 12345 bytes of application/octet-stream; not shown (x402-mcp shows JSON, text and images)."}},
		{name: "binary without type described", res: result(200, "", "\x00\x01\xff"),
			text: []string{"The upstream returned 3 bytes of an unknown type; not shown (x402-mcp shows JSON, text and images)."}},
		{name: "one byte described", res: result(200, "application/octet-stream", "\x00"),
			text: []string{"The upstream returned 1 byte of application/octet-stream; not shown (x402-mcp shows JSON, text and images)."}},
		{name: "empty body", res: result(204, "", ""),
			text: []string{"The upstream answered 204 No Content with an empty body."}},
		{name: "client stopped reading", res: func() *payments.Result {
			r := result(200, "text/plain", "abc")
			r.Truncated = true
			return r
		}(), text: []string{"abc", "[the upstream sent more than the 3 bytes x402-mcp reads; the rest was not downloaded]"}},
		{name: "truncated json is not parsed", res: func() *payments.Result {
			r := result(200, "application/json", `{"a":[1,2`)
			r.Truncated = true
			return r
		}(), text: []string{`{"a":[1,2`, "[the upstream sent more than the 9 bytes x402-mcp reads; the rest was not downloaded]"}},
		{name: "truncated image is not shown", res: func() *payments.Result {
			r := result(200, "image/png", "PNG")
			r.Truncated = true
			return r
		}(), text: []string{"The upstream returned a 3-byte image/png image, over the 65536-byte limit of what the model is shown (max_result_bytes); not shown.", "[the upstream sent more than the 3 bytes x402-mcp reads; the rest was not downloaded]"}},
		{name: "body broke off", res: func() *payments.Result {
			r := result(200, "text/plain", "par")
			r.BodyErr = errors.New("unexpected EOF")
			return r
		}(), text: []string{"par", "[the upstream's answer broke off while it was being read; what is shown may be incomplete]"}},
		{name: "paid json gets a receipt line", res: paid(result(200, "application/json", `{"a":1}`), payments.Charged),
			structured: `{"a":1}`, text: []string{`{"a":1}`, testReceipt.Line() + " Charged and delivered."}},
		{name: "404 not charged", res: result(404, "application/json", `{"error": "no such city"}`), isError: true,
			text: []string{"Not charged: the upstream answered 404 Not Found and no payment was made. Check the arguments.\nUpstream said: {\"error\":\"no such city\"}"}},
		{name: "503 not charged", res: result(503, "text/plain", "down\x1b[31m for maintenance"), isError: true,
			text: []string{"Not charged: the upstream answered 503 Service Unavailable and no payment was made. The upstream failed; retrying later may work.\nUpstream said: down[31m for maintenance"}},
		{name: "redirect not followed", res: func() *payments.Result {
			r := result(302, "", "")
			r.Header.Set("Location", "https://elsewhere.example/x")
			return r
		}(), isError: true,
			text: []string{"Not charged: the upstream answered 302 Found and no payment was made. It redirects to https://elsewhere.example/x, which x402-mcp does not follow."}},
		{name: "502 after a settled payment", res: paid(result(502, "text/html", "<h1>bad gateway</h1>"), payments.Charged), isError: true,
			text: []string{"Charged, nothing delivered: the payment settled (receipt: " + testReceipt.Line() + ") but the upstream answered 502 Bad Gateway. Do not retry blindly: a retry is a new payment. Tell the user; the receipt is the proof to ask the seller for a refund.\nUpstream said: <h1>bad gateway</h1>"}},
		{name: "500 with unknown outcome", res: paid(result(500, "", ""), payments.ChargeUnknown), isError: true,
			text: []string{"Outcome unknown: a signed payment was sent (receipt: " + testReceipt.Line() + ") and the upstream answered 500 Internal Server Error. The payment may have settled. Do not retry blindly: a retry could pay twice. Check the spend history or ask the operator to reconcile."}},
		{name: "error excerpt capped", res: result(400, "text/plain", strings.Repeat("e", 2000)), isError: true,
			text: []string{"Not charged: the upstream answered 400 Bad Request and no payment was made. Check the arguments.\nUpstream said: " + strings.Repeat("e", 500) + "…"}},
		{name: "binary error body described", res: result(500, "application/octet-stream", "\x00\x01"), isError: true,
			text: []string{"Not charged: the upstream answered 500 Internal Server Error and no payment was made. The upstream failed; retrying later may work.\nUpstream said: (2 bytes of application/octet-stream)"}},
		{name: "one-byte error body described", res: result(500, "application/octet-stream", "\x01"), isError: true,
			text: []string{"Not charged: the upstream answered 500 Internal Server Error and no payment was made. The upstream failed; retrying later may work.\nUpstream said: (1 byte of application/octet-stream)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := c.entry
			if e == nil {
				e = &Entry{Name: "t"}
			}
			r := Shape(e, c.res, c.max)
			if r.IsError != c.isError {
				t.Errorf("IsError = %v, want %v", r.IsError, c.isError)
			}
			if got := structured(t, r); got != c.structured {
				t.Errorf("structured =\n%s\nwant\n%s", got, c.structured)
			}
			var texts []string
			images := 0
			for _, content := range r.Content {
				switch x := content.(type) {
				case mcp.TextContent:
					texts = append(texts, x.Text)
					if !utf8.ValidString(x.Text) {
						t.Errorf("text is not valid UTF-8: %q", x.Text)
					}
				case mcp.ImageContent:
					images++
					data, err := base64.StdEncoding.DecodeString(x.Data)
					if err != nil || !bytes.Equal(data, c.res.Body) || x.MIMEType != mediaTypeOf(c.res.Header.Get("Content-Type")) {
						t.Errorf("image = %q %q (%v)", x.MIMEType, data, err)
					}
				default:
					t.Errorf("unexpected content %T", content)
				}
			}
			if images != c.images {
				t.Errorf("images = %d, want %d", images, c.images)
			}
			if strings.Join(texts, "\n---\n") != strings.Join(c.text, "\n---\n") {
				t.Errorf("texts =\n%q\nwant\n%q", texts, c.text)
			}
			m := meta(r)
			wantCharged := string(c.res.Charged)
			if m[MetaCharged] != wantCharged {
				t.Errorf("_meta %s = %v, want %q", MetaCharged, m[MetaCharged], wantCharged)
			}
			if _, has := m[MetaPaymentResponse]; has != (c.res.Receipt != nil) {
				t.Errorf("_meta receipt present = %v, want %v", has, c.res.Receipt != nil)
			}
			// The result must survive the wire.
			if _, err := json.Marshal(r); err != nil {
				t.Errorf("marshal: %v", err)
			}
		})
	}
}

func TestShapeReceiptMeta(t *testing.T) {
	r := Shape(&Entry{Name: "weather"}, paid(result(200, "application/json", `{"a":1}`), payments.Charged), 0)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var wire struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	if got := string(wire.Meta[MetaCharged]); got != `"charged"` {
		t.Errorf("charged = %s", got)
	}
	want := `{"amount":"0.01","amountAtomic":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","decimals":6,"ledgerId":"L1","network":"eip155:84532","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","state":"settled","success":true,"symbol":"USDC","transaction":"0xabc","x402Version":2}`
	if got := string(wire.Meta[MetaPaymentResponse]); got != want {
		t.Errorf("payment-response =\n%s\nwant\n%s", got, want)
	}

	// A payment in an 18-decimal token reads in it, in the line and _meta.
	wr := *testReceipt
	wr.Amount, wr.AmountAtom, wr.Symbol, wr.Decimals = 40_000_000_000_000_000, "40000000000000000", "WETH", 18
	wres := result(200, "application/json", `{"a":1}`)
	wres.Charged, wres.Receipt = payments.Charged, &wr
	r = Shape(&Entry{Name: "weather"}, wres, 0)
	pr := r.Meta.AdditionalFields[MetaPaymentResponse].(map[string]any)
	if pr["amount"] != "0.04" || pr["symbol"] != "WETH" || pr["decimals"] != 18 || !strings.Contains(resultText(r), "Paid 0.04 WETH (40000000000000000 atomic)") {
		t.Errorf("WETH receipt %v %q", pr, resultText(r))
	}

	// Unknown outcome: the receipt is there, success is false.
	r = Shape(&Entry{Name: "weather"}, paid(result(500, "", ""), payments.ChargeUnknown), 0)
	pr = meta(r)[MetaPaymentResponse].(map[string]any)
	if pr["success"] != false || meta(r)[MetaCharged] != "unknown" {
		t.Errorf("unknown outcome meta = %v", meta(r))
	}
}

// captureLog points the default slog logger at a buffer for one test.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

func TestErrorResultPaymentErrors(t *testing.T) {
	codes := []struct {
		code    payments.Code
		charged payments.Charge
		receipt bool
		prefix  string
	}{
		{payments.CodeOverBudget, payments.NotCharged, false, "Payment not charged (" + string(payments.CodeOverBudget) + "): "},
		{payments.CodePriceAboveCap, payments.NotCharged, false, "Payment not charged (" + string(payments.CodePriceAboveCap) + "): "},
		{payments.CodeNotAllowed, payments.NotCharged, false, "Payment not charged (" + string(payments.CodeNotAllowed) + "): "},
		{payments.CodeUnsupported, payments.NotCharged, false, "Payment not charged (" + string(payments.CodeUnsupported) + "): "},
		{payments.CodeBadChallenge, payments.NotCharged, false, "Payment not charged (" + string(payments.CodeBadChallenge) + "): "},
		{payments.CodePaymentRejected, payments.NotCharged, false, "Payment not charged (" + string(payments.CodePaymentRejected) + "): "},
		{payments.CodeOutcomeUnknown, payments.ChargeUnknown, true, "Payment outcome unknown (" + string(payments.CodeOutcomeUnknown) + "): "},
		{payments.CodeUpstreamFailed, payments.NotCharged, false, "Payment not charged (" + string(payments.CodeUpstreamFailed) + "): "},
		{payments.CodeUpstreamTimeout, payments.NotCharged, false, "Payment not charged (" + string(payments.CodeUpstreamTimeout) + "): "},
		{payments.CodeApprovalRequired, payments.NotCharged, false, "Payment not charged (" + string(payments.CodeApprovalRequired) + "): "},
		{payments.CodeInternal, payments.NotCharged, false, "Payment not charged (" + string(payments.CodeInternal) + "): "},
		{payments.CodeUpstreamFailed, payments.Charged, true, "Payment charged (" + string(payments.CodeUpstreamFailed) + "): "},
		{payments.CodeOutcomeUnknown, "", false, "Payment outcome unknown (" + string(payments.CodeOutcomeUnknown) + "): "}, // an unset charge is never read as free
	}
	for _, c := range codes {
		t.Run(fmt.Sprintf("%s/%s", c.code, c.charged), func(t *testing.T) {
			logs := captureLog(t)
			pe := &payments.Error{Code: c.code, Charged: c.charged, Message: "the message for " + string(c.code), Err: errors.New("cause-detail")}
			if c.receipt {
				pe.Receipt = testReceipt
			}
			r := ErrorResult(fmt.Errorf("wrapped: %w", pe))
			if !r.IsError {
				t.Error("IsError = false")
			}
			text := resultText(r)
			if want := c.prefix + pe.Message; !strings.HasPrefix(text, want) {
				t.Errorf("text = %q, want prefix %q", text, want)
			}
			if strings.Contains(text, "cause-detail") {
				t.Error("the cause reached the model")
			}
			if c.receipt != strings.Contains(text, testReceipt.Line()) {
				t.Errorf("receipt line present = %v, want %v", !c.receipt, c.receipt)
			}
			m := meta(r)
			wantCharged := string(c.charged)
			if wantCharged == "" {
				wantCharged = "unknown"
			}
			if m[MetaCharged] != wantCharged {
				t.Errorf("charged = %v, want %s", m[MetaCharged], wantCharged)
			}
			xe, _ := m[MetaError].(map[string]any)
			if xe["code"] != string(c.code) || xe["charged"] != wantCharged {
				t.Errorf("x402/error = %v", xe)
			}
			if _, has := m[MetaPaymentResponse]; has != c.receipt {
				t.Errorf("receipt in meta = %v, want %v", has, c.receipt)
			}
			if logged := strings.Contains(logs.String(), "cause-detail"); logged != (c.code == payments.CodeInternal) {
				t.Errorf("cause logged = %v, want %v (log: %s)", logged, c.code == payments.CodeInternal, logs)
			}
		})
	}
}

func TestErrorResultOtherErrors(t *testing.T) {
	logs := captureLog(t)
	r := ErrorResult(errors.New("db exploded at 0xdeadbeef"))
	if !r.IsError || resultText(r) != "internal error (not charged)" {
		t.Errorf("result = %v %q", r.IsError, resultText(r))
	}
	if meta(r)[MetaCharged] != "not charged" {
		t.Errorf("meta = %v", meta(r))
	}
	if !strings.Contains(logs.String(), "db exploded") {
		t.Errorf("details not logged: %s", logs)
	}

	r = ErrorResult(&ArgumentError{Tool: "t", Problems: []string{`"a" is required (a string)`, `"b" must be a boolean, got string "x"`}})
	want := `invalid arguments: "a" is required (a string); "b" must be a boolean, got string "x". Not charged: nothing was sent; fix the arguments and call again.`
	if !r.IsError || resultText(r) != want {
		t.Errorf("argument error text =\n%s\nwant\n%s", resultText(r), want)
	}
	if meta(r)[MetaCharged] != "not charged" {
		t.Errorf("meta = %v", meta(r))
	}
}

func TestTruncateUTF8(t *testing.T) {
	s := "aé€😀" // 1 + 2 + 3 + 4 bytes
	for max, want := range []string{"", "a", "a", "aé", "aé", "aé", "aé€", "aé€", "aé€", "aé€", "aé€😀", "aé€😀"} {
		if got := truncateUTF8(s, max); got != want {
			t.Errorf("truncateUTF8(%d) = %q, want %q", max, got, want)
		}
	}
}
