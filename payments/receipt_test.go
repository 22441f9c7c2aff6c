package payments_test

import (
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
)

// TestReceiptLineSaysPaidOnlyWhenSettled: the one line of text a result
// carries says "Paid" for a settled payment only,
// and for any other, a settlement still pending included, says what is
// known.
func TestReceiptLineSaysPaidOnlyWhenSettled(t *testing.T) {
	for _, tt := range []struct {
		state, tx string
		paid      bool
		says      string
	}{
		{"settled", "0xabc", true, "tx 0xabc [settled]"},
		{"settled", "", true, "no transaction hash reported [settled]"},
		{"pending", "0xabc", false, "its settlement is pending (broadcast, not yet confirmed); tx 0xabc: counted as charged [pending]"},
		{"pending", "", false, "no transaction hash reported: counted as charged [pending]"},
		{"unknown", "", false, "whether it settled is unknown"},
		{"unknown", "0xdead", false, "the seller named transaction 0xdead"},
		{"unconfirmed", "", false, "no settlement receipt: not confirmed"},
		{"rejected", "", false, "refused by the seller, no settlement reported: counted until reconciliation proves it unused"},
		{"released", "", false, "never sent: released"},
	} {
		rc := &payments.Receipt{Amount: 1000, AmountAtom: "1000", Network: "eip155:84532", PayTo: "0xP", Payer: "0xQ", Transaction: tt.tx, State: tt.state}
		line := rc.Line()
		if strings.HasPrefix(line, "Paid ") != tt.paid || !strings.Contains(line, tt.says) || !strings.Contains(line, "0.001 USDC (1000 atomic) on eip155:84532 to 0xP from 0xQ") {
			t.Errorf("%s: %q", tt.state, line)
		}
	}
}
