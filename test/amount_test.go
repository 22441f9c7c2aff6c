package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/payments"
)

// amountCatalog: a pay-what-you-want entry whose price is its `amount`
// argument, and the same against the seller's inflating variant.
const amountCatalog catalog = `
version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.05"
  timeout: 10s
budget:
  total: "1.00"
tools:
  - name: tip
    description: Tip an author the amount you choose.
    url: "{{URL}}/v2/tip/{author}"
    params:
      - {name: author, in: path, type: string, required: true, description: Who to tip}
    amount_from: amount
    max_price: "0.02"
    budget: "0.02"
    pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    network: eip155:84532
  - name: tip_inflated
    description: A tip seller that asks double what it is given.
    url: "{{URL}}/v2/tip/{author}?inflate=1"
    params:
      - {name: author, in: path, type: string, required: true, description: Who to tip}
    amount_from: amount
    max_price: "0.02"
`

// TestTipPaysExactlyTheArgument drives the built binary over stdio: a tip
// moves exactly the amount argued from the wallet to the seller; a seller
// asking another amount, an amount above max_price, a malformed amount and
// one over the entry's budget sign nothing.
func TestTipPaysExactlyTheArgument(t *testing.T) {
	s := start(t, amountCatalog)
	fac, payee := s.seller.Facilitator, s.seller.Seller.PayTo()

	list, err := s.cli.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tl := range list.Tools {
		if tl.Name != "tip" {
			continue
		}
		found = true
		raw, err := json.Marshal(tl)
		if err != nil {
			t.Fatal(err)
		}
		var def struct {
			Schema struct {
				Properties map[string]map[string]any `json:"properties"`
				Required   []string                  `json:"required"`
			} `json:"inputSchema"`
		}
		if err := json.Unmarshal(raw, &def); err != nil {
			t.Fatal(err)
		}
		schema := def.Schema
		amt := schema.Properties["amount"]
		if amt["type"] != "string" || amt["pattern"] == nil || !strings.Contains(amt["description"].(string), "at most 0.02 USDC") ||
			strings.Join(schema.Required, ",") != "author,amount" {
			t.Fatalf("tip schema %s", raw)
		}
	}
	if !found {
		t.Fatal("no tip tool listed")
	}

	walletBefore, payeeBefore := fac.Balance(payer), fac.Balance(payee)
	res := s.call("tip", map[string]any{"author": "alice", "amount": "0.0125"})
	if res.IsError || !strings.Contains(text(res), "Thank you for tipping 0.0125 USDC to alice.") {
		t.Fatalf("tip: %s", text(res))
	}
	rc := meta(res, "x402/payment-response")
	if rc["amountAtomic"] != "12500" || rc["state"] != "settled" {
		t.Fatalf("receipt %v", rc)
	}
	if d := walletBefore - fac.Balance(payer); d != 12_500 {
		t.Fatalf("the wallet moved %d, want exactly 12500", d)
	}
	if d := fac.Balance(payee) - payeeBefore; d != 12_500 {
		t.Fatalf("the seller received %d, want exactly 12500", d)
	}

	headers := s.seller.Seller.PaymentHeadersSeen()
	walletBefore = fac.Balance(payer)
	for _, tc := range []struct {
		tool, amount string
		code         payments.Code // "" for an argument error
		want         string
	}{
		{"tip_inflated", "0.01", payments.CodePriceMismatch, `the seller asks 0.02 USDC, not 0.01 USDC (the amount in argument "amount")`},
		{"tip", "0.03", payments.CodePriceAboveCap, `the amount in argument "amount" is 0.03 USDC, above the max_price of tip (0.02 USDC). Nothing was sent or signed.`},
		{"tip", "0.01", payments.CodeOverBudget, "the budget of the tip entry"},
		{"tip", "1e3", "", `invalid arguments: "amount" must be a decimal USDC amount in a JSON string: digits, optionally a "." and 1 to 6 decimals, more than 0, such as "0.01"; got "1e3"`},
		{"tip", "0.0000001", "", `1 to 6 decimals, more than 0, such as "0.01"; got "0.0000001"`},
	} {
		res := s.call(tc.tool, map[string]any{"author": "alice", "amount": tc.amount})
		if !res.IsError || !strings.Contains(text(res), tc.want) {
			t.Errorf("%s %s: %s", tc.tool, tc.amount, text(res))
			continue
		}
		if tc.code != "" {
			xe := meta(res, "x402/error")
			if xe["code"] != string(tc.code) || xe["charged"] != string(payments.NotCharged) {
				t.Errorf("%s %s: x402/error %v, want %s not charged", tc.tool, tc.amount, xe, tc.code)
			}
		}
	}
	if n := s.seller.Seller.PaymentHeadersSeen(); n != headers {
		t.Fatalf("the seller saw %d more payment headers: a refused tip was signed", n-headers)
	}
	if fac.Balance(payer) != walletBefore {
		t.Fatalf("the wallet moved by %d during refusals", walletBefore-fac.Balance(payer))
	}
	s.stdoutIsJSONRPC(t)
}
