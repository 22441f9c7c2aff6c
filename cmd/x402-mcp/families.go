package main

import (
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// families are the network families this x402-mcp pays on: the catalog
// reads its networks and addresses with them. A new family is a package
// beside payments/evm, wired in here and in newSchemes.
var families = payments.Families{evm.Family{}}

// newSchemes returns the schemes the paying client and reconciliation use:
// EVM's exact scheme (EIP-3009 and Permit2) and upto, reading the chain
// (allowances, and a payment's fate) through the catalog's rpc endpoints
// (checker, never nil).
func newSchemes(checker *evm.RPCChecker) *payments.Schemes {
	return payments.NewSchemes(evm.NewExact(checker), evm.NewUpTo(checker))
}
