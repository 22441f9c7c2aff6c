package tools

import (
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
)

const schemeRegistry = `version: 1
defaults:
  networks: [eip155:84532, eip155:1337]
  gasless_approval: "0.02"
budget:
  total: "1.00"
assets:
  - symbol: USDM
    network: eip155:1337
    address: "0x00000000000000000000000000000000000a0003"
    decimals: 6
    transfer: permit2
    gasless_approval: "0.50"
    budget: {total: "5"}
tools:
  - name: llm
    description: Text generation, priced by the token.
    url: https://a.example/generate
    max_price: "0.25"
    asset: USDM
    scheme: upto
  - name: crawl
    description: A page, paid through Permit2.
    url: https://a.example/crawl
    max_price: "0.01"
    transfer_method: permit2
  - name: plain
    description: A page.
    url: https://a.example/plain
    max_price: "0.01"
`

// TestSchemeAndTransfer: scheme: and transfer_method: on entries,
// transfer: and gasless_approval: on assets and in defaults reach the
// policy and each call's limit.
func TestSchemeAndTransfer(t *testing.T) {
	r, err := Parse("registry.yaml", []byte(schemeRegistry), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	pol := r.Policy()
	if pol.GaslessApproval != 20_000 || len(pol.Assets) != 1 || pol.Assets[0].Transfer != "permit2" || pol.Assets[0].GaslessApproval != 500_000 {
		t.Fatalf("policy: gasless %d, assets %+v", pol.GaslessApproval, pol.Assets)
	}
	for _, tt := range []struct {
		tool, scheme, method string
		max                  payments.Amount
	}{{"llm", "upto", "", 250_000}, {"crawl", "", "permit2", 10_000}, {"plain", "", "", 10_000}} {
		e, _ := r.Entry(tt.tool)
		lim := e.Limit("call_0123456789abcdef")
		if lim.Scheme != tt.scheme || lim.TransferMethod != tt.method || lim.MaxPrice != tt.max {
			t.Errorf("%s: limit scheme %q method %q max %d, want %q %q %d", tt.tool, lim.Scheme, lim.TransferMethod, lim.MaxPrice, tt.scheme, tt.method, tt.max)
		}
	}
	llm, _ := r.Entry("llm")
	if d := llm.Tool().Description; !strings.Contains(d, "priced by usage: each call authorizes up to 0.25 USDM") {
		t.Errorf("upto tool description: %q", d)
	}
}

func TestSchemeAndTransferErrors(t *testing.T) {
	head := "version: 1\ndefaults:\n  networks: [eip155:84532]\nbudget:\n  total: \"1\"\n"
	tool := "tools:\n  - name: t\n    description: d.\n    url: https://a.example/t\n    max_price: \"0.01\"\n"
	for _, tt := range []struct{ name, src, want string }{
		{"unknown scheme", tool + "    scheme: stream\n", `tools[0] "t": scheme: "stream" is not a scheme x402-mcp pays: write exact`},
		{"unknown method", tool + "    transfer_method: erc7710\n", `transfer_method: "erc7710" is not a transfer method: write eip3009`},
		{"upto through eip3009", tool + "    scheme: upto\n    transfer_method: eip3009\n", "upto pays through Permit2 only"},
		{"upto with amount_from", tool + "    scheme: upto\n    amount_from: amount\n    params:\n      - {name: amount, in: query, type: string, required: true}\n", "use one or the other"},
		{"asset transfer", "assets:\n  - {symbol: T, network: eip155:84532, address: \"0x00000000000000000000000000000000000a0004\", decimals: 6, transfer: permit3, budget: {total: \"1\"}}\n" + tool,
			`assets[0] "T": transfer: "permit3" is not a transfer method`},
		{"zero gasless", "assets:\n  - {symbol: T, network: eip155:84532, address: \"0x00000000000000000000000000000000000a0004\", decimals: 6, gasless_approval: \"0\", budget: {total: \"1\"}}\n" + tool,
			"gasless_approval: 0 allows none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("registry.yaml", []byte(head+tt.src), testFamilies)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Parse("registry.yaml", []byte(strings.Replace(head, "budget:", "  gasless_approval: \"x\"\nbudget:", 1)+tool), testFamilies); err == nil || !strings.Contains(err.Error(), "defaults.gasless_approval") {
		t.Fatalf("defaults.gasless_approval x: %v", err)
	}
}
