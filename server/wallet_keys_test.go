package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/server"
)

const twoFamilyRegistry = `
version: 1
defaults:
  networks: [eip155:84532, solana-devnet, eip155:8453]
tools:
  - name: weather
    description: Weather.
    url: "${SELLER}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true}
    max_price: "0.001"
`

// TestWalletShowsEachFamily: x402_wallet shows the address of each key the
// wallet holds, with the allowed networks of its family (Solana's named
// plainly) and where the key lives (Config.KeySources), in its structured
// answer (which validates against its outputSchema) and in words; no key,
// no secret.
func TestWalletShowsEachFamily(t *testing.T) {
	sol, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, twoFamilyRegistry, 0, localseller.Config{}, server.Config{Client: &payments.Client{Signers: payments.Signers{sol}},
		KeySources: map[string]string{"evm": "OS keychain x402-mcp/default", "svm": "environment variable X402_SOLANA_PRIVATE_KEY"}})
	schema := compileSchema(t, server.ToolWallet, rawToolsList(t, f.srv)[server.ToolWallet])
	res := call(t, f.inProcess(t), server.ToolWallet, nil)
	validates(t, schema, "wallet with two keys", res)
	var st server.WalletStatus
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	evmAddr := f.wallet.Address().Hex()
	if st.Address != evmAddr || len(st.Keys) != 2 {
		t.Fatalf("wallet %s", b)
	}
	want := []server.KeyStatus{
		{Family: "EVM", Address: evmAddr, KeySource: "OS keychain x402-mcp/default", Networks: []server.NetworkInfo{{ID: "eip155:84532", Name: "Base Sepolia"}, {ID: "eip155:8453", Name: "Base"}}},
		{Family: "Solana", Address: sol.Address().String(), KeySource: "environment variable X402_SOLANA_PRIVATE_KEY", Networks: []server.NetworkInfo{{ID: string(svm.Devnet), Name: "Solana devnet"}}},
	}
	for i, k := range st.Keys {
		if k.Family != want[i].Family || k.Address != want[i].Address || k.KeySource != want[i].KeySource || len(k.Networks) != len(want[i].Networks) {
			t.Fatalf("key %d = %+v, want %+v", i, k, want[i])
		}
		for j, n := range k.Networks {
			if n != want[i].Networks[j] {
				t.Errorf("key %d network %d = %+v, want %+v", i, j, n, want[i].Networks[j])
			}
		}
	}
	text := mcp.GetTextFromContent(res.Content[0])
	for _, w := range []string{evmAddr, sol.Address().String(), "Solana: solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1 (Solana devnet); key in environment variable X402_SOLANA_PRIVATE_KEY",
		"(Base); key in OS keychain x402-mcp/default)"} {
		if !strings.Contains(text, w) {
			t.Errorf("the text lacks %q:\n%s", w, text)
		}
	}
}
