package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/simchain"
	"github.com/x402-mcp/x402-mcp/payments"
)

var tipee = common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")

// tipCatalog tips on the simulated chain through facilitator (a URL).
func tipCatalog(sim *simchain.Sim, facilitator string) catalog {
	return catalog(fmt.Sprintf(`version: 1
defaults:
  networks: [eip155:1337]
budget:
  total: "1.00"
rpc:
  eip155:1337: %[1]s
assets:
  # The simulated chain's test token, declared (not a USDC contract
  # x402-mcp knows), with its decimals (checked against the chain at start).
  - symbol: USDC
    network: eip155:1337
    address: %[3]q
    decimals: 6
    budget: {total: "1.00"}
tipping:
  facilitator_url: %[2]s
  asset: %[3]q
  asset_name: USDC
  asset_version: "2"
  per_day: "0.50"
  max_tip: "0.30"
  recipients:
    author: %[4]q
`, sim.URL(), facilitator, sim.Token().Hex(), tipee.Hex()))
}

// switchAnswer answers every question with the action set last.
type switchAnswer struct {
	mu      sync.Mutex
	approve bool
	asked   []string
}

func (a *switchAnswer) Elicit(_ context.Context, r mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, r.Params.Message)
	action := mcp.ElicitationResponseActionDecline
	if a.approve {
		action = mcp.ElicitationResponseActionAccept
	}
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: action, Content: map[string]any{"approve": a.approve}}}, nil
}

func (a *switchAnswer) set(approve bool) {
	a.mu.Lock()
	a.approve = approve
	a.mu.Unlock()
}

// TestTipOnChain: the built binary tips through the local facilitator,
// which settles with a real transferWithAuthorization on the simulated
// chain: exactly the tip moves; a declined tip moves nothing; the books
// (ledger list, export --csv) show both kinds with the note.
func TestTipOnChain(t *testing.T) {
	sim, seller, _ := simSeller(t, 300)
	ctx := context.Background()
	cat := tipCatalog(sim, "{{URL}}/facilitator")
	book := filepath.Join(t.TempDir(), "ledger.db")
	ans := &switchAnswer{approve: true}
	s := startSession(t, seller, cat, sessionOptions{env: []string{"X402_LEDGER=" + book}, client: []client.ClientOption{client.WithElicitationHandler(ans)}})
	payerBefore, _ := sim.Balance(ctx, payer)

	res := s.call("x402_tip", map[string]any{"recipient": "author", "amount": "0.25", "note": "loved the post"})
	if res.IsError {
		t.Fatalf("tip: %s\n%s", text(res), s.stderr.String())
	}
	rc := meta(res, "x402/payment-response")
	tx, _ := rc["transaction"].(string)
	receipt, err := sim.Client().TransactionReceipt(ctx, common.HexToHash(tx))
	if err != nil || receipt.Status != 1 {
		t.Fatalf("receipt of %q: %v %v", tx, receipt, err)
	}
	if got, _ := sim.Balance(ctx, tipee); got != 250_000 {
		t.Fatalf("the author holds %s on chain, want exactly 0.25", got.USDC())
	}
	if after, _ := sim.Balance(ctx, payer); payerBefore-after != 250_000 {
		t.Fatalf("the wallet paid %s on chain", (payerBefore - after).USDC())
	}
	if len(ans.asked) != 1 || !strings.Contains(ans.asked[0], "author ("+tipee.Hex()+")") || !strings.Contains(ans.asked[0], `"loved the post"`) {
		t.Fatalf("questions %q", ans.asked)
	}

	ans.set(false)
	res = s.call("x402_tip", map[string]any{"recipient": "author", "amount": "0.10", "note": "second"})
	if !res.IsError || meta(res, "x402/error")["code"] != "approval_declined" || res.Meta.AdditionalFields["x402/charged"] != "not charged" {
		t.Fatalf("declined tip: %s", text(res))
	}
	if got, _ := sim.Balance(ctx, tipee); got != 250_000 {
		t.Fatalf("a declined tip moved money: the author holds %s", got.USDC())
	}
	s.close()

	env := []string{"X402_LEDGER=" + book, "X402_REGISTRY=" + writeCatalog(t, cat, seller.URL)}
	out, stderr, err := run(t, env, "ledger", "list", "--kind", "tip")
	if err != nil || !strings.Contains(out, "KIND") || !strings.Contains(out, `"loved the post"`) || !strings.Contains(out, tx) || strings.Count(out, "x402_tip") < 2 {
		t.Fatalf("ledger list --kind tip (%v):\n%s\n%s", err, out, stderr)
	}
	out, _, err = run(t, env, "ledger", "export", "--csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	var settled int
	for _, r := range recs[1:] {
		if r[col["kind"]] != "tip" {
			t.Fatalf("row %q is not a tip", r)
		}
		if r[col["state"]] == "settled" && r[col["note"]] == "loved the post" && r[col["transaction"]] == tx && r[col["amount_atomic"]] == "250000" {
			settled++
		}
	}
	if settled != 1 {
		t.Fatalf("csv:\n%s", out)
	}
}

// dropProxy stands in front of a facilitator: /verify goes through; /settle
// is forwarded (when settle is true) and then the connection is dropped
// before any answer, or dropped without forwarding. It records every
// authorization nonce it sees.
type dropProxy struct {
	target string
	settle bool
	mu     sync.Mutex
	nonces []string
}

func (p *dropProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		PaymentPayload x402.PaymentPayload `json:"paymentPayload"`
	}
	_ = json.Unmarshal(body, &req)
	p.mu.Lock()
	p.nonces = append(p.nonces, r.URL.Path+" "+evm.MustPayload(req.PaymentPayload.Payload).Authorization.Nonce)
	p.mu.Unlock()
	if r.URL.Path == "/settle" {
		if p.settle {
			resp, err := http.Post(p.target+"/settle", "application/json", bytes.NewReader(body))
			if err == nil {
				resp.Body.Close()
			}
		}
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	resp, err := http.Post(p.target+r.URL.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// TestTipUnknownThenReconciled: the facilitator goes silent after the tip
// was signed and sent. The binary, served without an rpc endpoint (with
// one it would ask the chain within the call), signs once, says the
// outcome is unknown, counts the tip, and `ledger reconcile` resolves it
// from the chain: settled when the transfer happened, released once a
// final block is past its expiry with the nonce unused.
func TestTipUnknownThenReconciled(t *testing.T) {
	for _, settle := range []bool{true, false} {
		t.Run(fmt.Sprintf("settled=%v", settle), func(t *testing.T) {
			sim, seller, _ := simSeller(t, 300)
			ctx := context.Background()
			proxy := &dropProxy{target: seller.URL + "/facilitator", settle: settle}
			ps := httptest.NewServer(proxy)
			t.Cleanup(ps.Close)
			cat := tipCatalog(sim, ps.URL)
			book := filepath.Join(t.TempDir(), "ledger.db")
			ans := &switchAnswer{approve: true}
			s := startSession(t, seller, withoutRPC(t, cat), sessionOptions{env: []string{"X402_LEDGER=" + book}, client: []client.ClientOption{client.WithElicitationHandler(ans)}})
			res := s.call("x402_tip", map[string]any{"recipient": "author", "amount": "0.20"})
			if !res.IsError || res.Meta.AdditionalFields["x402/charged"] != "unknown" || meta(res, "x402/error")["code"] != "outcome_unknown" ||
				!strings.Contains(text(res), "Do not tip again blindly") {
				t.Fatalf("tip: %s", text(res))
			}
			// A second tip is refused by the tip budget only if the first
			// still counts: 0.20 + 0.30 = 0.50 fits, 0.31 would not.
			w := s.call("x402_wallet", nil)
			if !strings.Contains(text(w), "Tips today (rolling 24 hours): 0.2 of 0.5 USDC counted") {
				t.Fatalf("wallet: %s", text(w))
			}
			s.close()
			proxy.mu.Lock()
			seen := append([]string(nil), proxy.nonces...)
			proxy.mu.Unlock()
			if len(seen) != 2 || strings.Fields(seen[0])[1] != strings.Fields(seen[1])[1] {
				t.Fatalf("the facilitator saw %q: want one authorization at /verify then /settle", seen)
			}
			rows := readLedger(t, book)
			var tip = rows[0]
			if tip.Kind != "tip" || tip.State != payments.StateUnknown || !strings.EqualFold(tip.Nonce, strings.Fields(seen[0])[1]) {
				t.Fatalf("rows %+v", rows)
			}
			if !settle {
				// Expired on chain, unused, at a final block: reconciliation
				// may release it.
				if err := sim.AdjustTime(2 * payments.DefaultTipValidity * time.Second); err != nil {
					t.Fatal(err)
				}
				if err := sim.Seal(32); err != nil {
					t.Fatal(err)
				}
			}
			out, stderr, err := run(t, []string{"X402_LEDGER=" + book, "X402_REGISTRY=" + writeCatalog(t, cat, seller.URL)}, "ledger", "reconcile")
			if err != nil {
				t.Fatalf("reconcile: %v\n%s", err, stderr)
			}
			want, bal := payments.StateReleased, payments.Amount(0)
			if settle {
				want, bal = payments.StateSettled, 200_000
			}
			if got := readLedger(t, book)[0]; got.State != want {
				t.Fatalf("after reconcile the tip is %s (%s), want %s; %s", got.State, got.Reason, want, out)
			}
			if got, _ := sim.Balance(ctx, tipee); got != bal {
				t.Fatalf("the author holds %s, want %s", got.USDC(), bal.USDC())
			}
		})
	}
}

// TestTipWithoutTippingSection: the default catalog does not list x402_tip.
func TestTipWithoutTippingSection(t *testing.T) {
	s := start(t, approvalCatalog)
	l, err := s.cli.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range l.Tools {
		if tl.Name == "x402_tip" {
			t.Fatal("x402_tip listed without a tipping section")
		}
	}
}
