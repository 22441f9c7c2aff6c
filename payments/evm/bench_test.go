package evm_test

import (
	"math/big"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
)

// BenchmarkSignOnly: the EIP-712 digest and the secp256k1 signature alone.
func BenchmarkSignOnly(b *testing.B) {
	w, _ := wallet.ParseHexKey(anvil0)
	a := evm.Authorization{From: w.Address(), To: vectorTo, Value: big.NewInt(10000), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(1740672154), Nonce: vectorNonce}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Sign(baseSepoliaUSDC, a); err != nil {
			b.Fatal(err)
		}
	}
}
