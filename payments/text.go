package payments

import "github.com/x402-mcp/x402-mcp/payments/x402"

// Sanitize makes text from others safe to show: control characters are
// dropped and the text is cut to max bytes (on a rune boundary). It is
// x402.Sanitize, for the packages above this one.
func Sanitize(s string, max int) string { return x402.Sanitize(s, max) }
