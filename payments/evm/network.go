package evm

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/x402-mcp/x402-mcp/payments"
)

// ChainID returns the EVM chain id of a network in CAIP-2 form
// ("eip155:8453"), or zero for another.
func ChainID(n payments.Network) *big.Int {
	id, _ := chainIDOf(string(n)) // another network: its error is the zero id
	return new(big.Int).SetUint64(id)
}

// NetworkName returns a readable name for a known network, or the CAIP-2 id.
func NetworkName(n payments.Network) string {
	id, _ := chainIDOf(string(n)) // another network: zero, which has no name
	if name, ok := chainNames[id]; ok {
		return name
	}
	return string(n)
}

// testnets are the EVM chains whose tokens are worth nothing: public
// testnets and the local development chains (1337: go-ethereum's simulated
// chain and geth --dev; 31337: Anvil and Hardhat).
var testnets = map[uint64]bool{
	84532: true, 11155111: true, 43113: true, 80002: true, 421614: true, 1328: true, 11124: true,
	10143: true, 2201: true, 324705682: true, 1337: true, 31337: true,
}

// IsTestnet reports that n is a test network x402-mcp knows; any other EVM
// network counts as one with real money.
func IsTestnet(n payments.Network) bool {
	id, err := chainIDOf(string(n))
	return err == nil && testnets[id]
}

// v1Networks maps x402 v1 network names to EVM chain ids.
var v1Networks = map[string]uint64{
	"base": 8453, "base-sepolia": 84532, "ethereum": 1, "sepolia": 11155111,
	"avalanche": 43114, "avalanche-fuji": 43113, "polygon": 137, "polygon-amoy": 80002,
	"sei": 1329, "sei-testnet": 1328, "iotex": 4689, "abstract": 2741, "abstract-testnet": 11124,
	"peaq": 3338, "story": 1514, "educhain": 41923, "skale-base-sepolia": 324705682,
	"megaeth": 4326, "monad": 143, "monad-testnet": 10143, "stable": 988, "stable-testnet": 2201,
	"celo": 42220, "flare": 14,
}

var chainNames = map[uint64]string{
	8453: "Base", 84532: "Base Sepolia", 1: "Ethereum", 11155111: "Sepolia", 43114: "Avalanche",
	43113: "Avalanche Fuji", 137: "Polygon", 80002: "Polygon Amoy", 42161: "Arbitrum",
	421614: "Arbitrum Sepolia", 143: "Monad", 1329: "Sei", 42220: "Celo", 1337: "local dev chain",
}

// ParseNetwork accepts a CAIP-2 EVM id ("eip155:84532") or an x402 v1 name
// ("base-sepolia") and returns the CAIP-2 form. The chain id must be a plain
// positive decimal: "eip155:0x2105" is refused, not read as chain 0.
func ParseNetwork(s string) (payments.Network, error) {
	if id, ok := v1Networks[s]; ok {
		return payments.Network("eip155:" + strconv.FormatUint(id, 10)), nil
	}
	id, err := chainIDOf(s)
	if err != nil {
		return "", err
	}
	if caip := "eip155:" + strconv.FormatUint(id, 10); caip != s {
		return payments.Network(caip), nil
	}
	return payments.Network(s), nil
}

// chainIDOf reads the chain id of an eip155 network. Its errors quote s by
// its first 80 bytes (cut): s may be a seller's or a caller's, of any
// length.
func chainIDOf(s string) (uint64, error) {
	rest, ok := strings.CutPrefix(s, "eip155:")
	if !ok {
		return 0, fmt.Errorf("network %q is not an EVM network: write a CAIP-2 id such as eip155:8453, or a v1 name such as base", cut(s))
	}
	if rest == "" || !allDigits(rest) || rest[0] == '0' {
		return 0, fmt.Errorf("network %q has no valid chain id: write eip155:<decimal chain id>, such as eip155:8453", cut(s))
	}
	id, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("network %q has a chain id that is too large", cut(s))
	}
	return id, nil
}

// cut is at most the first 80 bytes of s (on a rune boundary) and "…", for
// an error to quote.
func cut(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}

// knownUSDC lists the USD stablecoins that x402-mcp pays in without a pin.
// Source: x402 Go SDK default assets (x402-protocol.md §3.4).
var knownUSDC = map[uint64]usdc{
	8453:   {"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USD Coin"},
	84532:  {"0x036CbD53842c5426634e7929541eC2318f3dCF7e", "USDC"},
	1:      {"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "USD Coin"},
	43114:  {"0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E", "USD Coin"},
	43113:  {"0x5425890298aed601595a70AB815c96711a31Bc65", "USD Coin"},
	137:    {"0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", "USD Coin"},
	42161:  {"0xaf88d065e77c8cC2239327C5EDb3A432268e5831", "USD Coin"},
	421614: {"0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d", "USD Coin"},
	143:    {"0x754704Bc059F8C67012fEd69BC8A327a5aafb603", "USDC"},
	1329:   {"0xe15fC38F6D8c56aF07bbCBe3BAf5708A2Bf42392", "USDC"},
	42220:  {"0xcebA9300f2b948710d2653dD7B07f33A8B32118C", "USDC"},
}

// usdc is a USDC contract: its address and EIP-712 name; the version of
// every one is "2".
type usdc struct{ address, name string }

func init() {
	// The canonical form of each address, once: pins and the ledger
	// compare addresses as checksummed strings.
	for id, u := range knownUSDC {
		u.address = common.HexToAddress(u.address).Hex()
		knownUSDC[id] = u
	}
}

// KnownUSDC returns the USDC contract x402-mcp knows for a network, with
// its EIP-712 domain. These, and only these, count against the operator's
// USDC budgets.
func KnownUSDC(n payments.Network) (payments.Asset, bool) {
	id, err := chainIDOf(string(n))
	if err != nil {
		return payments.Asset{}, false
	}
	u, ok := knownUSDC[id]
	if !ok {
		return payments.Asset{}, false
	}
	return payments.Asset{Network: n, Address: u.address, Name: u.name, Version: "2",
		Symbol: payments.USDC.Symbol, Decimals: payments.USDCDecimals, USDC: true}, true
}
