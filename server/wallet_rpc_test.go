package server_test

import (
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/server"
)

// TestWalletNamesNetworksWithoutRPC: x402_wallet says which allowed
// networks have no rpc endpoint, where refused and unknown payments stay
// counted until a reconciliation can reach a chain; with an endpoint, it
// says nothing.
func TestWalletNamesNetworksWithoutRPC(t *testing.T) {
	for _, tt := range []struct {
		name, extra string
		noRPC       []string
	}{
		{"none", "", []string{"eip155:84532"}},
		{"configured", "rpc:\n  eip155:84532: https://sepolia.base.org\n", nil},
		// An endpoint whose ${ENV} is unset is no endpoint (serve leaves it
		// out of reconciliation too).
		{"unset variable", "rpc:\n  eip155:84532: https://node.example/v2/${X402_TEST_UNSET_RPC_KEY}\n", []string{"eip155:84532"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, registry+tt.extra, 1_000_000, localseller.Config{}, server.Config{})
			res := call(t, f.inProcess(t), server.ToolWallet, nil)
			var st server.WalletStatus
			structured(t, res, &st)
			if strings.Join(st.NoRPC, ",") != strings.Join(tt.noRPC, ",") {
				t.Fatalf("noRpc %v, want %v", st.NoRPC, tt.noRPC)
			}
			said := strings.Contains(mcp.GetTextFromContent(res.Content[0]), "No rpc endpoint for eip155:84532: payments there that a seller refused, or whose outcome is unknown, stay counted")
			if said != (tt.noRPC != nil) {
				t.Fatalf("text %q", mcp.GetTextFromContent(res.Content[0]))
			}
		})
	}
}
