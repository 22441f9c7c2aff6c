package tools

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

const assetsRegistry = `version: 1
defaults:
  networks: [eip155:84532, eip155:1337]
  max_per_call: "0.10"
  approve_above: "0.05"
budget:
  total: "1.00"
rpc:
  eip155:1337: http://127.0.0.1:8545
assets:
  - symbol: WETH
    network: eip155:1337
    address: "0x00000000000000000000000000000000000E7418"
    decimals: 18
    eip712: {name: Wrapped Ether, version: "1"}
    max_per_call: "0.05"
    approve_above: "0.03"
    budget: {total: "0.5", per_day: "0.1"}
  - symbol: JPYX
    network: eip155:1337
    address: "0x00000000000000000000000000000000000a0002"
    approve_above: "100"
    budget: {total: "3000"}
tools:
  - name: eth_weather
    description: Weather, paid in WETH.
    url: https://a.example/w
    max_price: "0.000000000000000123"
    budget: "0.2"
    asset: WETH
  - name: yen_weather
    description: Weather, paid in JPYX.
    url: https://a.example/y
    max_price: "1.50"
    approve_above: "1"
    asset: "0x00000000000000000000000000000000000a0002"
    amount_from: amount
  - name: usdc_weather
    description: Weather, paid in USDC.
    url: https://a.example/u
    max_price: "0.01"
    asset: USDC
    network: eip155:84532
`

// chainDecimals answers decimals() from a map. It stands in for the
// chain here: reading decimals() from a real token over JSON-RPC is
// covered by internal/simchain and the end-to-end tests.
type chainDecimals map[string]int

func (c chainDecimals) Decimals(_ context.Context, _ payments.Network, a string) (int, error) {
	d, ok := c[a]
	if !ok {
		return 0, errors.New("no token answers there")
	}
	return d, nil
}

// TestParseAssets: declared assets are read with their symbol, decimals,
// domain, caps and budget in their own units; entries pin them by symbol or
// address, and their max_price, budget, approval threshold and amount
// argument are in the asset's units; an asset whose decimals are left to
// the chain is paid in only once ResolveAssets has read them.
func TestParseAssets(t *testing.T) {
	reg := mustParse(t, assetsRegistry)
	if len(reg.Assets) != 2 {
		t.Fatalf("assets %+v", reg.Assets)
	}
	w := reg.Assets[0]
	wc := w.Currency()
	if !w.Resolved || !w.DecimalsDeclared || wc.Symbol != "WETH" || wc.Decimals != 18 || w.Name != "Wrapped Ether" || w.Version != "1" ||
		w.PerCall != 50_000_000_000_000_000 || w.ApproveAbove != 30_000_000_000_000_000 || w.Total != 500_000_000_000_000_000 ||
		w.PerDay != 100_000_000_000_000_000 || w.Setting != "assets[0]" || w.Address != common.HexToAddress("0x00000000000000000000000000000000000e7418").Hex() {
		t.Fatalf("WETH %+v", w)
	}
	e, _ := reg.Entry("eth_weather")
	if e.Currency != wc || e.MaxPrice != 123 || e.Budget != 200_000_000_000_000_000 || e.Network != "eip155:1337" || e.Asset != w.Address {
		t.Fatalf("eth_weather %+v", e)
	}
	if lim := e.Limit("call_x"); lim.Currency != wc || lim.MaxPrice != 123 || lim.Asset != w.Address {
		t.Fatalf("eth_weather limit %+v", lim)
	}
	if tl := e.Tool(); !strings.Contains(tl.Description, "up to 0.000000000000000123 WETH per call") || tl.Meta.AdditionalFields[MetaPrice].(map[string]any)["currency"] != "WETH" {
		t.Fatalf("eth_weather tool %q %v", tl.Description, tl.Meta.AdditionalFields)
	}
	u, _ := reg.Entry("usdc_weather")
	if u.Currency != payments.USDC || u.Asset != "0x036CbD53842c5426634e7929541eC2318f3dCF7e" || u.MaxPrice != 10_000 {
		t.Fatalf("usdc_weather %+v", u)
	}

	// JPYX's decimals come from the chain: until they are read, nothing is
	// paid in it (the policy leaves it out).
	if un := reg.Unresolved(); len(un) != 1 || un[0].Symbol != "JPYX" {
		t.Fatalf("unresolved %+v", un)
	}
	pol := reg.Policy()
	if len(pol.Assets) != 1 || len(pol.Budget.Assets) != 1 || pol.Budget.Assets[w.Key()].Total != w.Total || pol.Budget.Total != 1_000_000 {
		t.Fatalf("policy before resolving %+v", pol)
	}
	jpyxAddr := common.HexToAddress("0x00000000000000000000000000000000000a0002").Hex()
	resolved, notes, err := reg.ResolveAssets(context.Background(), chainDecimals{w.Address: 18, jpyxAddr: 2})
	if err != nil || len(notes) != 0 {
		t.Fatalf("resolve: %v %v", err, notes)
	}
	y, _ := resolved.Entry("yen_weather")
	jc := resolved.Assets[1].Currency()
	if jc.Decimals != 2 || y.Currency != jc || y.MaxPrice != 150 || y.ApproveAbove != 100 || resolved.Assets[1].Total != 300_000 || resolved.Assets[1].ApproveAbove != 10_000 {
		t.Fatalf("after resolving: JPYX %+v, yen_weather %+v", resolved.Assets[1], y)
	}
	if schema := string(y.Tool().RawInputSchema); !strings.Contains(schema, `"pattern":"^[0-9]+(\\.[0-9]{1,2})?$"`) || !strings.Contains(schema, "Amount to pay, in JPYX") {
		t.Fatalf("amount argument schema %s", schema)
	}
	lim, err := y.CallLimit("call_y", map[string]any{"amount": "1.25"})
	if err != nil || lim.ExactAmount != 125 || lim.Currency != jc {
		t.Fatalf("call limit %+v %v", lim, err)
	}
	if _, err := y.CallLimit("call_y", map[string]any{"amount": "1.255"}); err == nil || !strings.Contains(err.Error(), `"amount" must be a decimal JPYX amount in a JSON string: digits, optionally a "." and 1 to 2 decimals, more than 0, such as "0.01"; got "1.255"`) {
		t.Fatalf("three decimals of JPYX: %v", err)
	}
	if pol := resolved.Policy(); len(pol.Assets) != 2 || pol.Budget.Assets[resolved.Assets[1].Key()].Total != 300_000 {
		t.Fatalf("policy after resolving %+v", pol)
	}
	if got := resolved.ChainDecimals(); len(got) != 1 || got[resolved.Assets[1].Key()] != 2 {
		t.Fatalf("chain decimals %v", got)
	}
	// A reload is given the decimals the chain gave at start.
	again, err := mustParse(t, assetsRegistry).WithDecimals(resolved.ChainDecimals())
	if err != nil || len(again.Unresolved()) != 0 {
		t.Fatalf("with decimals: %v %v", again, err)
	}

	// Declared decimals are checked against the chain: a mismatch refuses
	// to start; a chain that cannot be read leaves a note.
	_, _, err = reg.ResolveAssets(context.Background(), chainDecimals{w.Address: 6, jpyxAddr: 2})
	if err == nil || !strings.Contains(err.Error(), `assets[0] "WETH": decimals: 18 declared, but the token at 0x00000000000000000000000000000000000e7418 on eip155:1337 says 6`) {
		t.Fatalf("mismatch: %v", err)
	}
	_, notes, err = reg.ResolveAssets(context.Background(), chainDecimals{jpyxAddr: 2})
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "could not read decimals() to check the declared 18") {
		t.Fatalf("unreadable declared decimals: %v %v", err, notes)
	}
	_, _, err = reg.ResolveAssets(context.Background(), chainDecimals{w.Address: 18})
	if err == nil || !strings.Contains(err.Error(), `assets[1] "JPYX": decimals: not declared, and reading decimals()`) {
		t.Fatalf("unreadable decimals: %v", err)
	}
}

// TestParseAssetErrors: every mistake in assets: and in what pins an asset
// names the field and the fix; a pinned token that is neither USDC nor
// declared, or whose decimals can be neither read nor found, is refused.
func TestParseAssetErrors(t *testing.T) {
	base := "version: 1\ndefaults:\n  networks: [eip155:84532, eip155:1337]\n"
	decl := "assets:\n  - {symbol: JPYX, network: eip155:1337, address: \"0x00000000000000000000000000000000000a0002\", decimals: 2, max_per_call: \"2\", budget: {total: \"100\"}}\n"
	tool := func(extra string) string {
		return "tools:\n  - {name: t, description: d, url: \"https://a.example/\", " + extra + "}\n"
	}
	cases := []struct {
		name, src string
		want      []string
	}{
		{"ambiguous pin", tool(`max_price: "0.01", asset: "0x00000000000000000000000000000000000a0002"`), []string{
			`tools[0] "t": asset: 0x00000000000000000000000000000000000A0002 is neither the USDC x402-mcp knows on eip155:84532, eip155:1337 nor declared under assets:`}},
		{"no decimals, no rpc", "assets:\n  - {symbol: JPYX, network: eip155:1337, address: \"0x00000000000000000000000000000000000a0002\", budget: {total: \"100\"}}\n", []string{
			`assets[0] "JPYX": decimals: missing, and rpc: has no endpoint for eip155:1337 to read them from, so amounts in JPYX are ambiguous`}},
		{"missing fields", "assets:\n  - {decimals: 2}\n", []string{"assets[0]: network: missing", "assets[0]: address: missing", "assets[0]: symbol: missing", "assets[0]: budget.total: missing"}},
		{"bad symbol", "assets:\n  - {symbol: \"0xJ\", network: eip155:1337, address: \"0x00000000000000000000000000000000000a0002\", decimals: 2, budget: {total: \"1\"}}\n", []string{`symbol: "0xJ" is not a symbol`}},
		{"known USDC", "assets:\n  - {symbol: USDC, network: eip155:84532, address: \"0x036CbD53842c5426634e7929541eC2318f3dCF7e\", decimals: 6, budget: {total: \"1\"}}\n", []string{"is the USDC x402-mcp knows on eip155:84532: it needs no declaration"}},
		{"USDC impostor", "assets:\n  - {symbol: USDC, network: eip155:84532, address: \"0x00000000000000000000000000000000000a0002\", decimals: 6, budget: {total: \"1\"}}\n", []string{"give it another symbol"}},
		{"twice", decl + "  - {symbol: jpyx, network: eip155:1337, address: \"0x00000000000000000000000000000000000a0003\", decimals: 2, budget: {total: \"1\"}}\n  - {symbol: OTHER, network: eip155:1337, address: \"0x00000000000000000000000000000000000a0002\", decimals: 2, budget: {total: \"1\"}}\n",
			[]string{`assets[1] "jpyx": symbol: jpyx on eip155:1337 is already declared by assets[0]`, `assets[2] "OTHER": address: 0x00000000000000000000000000000000000A0002 on eip155:1337 is already declared as assets[0]`}},
		{"network not allowed", "assets:\n  - {symbol: J, network: eip155:8453, address: \"0x00000000000000000000000000000000000a0002\", decimals: 2, budget: {total: \"1\"}}\n", []string{"network: eip155:8453 (Base) is not in defaults.networks"}},
		{"decimals range", "assets:\n  - {symbol: J, network: eip155:1337, address: \"0x00000000000000000000000000000000000a0002\", decimals: 19, budget: {total: \"1\"}}\n", []string{"decimals: 19 is out of range"}},
		{"budget in units", "assets:\n  - {symbol: J, network: eip155:1337, address: \"0x00000000000000000000000000000000000a0002\", decimals: 2, budget: {total: \"0.001\"}}\n", []string{`budget.total: "0.001" has more than 2 decimals: J's smallest unit is 0.01`}},
		{"approval in USDC only", "  approve_above: \"0.05\"\n" + decl, []string{`assets[0] "JPYX": approve_above: missing while defaults.approve_above is set`}},
		{"half a domain", "assets:\n  - {symbol: J, network: eip155:1337, address: \"0x00000000000000000000000000000000000a0002\", decimals: 2, eip712: {name: J}, budget: {total: \"1\"}}\n", []string{"eip712: give both name and version"}},
		{"unknown symbol", decl + tool(`max_price: "0.01", asset: EURC`), []string{`asset: "EURC" is not a token address (0x and 40 hex digits) nor the symbol of an asset declared under assets: (USDC, or one declared there; declared: JPYX)`}},
		{"price in the asset's decimals", decl + tool(`max_price: "0.001", asset: JPYX`), []string{`max_price: "0.001" has more than 2 decimals: JPYX's smallest unit is 0.01`}},
		{"price above the asset's cap", decl + tool(`max_price: "2.01", asset: JPYX`), []string{`max_price: 2.01 JPYX is above assets[0].max_per_call (2 JPYX)`}},
		{"network is not the asset's", decl + tool(`max_price: "1", asset: JPYX, network: eip155:84532`), []string{`asset: JPYX is declared on eip155:1337, not on eip155:84532 (the entry's network:)`}},
		{"tip in an undeclared token", "tipping:\n  network: eip155:1337\n  facilitator_url: https://f.example\n  per_day: \"1\"\n  asset: \"0x00000000000000000000000000000000000a0009\"\n", []string{"tipping.asset: 0x00000000000000000000000000000000000A0009 is neither the USDC"}},
		{"tip in JPYX", decl + "tipping:\n  network: eip155:1337\n  facilitator_url: https://f.example\n  per_day: \"0.001\"\n  asset: JPYX\n", []string{`tipping.per_day: "0.001" has more than 2 decimals`, "EIP-712 domain of 0x00000000000000000000000000000000000A0002 on eip155:1337 is not known"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("registry.yaml", []byte(base+c.src), testFamilies)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestDocAssetsExampleIsValid: the assets: example of docs/registry.md
// parses, with its amounts in EURC.
func TestDocAssetsExampleIsValid(t *testing.T) {
	b, err := os.ReadFile("../docs/registry.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Assets other than USDC")
	if !ok {
		t.Fatal("docs/registry.md has no section on assets")
	}
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	example, _, _ := strings.Cut(rest, "```")
	r, err := Parse("docs/registry.md assets example", []byte("version: 1\ndefaults:\n  networks: [eip155:8453]\n  approve_above: \"0.05\"\n"+example), testFamilies)
	if err != nil {
		t.Fatalf("the documented example is invalid:\n%v", err)
	}
	e, _ := r.Entry("euro_weather")
	if len(r.Assets) != 1 || e == nil || e.Currency.Symbol != "EURC" || e.MaxPrice != 10_000 || e.Budget != 500_000 {
		t.Fatalf("example: %+v %+v", r.Assets, e)
	}
}
