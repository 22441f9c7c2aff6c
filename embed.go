// Package x402mcp holds what the binary embeds from the repository root.
// (//go:embed cannot reach a parent folder, so it lives here.)
package x402mcp

import _ "embed"

// DefaultRegistry is the repository's registry.yaml: the example catalog the
// demo and `x402-mcp check` use when no file is given.
//
//go:embed registry.yaml
var DefaultRegistry []byte
