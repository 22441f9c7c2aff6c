package localseller

import "github.com/x402-mcp/x402-mcp/payments"

// SetSettledTotal sets f's settled total, for the tests of what a
// settlement does near the largest amount (localseller_test).
func SetSettledTotal(f *SolanaFacilitator, a payments.Amount) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total = a
}
