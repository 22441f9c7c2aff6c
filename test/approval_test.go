package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
)

// approvalCatalog prices the weather route (0.001 USDC) above approve_above.
const approvalCatalog catalog = `version: 1
defaults:
  networks: [eip155:84532]
  approve_above: "0.0005"
tools:
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
`

type answer struct {
	action  mcp.ElicitationResponseAction
	approve bool
	err     error // the host fails the question
	mu      sync.Mutex
	asked   []string
}

func (a *answer) Elicit(_ context.Context, r mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	a.mu.Lock()
	a.asked = append(a.asked, r.Params.Message)
	a.mu.Unlock()
	if a.err != nil {
		return nil, a.err
	}
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: a.action, Content: map[string]any{"approve": a.approve}}}, nil
}

// startClient runs the binary against seller with an mcp-go client built
// with opts, speaking protocol version (the latest when empty).
func startClient(t *testing.T, seller *localseller.Running, cat catalog, version string, opts ...client.ClientOption) *client.Client {
	t.Helper()
	return startSession(t, seller, cat, sessionOptions{client: opts, version: version}).cli
}

func fundedSeller(t *testing.T, cfg localseller.Config) *localseller.Running {
	t.Helper()
	seller, err := localseller.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	seller.Facilitator.Fund(payer, walletFunding)
	return seller
}

func callTool(t *testing.T, cli *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, err := cli.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	return res
}

// Over stdio with the latest protocol (multi round-trip input requests) and
// with 2025-06-18, what most hosts speak (elicitation/create sent while the
// call waits).
func TestApprovalOverStdio(t *testing.T) {
	for _, version := range []string{"", "2025-06-18"} {
		for _, tt := range []struct {
			name    string
			answer  *answer
			code    string // "" when paid
			charged bool
			legacy  bool // only on versions before 2026-07-28
		}{
			{"accepted", &answer{action: mcp.ElicitationResponseActionAccept, approve: true}, "", true, false},
			{"declined", &answer{action: mcp.ElicitationResponseActionDecline}, "approval_declined", false, false},
			{"no elicitation", nil, "approval_required", false, false},
			// The host answers elicitation/create with a JSON-RPC error: a
			// tool result saying so, not a failed call.
			{"host fails", &answer{err: context.Canceled}, "approval_required", false, true},
		} {
			if tt.legacy && version == "" {
				continue
			}
			t.Run(version+"/"+tt.name, func(t *testing.T) {
				seller := fundedSeller(t, localseller.Config{})
				var opts []client.ClientOption
				if version != "" {
					opts = append(opts, client.WithProtocolVersion(version))
				}
				if tt.answer != nil {
					opts = append(opts, client.WithElicitationHandler(tt.answer))
				}
				cli := startClient(t, seller, approvalCatalog, version, opts...)
				before := seller.Facilitator.Balance(seller.Seller.PayTo())
				res := callTool(t, cli, "weather", map[string]any{"city": "paris"})
				paid := seller.Facilitator.Balance(seller.Seller.PayTo()) - before
				if tt.answer != nil {
					if len(tt.answer.asked) != 1 || !strings.Contains(tt.answer.asked[0], "0.001 USDC") || !strings.Contains(tt.answer.asked[0], seller.Seller.PayTo().Hex()) {
						t.Fatalf("questions %q", tt.answer.asked)
					}
				}
				if tt.charged {
					if res.IsError || paid != 1000 || meta(res, "x402/payment-response") == nil {
						t.Fatalf("want paid: error %v, paid %d: %s", res.IsError, paid, text(res))
					}
					return
				}
				xe := meta(res, "x402/error")
				if !res.IsError || xe["code"] != tt.code || xe["charged"] != "not charged" {
					t.Fatalf("want %s: %s %v", tt.code, text(res), xe)
				}
				if n := seller.Seller.PaymentHeadersSeen(); n != 0 || paid != 0 {
					t.Fatalf("signed anyway: %d headers, paid %d", n, paid)
				}
			})
		}
	}
}

// A slow upstream: the client hears each step and heartbeats over stdio.
func TestProgressOverStdio(t *testing.T) {
	seller := fundedSeller(t, localseller.Config{Delay: 6 * time.Second})
	cli := startClient(t, seller, `version: 1
defaults:
  networks: [eip155:84532]
tools:
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
`, "")
	var mu sync.Mutex
	var msgs []string
	cli.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" {
			mu.Lock()
			m, _ := n.Params.AdditionalFields["message"].(string)
			msgs = append(msgs, m)
			mu.Unlock()
		}
	})
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "weather", map[string]any{"city": "paris"}
	req.Params.Meta = &mcp.Meta{ProgressToken: "slow-1"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := cli.CallTool(ctx, req)
	if err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(msgs, "|")
	for _, want := range []string{"requesting", "paying", "waiting for the paid answer", "requesting (", "waiting for the paid answer ("} {
		if !strings.Contains(all, want) {
			t.Fatalf("progress %q lacks %q", msgs, want)
		}
	}
}

// A call cancelled (notifications/cancelled) while the upstream is still
// answering the unpaid request never pays.
func TestCancelBeforePayingOverStdio(t *testing.T) {
	seller := fundedSeller(t, localseller.Config{Delay: 2 * time.Second})
	cli := startClient(t, seller, approvalCatalog, "", client.WithElicitationHandler(&answer{action: mcp.ElicitationResponseActionAccept, approve: true}))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "weather", map[string]any{"city": "paris"}
	if _, err := cli.CallTool(ctx, req); err == nil {
		t.Fatal("want the call cancelled")
	}
	time.Sleep(3 * time.Second) // past the seller's delay
	if n := seller.Seller.PaymentHeadersSeen(); n != 0 {
		t.Fatalf("%d payments reached the seller after the cancel", n)
	}
	// The server is still serving.
	b, _ := json.Marshal(callTool(t, cli, "x402_wallet", nil).Content)
	if len(b) == 0 {
		t.Fatal("no wallet answer")
	}
}
