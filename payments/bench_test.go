package payments_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// BenchmarkSignAndEncode: choose, sign an EIP-3009 authorization and encode
// the PAYMENT-SIGNATURE header, as one paid call does.
func BenchmarkSignAndEncode(b *testing.B) {
	w, _ := wallet.ParseHexKey(testKey)
	c := &payments.Client{Schemes: evmExact, Signers: payments.Signers{w}, Policy: payments.Policy{Networks: []payments.Network{"eip155:84532"}},
		Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	pr, err := x402.ParseChallenge(challengeHeader(), nil)
	if err != nil {
		b.Fatal(err)
	}
	_, best := c.Policy.Evaluate(c.Schemes, c.Signers, pr, payments.Limit{Tool: "t"})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, _, err := c.BuildPayment(ctx, pr, best, payments.Limit{Tool: "t", CallID: "call_0123456789abcdef"})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := p.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseChallenge: decode and parse a v2 PAYMENT-REQUIRED header and
// judge its accepts against the policy.
func BenchmarkParseChallenge(b *testing.B) {
	h := challengeHeader()
	pol := payments.Policy{Networks: []payments.Network{"eip155:84532"}}
	b.ReportAllocs()
	for b.Loop() {
		pr, err := x402.ParseChallenge(h, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, best := pol.Evaluate(evmExact, anvil, pr, payments.Limit{Tool: "t"}); best == nil {
			b.Fatal("nothing payable")
		}
	}
}

func challengeHeader() http.Header {
	h := http.Header{}
	h.Set(x402.HeaderPaymentRequired, base64.StdEncoding.EncodeToString([]byte(v2Challenge)))
	return h
}
