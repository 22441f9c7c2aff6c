package payments

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const (
	sellerPayee = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
	sepoliaUSDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
)

func accept(network, amount, asset, payTo, extra string) string {
	return fmt.Sprintf(`{"scheme":"exact","network":%q,"amount":%q,"asset":%q,"payTo":%q,"maxTimeoutSeconds":60,"extra":%s}`, network, amount, asset, payTo, extra)
}

func challenge(t *testing.T, accepts ...string) *PaymentRequired {
	t.Helper()
	var pr PaymentRequired
	if err := json.Unmarshal([]byte(`{"x402Version":2,"accepts":[`+strings.Join(accepts, ",")+`]}`), &pr); err != nil {
		t.Fatal(err)
	}
	return &pr
}

func TestPolicyEvaluate(t *testing.T) {
	usdc := `{"name":"USDC","version":"2"}`
	pol := Policy{Networks: []Network{"eip155:84532", "eip155:8453"}, PerCall: 100000}
	good := accept("eip155:84532", "10000", sepoliaUSDC, sellerPayee, usdc)
	tests := []struct {
		name     string
		lim      Limit
		accepts  []string
		pick     int    // index of the chosen accept, or -1
		code     Code   // refusal code when pick == -1
		inReason string // substring of the refusal message
	}{
		{"plain", Limit{Tool: "t", MaxPrice: 10000}, []string{good}, 0, "", ""},
		{"v1 network name", Limit{Tool: "t"}, []string{accept("base-sepolia", "10000", sepoliaUSDC, sellerPayee, usdc)}, 0, "", ""},
		{"extra missing uses known domain", Limit{Tool: "t"}, []string{accept("eip155:84532", "10000", sepoliaUSDC, sellerPayee, `null`)}, 0, "", ""},
		{"at max_price", Limit{Tool: "t", MaxPrice: 10000}, []string{good}, 0, "", ""},
		{"one unit above max_price", Limit{Tool: "t", MaxPrice: 9999}, []string{good}, -1, CodePriceAboveCap, "above the max_price of t (0.009999 USDC)"},
		{"above per-call cap", Limit{Tool: "t", MaxPrice: 5000000}, []string{accept("eip155:84532", "100001", sepoliaUSDC, sellerPayee, usdc)}, -1, CodePriceAboveCap, "per-call cap (0.1 USDC)"},
		{"cheapest of several", Limit{Tool: "t"}, []string{
			accept("eip155:84532", "50000", sepoliaUSDC, sellerPayee, usdc),
			`{"scheme":"upto","network":"eip155:84532","amount":"1","asset":"` + sepoliaUSDC + `","payTo":"` + sellerPayee + `","maxTimeoutSeconds":60}`,
			accept("eip155:84532", "1000", sepoliaUSDC, sellerPayee, usdc)}, 2, "", ""},
		{"network not allowed", Limit{Tool: "t"}, []string{accept("eip155:1", "10", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", sellerPayee, usdc)}, -1, CodeNotAllowed, "not in the allowed networks"},
		{"unknown network", Limit{Tool: "t"}, []string{accept("eip155:999999", "10", sepoliaUSDC, sellerPayee, usdc)}, -1, CodeNotAllowed, "not in the allowed networks"},
		{"solana", Limit{Tool: "t"}, []string{accept("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "10", "EPjF", sellerPayee, `{}`)}, -1, CodeUnsupported, "not a supported EVM network"},
		{"payee pin", Limit{Tool: "t", PayTo: "0x0000000000000000000000000000000000000001"}, []string{good}, -1, CodeNotAllowed, "not the payee pinned"},
		{"payee pin matches case-insensitively", Limit{Tool: "t", PayTo: strings.ToLower(sellerPayee)}, []string{good}, 0, "", ""},
		{"network pin", Limit{Tool: "t", Network: "eip155:8453"}, []string{good}, -1, CodeNotAllowed, "pinned"},
		{"not USDC", Limit{Tool: "t"}, []string{accept("eip155:84532", "10", "0x0000000000000000000000000000000000000bad", sellerPayee, usdc)}, -1, CodeNotAllowed, "not USDC"},
		{"pinned other asset", Limit{Tool: "t", Asset: "0x0000000000000000000000000000000000000bad"}, []string{accept("eip155:84532", "10", "0x0000000000000000000000000000000000000bad", sellerPayee, `{"name":"Tok","version":"1"}`)}, 0, "", ""},
		{"pinned asset without domain", Limit{Tool: "t", Asset: "0x0000000000000000000000000000000000000bad"}, []string{accept("eip155:84532", "10", "0x0000000000000000000000000000000000000bad", sellerPayee, `{}`)}, -1, CodeUnsupported, "EIP-712 domain"},
		{"unknown payment flow", Limit{Tool: "t"}, []string{accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, `{"name":"USDC","version":"2","paymentFlow":"escrow"}`)}, -1, CodeUnsupported, "paymentFlow"},
		{"authorization flow preferred on a tie", Limit{Tool: "t"}, []string{
			accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, `{"name":"USDC","version":"2","paymentFlow":"upfront"}`),
			accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, usdc)}, 1, "", ""},
		{"permit2", Limit{Tool: "t"}, []string{accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, `{"name":"USDC","version":"2","assetTransferMethod":"permit2"}`)}, -1, CodeUnsupported, "permit2"},
		{"zero price", Limit{Tool: "t"}, []string{accept("eip155:84532", "0", sepoliaUSDC, sellerPayee, usdc)}, -1, CodeBadChallenge, "zero"},
		{"decimal price", Limit{Tool: "t"}, []string{accept("eip155:84532", "0.01", sepoliaUSDC, sellerPayee, usdc)}, -1, CodeBadChallenge, "atomic"},
		{"huge price", Limit{Tool: "t"}, []string{accept("eip155:84532", "1000000000000000000000000", sepoliaUSDC, sellerPayee, usdc)}, -1, CodeBadChallenge, "too large"},
		{"bad payee", Limit{Tool: "t"}, []string{accept("eip155:84532", "10", sepoliaUSDC, "nobody", usdc)}, -1, CodeUnsupported, "payTo"},
		{"price reason wins over others", Limit{Tool: "t", MaxPrice: 10}, []string{
			accept("eip155:1", "10", sepoliaUSDC, sellerPayee, usdc), accept("eip155:84532", "20", sepoliaUSDC, sellerPayee, usdc)}, -1, CodePriceAboveCap, "others: network eip155:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, best := pol.evaluate(challenge(t, tt.accepts...), tt.lim)
			if tt.pick >= 0 {
				if best == nil {
					t.Fatalf("nothing payable: %+v", opts)
				}
				if best.Index != tt.pick {
					t.Fatalf("picked %d, want %d", best.Index, tt.pick)
				}
				return
			}
			if best != nil {
				t.Fatalf("picked %d, want a refusal", best.Index)
			}
			e := refusal(opts, tt.lim)
			if e.Code != tt.code || e.Charged != NotCharged || !strings.Contains(e.Message, tt.inReason) {
				t.Fatalf("refusal = %s %q, want %s containing %q", e.Code, e.Message, tt.code, tt.inReason)
			}
		})
	}
}

func TestPolicyDefaultPerCall(t *testing.T) {
	p := Policy{}
	if c, _ := p.cap(Limit{}); c != DefaultPerCall {
		t.Fatalf("default cap = %d", c)
	}
}
