package tools

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

const tippingRegistry = `version: 1
defaults:
  networks: [eip155:84532]
budget:
  total: "10"
tipping:
  facilitator_url: https://x402.org/facilitator/
  per_day: "5"
  max_tip: "2.50"
  auto_approve_up_to: "0.25"
  timeout: 10s
  recipients:
    Alice: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    "bob the builder": "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
`

func TestParseTipping(t *testing.T) {
	reg, err := Parse("registry.yaml", []byte(tippingRegistry), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	tp := reg.Tipping
	if tp == nil {
		t.Fatal("no tipping")
	}
	usdc, _ := evm.KnownUSDC("eip155:84532")
	want := payments.Tipping{
		Network: "eip155:84532", Asset: usdc, Facilitator: "https://x402.org/facilitator/",
		PerDay: 5_000_000, MaxTip: 2_500_000, AutoApproveUpTo: 250_000, AllowAddresses: true, Timeout: 10 * time.Second,
		Recipients: []payments.Recipient{
			{Name: "Alice", Address: common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C").Hex()},
			{Name: "bob the builder", Address: common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8").Hex()},
		},
	}
	if tp.Network != want.Network || tp.Asset != want.Asset || tp.Facilitator != want.Facilitator || tp.PerDay != want.PerDay ||
		tp.MaxTip != want.MaxTip || tp.AutoApproveUpTo != want.AutoApproveUpTo || !tp.AllowAddresses || tp.Timeout != want.Timeout ||
		len(tp.Recipients) != 2 || tp.Recipients[0] != want.Recipients[0] || tp.Recipients[1] != want.Recipients[1] {
		t.Fatalf("tipping %+v", tp)
	}
	if tp.Asset.Name != "USDC" || tp.Asset.Version != "2" || evm.ChainID(tp.Network).Int64() != 84532 || tp.Asset.Address != usdc.Address {
		t.Fatalf("domain %+v", tp.Asset)
	}
	if reg.Budget.TipPerDay != 5_000_000 || reg.Policy().Budget.TipPerDay != 5_000_000 {
		t.Fatalf("the tip budget is not the ledger's: %+v", reg.Budget)
	}
	if r, err := tp.Resolve("ALICE"); err != nil || r.Name != "Alice" {
		t.Fatalf("resolve: %+v %v", r, err)
	}
	if got, err := reg.TippingFor(nil); err != nil || got.Facilitator != "https://x402.org/facilitator" || got.MaxTip != tp.MaxTip {
		t.Fatalf("TippingFor: %+v %v", got, err)
	}

	// facilitator_url reads the environment at call time, like a tool's url.
	reg, err = Parse("registry.yaml", []byte("version: 1\ndefaults:\n  networks: [eip155:84532]\ntipping:\n  facilitator_url: ${FAC}/facilitator\n  per_day: \"1\"\n"), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FAC": "http://127.0.0.1:4021"}
	if got, err := reg.TippingFor(func(k string) string { return env[k] }); err != nil || got.Facilitator != "http://127.0.0.1:4021/facilitator" {
		t.Fatalf("expanded: %+v %v", got, err)
	}
	var ce *ConfigError
	if _, err := reg.TippingFor(func(string) string { return "" }); !errors.As(err, &ce) || !strings.Contains(err.Error(), "FAC") {
		t.Fatalf("unset variable: %v", err)
	}
	env["FAC"] = "ftp://secret-host"
	if _, err := reg.TippingFor(func(k string) string { return env[k] }); !errors.As(err, &ce) || strings.Contains(err.Error(), "secret-host") {
		t.Fatalf("bad expansion: %v", err)
	}

	// Defaults: max_tip is 1 USDC but never above per_day; every tip asks.
	reg, err = Parse("registry.yaml", []byte("version: 1\ndefaults:\n  networks: [eip155:84532]\ntipping:\n  facilitator_url: http://127.0.0.1:4021/facilitator\n  per_day: \"0.5\"\n"), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Tipping.MaxTip != 500_000 || reg.Tipping.AutoApproveUpTo != 0 || reg.Tipping.Timeout != DefaultTipTimeout || len(reg.Tipping.Recipients) != 0 {
		t.Fatalf("defaults %+v", reg.Tipping)
	}
	// No section: no tipping, no tip budget.
	reg, err = Parse("registry.yaml", []byte("version: 1\n"), testFamilies)
	if err != nil || reg.Tipping != nil || reg.Budget.TipPerDay != 0 {
		t.Fatalf("without a section: %+v %v", reg, err)
	}
	// Another token: declared under assets:, with its domain; the tip
	// budget and caps are in its units, and so is the tip budget's currency.
	reg, err = Parse("registry.yaml", []byte("version: 1\ndefaults:\n  networks: [eip155:1337]\nassets:\n  - {symbol: TIPX, network: eip155:1337, address: \"0x3009300930093009300930093009300930093009\", decimals: 2, budget: {total: \"100\"}}\ntipping:\n  facilitator_url: http://127.0.0.1:1/f\n  per_day: \"1\"\n  asset: TIPX\n  asset_name: USDC\n  asset_version: \"2\"\n"), testFamilies)
	if err != nil || reg.Tipping.Asset.Name != "USDC" || evm.ChainID(reg.Tipping.Network).Int64() != 1337 || reg.Tipping.PerDay != 100 || reg.Tipping.MaxTip != 100 ||
		reg.Tipping.Currency.Symbol != "TIPX" || reg.Budget.TipCurrency != reg.Tipping.Currency {
		t.Fatalf("own token: %+v %v", reg, err)
	}
}

func TestParseTippingErrors(t *testing.T) {
	base := "version: 1\ndefaults:\n  networks: [eip155:84532, eip155:8453]\ntipping:\n"
	cases := []struct {
		name, src string
		want      []string
	}{
		{"unknown key", "  facilitator: x\n", []string{`unknown key "facilitator" in tipping`, "facilitator_url"}},
		{"missing", "  timeout: 5s\n", []string{"tipping.network: missing", "tipping.facilitator_url: missing", "tipping.per_day: missing"}},
		{"network not allowed", "  network: eip155:1\n  facilitator_url: https://f.example\n  per_day: \"1\"\n", []string{"tipping.network: eip155:1 (Ethereum) is not in defaults.networks"}},
		{"bad url", "  network: base\n  facilitator_url: ftp://f.example\n  per_day: \"1\"\n", []string{`tipping.facilitator_url: "ftp://f.example" is not an http or https URL`}},
		{"credentials", "  network: base\n  facilitator_url: https://u:p@f.example\n  per_day: \"1\"\n", []string{"credentials in the URL"}},
		{"query", "  network: base\n  facilitator_url: https://f.example/?k=v\n  per_day: \"1\"\n", []string{"remove the query string"}},
		{"per_day zero", "  network: base\n  facilitator_url: https://f.example\n  per_day: \"0\"\n", []string{"tipping.per_day: 0 would refuse every tip"}},
		{"max above day", "  network: base\n  facilitator_url: https://f.example\n  per_day: \"1\"\n  max_tip: \"2\"\n", []string{"tipping.max_tip: 2 USDC is above tipping.per_day (1 USDC)"}},
		{"auto above max", "  network: base\n  facilitator_url: https://f.example\n  per_day: \"1\"\n  auto_approve_up_to: \"1.5\"\n", []string{"tipping.auto_approve_up_to: 1.5 USDC is above tipping.max_tip (1 USDC)"}},
		{"auto zero", "  network: base\n  facilitator_url: https://f.example\n  per_day: \"1\"\n  auto_approve_up_to: \"0\"\n", []string{"tipping.auto_approve_up_to: 0 would change nothing"}},
		{"bad amount", "  network: base\n  facilitator_url: https://f.example\n  per_day: 1.0000001\n", []string{"tipping.per_day", "more than 6 decimals"}},
		{"timeout", "  network: base\n  facilitator_url: https://f.example\n  per_day: \"1\"\n  timeout: forever\n", []string{`tipping.timeout: "forever" is not a duration`}},
		{"unknown token", "  network: base\n  facilitator_url: https://f.example\n  per_day: \"1\"\n  asset: \"0x3009300930093009300930093009300930093009\"\n", []string{"tipping.asset: 0x3009300930093009300930093009300930093009 is neither the USDC x402-mcp knows on eip155:8453 nor declared under assets:"}},
		{"bad recipients", "  network: base\n  facilitator_url: https://f.example\n  per_day: \"1\"\n  recipients:\n    alice: \"0x209693bC6afc0C5328bA36FaF03C514EF312287C\"\n    0xbob: \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"\n    \"a/b\": \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"\n    zero: \"0x0000000000000000000000000000000000000000\"\n    short: \"0x1234\"\n",
			[]string{"tipping.recipients.alice: 0x209693bC6afc0C5328bA36FaF03C514EF312287C has a bad EIP-55 checksum", "tipping.recipients.0xbob: a name may not start with 0x",
				`tipping.recipients.a/b: "a/b" is not a recipient name`, "tipping.recipients.zero: the zero address", `tipping.recipients.short: "0x1234" is not an address`}},
		{"duplicate name", "  network: base\n  facilitator_url: https://f.example\n  per_day: \"1\"\n  recipients:\n    alice: \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"\n    ALICE: \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"\n",
			[]string{`tipping.recipients.alice: is the same name as "ALICE"`}},
		{"book only, empty", "  network: base\n  facilitator_url: https://f.example\n  per_day: \"1\"\n  allow_addresses: false\n", []string{"tipping.allow_addresses: false with an empty address book"}},
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

// TestRepoRegistryTippingExample: the commented-out tipping section of the
// repo's registry.yaml is valid once uncommented.
func TestRepoRegistryTippingExample(t *testing.T) {
	b, err := os.ReadFile("../registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "# tipping:"):
			in = true
		case in && !strings.HasPrefix(line, "#"):
			in = false
		}
		if in {
			line = strings.TrimPrefix(line, "# ")
		}
		out = append(out, line)
	}
	reg, err := Parse("registry.yaml (tipping uncommented)", []byte(strings.Join(out, "\n")), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Tipping == nil || len(reg.Tipping.Recipients) != 1 || reg.Tipping.AutoApproveUpTo != 0 {
		t.Fatalf("tipping %+v", reg.Tipping)
	}
}
