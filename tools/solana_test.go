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
