package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// The weather route costs 0.001 USDC, above the threshold of 0.0005.
const approvalRegistry = `
version: 1
defaults:
  networks: [eip155:84532]
  approve_above: "0.0005"
tools:
  - name: weather
    description: Current weather for a city.
    url: "${SELLER}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
`

// elicitor answers every elicitation with a fixed action and records the
// questions.
type elicitor struct {
	action  mcp.ElicitationResponseAction
	content any
	err     error // the host fails the question
	wait    bool  // no answer until the call ends
	mu      sync.Mutex
	asked   []mcp.ElicitationRequest
}

func (e *elicitor) Elicit(ctx context.Context, r mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	e.mu.Lock()
	e.asked = append(e.asked, r)
	e.mu.Unlock()
	if e.wait {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.err
	}
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: e.action, Content: e.content}}, nil
}

type approvalSession struct {
	cli    *client.Client
	seller *localseller.Running
	book   *ledger.Ledger
	payTo  string
}

func newApprovalSession(t *testing.T, src string, sc localseller.Config, cfg server.Config, opts ...client.ClientOption) *approvalSession {
	t.Helper()
	f := newFixture(t, src, 1_000_000, sc, cfg)
	return &approvalSession{cli: f.inProcess(t, opts...), seller: f.seller, book: f.book, payTo: f.seller.Seller.PayTo().Hex()}
}

func (s *approvalSession) rows(t *testing.T) []ledger.Row {
	t.Helper()
	rows, err := s.book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// protocols are the versions approval is tested with: the latest (multi
// round-trip input requests) and 2025-06-18, what most hosts speak
// (elicitation/create while the call waits).
var protocols = []struct {
	name string
	opts []client.ClientOption
}{
	{"latest", nil},
	{"2025-06-18", []client.ClientOption{client.WithProtocolVersion("2025-06-18")}},
}

func TestApprovalAccepted(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) { testApprovalAccepted(t, p.opts) })
	}
}

func testApprovalAccepted(t *testing.T, opts []client.ClientOption) {
	h := &elicitor{action: mcp.ElicitationResponseActionAccept, content: map[string]any{"approve": true}}
	s := newApprovalSession(t, approvalRegistry, localseller.Config{}, server.Config{}, append(opts, client.WithElicitationHandler(h))...)
	if v := s.cli.ProtocolVersion(); len(opts) == 0 && !mcp.IsModernProtocol(v) || len(opts) > 0 && v != "2025-06-18" {
		t.Fatalf("negotiated %q", v)
	}
	before := s.seller.Facilitator.Balance(s.seller.Seller.PayTo())
	res := call(t, s.cli, "weather", map[string]any{"city": "paris"})
	if res.IsError {
		t.Fatalf("paid call failed: %+v", res.Content)
	}
	if len(h.asked) != 1 {
		t.Fatalf("asked %d times", len(h.asked))
	}
	msg := h.asked[0].Params.Message
	for _, want := range []string{`"weather"`, "0.001 USDC", s.payTo, "eip155:84532", "Current weather for a city.", "/v2/weather/paris", "0.0005 USDC"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the question does not say %q:\n%s", want, msg)
		}
	}
	if got := s.seller.Facilitator.Balance(s.seller.Seller.PayTo()) - before; got != 1000 {
		t.Fatalf("seller paid %d, want 1000", got)
	}
	if n := s.seller.Seller.PaymentHeadersSeen(); n != 1 {
		t.Fatalf("%d payment headers reached the seller, want 1", n)
	}
}

// On 2025-06-18 the question is asked inside the call, the reservation held
// meanwhile: one ledger row, settled.
func TestApprovalLegacyOneReservation(t *testing.T) {
	h := &elicitor{action: mcp.ElicitationResponseActionAccept, content: map[string]any{"approve": true}}
	s := newApprovalSession(t, approvalRegistry, localseller.Config{}, server.Config{},
		client.WithProtocolVersion("2025-06-18"), client.WithElicitationHandler(h))
	if v := s.cli.ProtocolVersion(); v != "2025-06-18" {
		t.Fatalf("negotiated %q", v)
	}
	if res := call(t, s.cli, "weather", map[string]any{"city": "paris"}); res.IsError {
		t.Fatalf("paid call failed: %s", resultText(res))
	}
	if rows := s.rows(t); len(rows) != 1 || rows[0].State != payments.StateSettled {
		t.Fatalf("ledger %+v, want one settled row", rows)
	}
}

// On 2026-07-28 the first round asks and ends (its reservation released as
// "asked", not as a failure); the host's second call, with the answer, pays.
func TestApprovalModernBooks(t *testing.T) {
	h := &elicitor{action: mcp.ElicitationResponseActionAccept, content: map[string]any{"approve": true}}
	s := newApprovalSession(t, approvalRegistry, localseller.Config{}, server.Config{}, client.WithElicitationHandler(h))
	if res := call(t, s.cli, "weather", map[string]any{"city": "paris"}); res.IsError {
		t.Fatalf("paid call failed: %s", resultText(res))
	}
	rows := s.rows(t) // newest first
	if len(rows) != 2 || rows[0].State != payments.StateSettled || rows[1].State != payments.StateReleased ||
		rows[1].Nonce != "" || !strings.HasPrefix(rows[1].Reason, "asked the human") {
		t.Fatalf("ledger %+v, want the asking round released as asked, then one settled payment", rows)
	}
}

// On 2025-06-18, a call cancelled while the question is open signs nothing.
func TestApprovalLegacyCancelledWhileAsking(t *testing.T) {
	h := &elicitor{wait: true}
	s := newApprovalSession(t, approvalRegistry, localseller.Config{}, server.Config{},
		client.WithProtocolVersion("2025-06-18"), client.WithElicitationHandler(h))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "weather", map[string]any{"city": "paris"}
	res, err := s.cli.CallTool(ctx, req)
	if err == nil && !res.IsError {
		t.Fatalf("a call cancelled while asking paid: %s", resultText(res))
	}
	h.mu.Lock()
	asked := len(h.asked)
	h.mu.Unlock()
	if asked != 1 {
		t.Fatalf("asked %d times", asked)
	}
	if n := s.seller.Seller.PaymentHeadersSeen(); n != 0 {
		t.Fatalf("%d payment headers reached the seller", n)
	}
	for _, r := range s.rows(t) {
		if r.State != payments.StateReleased || r.Nonce != "" {
			t.Fatalf("row %s is %s (nonce %q), want released and unsigned", r.ID, r.State, r.Nonce)
		}
	}
}

func TestApprovalRefused(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) { testApprovalRefused(t, p.name, p.opts) })
	}
}

func testApprovalRefused(t *testing.T, protocol string, opts []client.ClientOption) {
	for _, tt := range []struct {
		name   string
		opts   []client.ClientOption
		code   payments.Code
		legacy bool // only before 2026-07-28
	}{
		{"declined", []client.ClientOption{client.WithElicitationHandler(&elicitor{action: mcp.ElicitationResponseActionDecline})}, payments.CodeApprovalDeclined, false},
		{"cancelled", []client.ClientOption{client.WithElicitationHandler(&elicitor{action: mcp.ElicitationResponseActionCancel})}, payments.CodeApprovalDeclined, false},
		{"unchecked", []client.ClientOption{client.WithElicitationHandler(&elicitor{action: mcp.ElicitationResponseActionAccept, content: map[string]any{"approve": false}})}, payments.CodeApprovalDeclined, false},
		{"host cannot elicit", nil, payments.CodeApprovalRequired, false},
		// The host fails elicitation/create: a tool result, not a failed call.
		{"host fails", []client.ClientOption{client.WithElicitationHandler(&elicitor{err: errors.New("the dialog crashed")})}, payments.CodeApprovalRequired, true},
	} {
		if tt.legacy && protocol == "latest" {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			s := newApprovalSession(t, approvalRegistry, localseller.Config{}, server.Config{}, append(append([]client.ClientOption{}, opts...), tt.opts...)...)
			// The model cannot approve its own payment through the arguments.
			res := call(t, s.cli, "weather", map[string]any{"city": "paris", "approve": true})
			if !res.IsError {
				t.Fatal("want a refusal")
			}
			// An undeclared argument is refused before any payment; call
			// again with the declared ones.
			res = call(t, s.cli, "weather", map[string]any{"city": "paris"})
			pay := paymentError(res)
			if !res.IsError || pay["code"] != string(tt.code) || pay["charged"] != string(payments.NotCharged) {
				t.Fatalf("result %+v meta %v", res.Content, pay)
			}
			if tt.code == payments.CodeApprovalRequired && !strings.Contains(resultText(res), "defaults.approve_above") {
				t.Fatalf("the refusal does not say how to raise the threshold: %s", resultText(res))
			}
			if n := s.seller.Seller.PaymentHeadersSeen(); n != 0 {
				t.Fatalf("%d payment headers reached the seller", n)
			}
			rows := s.rows(t)
			for _, r := range rows {
				if r.State != payments.StateReleased || r.Nonce != "" {
					t.Fatalf("row %s is %s (nonce %q), want released and unsigned", r.ID, r.State, r.Nonce)
				}
			}
		})
	}
}

func TestProgressNotifications(t *testing.T) {
	s := newApprovalSession(t, strings.Replace(approvalRegistry, `  approve_above: "0.0005"`+"\n", "", 1),
		localseller.Config{Delay: 300 * time.Millisecond}, server.Config{Heartbeat: 50 * time.Millisecond})
	var mu sync.Mutex
	var msgs []string
	var last float64
	s.cli.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method != string(mcp.MethodNotificationProgress) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		f := n.Params.AdditionalFields
		var p float64
		b, _ := json.Marshal(f["progress"])
		_ = json.Unmarshal(b, &p)
		if p <= last {
			t.Errorf("progress went from %v to %v", last, p)
		}
		last = p
		m, _ := f["message"].(string)
		msgs = append(msgs, m)
	})
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "weather", map[string]any{"city": "paris"}
	req.Params.Meta = &mcp.Meta{ProgressToken: "tok-1"}
	res, err := s.cli.CallTool(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("call failed: %s", resultText(res))
	}
	mu.Lock()
	defer mu.Unlock()
	// Each step once, in order, with heartbeats ("requesting (0s)") between.
	var steps []string
	beats := 0
	for _, m := range msgs {
		if strings.HasSuffix(m, "s)") {
			beats++
			continue
		}
		steps = append(steps, m)
	}
	want := []string{payments.StepRequesting, payments.StepPaying, payments.StepWaitingPaid}
	if strings.Join(steps, "|") != strings.Join(want, "|") || beats == 0 {
		t.Fatalf("progress messages %q", msgs)
	}
	// Nothing is reported after the result.
	n := len(msgs)
	mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	if len(msgs) != n {
		t.Fatalf("progress after the result: %q", msgs[n:])
	}
}

// A call without a progressToken gets no progress notifications.
func TestNoProgressWithoutToken(t *testing.T) {
	s := newApprovalSession(t, strings.Replace(approvalRegistry, `  approve_above: "0.0005"`+"\n", "", 1),
		localseller.Config{Delay: 100 * time.Millisecond}, server.Config{Heartbeat: 20 * time.Millisecond})
	var mu sync.Mutex
	n := 0
	s.cli.OnNotification(func(note mcp.JSONRPCNotification) {
		if note.Method == string(mcp.MethodNotificationProgress) {
			mu.Lock()
			n++
			mu.Unlock()
		}
	})
	if res := call(t, s.cli, "weather", map[string]any{"city": "paris"}); res.IsError {
		t.Fatalf("call failed: %s", resultText(res))
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 0 {
		t.Fatalf("%d progress notifications without a token", n)
	}
}

// paymentError returns a result's x402/error _meta.
func paymentError(res *mcp.CallToolResult) map[string]any {
	if res.Meta == nil {
		return nil
	}
	m, _ := res.Meta.AdditionalFields[tools.MetaError].(map[string]any)
	return m
}

func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}
