package payments

import (
	"context"

	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// What the external tests (package payments_test, which may import the
// network families) reach of the package's insides.

// RefusalOf is refusal: the error of a challenge with no payable option.
func RefusalOf(opts []Option, lim Limit) *Error { return refusal(opts, lim) }

// CheckExact is checkExact.
func (p *Policy) CheckExact(lim Limit) *Error { return p.checkExact(lim) }

// BuildPayment is buildPayment: o's scheme signs, and the payload is wrapped.
func (c *Client) BuildPayment(ctx context.Context, pr *x402.PaymentRequired, o *Option, lim Limit) (*x402.PaymentPayload, Proof, error) {
	return c.buildPayment(ctx, pr, o, lim)
}
