package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// The secrets of TestEnvSecretsNeverShown, as the operator's environment
// holds them. Letters and digits only, so that every escaped form of each
// is the value itself and one search finds any copy.
const (
	pathKey   = "pathsecret7f3a9c"
	queryKey  = "querysecret51e2bd"
	headerKey = "headersecret0c8d44"
)

// Every entry puts a secret in the path, the query and a header.
const secretsRegistry = `version: 1
defaults:
  networks: [eip155:84532]
tools:
  - name: weather
    description: Weather for a city whose name is the operator's key.
    url: ${SELLER}/v2/weather/${PATH_KEY}?sig=${QUERY_KEY}
    headers: {X-Api-Key: "${HEADER_KEY}"}
    params: []
    max_price: "0.001"
  - name: asked
    description: The same, above the approval threshold.
    url: ${SELLER}/v2/weather/${PATH_KEY}?sig=${QUERY_KEY}
    headers: {X-Api-Key: "${HEADER_KEY}"}
    params: []
    max_price: "0.001"
    approve_above: "0.0005"
  - name: after_settle
    description: Settles, then answers 500.
    url: ${SELLER}/k/${PATH_KEY}/v2/misbehave/error_after_settle?sig=${QUERY_KEY}
    headers: {X-Api-Key: "${HEADER_KEY}"}
    params: []
    max_price: "0.001"
  - name: dropped
    description: Settles, then drops the connection.
    url: ${SELLER}/k/${PATH_KEY}/v2/misbehave/drop_after_settle?sig=${QUERY_KEY}
    headers: {X-Api-Key: "${HEADER_KEY}"}
    params: []
    max_price: "0.001"
  - name: failing
    description: Answers 500 before any payment, quoting the request.
    url: ${SELLER}/fail/${PATH_KEY}?sig=${QUERY_KEY}
    headers: {X-Api-Key: "${HEADER_KEY}"}
    params: []
    max_price: "0.001"
  - name: unreachable
    description: Nobody listens there.
    url: ${DEAD}/v2/weather/${PATH_KEY}?sig=${QUERY_KEY}
    headers: {X-Api-Key: "${HEADER_KEY}"}
    params: []
    max_price: "0.001"
`

// lockedBuffer is a log sink safe for concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestEnvSecretsNeverShown: what ${ENV} references expand to in a URL's
// path and query, and in headers, is sent upstream and never shown or kept:
// not in tool results (paid, warm, refused, failed, unreachable), not in
// the approval question, the spend history, a quote, the ledger (resource,
// reasons, the signed payload and its resource) or the logs. The seller is
// the real local seller, which echoes the request's URL in its 402
// resource, its description and its answer.
func TestEnvSecretsNeverShown(t *testing.T) {
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prev := slog.Default()
	slog.SetDefault(log)
	t.Cleanup(func() { slog.SetDefault(prev) })

	seller := localseller.New(localseller.Config{})
	sellerHandler := seller.Handler()
	var sawHeader sync.Map
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/fail/"); ok {
			// An upstream whose error page quotes the request.
			http.Error(w, fmt.Sprintf("no route for %s (path %s, key %s)", r.URL, rest, r.Header.Get("X-Api-Key")), http.StatusInternalServerError)
			return
		}
		if r.Header.Get("X-Api-Key") != headerKey {
			http.Error(w, "bad api key", http.StatusUnauthorized)
			return
		}
		sawHeader.Store(r.URL.Path, true)
		if rest, ok := strings.CutPrefix(r.URL.Path, "/k/"+pathKey); ok {
			r = r.Clone(r.Context())
			r.URL.Path, r.URL.RawPath = rest, ""
		}
		sellerHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()

	w, err := wallet.GenerateEVMKey()
	if err != nil {
		t.Fatal(err)
	}
	seller.Facilitator().Fund(w.Address(), 1_000_000)
	reg, err := tools.Parse("registry.yaml", []byte(secretsRegistry), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	pol := reg.Policy()
	book, err := ledger.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), pol.Budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { book.Close() })
	environ := map[string]string{"SELLER": up.URL, "DEAD": dead, "PATH_KEY": pathKey, "QUERY_KEY": queryKey, "HEADER_KEY": headerKey}
	payer := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: book, Session: "test-session",
		Warm: &payments.Warm{}, Logger: log}
	srv, err := server.New(server.Config{Registry: reg, Client: payer, History: book, Logger: log,
		Getenv: func(k string) string { return environ[k] }})
	if err != nil {
		t.Fatal(err)
	}
	asker := &elicitor{action: mcp.ElicitationResponseActionAccept, content: map[string]any{"approve": true}}
	cli := (&fixture{srv: srv}).inProcess(t, client.WithElicitationHandler(asker))

	var shown []string // everything a host, a model or a user could read
	callTool := func(name string, args map[string]any) *mcp.CallToolResult {
		t.Helper()
		res := call(t, cli, name, args)
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		shown = append(shown, name+" result: "+string(b))
		return res
	}
	charged := func(res *mcp.CallToolResult) string {
		if res.Meta == nil {
			return ""
		}
		s, _ := res.Meta.AdditionalFields[tools.MetaCharged].(string)
		return s
	}

	if res := callTool("weather", nil); res.IsError || charged(res) != "charged" {
		t.Fatalf("cold paid call: %+v", res)
	}
	if res := callTool("weather", nil); res.IsError || charged(res) != "charged" {
		t.Fatalf("warm paid call: %+v", res)
	}
	if payer.Warm.Stats().Hits != 1 {
		t.Fatalf("the second call was not warm: %+v", payer.Warm.Stats())
	}
	if res := callTool("asked", nil); res.IsError || len(asker.asked) == 0 {
		t.Fatalf("approved call: %+v, asked %d times", res, len(asker.asked))
	}
	if res := callTool("after_settle", nil); !res.IsError {
		t.Fatalf("500 after settlement: %+v", res)
	}
	if res := callTool("dropped", nil); !res.IsError || charged(res) != "unknown" {
		t.Fatalf("dropped after settlement: %+v", res)
	}
	if res := callTool("failing", nil); !res.IsError || charged(res) != "not charged" {
		t.Fatalf("500 before payment: %+v", res)
	}
	if res := callTool("unreachable", nil); !res.IsError {
		t.Fatalf("unreachable upstream: %+v", res)
	}
	callTool(server.ToolQuote, map[string]any{"tool": "weather"})
	callTool(server.ToolSpendHistory, nil)
	for _, p := range []string{"/v2/weather/" + pathKey, "/k/" + pathKey + "/v2/misbehave/error_after_settle"} {
		if _, ok := sawHeader.Load(p); !ok {
			t.Errorf("the upstream never got %s with the header's secret: the secrets were not sent", p)
		}
	}

	for _, q := range asker.asked {
		shown = append(shown, "approval question: "+q.Params.Message)
	}
	if !strings.Contains(asker.asked[0].Params.Message, "/v2/weather/${PATH_KEY}?sig=${QUERY_KEY}") {
		t.Errorf("the approval question does not name the request with its secrets as ${NAME}:\n%s", asker.asked[0].Params.Message)
	}

	rows, err := book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 5 {
		t.Fatalf("%d ledger rows", len(rows))
	}
	for _, r := range rows {
		b, _ := json.Marshal(r)
		shown = append(shown, "ledger row: "+string(b))
		if !strings.Contains(r.Resource, "${PATH_KEY}") || !strings.Contains(r.Resource, "sig=${QUERY_KEY}") {
			t.Errorf("ledger %s: resource %q does not name the request with its secrets as ${NAME}", r.ID, r.Resource)
		}
		if r.Payload == "" {
			continue
		}
		p, err := x402.DecodePaymentHeader(r.Payload)
		if err != nil {
			t.Fatalf("ledger %s: payload: %v", r.ID, err)
		}
		pb, _ := json.Marshal(p)
		shown = append(shown, "signed payload: "+string(pb))
		if !strings.Contains(string(p.Resource), "${PATH_KEY}") {
			t.Errorf("ledger %s: the signed resource %s does not name the request with its secrets as ${NAME}", r.ID, p.Resource)
		}
	}
	if logs.String() == "" {
		t.Fatal("nothing was logged")
	}
	shown = append(shown, "logs: "+logs.String())

	for _, s := range shown {
		for _, secret := range []string{pathKey, queryKey, headerKey} {
			if strings.Contains(s, secret) {
				t.Errorf("%s is shown:\n%s", secret, s)
			}
		}
	}
}

// The facilitator's credentials in TestTipFacilitatorSecrets.
const (
	facPathKey = "facpathkey2b9e71"
	facToken   = "factoken8c1d5a3e"
)

// TestTipFacilitatorSecrets: a facilitator that wants an API key in its
// URL and a bearer token (tipping.facilitator_url with ${ENV}, and
// tipping.headers) gets both on /verify and /settle; when it fails, is
// unreachable or quotes the request in its error, neither the key nor the
// token is shown in the result, the ledger or the logs.
func TestTipFacilitatorSecrets(t *testing.T) {
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prev := slog.Default()
	slog.SetDefault(log)
	t.Cleanup(func() { slog.SetDefault(prev) })

	seller := localseller.New(localseller.Config{})
	fac := seller.Facilitator().Handler()
	var authorized, failing sync.Map
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := failing.Load("on"); ok {
			http.Error(w, fmt.Sprintf("cannot serve %s for %q", r.URL, r.Header.Get("Authorization")), http.StatusBadGateway)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/"+facPathKey+"/facilitator")
		if !ok || r.Header.Get("Authorization") != "Bearer "+facToken {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		authorized.Store(rest, true)
		r = r.Clone(r.Context())
		r.URL.Path, r.URL.RawPath = rest, ""
		fac.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()

	w, err := wallet.GenerateEVMKey()
	if err != nil {
		t.Fatal(err)
	}
	seller.Facilitator().Fund(w.Address(), 10_000_000)
	reg, err := tools.Parse("registry.yaml", []byte(`version: 1
defaults:
  networks: [eip155:84532]
budget:
  total: "10"
tipping:
  facilitator_url: ${FAC}/${FAC_KEY}/facilitator
  headers:
    Authorization: "Bearer ${FAC_TOKEN}"
  per_day: "3"
  auto_approve_up_to: "1"
  recipients:
    alice: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
`), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	pol := reg.Policy()
	book, err := ledger.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), pol.Budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { book.Close() })
	environ := map[string]string{"FAC": up.URL, "FAC_KEY": facPathKey, "FAC_TOKEN": facToken}
	payer := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: book, Session: "test-session", Logger: log}
	srv, err := server.New(server.Config{Registry: reg, Client: payer, History: book, Logger: log,
		Getenv: func(k string) string { return environ[k] }})
	if err != nil {
		t.Fatal(err)
	}
	cli := (&fixture{srv: srv}).inProcess(t)

	var shown []string
	tip := func(amount string) *mcp.CallToolResult {
		res := call(t, cli, server.ToolTip, map[string]any{"recipient": "alice", "amount": amount})
		b, _ := json.Marshal(res)
		shown = append(shown, "tip result: "+string(b))
		return res
	}
	if res := tip("0.50"); res.IsError {
		t.Fatalf("tip through the authenticated facilitator: %s", b2s(res))
	}
	for _, p := range []string{"/verify", "/settle"} {
		if _, ok := authorized.Load(p); !ok {
			t.Errorf("the facilitator never got %s with its key and token", p)
		}
	}
	failing.Store("on", true)
	if res := tip("0.25"); !res.IsError {
		t.Fatalf("tip through a failing facilitator: %s", b2s(res))
	}
	environ["FAC"] = dead
	if res := tip("0.10"); !res.IsError {
		t.Fatalf("tip through an unreachable facilitator: %s", b2s(res))
	}

	rows, err := book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		b, _ := json.Marshal(r)
		shown = append(shown, "ledger row: "+string(b))
	}
	shown = append(shown, "logs: "+logs.String())
	for _, s := range shown {
		for _, secret := range []string{facPathKey, facToken} {
			if strings.Contains(s, secret) {
				t.Errorf("%s is shown:\n%s", secret, s)
			}
		}
	}
}

func b2s(res *mcp.CallToolResult) string {
	b, _ := json.Marshal(res)
	return string(b)
}
