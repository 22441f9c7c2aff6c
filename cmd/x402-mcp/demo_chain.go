//go:build simchain

package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/simchain"
)

// This file links go-ethereum's simulated chain into the binary (about
// 35 MB more), so only builds with -tags simchain have `demo --chain`.

func init() { chainDemo = simChainDemo }

// simChainDemo: a simulated EVM with the EIP-3009 test token, a facilitator
// that settles with real transferWithAuthorization transactions, and a
// catalog that declares that token (it is not a USDC contract x402-mcp
// knows: assets:, with the demo's budget) and pins it, with the chain as its
// rpc endpoint.
func simChainDemo(ctx context.Context, wallet common.Address, _ string) (*demoSetup, error) {
	sim, err := simchain.Start(ctx, simchain.Options{})
	if err != nil {
		return nil, err
	}
	fac := localseller.NewFacilitator(localseller.FacilitatorConfig{Chain: sim})
	running, err := localseller.Start(localseller.Config{Facilitator: fac})
	// On a failure, what was started is stopped; that failure is the one
	// to report.
	if err != nil {
		_ = sim.Close()
		return nil, err
	}
	if err := sim.Mint(ctx, wallet, demoFunding); err != nil {
		_ = running.Close()
		_ = sim.Close()
		return nil, err
	}
	token, payee := sim.Token().Hex(), running.Seller.PayTo().Hex()
	reg := fmt.Sprintf(`version: 1
defaults:
  networks: [%[1]s]
  max_per_call: "0.05"
budget:
  total: "1.00"
rpc:
  %[1]s: %[2]s
assets:
  - symbol: USDC
    network: %[1]s
    address: %[4]q
    decimals: 6
    budget:
      total: %[5]q
tools:
  - name: weather
    description: Current weather for a city, paid on the simulated chain.
    url: ${X402_SELLER_URL}/v2/weather/{city}
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
    pay_to: %[3]q
    asset: %[4]q
  - name: summarize
    description: Summarize a text, paid on the simulated chain.
    method: POST
    url: ${X402_SELLER_URL}/v2/summarize
    params:
      - {name: text, in: body, type: string, required: true, description: The text}
    max_price: "0.01"
    pay_to: %[3]q
    asset: %[4]q
    result: summary
  - name: stock_quote
    description: A stock quote (x402 v1), paid on the simulated chain.
    url: ${X402_SELLER_URL}/v1/quote
    params:
      - {name: symbol, in: query, type: string, required: true, description: Ticker symbol}
    max_price: "0.002"
    pay_to: %[3]q
    asset: %[4]q
  - name: tip_jar
    description: Tip an author the amount you choose (pay what you want), paid on the simulated chain.
    url: ${X402_SELLER_URL}/v2/tip/{author}
    params:
      - {name: author, in: path, type: string, required: true, description: Who to tip}
    amount_from: amount
    max_price: "0.02"
    pay_to: %[3]q
    asset: %[4]q
`, sim.Network(), sim.URL(), payee, token, demoBudget.String())
	return &demoSetup{seller: running, registryName: "registry.yaml (demo on the simulated chain)", registry: []byte(reg),
		money:    fmt.Sprintf("test USDC (EIP-3009 token %s) on a simulated EVM, %s at %s: every payment is a real transferWithAuthorization", token, sim.Network(), sim.URL()),
		where:    " (read from the chain)",
		tipAsset: fmt.Sprintf("  asset: %q\n  asset_name: %q\n  asset_version: %q\n", token, sim.Domain().Name, sim.Domain().Version),
		close:    func() error { return errors.Join(running.Close(), sim.Close()) }}, nil
}
