package payments

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"
)

const (
	sellerPayee = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
	sepoliaUSDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
)

func accept(network, amount, asset, payTo, extra string) string {
	return fmt.Sprintf(`{"scheme":"exact","network":%q,"amount":%q,"asset":%q,"payTo":%q,"maxTimeoutSeconds":60,"extra":%s}`, network, amount, asset, payTo, extra)
}

func challenge(t *testing.T, accepts ...string) *x402.PaymentRequired {
	t.Helper()
	var pr x402.PaymentRequired
	if err := json.Unmarshal([]byte(`{"x402Version":2,"accepts":[`+strings.Join(accepts, ",")+`]}`), &pr); err != nil {
		t.Fatal(err)
	}
	return &pr
}

func TestPolicyEvaluate(t *testing.T) {
	usdc := `{"name":"USDC","version":"2"}`
	// 0x…bad is a token the operator declared (assets:), without its
	// EIP-712 domain; it is paid only by calls priced in it.
	bad := Asset{Network: "eip155:84532", Address: common.HexToAddress("0x0000000000000000000000000000000000000bad"), Symbol: "TOK", Decimals: 6}
	pol := Policy{Networks: []Network{"eip155:84532", "eip155:8453"}, PerCall: 100000, Assets: []AssetPolicy{{Asset: bad}}}
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
		{"pinned other asset", Limit{Tool: "t", Asset: "0x0000000000000000000000000000000000000bad", Currency: bad.Currency()}, []string{accept("eip155:84532", "10", "0x0000000000000000000000000000000000000bad", sellerPayee, `{"name":"Tok","version":"1"}`)}, 0, "", ""},
		{"pinned asset without domain", Limit{Tool: "t", Asset: "0x0000000000000000000000000000000000000bad", Currency: bad.Currency()}, []string{accept("eip155:84532", "10", "0x0000000000000000000000000000000000000bad", sellerPayee, `{}`)}, -1, CodeUnsupported, "EIP-712 domain"},
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

// TestPolicyExactAmount: a call whose price is an argument pays only an
// accept asking exactly that amount, under every cap.
func TestPolicyExactAmount(t *testing.T) {
	usdc := `{"name":"USDC","version":"2"}`
	pol := Policy{Networks: []Network{"eip155:84532"}, PerCall: 100_000}
	at := func(amount string) string { return accept("eip155:84532", amount, sepoliaUSDC, sellerPayee, usdc) }
	exact := func(a Amount) Limit { return Limit{Tool: "tip", MaxPrice: 50_000, ExactAmount: a, ExactArg: "amount"} }
	tests := []struct {
		name     string
		lim      Limit
		accepts  []string
		pick     int
		code     Code
		inReason string
	}{
		{"exact match", exact(25_000), []string{at("25000")}, 0, "", ""},
		{"one unit more", exact(25_000), []string{at("25001")}, -1, CodePriceMismatch, `the seller asks 0.025001 USDC, not 0.025 USDC (the amount in argument "amount")`},
		{"one unit less", exact(25_000), []string{at("24999")}, -1, CodePriceMismatch, "asks 0.024999 USDC, not 0.025 USDC"},
		{"matching accept beats a cheaper one", exact(25_000), []string{at("1000"), at("25000"), at("30000")}, 1, "", ""},
		{"mismatch outranks a network refusal", exact(25_000), []string{
			accept("eip155:1", "25000", sepoliaUSDC, sellerPayee, usdc), at("50000")}, -1, CodePriceMismatch, "others: network eip155:1"},
		{"exact at max_price", exact(50_000), []string{at("50000")}, 0, "", ""},
		{"exact above max_price", exact(50_001), []string{at("50001")}, -1, CodePriceAboveCap, "above the max_price of tip (0.05 USDC)"},
		{"exact above per-call cap", Limit{Tool: "tip", ExactAmount: 100_001}, []string{at("100001")}, -1, CodePriceAboveCap, "above the per-call cap (0.1 USDC)"},
		{"pins still apply", Limit{Tool: "tip", ExactAmount: 25_000, PayTo: "0x0000000000000000000000000000000000000001"}, []string{at("25000")}, -1, CodeNotAllowed, "not the payee pinned"},
		{"no exact amount: cheapest", Limit{Tool: "tip"}, []string{at("25000"), at("1000")}, 1, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, best := pol.evaluate(challenge(t, tt.accepts...), tt.lim)
			if tt.pick >= 0 {
				if best == nil || best.Index != tt.pick {
					t.Fatalf("picked %+v, want index %d (options %+v)", best, tt.pick, opts)
				}
				if tt.lim.ExactAmount != 0 && best.Amount != tt.lim.ExactAmount {
					t.Fatalf("picked amount %d, want exactly %d", best.Amount, tt.lim.ExactAmount)
				}
				return
			}
			if best != nil {
				t.Fatalf("picked %d, want a refusal", best.Index)
			}
			e := refusal(opts, tt.lim)
			if e.Code != tt.code || e.Charged != NotCharged || !strings.Contains(e.Message, tt.inReason) || !strings.Contains(e.Message, "Nothing was signed") {
				t.Fatalf("refusal = %s %q, want %s containing %q", e.Code, e.Message, tt.code, tt.inReason)
			}
		})
	}
}

// TestPolicyCheckExact: an argued amount above the cap is refused before
// anything is sent; at the cap, or with no argued amount, the call proceeds.
func TestPolicyCheckExact(t *testing.T) {
	pol := Policy{PerCall: 100_000}
	for _, tt := range []struct {
		name string
		lim  Limit
		want string // "" for no refusal, else a substring
	}{
		{"no exact amount", Limit{Tool: "t", MaxPrice: 10}, ""},
		{"at max_price", Limit{Tool: "t", MaxPrice: 50_000, ExactAmount: 50_000}, ""},
		{"above max_price", Limit{Tool: "t", MaxPrice: 50_000, ExactAmount: 50_001, ExactArg: "amount"},
			`the amount in argument "amount" is 0.050001 USDC, above the max_price of t (0.05 USDC). Nothing was sent or signed. Call again with an amount of at most 0.05`},
		{"at the per-call cap", Limit{Tool: "t", ExactAmount: 100_000}, ""},
		{"above the per-call cap", Limit{Tool: "t", ExactAmount: 100_001}, "the amount the call chose is 0.100001 USDC, above the per-call cap (0.1 USDC)"},
		{"max_price above the per-call cap", Limit{Tool: "t", MaxPrice: 1_000_000, ExactAmount: 200_000}, "above the per-call cap"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := pol.checkExact(tt.lim)
			switch {
			case tt.want == "" && e != nil:
				t.Fatalf("refused: %v", e)
			case tt.want != "" && (e == nil || e.Code != CodePriceAboveCap || e.Charged != NotCharged || !strings.Contains(e.Message, tt.want)):
				t.Fatalf("got %v, want price_above_cap containing %q", e, tt.want)
			}
		})
	}
}
