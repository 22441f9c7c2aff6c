package server_test

import (
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/svm"
)

// testFamilies are the network families the tests read catalogs with, as
// the command wires them in.
var testFamilies = payments.Families{evm.Family{}, svm.Family{}}
