package e2e

import (
	"context"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/simchain"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// TestPermit2AndUptoFromTheCatalog: the built binary pays a catalog entry
// in a Permit2-only token (a plain ERC-20 declared transfer: permit2) and
// an upto entry (scheme: upto) against the local seller on the simulated
// chain. Before the wallet approves Permit2, the call is refused, naming
// the command; `x402-mcp wallet approve-permit2` then approves exactly the
// amount given; both calls pay, settled once each on chain; the books count
// the settled amounts exactly, the upto call's unused rest given back.
func TestPermit2AndUptoFromTheCatalog(t *testing.T) {
	ctx := context.Background()
	sim, err := simchain.Start(ctx, simchain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	tok, err := sim.DeployERC20(ctx, "Plain Dollar", "PUSD", 6)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Mint(ctx, payer, 1_000_000); err != nil {
		t.Fatal(err)
	}
	if err := sim.FundETH(ctx, payer, big.NewInt(1e17)); err != nil {
		t.Fatal(err)
	}
	seller, err := localseller.Start(localseller.Config{Facilitator: localseller.NewFacilitator(localseller.FacilitatorConfig{Chain: tok})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	cat := catalog(fmt.Sprintf(`version: 1
defaults:
  networks: [eip155:1337]
budget:
  total: "1"
rpc:
  eip155:1337: %s
assets:
  - symbol: PUSD
    network: eip155:1337
    address: %q
    decimals: 6
    transfer: permit2
    budget: {total: "0.05"}
tools:
  - name: page
    description: Weather, paid in a Permit2-only token.
    url: "{{URL}}/v2/weather/{city}"
    params: [{name: city, in: path, required: true}]
    max_price: "0.002"
    asset: PUSD
  - name: llm
    description: Usage-priced work, paid in PUSD.
    url: "{{URL}}/v2/metered"
    params: [{name: units, in: query, type: string, required: true}]
    max_price: "0.01"
    asset: PUSD
    scheme: upto
`, sim.URL(), tok.Address().Hex()))
	book := filepath.Join(t.TempDir(), "ledger.db")
	env := []string{"X402_PRIVATE_KEY=" + testKey, "X402_LEDGER=" + book}

	// check shows how each entry pays.
	reg := writeCatalog(t, cat, seller.URL)
	out, stderr, err := run(t, env, "check", reg)
	if err != nil || !strings.Contains(out, "exact/permit2 (asset)") || !strings.Contains(out, "maximum 0.01 PUSD") || !strings.Contains(out, "upto/permit2") ||
		!strings.Contains(out, "transfer permit2") {
		t.Fatalf("check (%v):\n%s\n%s", err, out, stderr)
	}

	s := startSession(t, seller, cat, sessionOptions{env: []string{"X402_LEDGER=" + book}})
	res := s.call("page", map[string]any{"city": "oslo"})
	if e := meta(res, "x402/error"); !res.IsError || e["code"] != "allowance_required" ||
		!strings.Contains(text(res), "x402-mcp wallet approve-permit2 --network eip155:1337 --asset "+tok.Address().Hex()+" --amount 0.001") {
		t.Fatalf("before the approval: %s %v", text(res), e)
	}
	if n := seller.Seller.PaymentHeadersSeen(); n != 0 {
		t.Fatalf("%d payments sent before the approval", n)
	}

	// The operator approves Permit2 for 0.05 PUSD with the command.
	stop := sim.MineEvery(50 * time.Millisecond)
	out, stderr, err = run(t, env, "wallet", "approve-permit2", "--network", "eip155:1337", "--asset", "PUSD", "--amount", "0.05", "--registry", reg, "--yes")
	stop()
	if err != nil || !strings.Contains(out, "approved: transaction 0x") {
		t.Fatalf("approve-permit2: %v\n%s\n%s", err, out, stderr)
	}
	if a, err := tok.Allowance(ctx, payer, evm.Permit2Address); err != nil || a.Int64() != 50_000 {
		t.Fatalf("allowance %v (%v), want 50000", a, err)
	}

	res = s.call("page", map[string]any{"city": "oslo"})
	if rc := meta(res, "x402/payment-response"); res.IsError || rc["amount"] != "0.001" || rc["symbol"] != "PUSD" || !strings.Contains(text(res), "Paid 0.001 PUSD (1000 atomic) on eip155:1337") {
		t.Fatalf("page: %s %v", text(res), rc)
	}
	res = s.call("llm", map[string]any{"units": "37"})
	if rc := meta(res, "x402/payment-response"); res.IsError || rc["amount"] != "0.0037" || rc["maximum"] != "0.01" ||
		!strings.Contains(text(res), "Paid 0.0037 PUSD (3700 atomic) of at most 0.01 PUSD on eip155:1337") {
		t.Fatalf("llm: %s %v", text(res), rc)
	}
	if got, _ := tok.Balance(ctx, payer); got != 1_000_000-1_000-3_700 {
		t.Fatalf("the wallet holds %d on chain, want %d", got, 1_000_000-1_000-3_700)
	}
	if got, _ := tok.Balance(ctx, seller.Seller.PayTo()); got != 4_700 {
		t.Fatalf("the seller holds %d on chain, want 4700", got)
	}
	if st := seller.Facilitator.Settlements(); len(st) != 2 || seller.Seller.PaymentHeadersSeen() != 2 {
		t.Fatalf("%d settlements of %d payments, want one each", len(st), seller.Seller.PaymentHeadersSeen())
	}

	res = s.call("x402_wallet", nil)
	var w struct {
		Assets []struct{ Symbol, Settled, Pending, Left string }
	}
	structuredAs(t, res, &w)
	if len(w.Assets) != 1 || w.Assets[0].Settled != "0.0047" || w.Assets[0].Pending != "0" || w.Assets[0].Left != "0.0453" {
		t.Fatalf("wallet %+v\n%s", w, text(res))
	}
	s.close()
	rows := readLedger(t, book)
	var upto, exact int
	for _, r := range rows {
		switch {
		case r.Scheme == "upto" && r.State == payments.StateSettled && r.Amount == 3_700 && r.Authorized == 10_000:
			upto++
		case r.Scheme == "exact" && r.State == payments.StateSettled && r.Amount == 1_000 && r.Family == "evm":
			exact++
		}
	}
	if upto != 1 || exact != 1 {
		t.Fatalf("ledger rows %+v", rows)
	}
}
