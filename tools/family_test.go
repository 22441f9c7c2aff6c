package tools

import (
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/testfamily"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// TestCatalogOfAnotherFamily: the catalog reads networks, pins, assets and
// tipping recipients through the families it is given, and knows none
// itself: with the test family wired in beside EVM (a stand-in for
// Solana), its networks, names and address forms are read and shown as
// that family says, and an EVM address where the test family's is needed
// is refused in its words.
func TestCatalogOfAnotherFamily(t *testing.T) {
	fams := payments.Families{evm.Family{}, testfamily.Family{}}
	const reg = `version: 1
defaults:
  networks: [eip155:84532, tst-two, tst:1]
budget:
  per_network:
    tst:1: "0.5"
tipping:
  network: tst:1
  facilitator_url: https://facilitator.example
  per_day: "1"
  recipients:
    alice: t0000a11c
tools:
  - name: test_weather
    description: Weather, paid on the test family.
    url: https://seller.example/weather
    max_price: "0.01"
    network: tst:1
    pay_to: t0000beef
    asset: T0000USDC
  - name: anywhere
    description: Weather, paid on any allowed network.
    url: https://seller.example/weather2
    max_price: "0.01"
`
	r, err := Parse("registry.yaml", []byte(reg), fams)
	if err != nil {
		t.Fatal(err)
	}
	if got := networkList(r.Defaults.Networks); got != "eip155:84532, tst:2, tst:1" {
		t.Fatalf("networks %s", got)
	}
	if r.Budget.PerNetwork["tst:1"] != 500_000 {
		t.Fatalf("per-network budget %+v", r.Budget.PerNetwork)
	}
	e, _ := r.Entry("test_weather")
	if e.Network != "tst:1" || e.Asset != testfamily.USDC || !e.Currency.IsUSDC() {
		t.Fatalf("entry %+v", e)
	}
	if d := e.Tool().Description; !strings.Contains(d, "on Test One (tst:1)") {
		t.Fatalf("description %q", d)
	}
	if d := mustEntry(t, r, "anywhere").Tool().Description; !strings.Contains(d, "Base Sepolia (eip155:84532), tst:2 or Test One (tst:1)") {
		t.Fatalf("description %q", d)
	}
	tp := r.Tipping
	if tp == nil || tp.Family.Name() != testfamily.Name || tp.Asset.Address != testfamily.USDC || len(tp.Recipients) != 1 || tp.Recipients[0].Address != "T0000A11C" {
		t.Fatalf("tipping %+v", tp)
	}
	if rec, perr := tp.Resolve("T0000A11C"); perr != nil || rec.Name != "alice" {
		t.Fatalf("resolve by address: %+v %v", rec, perr)
	}
	if _, perr := tp.Resolve("carol"); perr == nil || !strings.Contains(perr.Message, "ask the user for the recipient's T address") {
		t.Fatalf("unknown recipient: %v", perr)
	}

	for _, tt := range []struct{ name, yaml, want string }{
		{"EVM payee on a test network", strings.Replace(reg, "pay_to: t0000beef", "pay_to: \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"", 1),
			`tools[0] "test_weather": pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C" is not an address: write T and 8 hex digits`},
		{"EVM recipient on a test network", strings.Replace(reg, "alice: t0000a11c", "alice: \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"", 1),
			`tipping.recipients.alice: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C" is not an address: write T and 8 hex digits`},
		{"a network no family reads", strings.Replace(reg, "tst-two", "solana", 1),
			`defaults.networks[1]: network "solana" is not an EVM network: write a CAIP-2 id such as eip155:8453, or a v1 name such as base; nor network "solana" is not a Test network: write tst:1 or tst:2`},
		{"an asset pin no family reads", strings.Replace(reg, "asset: T0000USDC", "asset: usdc", 1),
			`tools[0] "test_weather": asset: "usdc" is not a token address (T and 8 hex digits) nor the symbol of an asset declared under assets:`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("registry.yaml", []byte(tt.yaml), fams)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func mustEntry(t *testing.T, r *Registry, name string) *Entry {
	t.Helper()
	e, ok := r.Entry(name)
	if !ok {
		t.Fatalf("no entry %s", name)
	}
	return e
}

// TestSchemeOnAnotherFamily: which schemes and transfer methods an entry
// may pin is the families' word (Family.Schemes, Family.TransferMethods),
// not the catalog's: the test family pays exact only and has no transfer
// method, so upto or permit2 pinned to its networks is refused in its
// words, and with no family that pays upto at all, upto is refused
// wherever the entry pays.
func TestSchemeOnAnotherFamily(t *testing.T) {
	withEVM := payments.Families{evm.Family{}, testfamily.Family{}}
	alone := payments.Families{testfamily.Family{}}
	for _, tt := range []struct {
		name     string
		fams     payments.Families
		networks string
		entry    string
		want     string
	}{
		{"exact on a test network", withEVM, "[eip155:84532, tst:1]", "network: tst:1", ""},
		{"upto open to both families", withEVM, "[eip155:84532, tst:1]", "scheme: upto", ""},
		{"upto on a test network", withEVM, "[eip155:84532, tst:1]", "scheme: upto\n    network: tst:1",
			`tools[0] "x": scheme: upto is an EVM scheme, and network: pins Test One (tst:1): Test sellers are paid with exact; remove scheme:, or pin an EVM network`},
		{"permit2 on the test family", withEVM, "[eip155:84532, tst:1, tst:2]", "transfer_method: permit2\n    family: tst",
			`tools[0] "x": transfer_method: permit2 is an EVM transfer method, and family: tst pins Test One (tst:1) or tst:2: Test has no transfer method to pin; remove transfer_method:, or pin family: evm instead`},
		{"upto where no family pays it", alone, "[tst:1]", "scheme: upto",
			`tools[0] "x": scheme: x402-mcp pays upto on no network family it was built with (Test): remove scheme:`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: 1\ndefaults:\n  networks: " + tt.networks + "\nbudget:\n  total: \"1\"\ntools:\n  - name: x\n    description: X.\n    url: https://s.example/x\n    max_price: \"0.01\"\n    " + tt.entry + "\n"
			_, err := Parse("registry.yaml", []byte(src), tt.fams)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v\nwant %q", err, tt.want)
			}
		})
	}
}
