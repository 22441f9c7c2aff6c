package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/simchain"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "registry.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckAssets: `check` refuses an entry whose units are ambiguous (a
// pinned token that is not USDC, with no declaration, or declared with no
// decimals and no rpc: to read them), and shows every amount of a declared
// asset in that asset.
func TestCheckAssets(t *testing.T) {
	const head = "version: 1\ndefaults:\n  networks: [eip155:1337]\n"
	tests := []struct {
		name    string
		src     string
		errLike []string
		out     []string
	}{
		{"undeclared token", head + `tools:
  - name: eth_weather
    description: Weather paid in a token x402-mcp does not know.
    url: https://a.example/w
    max_price: "0.05"
    asset: "0x00000000000000000000000000000000000e7418"
`, []string{`tools[0] "eth_weather": asset: 0x00000000000000000000000000000000000e7418 is neither the USDC x402-mcp knows on eip155:1337 nor declared under assets:`}, nil},
		{"no decimals, no rpc", head + `assets:
  - {symbol: WETH, network: eip155:1337, address: "0x00000000000000000000000000000000000e7418", budget: {total: "0.5"}}
tools:
  - {name: eth_weather, description: d, url: "https://a.example/w", max_price: "0.05", asset: WETH}
`, []string{`assets[0] "WETH": decimals: missing, and rpc: has no endpoint for eip155:1337 to read them from, so amounts in WETH are ambiguous`}, nil},
		{"declared", head + `rpc:
  eip155:1337: http://127.0.0.1:8545
assets:
  - {symbol: WETH, network: eip155:1337, address: "0x00000000000000000000000000000000000e7418", decimals: 18, max_per_call: "0.05", budget: {total: "0.5", per_day: "0.1"}}
  - {symbol: JPYX, network: eip155:1337, address: "0x00000000000000000000000000000000000a0002", budget: {total: "3000"}}
tools:
  - {name: eth_weather, description: d, url: "https://a.example/w", max_price: "0.04", budget: "0.2", asset: WETH}
  - {name: yen_weather, description: d, url: "https://a.example/y", max_price: "150", asset: JPYX}
`, nil, []string{
			"asset assets[0]: WETH on eip155:1337 (0x00000000000000000000000000000000000e7418), 18 decimals (declared; checked against the chain at start when rpc has eip155:1337); per-call cap 0.05 WETH; budget total 0.5 WETH, per day 0.1 WETH",
			"asset assets[1]: JPYX on eip155:1337 (0x00000000000000000000000000000000000A0002), decimals read from the chain at start (rpc eip155:1337)",
			"eth_weather  0.04 WETH", "0.2 WETH", "yen_weather  JPYX (decimals read at start)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCmd(t, nil, "check", writeFile(t, tt.src))
			for _, want := range tt.errLike {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("check: %v\nwant an error containing %q; stdout:\n%s", err, want, out)
				}
			}
			if tt.errLike == nil && err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.out {
				if !strings.Contains(out, want) {
					t.Fatalf("stdout lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestServeChecksDecimalsOnChain: serve reads each declared asset's
// decimals() from a real chain at start: decimals that disagree with the
// token's are an error, before anything is served.
func TestServeChecksDecimalsOnChain(t *testing.T) {
	ctx := context.Background()
	sim, err := simchain.Start(ctx, simchain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	weth, err := sim.DeployToken(ctx, simchain.TokenOptions{Name: "Wrapped Ether", Version: "1", Symbol: "WETH", Decimals: 18})
	if err != nil {
		t.Fatal(err)
	}
	cat := writeFile(t, `version: 1
defaults:
  networks: [eip155:1337]
rpc:
  eip155:1337: `+sim.URL()+`
assets:
  - {symbol: WETH, network: eip155:1337, address: "`+weth.Address().Hex()+`", decimals: 6, budget: {total: "1"}}
tools:
  - {name: eth_weather, description: d, url: "https://a.example/w", max_price: "0.05", asset: WETH}
`)
	env := map[string]string{"X402_PRIVATE_KEY": "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
		"X402_REGISTRY": cat, "X402_LEDGER": filepath.Join(t.TempDir(), "ledger.db")}
	_, _, err = runCmd(t, env, "serve")
	if err == nil || !strings.Contains(err.Error(), `assets[0] "WETH": decimals: 6 declared, but the token at `+weth.Address().Hex()+` on eip155:1337 says 18`) {
		t.Fatalf("serve with wrong decimals: %v", err)
	}
}
