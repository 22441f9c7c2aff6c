package tools

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/mcptest"
	"github.com/x402-mcp/x402-mcp/payments"
)

var update = flag.Bool("update", false, "rewrite testdata/tools.golden")

// directPayer sends the request with a plain HTTP client and wraps the answer
// in a payments.Result, optionally with a receipt. It stands in for
// *payments.Client in these unit tests, which are about building requests and
// shaping answers; the real payment path is tested in payments and test/.
type directPayer struct {
	receipt *payments.Receipt // when set, every 2xx is reported as charged

	mu     sync.Mutex
	limits []payments.Limit
}

func (p *directPayer) Do(ctx context.Context, req *http.Request, lim payments.Limit) (*payments.Result, error) {
	p.mu.Lock()
	p.limits = append(p.limits, lim)
	p.mu.Unlock()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		code := payments.CodeUpstreamFailed
		if errors.Is(err, context.DeadlineExceeded) {
			code = payments.CodeUpstreamTimeout
		}
		// Like payments.Client, quote the transport error (it names the URL).
		return nil, &payments.Error{Code: code, Charged: payments.NotCharged, Message: "the upstream did not answer: " + err.Error(), Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	res := &payments.Result{Status: resp.StatusCode, Header: resp.Header, Body: body, BodyErr: err, Charged: payments.NotCharged}
	if p.receipt != nil && resp.StatusCode < 300 {
		res.Charged, res.Receipt = payments.Charged, p.receipt
	}
	return res, nil
}

func (p *directPayer) calls() []payments.Limit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]payments.Limit(nil), p.limits...)
}

const apiKey = "k-very-secret-123"

// seller is a fake upstream that records what it received.
type seller struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func newSeller(t *testing.T) *seller {
	s := &seller{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/weather/{city}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != apiKey {
			http.Error(w, "bad key", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"current":{"city":%q,"temp":21.50,"units":%q},"forecast":[1,2,3]}`, r.PathValue("city"), r.URL.Query().Get("units"))
	})
	mux.HandleFunc("POST /v1/translate", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "[%s] %s", in["to"], in["text"])
	})
	mux.HandleFunc("GET /v2/broken/{id}", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream exploded", http.StatusBadGateway)
	})
	mux.HandleFunc("GET /v2/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		s.body = append(s.body, string(b))
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *seller) last() (*http.Request, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return nil, ""
	}
	return s.reqs[len(s.reqs)-1], s.body[len(s.body)-1]
}

func (s *seller) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

const handlerRegistry = `version: 1
defaults:
  networks: [eip155:84532]
  max_result_bytes: 2048
tools:
  - name: weather
    description: Weather.
    url: ${SELLER}/v2/weather/{city}
    headers:
      X-Api-Key: ${WEATHER_API_KEY}
    params:
      - {name: city, required: true}
      - {name: units, enum: [metric, imperial], default: metric}
    max_price: "0.01"
    pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    result: current
  - name: translate
    description: Translate.
    method: POST
    url: ${SELLER}/v1/translate
    input_schema:
      type: object
      properties:
        text: {type: string}
        to: {type: string, enum: [en, fr]}
      required: [text, to]
    max_price: "0.02"
  - name: broken
    description: Always 502.
    url: ${SELLER}/v2/broken/{id}
    params:
      - {name: id, required: true, type: integer}
    max_price: "0.01"
  - name: slow
    description: Never answers in time.
    url: ${SELLER}/v2/slow
    params: []
    max_price: "0.01"
    timeout: 200ms
`

func callReq(name string, args map[string]any) mcp.CallToolRequest {
	var r mcp.CallToolRequest
	r.Params.Name = name
	r.Params.Arguments = args
	return r
}

var callIDRE = regexp.MustCompile(`^call_[0-9a-f]{32}$`)

func TestHandler(t *testing.T) {
	s := newSeller(t)
	reg := mustParse(t, handlerRegistry)
	getenv := env(map[string]string{"SELLER": s.URL, "WEATHER_API_KEY": apiKey})

	type check func(t *testing.T, r *mcp.CallToolResult, p *directPayer)
	cases := []struct {
		name    string
		tool    string
		args    map[string]any
		receipt *payments.Receipt
		sent    bool // whether the seller must have been called
		checks  []check
	}{
		{name: "json with result path, paid", tool: "weather", args: map[string]any{"city": "São Paulo"}, receipt: testReceipt, sent: true,
			checks: []check{
				func(t *testing.T, r *mcp.CallToolResult, p *directPayer) {
					if r.IsError {
						t.Fatalf("error result: %s", resultText(r))
					}
					if got := structured(t, r); got != `{"city":"São Paulo","temp":21.50,"units":"metric"}` {
						t.Errorf("structured = %s", got)
					}
					if !strings.Contains(resultText(r), testReceipt.Line()+" Charged and delivered.") {
						t.Errorf("no receipt line: %s", resultText(r))
					}
					if meta(r)[MetaCharged] != "charged" {
						t.Errorf("meta = %v", meta(r))
					}
					req, _ := s.last()
					if req.URL.EscapedPath() != "/v2/weather/S%C3%A3o%20Paulo" || req.URL.RawQuery != "units=metric" {
						t.Errorf("seller got %s ? %s", req.URL.EscapedPath(), req.URL.RawQuery)
					}
					lim := p.calls()[len(p.calls())-1]
					if lim.Tool != "weather" || lim.MaxPrice != 10_000 || lim.PayTo != "0x209693Bc6afc0C5328bA36FaF03C514EF312287C" || !callIDRE.MatchString(lim.CallID) {
						t.Errorf("limit = %+v", lim)
					}
				},
			}},
		{name: "input_schema POST, text answer", tool: "translate", args: map[string]any{"text": "bonjour", "to": "en"}, sent: true,
			checks: []check{
				func(t *testing.T, r *mcp.CallToolResult, p *directPayer) {
					if r.IsError || resultText(r) != "[en] bonjour" || r.StructuredContent != nil {
						t.Errorf("result = %v %q %v", r.IsError, resultText(r), r.StructuredContent)
					}
					req, body := s.last()
					if req.Method != "POST" || body != `{"text":"bonjour","to":"en"}` || req.Header.Get("Content-Type") != "application/json" {
						t.Errorf("seller got %s %q %q", req.Method, body, req.Header.Get("Content-Type"))
					}
					if meta(r)[MetaCharged] != "not charged" {
						t.Errorf("meta = %v", meta(r))
					}
				},
			}},
		{name: "upstream 502, not charged", tool: "broken", args: map[string]any{"id": float64(7)}, sent: true,
			checks: []check{
				func(t *testing.T, r *mcp.CallToolResult, p *directPayer) {
					want := "Not charged: the upstream answered 502 Bad Gateway and no payment was made. The upstream failed; retrying later may work.\nUpstream said: upstream exploded"
					if !r.IsError || resultText(r) != want {
						t.Errorf("result = %v %q", r.IsError, resultText(r))
					}
				},
			}},
		{name: "invalid arguments are refused before sending", tool: "weather", args: map[string]any{"town": "x"}, sent: false,
			checks: []check{
				func(t *testing.T, r *mcp.CallToolResult, p *directPayer) {
					want := `invalid arguments: unknown argument "town"; valid arguments: city, units; "city" is required (a string). Not charged: nothing was sent; fix the arguments and call again.`
					if !r.IsError || resultText(r) != want {
						t.Errorf("result =\n%s\nwant\n%s", resultText(r), want)
					}
				},
			}},
		{name: "timeout applies", tool: "slow", sent: true,
			checks: []check{
				func(t *testing.T, r *mcp.CallToolResult, p *directPayer) {
					if !r.IsError || !strings.HasPrefix(resultText(r), "Payment not charged (upstream_timeout): ") {
						t.Errorf("result = %v %q", r.IsError, resultText(r))
					}
					if xe, _ := meta(r)[MetaError].(map[string]any); xe["code"] != "upstream_timeout" {
						t.Errorf("meta = %v", meta(r))
					}
				},
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &directPayer{receipt: c.receipt}
			e, _ := reg.Entry(c.tool)
			before := s.count()
			start := time.Now()
			r, err := e.Handler(p, reg.Defaults.MaxResultBytes, getenv)(context.Background(), callReq(c.tool, c.args))
			if err != nil {
				t.Fatalf("handler returned a Go error: %v", err)
			}
			if time.Since(start) > 3*time.Second {
				t.Errorf("call took %s: the timeout did not apply", time.Since(start))
			}
			if sent := s.count() > before; sent != c.sent {
				t.Errorf("seller called = %v, want %v", sent, c.sent)
			}
			if len(p.calls()) > 0 != c.sent {
				t.Errorf("payer called %d times", len(p.calls()))
			}
			b, _ := json.Marshal(r)
			if strings.Contains(string(b), apiKey) {
				t.Errorf("the API key reached the result: %s", b)
			}
			for _, ch := range c.checks {
				ch(t, r, p)
			}
		})
	}
}

func TestHandlerMissingEnvNamesTheVariable(t *testing.T) {
	s := newSeller(t)
	reg := mustParse(t, handlerRegistry)
	p := &directPayer{}
	e, _ := reg.Entry("weather")
	r, _ := e.Handler(p, 0, env(map[string]string{"SELLER": s.URL}))(context.Background(), callReq("weather", map[string]any{"city": "x"}))
	want := "Configuration error (not charged): tool weather is not configured correctly: environment variable WEATHER_API_KEY is not set (the registry uses it in headers.X-Api-Key and gives no default). The operator must set it and restart x402-mcp. Nothing was sent or charged. Tell the operator; retrying will not help."
	if !r.IsError || resultText(r) != want {
		t.Errorf("result =\n%s\nwant\n%s", resultText(r), want)
	}
	if len(p.calls()) != 0 || s.count() != 0 {
		t.Error("a request was sent")
	}
}

func TestHandlerArgumentsNotAnObject(t *testing.T) {
	reg := mustParse(t, handlerRegistry)
	e, _ := reg.Entry("weather")
	var req mcp.CallToolRequest
	req.Params.Arguments = []any{"paris"}
	r, _ := e.Handler(&directPayer{}, 0, env(nil))(context.Background(), req)
	if !r.IsError || !strings.HasPrefix(resultText(r), "invalid arguments: arguments must be a JSON object") {
		t.Errorf("result = %q", resultText(r))
	}
}

func TestCallIDsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewCallID()
		if !callIDRE.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated call id %q", id)
		}
		seen[id] = true
	}
}

// TestBuildOverMCP drives the built tools through a real MCP client and
// server over pipes: the schema, the structured content and the _meta must
// survive the wire.
func TestBuildOverMCP(t *testing.T) {
	s := newSeller(t)
	reg := mustParse(t, handlerRegistry)
	p := &directPayer{receipt: testReceipt}
	srv, err := mcptest.NewServer(t, Build(reg, p, env(map[string]string{"SELLER": s.URL, "WEATHER_API_KEY": apiKey}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := t.Context()

	list, err := srv.Client().ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
		if tl.Annotations.ReadOnlyHint == nil || *tl.Annotations.ReadOnlyHint || tl.Annotations.OpenWorldHint == nil || !*tl.Annotations.OpenWorldHint {
			t.Errorf("%s: annotations = %+v", tl.Name, tl.Annotations)
		}
		if !strings.Contains(tl.Description, "Paid tool: up to ") {
			t.Errorf("%s: description = %q", tl.Name, tl.Description)
		}
	}
	if strings.Join(names, ",") != "broken,slow,translate,weather" {
		t.Errorf("tools = %v", names)
	}

	res, err := srv.Client().CallTool(ctx, callReq("weather", map[string]any{"city": "paris", "units": "imperial"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("error: %s", resultText(res))
	}
	sc, _ := json.Marshal(res.StructuredContent)
	if string(sc) != `{"city":"paris","temp":21.5,"units":"imperial"}` {
		t.Errorf("structured content = %s", sc)
	}
	m := meta(res)
	if m[MetaCharged] != "charged" {
		t.Errorf("meta = %v", m)
	}
	pr, _ := m[MetaPaymentResponse].(map[string]any)
	if pr["transaction"] != "0xabc" || pr["amount"] != "0.01" || pr["success"] != true {
		t.Errorf("payment-response = %v", pr)
	}

	res, err = srv.Client().CallTool(ctx, callReq("weather", map[string]any{"city": "paris", "units": "kelvin"}))
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.HasPrefix(resultText(res), `invalid arguments: "units" must be one of "metric", "imperial", got "kelvin"`) {
		t.Errorf("bad-args result = %v %q", res.IsError, resultText(res))
	}
}

func TestToolsGolden(t *testing.T) {
	reg, err := Load("testdata/sample.yaml", testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	var defs []mcp.Tool
	for _, st := range Build(reg, &directPayer{}, nil) {
		defs = append(defs, st.Tool)
	}
	got, err := json.MarshalIndent(defs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const golden = "testdata/tools.golden"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./tools -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("tools/list changed; if intended, run go test ./tools -update\ngot:\n%s", got)
	}
	// Every schema is an object schema without top-level combinators.
	for _, d := range defs {
		var s map[string]any
		if err := json.Unmarshal(d.RawInputSchema, &s); err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		if s["type"] != "object" || s["anyOf"] != nil || s["oneOf"] != nil || s["allOf"] != nil {
			t.Errorf("%s: schema = %v", d.Name, s)
		}
		if _, ok := s["properties"].(map[string]any); !ok {
			t.Errorf("%s: no properties", d.Name)
		}
	}
}

// Secrets from the environment (a header key, a key in the URL) never reach
// a result or the log, whatever the outcome.
func TestSecretsStayHidden(t *testing.T) {
	logs := captureLog(t)
	s := newSeller(t)
	reg := mustParse(t, `version: 1
tools:
  - name: weather
    description: Weather.
    url: ${SELLER}/v2/weather/{city}?sig=${URL_SECRET}
    headers:
      X-Api-Key: ${WEATHER_API_KEY}
    params:
      - {name: city, required: true}
    max_price: "0.01"
  - name: broken
    description: Always 502.
    url: ${SELLER}/v2/broken/1?sig=${URL_SECRET}
    headers:
      X-Api-Key: ${WEATHER_API_KEY}
    params: []
    max_price: "0.01"
  - name: slow
    description: Never answers in time.
    url: ${SELLER}/v2/slow?sig=${URL_SECRET}
    headers:
      X-Api-Key: ${WEATHER_API_KEY}
    params: []
    max_price: "0.01"
    timeout: 100ms
`)
	const urlSecret = "url-secret-456"
	full := env(map[string]string{"SELLER": s.URL, "WEATHER_API_KEY": apiKey, "URL_SECRET": urlSecret})
	noKey := env(map[string]string{"SELLER": s.URL, "URL_SECRET": urlSecret})
	calls := []struct {
		tool   string
		args   map[string]any
		getenv func(string) string
	}{
		{"weather", map[string]any{"city": "paris"}, full},
		{"weather", map[string]any{"city": "paris", "bogus": 1}, full},
		{"broken", nil, full},
		{"slow", nil, full},
		{"weather", map[string]any{"city": "paris"}, noKey},
		{"weather", map[string]any{"city": "paris"}, env(map[string]string{"SELLER": "ftp://" + urlSecret, "WEATHER_API_KEY": apiKey, "URL_SECRET": urlSecret})},
	}
	// The real paying client: its transport errors quote the request URL.
	w, err := wallet.GenerateEVMKey()
	if err != nil {
		t.Fatal(err)
	}
	realPayer := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: reg.Policy(),
		Ledger: payments.NewMemoryLedger(reg.Policy().Budget, nil), Logger: slog.Default()}
	for _, c := range calls {
		e, _ := reg.Entry(c.tool)
		r, _ := e.Handler(realPayer, 0, c.getenv)(context.Background(), callReq(c.tool, c.args))
		b, _ := json.Marshal(r)
		for _, secret := range []string{apiKey, urlSecret} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s: result shows a secret: %s", c.tool, b)
			}
		}
	}
	for _, secret := range []string{apiKey, urlSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log shows a secret:\n%s", logs)
		}
	}
}
