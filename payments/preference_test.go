package payments_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/testfamily"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// TestPolicyPrefersItsNetworkOrder: of options at the same price on two
// families, the one on the network listed first in the allowed networks
// (defaults.networks) is paid, whatever the seller's order; a call pinned
// to a family (Limit.Family, the catalog's family:) pays only in it, and
// the other family's option says why it was not paid.
func TestPolicyPrefersItsNetworkOrder(t *testing.T) {
	evmKey, err := wallet.ParseHexKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	schemes := payments.NewSchemes(evm.NewExact(nil), &testfamily.Exact{})
	signers := payments.Signers{evmKey, testfamily.NewKey("T0000A11C")}
	pr, err := x402.ParseChallenge(nil, []byte(`{"x402Version":2,"resource":{"url":"https://seller.example/buy"},"accepts":[`+
		`{"scheme":"exact","network":"eip155:84532","amount":"1000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"`+evmPayee+`","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}},`+
		`{"scheme":"exact","network":"tst:1","amount":"1000","asset":"T0000USDC","payTo":"`+tstPayee+`","maxTimeoutSeconds":60,"extra":{"ok":true}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		networks []payments.Network
		family   string
		want     string
		refusal  string
	}{
		{"evm listed first", []payments.Network{"eip155:84532", "tst:1"}, "", "eip155:84532", ""},
		{"test listed first", []payments.Network{"tst:1", "eip155:84532"}, "", "tst:1", ""},
		{"pinned to evm", []payments.Network{"tst:1", "eip155:84532"}, "evm", "eip155:84532", "network tst:1 (Test One) is a Test network; buy pays only on EVM networks (family: in registry.yaml)"},
		{"pinned to test", []payments.Network{"eip155:84532", "tst:1"}, "tst", "tst:1", "network eip155:84532 (Base Sepolia) is an EVM network; buy pays only on Test networks (family: in registry.yaml)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := payments.Policy{Networks: tc.networks, PerCall: 100_000}
			opts, best := pol.Evaluate(schemes, signers, pr, payments.Limit{Tool: "buy", Family: tc.family})
			if best == nil || best.Network != tc.want {
				b, _ := json.Marshal(opts)
				t.Fatalf("chose %+v, want %s: %s", best, tc.want, b)
			}
			if tc.refusal != "" {
				other := opts[0]
				if other.Network == tc.want {
					other = opts[1]
				}
				if other.Payable || !strings.Contains(other.Reason, tc.refusal) {
					t.Errorf("the other option: payable %v, %q; want %q", other.Payable, other.Reason, tc.refusal)
				}
			}
		})
	}
}
