package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/tools"
)

// families are the network families this x402-mcp pays on: the catalog
// reads its networks and addresses with them. A new family is a package
// beside payments/evm and payments/svm, wired in here, in chains and in
// newSchemes.
var families = payments.Families{evm.Family{}, svm.Family{}}

// chains are the clients of the catalog's rpc endpoints, one per family:
// they read the assets' decimals at start, and the schemes read and prove
// payments through them.
type chains struct {
	evm *evm.RPCChecker
	svm *svm.Client
}

// newChains returns the chain clients of urls (rpc endpoints by network).
// An endpoint a family cannot use is left out and named in the error.
func newChains(urls map[payments.Network]string) (*chains, error) {
	s, err := svm.NewClient(urls)
	return &chains{evm: evm.NewRPCChecker(urls), svm: s}, err
}

// noChains has no rpc endpoint at all.
func noChains() *chains {
	c, _ := newChains(nil) // no endpoint, so none to refuse
	return c
}

// Has says whether network has an rpc endpoint its family can use.
func (c *chains) Has(n payments.Network) bool {
	switch families.Family(n).(type) {
	case evm.Family:
		return c.evm.Has(n)
	case svm.Family:
		return c.svm.Has(n)
	}
	return false
}

// Decimals reads a declared asset's decimals through its network's family
// (tools.DecimalsReader).
func (c *chains) Decimals(ctx context.Context, n payments.Network, asset string) (int, error) {
	switch families.Family(n).(type) {
	case evm.Family:
		return c.evm.Decimals(ctx, n, asset)
	case svm.Family:
		return c.svm.Decimals(ctx, n, asset)
	}
	return 0, fmt.Errorf("network %s is of no family x402-mcp pays on", n)
}

// Close closes every client's connections.
func (c *chains) Close() {
	c.evm.Close()
	c.svm.Close()
}

var _ tools.DecimalsReader = (*chains)(nil)

// chainsOf returns the chain clients of the catalog's rpc endpoints, their
// ${ENV} references read through getenv. An endpoint whose URL does not
// expand, or that its family cannot use, is left out, and named in the
// error (which never holds a value read from the environment).
func chainsOf(reg *tools.Registry, getenv func(string) string) (*chains, error) {
	urls, err := reg.RPCURLs(getenv)
	c, cerr := newChains(urls)
	if err = errors.Join(err, cerr); err != nil {
		err = fmt.Errorf("%s: %w", reg.Path, err)
	}
	return c, err
}

// newSchemes returns the schemes the paying client and reconciliation use,
// in the order the families are listed: EVM's exact scheme (EIP-3009 and
// Permit2) and upto, then Solana's exact scheme, reading the chain
// (allowances, blockhashes, balances, and a payment's fate) through c's rpc
// endpoints.
func newSchemes(c *chains) *payments.Schemes {
	return payments.NewSchemes(evm.NewExact(c.evm), evm.NewUpTo(c.evm), svm.NewExact(c.svm))
}
