package payments

import (
	"encoding/base64"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// BenchmarkSignAndEncode: choose, sign an EIP-3009 authorization and encode
// the PAYMENT-SIGNATURE header, as one paid call does.
func BenchmarkSignAndEncode(b *testing.B) {
	w, _ := ParseHexKey(anvil0)
	c := &Client{Wallet: w, Policy: Policy{Networks: []Network{"eip155:84532"}}, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	pr, err := x402.ParseChallenge(challengeHeader(), nil)
	if err != nil {
		b.Fatal(err)
	}
	_, best := c.Policy.evaluate(pr, Limit{Tool: "t"})
	b.ReportAllocs()
	for b.Loop() {
		p, _, _, err := c.buildPayment(pr, &pr.Accepts[best.Index], best, Limit{Tool: "t", CallID: "call_0123456789abcdef"})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := p.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignOnly: the EIP-712 digest and the secp256k1 signature alone.
func BenchmarkSignOnly(b *testing.B) {
	w, _ := ParseHexKey(anvil0)
	a := Authorization{From: w.Address(), To: vectorTo, Value: big.NewInt(10000), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(1740672154), Nonce: vectorNonce}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Sign(baseSepoliaUSDC, a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseChallenge: decode and parse a v2 PAYMENT-REQUIRED header and
// judge its accepts against the policy.
func BenchmarkParseChallenge(b *testing.B) {
	h := challengeHeader()
	pol := Policy{Networks: []Network{"eip155:84532"}}
	b.ReportAllocs()
	for b.Loop() {
		pr, err := x402.ParseChallenge(h, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, best := pol.evaluate(pr, Limit{Tool: "t"}); best == nil {
			b.Fatal("nothing payable")
		}
	}
}

func challengeHeader() http.Header {
	h := http.Header{}
	h.Set(x402.HeaderPaymentRequired, base64.StdEncoding.EncodeToString([]byte(v2Challenge)))
	return h
}
