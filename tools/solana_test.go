package tools

import (
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/svm"
)

// TestSolanaCatalog: a catalog reads Solana networks by their v1 names,
// pins in base58 and rpc: endpoints per Solana network, and an entry may
// pin a family (family: solana or evm): it then pays only on that
// family's allowed networks, says so in its description, and passes the
// pin to the paying core. A family with no allowed network, an unknown
// family, or a network pin of another family is an error naming the fix.
func TestSolanaCatalog(t *testing.T) {
	fams := payments.Families{evm.Family{}, svm.Family{}}
	const payee = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
	reg := `version: 1
defaults:
  networks: [eip155:84532, solana-devnet]
rpc:
  solana-devnet: http://127.0.0.1:8899
tools:
  - name: sol_weather
    description: Weather, paid on Solana.
    url: https://seller.example/weather
    max_price: "0.01"
    family: solana
    pay_to: ` + payee + `
    asset: 4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU
  - name: evm_weather
    description: Weather, paid on EVM.
    url: https://seller.example/weather2
    max_price: "0.01"
    family: evm
  - name: devnet_weather
    description: Weather, pinned to a network.
    url: https://seller.example/weather3
    max_price: "0.01"
    network: solana-devnet
`
	r, err := Parse("registry.yaml", []byte(reg), fams)
	if err != nil {
		t.Fatal(err)
	}
	devnet := payments.Network(svm.Devnet)
	if r.RPC[devnet] != "http://127.0.0.1:8899" {
		t.Errorf("rpc = %v", r.RPC)
	}
	sol, ev, pinned := r.Tools[0], r.Tools[1], r.Tools[2]
	if lim := sol.Limit("c"); lim.Family != svm.Name || lim.PayTo != payee || lim.Asset != svm.USDCDevnet.String() {
		t.Errorf("sol_weather's limit %+v", lim)
	}
	if nets := sol.Networks(); len(nets) != 1 || nets[0] != devnet {
		t.Errorf("sol_weather pays on %v", nets)
	}
	if !strings.Contains(sol.Tool().Description, "Solana devnet") || strings.Contains(sol.Tool().Description, "Base Sepolia") {
		t.Errorf("sol_weather's description: %s", sol.Tool().Description)
	}
	if lim := ev.Limit("c"); lim.Family != "evm" || len(ev.Networks()) != 1 || ev.Networks()[0] != "eip155:84532" {
		t.Errorf("evm_weather's limit %+v, networks %v", lim, ev.Networks())
	}
	if lim := pinned.Limit("c"); lim.Network != devnet || lim.Family != "" {
		t.Errorf("devnet_weather's limit %+v", lim)
	}

	for _, tc := range []struct{ name, entry, want string }{
		{"unknown family", "family: tron", `tools[0] "x": family: "tron" is not a network family x402-mcp pays on: write evm or solana`},
		{"no allowed network", "family: solana\n    network: eip155:84532", `tools[0] "x": network: eip155:84532 (Base Sepolia) is not a Solana network, but family: pins solana`},
		{"family not allowed", "family: solana", `tools[0] "x": family: solana has no network in defaults.networks (eip155:84532): add one there, such as solana-devnet`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "version: 1\ndefaults:\n  networks: [eip155:84532]\ntools:\n  - name: x\n    description: X.\n    url: https://s.example/x\n    max_price: \"0.01\"\n    " + tc.entry + "\n"
			if tc.name == "no allowed network" {
				src = strings.Replace(src, "[eip155:84532]", "[eip155:84532, solana-devnet]", 1)
			}
			_, err := Parse("registry.yaml", []byte(src), fams)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSchemeOnSolana: scheme: and transfer_method: are refused when the
// catalog is read if every network the entry may pay on is of a family
// that does not pay them (Family.Schemes, Family.TransferMethods): upto and
// the transfer methods are EVM's, and Solana sellers are paid with exact.
// Where the entry's networks are knowable at load (network:, family:, an
// asset: pin, or defaults.networks of one family) the error names the
// field, what pins the networks and the fix; an entry open to networks of
// both families is accepted (the policy pays only options of a family that
// pays the scheme, at pay time). A declared Solana asset's transfer: is
// refused likewise.
func TestSchemeOnSolana(t *testing.T) {
	fams := payments.Families{evm.Family{}, svm.Family{}}
	const (
		both   = "[eip155:84532, solana-devnet]"
		solana = "[solana-devnet]"
		evmNet = "[eip155:84532]"
		asset  = "assets:\n  - {symbol: SOLT, network: solana-devnet, address: 9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM, decimals: 6, budget: {total: \"1\"}}\n"
	)
	for _, tt := range []struct {
		name, networks, assets, entry string
		want                          string // "" accepts
	}{
		// accepted
		{"upto open to both families", both, "", "scheme: upto", ""},
		{"permit2 open to both families", both, "", "transfer_method: permit2", ""},
		{"upto and permit2 open to both families", both, "", "scheme: upto\n    transfer_method: permit2", ""},
		{"upto on an EVM network", both, "", "scheme: upto\n    network: eip155:84532", ""},
		{"upto on the EVM family", both, "", "scheme: upto\n    family: evm", ""},
		{"upto with EVM defaults", evmNet, "", "scheme: upto", ""},
		{"eip3009 on the EVM family", both, "", "transfer_method: eip3009\n    family: evm", ""},
		{"exact on a Solana network", both, "", "scheme: exact\n    network: solana-devnet", ""},
		{"exact on the Solana family", both, "", "family: solana", ""},
		{"exact with Solana defaults", solana, "", "scheme: exact", ""},
		{"a Solana asset paid with exact", both, asset, "asset: SOLT", ""},

		// refused
		{"upto on a Solana network", both, "", "scheme: upto\n    network: solana-devnet",
			`tools[0] "x": scheme: upto is an EVM scheme, and network: pins Solana devnet (solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1): Solana sellers are paid with exact; remove scheme:, or pin an EVM network`},
		{"upto on Solana mainnet by its v1 name", "[eip155:8453, solana]", "", "scheme: upto\n    network: solana",
			`tools[0] "x": scheme: upto is an EVM scheme, and network: pins Solana (solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp): Solana sellers are paid with exact; remove scheme:, or pin an EVM network`},
		{"upto on the Solana family", both, "", "scheme: upto\n    family: solana",
			`tools[0] "x": scheme: upto is an EVM scheme, and family: solana pins Solana devnet (solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1): Solana sellers are paid with exact; remove scheme:, or pin family: evm instead`},
		{"upto with Solana defaults", solana, "", "scheme: upto",
			`tools[0] "x": scheme: upto is an EVM scheme, and defaults.networks allow only Solana devnet (solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1): Solana sellers are paid with exact; remove scheme:, or add an EVM network to defaults.networks`},
		{"upto in a Solana asset", both, asset, "scheme: upto\n    asset: SOLT",
			`tools[0] "x": scheme: upto is an EVM scheme, and asset: SOLT is on Solana devnet (solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1): Solana sellers are paid with exact; remove scheme:, or pin an asset on an EVM network`},
		{"upto and permit2 on a Solana network: the scheme is the problem", both, "", "scheme: upto\n    transfer_method: permit2\n    network: solana-devnet",
			`tools[0] "x": scheme: upto is an EVM scheme, and network: pins Solana devnet`},
		{"permit2 on a Solana network", both, "", "transfer_method: permit2\n    network: solana-devnet",
			`tools[0] "x": transfer_method: permit2 is an EVM transfer method, and network: pins Solana devnet (solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1): Solana has no transfer method to pin; remove transfer_method:, or pin an EVM network`},
		{"eip3009 on the Solana family", both, "", "transfer_method: eip3009\n    family: solana",
			`tools[0] "x": transfer_method: eip3009 is an EVM transfer method, and family: solana pins Solana devnet (solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1): Solana has no transfer method to pin; remove transfer_method:, or pin family: evm instead`},
		{"permit2 with Solana defaults", solana, "", "transfer_method: permit2",
			`tools[0] "x": transfer_method: permit2 is an EVM transfer method, and defaults.networks allow only Solana devnet (solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1): Solana has no transfer method to pin; remove transfer_method:, or add an EVM network to defaults.networks`},
		{"a Solana asset's transfer", both, strings.Replace(asset, "decimals: 6,", "decimals: 6, transfer: permit2,", 1), "",
			`assets[0] "SOLT": transfer: permit2 is an EVM transfer method, and the asset is on Solana devnet (solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1): Solana has no transfer method to pin; remove transfer:`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: 1\ndefaults:\n  networks: " + tt.networks + "\nbudget:\n  total: \"1\"\n" + tt.assets +
				"tools:\n  - name: x\n    description: X.\n    url: https://s.example/x\n    max_price: \"0.01\"\n"
			if tt.entry != "" {
				src += "    " + tt.entry + "\n"
			}
			r, err := Parse("registry.yaml", []byte(src), fams)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "":
				e := mustEntry(t, r, "x")
				lim := e.Limit("c")
				if strings.Contains(tt.entry, "upto") != (lim.Scheme == SchemeUpto) || strings.Contains(tt.entry, "permit2") != (lim.TransferMethod == "permit2") {
					t.Fatalf("limit %+v does not carry the entry's scheme and method", lim)
				}
			case err == nil:
				t.Fatalf("accepted, want %q", tt.want)
			case !strings.Contains(err.Error(), tt.want):
				t.Fatalf("err = %v\nwant %q", err, tt.want)
			case strings.Count(err.Error(), "\n") > 0:
				t.Fatalf("more than one problem: %v", err)
			}
		})
	}
}
