package server_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

var tipAlice = common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")

// tipRegistry tips on Base Sepolia through the local seller's facilitator.
const tipRegistry = `
version: 1
defaults:
  networks: [eip155:84532]
budget:
  total: "10"
tipping:
  facilitator_url: ${SELLER}/facilitator
  per_day: "3"
  max_tip: "2"
  recipients:
    alice: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
tools:
  - name: weather
    description: Weather.
    url: "${SELLER}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
`

type tipSession struct {
	*fixture
	cli *client.Client
}

func newTipSession(t *testing.T, src string, opts ...client.ClientOption) *tipSession {
	t.Helper()
	f := newFixture(t, src, 10_000_000, localseller.Config{}, server.Config{})
	return &tipSession{fixture: f, cli: f.inProcess(t, opts...)}
}

func (s *tipSession) rows(t *testing.T) []ledger.Row {
	t.Helper()
	rows, err := s.book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestTipListedOnlyWithTipping(t *testing.T) {
	ctx := context.Background()
	s := newTipSession(t, tipRegistry)
	l, err := s.cli.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(l.Tools, func(tl mcp.Tool) bool { return tl.Name == server.ToolTip })
	if i < 0 {
		t.Fatal("x402_tip is not listed")
	}
	d := l.Tools[i].Description
	for _, want := range []string{"alice", "or a 0x address", "Base Sepolia", "2 USDC per tip", "3 USDC of tips per day", "Every tip is put to the user"} {
		if !strings.Contains(d, want) {
			t.Errorf("the description does not say %q: %s", want, d)
		}
	}
	plain, _ := newSession(t)
	if slices.Contains(listNames(t, ctx, plain), server.ToolTip) {
		t.Fatal("x402_tip listed without a tipping section")
	}
}

// TestTipApproved: under both protocol generations, the human is asked with
// the recipient's name and address, the amount, the network and the note;
// once approved the tip moves exactly its amount and is booked as a tip.
func TestTipApproved(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			h := &elicitor{action: mcp.ElicitationResponseActionAccept, content: map[string]any{"approve": true}}
			s := newTipSession(t, tipRegistry, append(p.opts, client.WithElicitationHandler(h))...)
			res := call(t, s.cli, server.ToolTip, map[string]any{"recipient": "Alice", "amount": "1.25", "note": "for the x402 article"})
			if res.IsError {
				t.Fatalf("tip failed: %s", resultText(res))
			}
			if got := s.seller.Facilitator.Balance(tipAlice); got != 1_250_000 {
				t.Fatalf("alice holds %s, want exactly 1.25", got)
			}
			if len(h.asked) != 1 {
				t.Fatalf("asked %d times", len(h.asked))
			}
			q := h.asked[0].Params.Message
			for _, want := range []string{"tip of 1.25 USDC", "alice (" + tipAlice.Hex() + ")", "Base Sepolia (eip155:84532)", `"for the x402 article"`, "facilitator at 127.0.0.1:"} {
				if !strings.Contains(q, want) {
					t.Errorf("the question does not say %q:\n%s", want, q)
				}
			}
			var out server.TipOut
			structured(t, res, &out)
			if out.RecipientName != "alice" || out.Recipient != tipAlice.Hex() || out.Amount != "1.25" || out.State != "settled" || out.Transaction == "" || out.Note != "for the x402 article" {
				t.Fatalf("out %+v", out)
			}
			pr, _ := res.Meta.AdditionalFields[tools.MetaPaymentResponse].(map[string]any)
			if res.Meta.AdditionalFields[tools.MetaCharged] != "charged" || pr["kind"] != "tip" || pr["payTo"] != tipAlice.Hex() || pr["amountAtomic"] != "1250000" {
				t.Fatalf("meta %+v", res.Meta.AdditionalFields)
			}
			if !strings.Contains(resultText(res), "Tipped 1.25 USDC") || !strings.Contains(resultText(res), "Charged.") {
				t.Fatalf("text %s", resultText(res))
			}
			var tips []ledger.Row
			for _, r := range s.rows(t) {
				if r.Kind == "tip" && r.State != payments.StateReleased {
					tips = append(tips, r)
				}
			}
			if len(tips) != 1 || tips[0].State != payments.StateSettled || tips[0].Note != "for the x402 article" || tips[0].Tool != server.ToolTip {
				t.Fatalf("tip rows %+v", s.rows(t))
			}

			// The books: x402_spend_history shows it, x402_wallet counts it.
			hist := call(t, s.cli, server.ToolSpendHistory, map[string]any{"kind": "tip"})
			var hout struct{ Payments []server.HistoryEntry }
			structured(t, hist, &hout)
			// (Over the latest protocol the first round reserved, asked and
			// released: the books keep that row too.)
			if len(hout.Payments) == 0 || hout.Payments[0].Kind != "tip" || hout.Payments[0].State != "settled" || hout.Payments[0].Note != "for the x402 article" ||
				!strings.Contains(resultText(hist), "tip to alice ("+tipAlice.Hex()+") 1.25 USDC") {
				t.Fatalf("history %+v\n%s", hout, resultText(hist))
			}
			hist = call(t, s.cli, server.ToolSpendHistory, map[string]any{"kind": "payment"})
			structured(t, hist, &hout)
			if len(hout.Payments) != 0 {
				t.Fatalf("payments %+v", hout)
			}
			w := call(t, s.cli, server.ToolWallet, nil)
			var ws server.WalletStatus
			structured(t, w, &ws)
			if ws.Budget.TipsPerDay == nil || ws.Budget.TipsPerDay.Counted != "1.25" || ws.Budget.TipsPerDay.Left != "1.75" || !strings.Contains(resultText(w), "Tips today") {
				t.Fatalf("wallet %+v %s", ws.Budget, resultText(w))
			}
		})
	}
}

// TestTipRefused: a declined, dismissed or unanswerable question, an
// argument that tries to approve, an unknown recipient and a tip over the
// budget sign nothing and move nothing.
func TestTipRefused(t *testing.T) {
	for _, p := range protocols {
		for _, tt := range []struct {
			name string
			opts []client.ClientOption
			args map[string]any
			code string
			says string
		}{
			{"declined", []client.ClientOption{client.WithElicitationHandler(&elicitor{action: mcp.ElicitationResponseActionDecline})},
				map[string]any{"recipient": "alice", "amount": "1"}, string(payments.CodeApprovalDeclined), "declined the tip of 1 USDC to alice"},
			{"unchecked", []client.ClientOption{client.WithElicitationHandler(&elicitor{action: mcp.ElicitationResponseActionAccept, content: map[string]any{"approve": false}})},
				map[string]any{"recipient": "alice", "amount": "1"}, string(payments.CodeApprovalDeclined), "Nothing was signed"},
			{"host cannot ask", nil, map[string]any{"recipient": "alice", "amount": "1"}, string(payments.CodeApprovalRequired), "cannot ask the user"},
			{"arguments cannot approve", []client.ClientOption{client.WithElicitationHandler(&elicitor{action: mcp.ElicitationResponseActionDecline})},
				map[string]any{"recipient": "alice", "amount": "1", "approve": true, "approved": "yes"}, "", `unknown argument "approve", "approved"`},
			{"many unknown arguments", nil, func() map[string]any {
				m := map[string]any{"recipient": "alice", "amount": "1"}
				for i := range 20 {
					m[fmt.Sprintf("a%02d%s", i, strings.Repeat("x", 5000))] = true
				}
				return m
			}(), "", `"a07` + strings.Repeat("x", 37) + `…" and 12 more: x402_tip takes recipient`},
			{"unknown recipient", []client.ClientOption{client.WithElicitationHandler(&elicitor{action: mcp.ElicitationResponseActionAccept, content: map[string]any{"approve": true}})},
				map[string]any{"recipient": "@bob", "amount": "1"}, string(payments.CodeUnknownRecipient), `"@bob" is not a recipient`},
			{"over max_tip", []client.ClientOption{client.WithElicitationHandler(&elicitor{action: mcp.ElicitationResponseActionAccept, content: map[string]any{"approve": true}})},
				map[string]any{"recipient": "alice", "amount": "2.5"}, string(payments.CodePriceAboveCap), "tipping.max_tip"},
			{"bad amount", nil, map[string]any{"recipient": "alice", "amount": "1.0000001"}, "", `1 to 6 decimals, more than 0, such as "0.01"; got "1.0000001"`},
			{"float amount", nil, map[string]any{"recipient": "alice", "amount": 0.25}, "", "got the number 0.25 (a JSON number is not exact money)"},
			{"no amount", nil, map[string]any{"recipient": "alice"}, "", `"amount" is required: a decimal USDC amount`},
		} {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				s := newTipSession(t, tipRegistry, append(append([]client.ClientOption{}, p.opts...), tt.opts...)...)
				res := call(t, s.cli, server.ToolTip, tt.args)
				if !res.IsError || !strings.Contains(resultText(res), tt.says) || res.Meta.AdditionalFields[tools.MetaCharged] != "not charged" {
					t.Fatalf("result %s (meta %+v)", resultText(res), res.Meta.AdditionalFields)
				}
				if tt.code != "" && paymentError(res)["code"] != tt.code {
					t.Fatalf("code %v, want %s: %s", paymentError(res)["code"], tt.code, resultText(res))
				}
				if n := s.seller.Facilitator.SettledCount(); n != 0 || s.seller.Facilitator.Balance(tipAlice) != 0 {
					t.Fatalf("%d settlements", n)
				}
				for _, r := range s.rows(t) {
					if r.State != payments.StateReleased || r.Nonce != "" {
						t.Fatalf("row %+v, want released and unsigned", r)
					}
				}
			})
		}
	}
}

// TestTipBudgetThroughTool: the tip budget refuses the tip that would pass
// it, naming it.
func TestTipBudgetThroughTool(t *testing.T) {
	src := strings.Replace(tipRegistry, "  max_tip: \"2\"\n", "  max_tip: \"2\"\n  auto_approve_up_to: \"2\"\n", 1)
	s := newTipSession(t, src)
	// A raw address always asks, even within auto_approve_up_to: this host
	// cannot ask, so it is refused.
	res := call(t, s.cli, server.ToolTip, map[string]any{"recipient": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "amount": "0.5"})
	if !res.IsError || !strings.Contains(resultText(res), "outside the address book always asks") {
		t.Fatalf("raw address: %s", resultText(res))
	}
	for _, amt := range []string{"2", "1"} {
		if res := call(t, s.cli, server.ToolTip, map[string]any{"recipient": "alice", "amount": amt}); res.IsError {
			t.Fatalf("tip %s: %s", amt, resultText(res))
		}
	}
	res = call(t, s.cli, server.ToolTip, map[string]any{"recipient": "alice", "amount": "0.000001"})
	xe := paymentError(res)
	budget, _ := xe["budget"].(map[string]any)
	if !res.IsError || xe["code"] != "over_budget" || budget["scope"] != "tip_day" || !strings.Contains(resultText(res), "daily tip budget") {
		t.Fatalf("over the tip budget: %s %+v", resultText(res), xe)
	}
	if s.seller.Facilitator.Balance(tipAlice) != 3_000_000 {
		t.Fatalf("alice holds %s", s.seller.Facilitator.Balance(tipAlice))
	}
}

// TestTipReload: recipients and caps apply live; tipping.per_day needs a
// restart; removing the section unlists the tool.
func TestTipReload(t *testing.T) {
	ctx := context.Background()
	s := newTipSession(t, tipRegistry, client.WithElicitationHandler(&elicitor{action: mcp.ElicitationResponseActionAccept, content: map[string]any{"approve": true}}))
	withBob := strings.Replace(tipRegistry, "    alice:", "    bob: \"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\"\n    alice:", 1)
	reg, err := tools.Parse("registry.yaml", []byte(withBob), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.srv.Reload(reg); err != nil {
		t.Fatal(err)
	}
	if res := call(t, s.cli, server.ToolTip, map[string]any{"recipient": "bob", "amount": "0.5"}); res.IsError {
		t.Fatalf("tip to the new recipient: %s", resultText(res))
	}
	moreDay, err := tools.Parse("registry.yaml", []byte(strings.Replace(tipRegistry, `per_day: "3"`, `per_day: "4"`, 1)), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.srv.Reload(moreDay); !errors.Is(err, server.ErrRestartNeeded) || !strings.Contains(err.Error(), "tipping.per_day") {
		t.Fatalf("per_day change: %v", err)
	}
	none, err := tools.Parse("registry.yaml", []byte(strings.Replace(tipRegistry, tipRegistry[strings.Index(tipRegistry, "tipping:"):strings.Index(tipRegistry, "tools:")], "", 1)), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.srv.Reload(none); !errors.Is(err, server.ErrRestartNeeded) {
		t.Fatalf("removing the section changes the tip budget: %v", err)
	}
	if !slices.Contains(listNames(t, ctx, s.cli), server.ToolTip) {
		t.Fatal("x402_tip went away after a refused reload")
	}
}
