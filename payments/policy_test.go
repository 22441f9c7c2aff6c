package payments_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

const (
	sellerPayee = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
	sepoliaUSDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
)

// Two tokens that are not USDC, as registry.yaml's assets: declares them:
// an 18-decimal one and a 2-decimal one, on the local dev chain.
var (
	weth = payments.Asset{Network: "eip155:1337", Address: "0x00000000000000000000000000000000000e7418",
		Name: "Wrapped Ether", Version: "1", Symbol: "WETH", Decimals: 18}
	jpyx = payments.Asset{Network: "eip155:1337", Address: "0x00000000000000000000000000000000000A0002",
		Name: "JPY Coin", Version: "1", Symbol: "JPYX", Decimals: 2}
)

// evmExact is the schemes the policy tests judge with, and anvil the
// wallet's key (Anvil's account #0): EVM's exact scheme, as the command
// wires it in.
var (
	evmExact = payments.NewSchemes(evm.NewExact(nil))
	anvil    = payments.Signers{mustKey(testKey)}
)

func mustKey(hexKey string) *wallet.EVMKey {
	k, err := wallet.ParseHexKey(hexKey)
	if err != nil {
		panic(err)
	}
	return k
}

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
	bad := payments.Asset{Network: "eip155:84532", Address: "0x0000000000000000000000000000000000000Bad", Symbol: "TOK", Decimals: 6}
	pol := payments.Policy{Networks: []payments.Network{"eip155:84532", "eip155:8453"}, PerCall: 100000, Assets: []payments.AssetPolicy{{Asset: bad}}}
	good := accept("eip155:84532", "10000", sepoliaUSDC, sellerPayee, usdc)
	tests := []struct {
		name     string
		lim      payments.Limit
		accepts  []string
		pick     int           // index of the chosen accept, or -1
		code     payments.Code // refusal code when pick == -1
		inReason string        // substring of the refusal message
	}{
		{"plain", payments.Limit{Tool: "t", MaxPrice: 10000}, []string{good}, 0, "", ""},
		{"v1 network name", payments.Limit{Tool: "t"}, []string{accept("base-sepolia", "10000", sepoliaUSDC, sellerPayee, usdc)}, 0, "", ""},
		{"extra missing uses known domain", payments.Limit{Tool: "t"}, []string{accept("eip155:84532", "10000", sepoliaUSDC, sellerPayee, `null`)}, 0, "", ""},
		{"at max_price", payments.Limit{Tool: "t", MaxPrice: 10000}, []string{good}, 0, "", ""},
		{"one unit above max_price", payments.Limit{Tool: "t", MaxPrice: 9999}, []string{good}, -1, payments.CodePriceAboveCap, "above the max_price of t (0.009999 USDC)"},
		{"above per-call cap", payments.Limit{Tool: "t", MaxPrice: 5000000}, []string{accept("eip155:84532", "100001", sepoliaUSDC, sellerPayee, usdc)}, -1, payments.CodePriceAboveCap, "per-call cap (0.1 USDC)"},
		{"cheapest of several", payments.Limit{Tool: "t"}, []string{
			accept("eip155:84532", "50000", sepoliaUSDC, sellerPayee, usdc),
			`{"scheme":"upto","network":"eip155:84532","amount":"1","asset":"` + sepoliaUSDC + `","payTo":"` + sellerPayee + `","maxTimeoutSeconds":60}`,
			accept("eip155:84532", "1000", sepoliaUSDC, sellerPayee, usdc)}, 2, "", ""},
		{"network not allowed", payments.Limit{Tool: "t"}, []string{accept("eip155:1", "10", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", sellerPayee, usdc)}, -1, payments.CodeNotAllowed, "not in the allowed networks"},
		{"unknown network", payments.Limit{Tool: "t"}, []string{accept("eip155:999999", "10", sepoliaUSDC, sellerPayee, usdc)}, -1, payments.CodeNotAllowed, "not in the allowed networks"},
		{"solana", payments.Limit{Tool: "t"}, []string{accept("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "10", "EPjF", sellerPayee, `{}`)}, -1, payments.CodeUnsupported, "not a supported EVM network"},
		{"payee pin", payments.Limit{Tool: "t", PayTo: "0x0000000000000000000000000000000000000001"}, []string{good}, -1, payments.CodeNotAllowed, "not the payee pinned"},
		{"payee pin matches case-insensitively", payments.Limit{Tool: "t", PayTo: strings.ToLower(sellerPayee)}, []string{good}, 0, "", ""},
		{"network pin", payments.Limit{Tool: "t", Network: "eip155:8453"}, []string{good}, -1, payments.CodeNotAllowed, "pinned"},
		{"not USDC", payments.Limit{Tool: "t"}, []string{accept("eip155:84532", "10", "0x0000000000000000000000000000000000000bad", sellerPayee, usdc)}, -1, payments.CodeNotAllowed, "not USDC"},
		{"pinned other asset", payments.Limit{Tool: "t", Asset: "0x0000000000000000000000000000000000000bad", Currency: bad.Currency()}, []string{accept("eip155:84532", "10", "0x0000000000000000000000000000000000000bad", sellerPayee, `{"name":"Tok","version":"1"}`)}, 0, "", ""},
		{"pinned asset without domain", payments.Limit{Tool: "t", Asset: "0x0000000000000000000000000000000000000bad", Currency: bad.Currency()}, []string{accept("eip155:84532", "10", "0x0000000000000000000000000000000000000bad", sellerPayee, `{}`)}, -1, payments.CodeUnsupported, "EIP-712 domain"},
		{"unknown payment flow", payments.Limit{Tool: "t"}, []string{accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, `{"name":"USDC","version":"2","paymentFlow":"escrow"}`)}, -1, payments.CodeUnsupported, "paymentFlow"},
		{"authorization flow preferred on a tie", payments.Limit{Tool: "t"}, []string{
			accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, `{"name":"USDC","version":"2","paymentFlow":"upfront"}`),
			accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, usdc)}, 1, "", ""},
		{"permit2", payments.Limit{Tool: "t"}, []string{accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, `{"name":"USDC","version":"2","assetTransferMethod":"permit2"}`)}, 0, "", ""},
		{"permit2 without a token domain", payments.Limit{Tool: "t"}, []string{accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, `{"assetTransferMethod":"permit2"}`)}, 0, "", ""},
		{"erc7710", payments.Limit{Tool: "t"}, []string{accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, `{"name":"USDC","version":"2","assetTransferMethod":"erc7710"}`)}, -1, payments.CodeUnsupported, "erc7710"},
		{"method pinned to eip3009, seller asks permit2", payments.Limit{Tool: "t", TransferMethod: "eip3009"}, []string{accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, `{"name":"USDC","version":"2","assetTransferMethod":"permit2"}`)}, -1, payments.CodeNotAllowed, "transfer_method: eip3009"},
		{"method pinned to permit2, seller asks eip3009", payments.Limit{Tool: "t", TransferMethod: "permit2"}, []string{accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, `{"name":"USDC","version":"2","assetTransferMethod":"eip3009"}`)}, -1, payments.CodeNotAllowed, "transfer_method: permit2"},
		{"zero price", payments.Limit{Tool: "t"}, []string{accept("eip155:84532", "0", sepoliaUSDC, sellerPayee, usdc)}, -1, payments.CodeBadChallenge, "zero"},
		{"decimal price", payments.Limit{Tool: "t"}, []string{accept("eip155:84532", "0.01", sepoliaUSDC, sellerPayee, usdc)}, -1, payments.CodeBadChallenge, "atomic"},
		{"huge price", payments.Limit{Tool: "t"}, []string{accept("eip155:84532", "1000000000000000000000000", sepoliaUSDC, sellerPayee, usdc)}, -1, payments.CodeBadChallenge, "too large"},
		{"bad payee", payments.Limit{Tool: "t"}, []string{accept("eip155:84532", "10", sepoliaUSDC, "nobody", usdc)}, -1, payments.CodeUnsupported, "payTo"},
		{"price reason wins over others", payments.Limit{Tool: "t", MaxPrice: 10}, []string{
			accept("eip155:1", "10", sepoliaUSDC, sellerPayee, usdc), accept("eip155:84532", "20", sepoliaUSDC, sellerPayee, usdc)}, -1, payments.CodePriceAboveCap, "others: network eip155:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, best := pol.Evaluate(evmExact, anvil, challenge(t, tt.accepts...), tt.lim)
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
			e := payments.RefusalOf(opts, tt.lim)
			if e.Code != tt.code || e.Charged != payments.NotCharged || !strings.Contains(e.Message, tt.inReason) {
				t.Fatalf("refusal = %s %q, want %s containing %q", e.Code, e.Message, tt.code, tt.inReason)
			}
		})
	}
}

// TestRefusalQuotesLittleOfLongPrices: a 402 whose options ask prices of
// thousands of characters is refused with an error of a few hundred
// bytes, naming each option's fault and the start of its price; before,
// each reason quoted its price whole.
func TestRefusalQuotesLittleOfLongPrices(t *testing.T) {
	usdc := `{"name":"USDC","version":"2"}`
	digits := strings.Repeat("9", 5000)
	pol := payments.Policy{Networks: []payments.Network{"eip155:84532"}, PerCall: 100000}
	lim := payments.Limit{Tool: "t"}
	opts, best := pol.Evaluate(evmExact, anvil, challenge(t,
		accept("eip155:84532", digits, sepoliaUSDC, sellerPayee, usdc),
		accept("eip155:84532", digits+"x", sepoliaUSDC, sellerPayee, usdc),
		accept("eip155:84532", "0."+digits, sepoliaUSDC, sellerPayee, usdc),
		accept("eip155:84532", "-"+digits, sepoliaUSDC, sellerPayee, usdc)), lim)
	if best != nil {
		t.Fatalf("picked %d", best.Index)
	}
	e := payments.RefusalOf(opts, lim)
	if len(e.Message) > 1<<10 || strings.Contains(e.Message, digits[:100]) ||
		!strings.Contains(e.Message, "is too large") || !strings.Contains(e.Message, "is not an amount in atomic units") || !strings.Contains(e.Message, "4 options offered") {
		t.Fatalf("refusal of %d bytes: %.400s", len(e.Message), e.Message)
	}
}

// TestPolicyExactAmount: a call whose price is an argument pays only an
// accept asking exactly that amount, under every cap.
func TestPolicyExactAmount(t *testing.T) {
	usdc := `{"name":"USDC","version":"2"}`
	pol := payments.Policy{Networks: []payments.Network{"eip155:84532"}, PerCall: 100_000}
	at := func(amount string) string { return accept("eip155:84532", amount, sepoliaUSDC, sellerPayee, usdc) }
	exact := func(a payments.Amount) payments.Limit {
		return payments.Limit{Tool: "tip", MaxPrice: 50_000, ExactAmount: a, ExactArg: "amount"}
	}
	tests := []struct {
		name     string
		lim      payments.Limit
		accepts  []string
		pick     int
		code     payments.Code
		inReason string
	}{
		{"exact match", exact(25_000), []string{at("25000")}, 0, "", ""},
		{"one unit more", exact(25_000), []string{at("25001")}, -1, payments.CodePriceMismatch, `the seller asks 0.025001 USDC, not 0.025 USDC (the amount in argument "amount")`},
		{"one unit less", exact(25_000), []string{at("24999")}, -1, payments.CodePriceMismatch, "asks 0.024999 USDC, not 0.025 USDC"},
		{"matching accept beats a cheaper one", exact(25_000), []string{at("1000"), at("25000"), at("30000")}, 1, "", ""},
		{"mismatch outranks a network refusal", exact(25_000), []string{
			accept("eip155:1", "25000", sepoliaUSDC, sellerPayee, usdc), at("50000")}, -1, payments.CodePriceMismatch, "others: network eip155:1"},
		{"exact at max_price", exact(50_000), []string{at("50000")}, 0, "", ""},
		{"exact above max_price", exact(50_001), []string{at("50001")}, -1, payments.CodePriceAboveCap, "above the max_price of tip (0.05 USDC)"},
		{"exact above per-call cap", payments.Limit{Tool: "tip", ExactAmount: 100_001}, []string{at("100001")}, -1, payments.CodePriceAboveCap, "above the per-call cap (0.1 USDC)"},
		{"pins still apply", payments.Limit{Tool: "tip", ExactAmount: 25_000, PayTo: "0x0000000000000000000000000000000000000001"}, []string{at("25000")}, -1, payments.CodeNotAllowed, "not the payee pinned"},
		{"no exact amount: cheapest", payments.Limit{Tool: "tip"}, []string{at("25000"), at("1000")}, 1, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, best := pol.Evaluate(evmExact, anvil, challenge(t, tt.accepts...), tt.lim)
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
			e := payments.RefusalOf(opts, tt.lim)
			if e.Code != tt.code || e.Charged != payments.NotCharged || !strings.Contains(e.Message, tt.inReason) || !strings.Contains(e.Message, "Nothing was signed") {
				t.Fatalf("refusal = %s %q, want %s containing %q", e.Code, e.Message, tt.code, tt.inReason)
			}
		})
	}
}

// TestPolicyCheckExact: an argued amount above the cap is refused before
// anything is sent; at the cap, or with no argued amount, the call proceeds.
func TestPolicyCheckExact(t *testing.T) {
	pol := payments.Policy{PerCall: 100_000}
	for _, tt := range []struct {
		name string
		lim  payments.Limit
		want string // "" for no refusal, else a substring
	}{
		{"no exact amount", payments.Limit{Tool: "t", MaxPrice: 10}, ""},
		{"at max_price", payments.Limit{Tool: "t", MaxPrice: 50_000, ExactAmount: 50_000}, ""},
		{"above max_price", payments.Limit{Tool: "t", MaxPrice: 50_000, ExactAmount: 50_001, ExactArg: "amount"},
			`the amount in argument "amount" is 0.050001 USDC, above the max_price of t (0.05 USDC). Nothing was sent or signed. Call again with an amount of at most 0.05`},
		{"at the per-call cap", payments.Limit{Tool: "t", ExactAmount: 100_000}, ""},
		{"above the per-call cap", payments.Limit{Tool: "t", ExactAmount: 100_001}, "the amount the call chose is 0.100001 USDC, above the per-call cap (0.1 USDC)"},
		{"max_price above the per-call cap", payments.Limit{Tool: "t", MaxPrice: 1_000_000, ExactAmount: 200_000}, "above the per-call cap"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := pol.CheckExact(tt.lim)
			switch {
			case tt.want == "" && e != nil:
				t.Fatalf("refused: %v", e)
			case tt.want != "" && (e == nil || e.Code != payments.CodePriceAboveCap || e.Charged != payments.NotCharged || !strings.Contains(e.Message, tt.want)):
				t.Fatalf("got %v, want price_above_cap containing %q", e, tt.want)
			}
		})
	}
}

// TestPolicyDeclaredAssets: an entry pinned to a declared asset is capped
// in that asset's own units (its max_price, the asset's max_per_call), not
// as if its atomic units were USDC's; an asset that is neither USDC nor
// declared is never paid, pinned or not.
func TestPolicyDeclaredAssets(t *testing.T) {
	pol := payments.Policy{Networks: []payments.Network{"eip155:1337", "eip155:84532"}, PerCall: 100_000, // 0.10 USDC
		Assets: []payments.AssetPolicy{{Asset: weth, PerCall: 40_000_000_000_000_000}, {Asset: jpyx}}} // 0.04 WETH; JPYX: max_price only
	dom := `{"name":"T","version":"1"}`
	wethLim := payments.Limit{Tool: "w", Asset: weth.Address, Currency: weth.Currency(), MaxPrice: 50_000_000_000_000_000} // 0.05 WETH
	jpyxLim := payments.Limit{Tool: "j", Asset: jpyx.Address, Currency: jpyx.Currency(), MaxPrice: 150}                    // 1.50 JPYX
	wethAt := func(amt string) string { return accept("eip155:1337", amt, weth.Address, sellerPayee, dom) }
	jpyxAt := func(amt string) string { return accept("eip155:1337", amt, jpyx.Address, sellerPayee, dom) }
	tests := []struct {
		name     string
		lim      payments.Limit
		accepts  []string
		price    string // the chosen option's price, or "" for a refusal
		code     payments.Code
		inReason string
	}{
		// 0.04 WETH is 4e16 atomic units: far above 0.10 USDC's 100000.
		{"18 decimals at the asset's per-call cap", wethLim, []string{wethAt("40000000000000000")}, "0.04", "", ""},
		{"18 decimals one unit above the asset's per-call cap", wethLim, []string{wethAt("40000000000000001")}, "", payments.CodePriceAboveCap,
			"price 0.040000000000000001 WETH is above the per-call cap of WETH (0.04 WETH)"},
		{"2 decimals at max_price", jpyxLim, []string{jpyxAt("150")}, "1.5", "", ""},
		// 151 atomic units would be 0.000151 USDC, under every USDC cap.
		{"2 decimals one unit above max_price", jpyxLim, []string{jpyxAt("151")}, "", payments.CodePriceAboveCap,
			"price 1.51 JPYX is above the max_price of j (1.5 JPYX)"},
		{"declared asset without a pin", payments.Limit{Tool: "u", MaxPrice: 100_000}, []string{jpyxAt("1")}, "", payments.CodeNotAllowed, "is JPYX, not USDC"},
		{"USDC offered to a JPYX entry", jpyxLim, []string{accept("eip155:84532", "100", sepoliaUSDC, sellerPayee, `{"name":"USDC","version":"2"}`)}, "", payments.CodeNotAllowed, "not the asset pinned"},
		{"pinned but undeclared", payments.Limit{Tool: "x", Asset: "0x0000000000000000000000000000000000000bad", MaxPrice: 10},
			[]string{accept("eip155:1337", "10", "0x0000000000000000000000000000000000000bad", sellerPayee, dom)}, "", payments.CodeNotAllowed, "not declared under assets:"},
		{"JPYX entry offered WETH at the same address pin", payments.Limit{Tool: "j", Asset: weth.Address, Currency: jpyx.Currency(), MaxPrice: 150},
			[]string{wethAt("100")}, "", payments.CodeNotAllowed, "is WETH, not the JPYX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, best := pol.Evaluate(evmExact, anvil, challenge(t, tt.accepts...), tt.lim)
			if tt.price != "" {
				if best == nil {
					t.Fatalf("nothing payable: %+v", opts)
				}
				if best.Price != tt.price || best.Currency() != tt.lim.Currency {
					t.Fatalf("chosen price %q in %+v, want %q in %+v", best.Price, best.Currency(), tt.price, tt.lim.Currency)
				}
				return
			}
			if best != nil {
				t.Fatalf("picked %+v, want a refusal", best)
			}
			e := payments.RefusalOf(opts, tt.lim)
			if e.Code != tt.code || !strings.Contains(e.Message, tt.inReason) {
				t.Fatalf("refusal = %s %q, want %s containing %q", e.Code, e.Message, tt.code, tt.inReason)
			}
		})
	}
	// A call whose amount is an argument is refused before anything is sent,
	// in the asset's units.
	lim := jpyxLim
	lim.ExactAmount = 151
	if e := pol.CheckExact(lim); e == nil || !strings.Contains(e.Message, "1.51 JPYX") || !strings.Contains(e.Message, "(1.5 JPYX)") {
		t.Fatalf("checkExact: %v", e)
	}
}

// TestPolicyScheme: an entry pays one scheme, exact unless it says upto;
// upto is judged on its maximum, through Permit2 only, to the facilitator
// the seller names.
func TestPolicyScheme(t *testing.T) {
	schemes := payments.NewSchemes(evm.NewExact(nil), evm.NewUpTo(nil))
	pol := payments.Policy{Networks: []payments.Network{"eip155:84532"}, PerCall: 100_000}
	const fac = `"facilitatorAddress":"0x4020000000000000000000000000000000000402"`
	upto := func(amount, extra string) string {
		return `{"scheme":"upto","network":"eip155:84532","amount":"` + amount + `","asset":"` + sepoliaUSDC + `","payTo":"` + sellerPayee + `","maxTimeoutSeconds":60,"extra":` + extra + `}`
	}
	exact := accept("eip155:84532", "10", sepoliaUSDC, sellerPayee, `{"name":"USDC","version":"2"}`)
	for _, tt := range []struct {
		name     string
		lim      payments.Limit
		accepts  []string
		pick     int
		code     payments.Code
		inReason string
	}{
		{"an exact entry refuses upto", payments.Limit{Tool: "t"}, []string{upto("10", `{`+fac+`}`)}, -1, payments.CodeNotAllowed, "scheme upto is not the scheme t pays (exact"},
		{"an upto entry pays upto", payments.Limit{Tool: "t", Scheme: "upto"}, []string{exact, upto("10", `{`+fac+`}`)}, 1, "", ""},
		{"an upto entry refuses exact", payments.Limit{Tool: "t", Scheme: "upto"}, []string{exact}, -1, payments.CodeNotAllowed, "scheme exact is not the scheme t pays (upto"},
		{"upto needs the facilitator", payments.Limit{Tool: "t", Scheme: "upto"}, []string{upto("10", `{}`)}, -1, payments.CodeUnsupported, "facilitatorAddress"},
		{"upto is Permit2 only", payments.Limit{Tool: "t", Scheme: "upto"}, []string{upto("10", `{"assetTransferMethod":"eip3009",`+fac+`}`)}, -1, payments.CodeUnsupported, "Permit2 only"},
		{"upto's maximum at max_price", payments.Limit{Tool: "t", Scheme: "upto", MaxPrice: 50_000}, []string{upto("50000", `{`+fac+`}`)}, 0, "", ""},
		{"upto's maximum one unit above max_price", payments.Limit{Tool: "t", Scheme: "upto", MaxPrice: 50_000}, []string{upto("50001", `{`+fac+`}`)}, -1, payments.CodePriceAboveCap, "above the max_price of t"},
		{"upto's maximum above the per-call cap", payments.Limit{Tool: "t", Scheme: "upto"}, []string{upto("100001", `{`+fac+`}`)}, -1, payments.CodePriceAboveCap, "per-call cap"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts, best := pol.Evaluate(schemes, anvil, challenge(t, tt.accepts...), tt.lim)
			if tt.pick >= 0 {
				if best == nil || best.Index != tt.pick {
					t.Fatalf("picked %v, want %d: %+v", best, tt.pick, opts)
				}
				return
			}
			if best != nil {
				t.Fatalf("picked %d, want a refusal", best.Index)
			}
			e := payments.RefusalOf(opts, tt.lim)
			if e.Code != tt.code || !strings.Contains(e.Message, tt.inReason) {
				t.Fatalf("refusal = %s %q, want %s containing %q", e.Code, e.Message, tt.code, tt.inReason)
			}
		})
	}
}
