package payments

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// Network is an EVM network as a CAIP-2 identifier ("eip155:8453").
type Network string

// ChainID returns the network's EVM chain id.
func (n Network) ChainID() *big.Int {
	id, _ := chainIDOf(string(n))
	return new(big.Int).SetUint64(id)
}

// Name returns a readable name for a known network, or the CAIP-2 id.
func (n Network) Name() string {
	id, _ := chainIDOf(string(n))
	if name, ok := chainNames[id]; ok {
		return name
	}
	return string(n)
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
func ParseNetwork(s string) (Network, error) {
	if id, ok := v1Networks[s]; ok {
		return Network("eip155:" + strconv.FormatUint(id, 10)), nil
	}
	id, err := chainIDOf(s)
	if err != nil {
		return "", err
	}
	return Network("eip155:" + strconv.FormatUint(id, 10)), nil
}

func chainIDOf(s string) (uint64, error) {
	rest, ok := strings.CutPrefix(s, "eip155:")
	if !ok {
		return 0, fmt.Errorf("network %q is not an EVM network: write a CAIP-2 id such as eip155:8453, or a v1 name such as base", s)
	}
	if rest == "" || !allDigits(rest) || rest[0] == '0' {
		return 0, fmt.Errorf("network %q has no valid chain id: write eip155:<decimal chain id>, such as eip155:8453", s)
	}
	id, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("network %q has a chain id that is too large", s)
	}
	return id, nil
}

// Asset is an EIP-3009 token on one network, with its EIP-712 domain and how
// its amounts read.
type Asset struct {
	Network Network
	Address common.Address
	Name    string // EIP-712 domain name
	Version string // EIP-712 domain version
	// Symbol and Decimals say how its amounts read ("USDC", 6).
	Symbol   string
	Decimals int
}

// Currency returns how the asset's amounts read and which budgets count
// them: USDC for a USDC contract x402-mcp knows, else its own, keyed by
// AssetKey.
func (a Asset) Currency() Currency {
	if known, ok := KnownUSDC(a.Network); ok && known.Address == a.Address {
		return USDC
	}
	return Currency{Symbol: a.Symbol, Decimals: a.Decimals, Budget: AssetKey(a.Network, a.Address)}
}

// knownUSDC lists the USD stablecoins that x402-mcp pays in without a pin.
// Source: x402 Go SDK default assets (x402-protocol.md §3.4).
var knownUSDC = map[uint64]Asset{
	8453:   {Address: common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"), Name: "USD Coin", Version: "2"},
	84532:  {Address: common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e"), Name: "USDC", Version: "2"},
	1:      {Address: common.HexToAddress("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"), Name: "USD Coin", Version: "2"},
	43114:  {Address: common.HexToAddress("0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E"), Name: "USD Coin", Version: "2"},
	43113:  {Address: common.HexToAddress("0x5425890298aed601595a70AB815c96711a31Bc65"), Name: "USD Coin", Version: "2"},
	137:    {Address: common.HexToAddress("0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359"), Name: "USD Coin", Version: "2"},
	42161:  {Address: common.HexToAddress("0xaf88d065e77c8cC2239327C5EDb3A432268e5831"), Name: "USD Coin", Version: "2"},
	421614: {Address: common.HexToAddress("0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d"), Name: "USD Coin", Version: "2"},
	143:    {Address: common.HexToAddress("0x754704Bc059F8C67012fEd69BC8A327a5aafb603"), Name: "USDC", Version: "2"},
	1329:   {Address: common.HexToAddress("0xe15fC38F6D8c56aF07bbCBe3BAf5708A2Bf42392"), Name: "USDC", Version: "2"},
	42220:  {Address: common.HexToAddress("0xcebA9300f2b948710d2653dD7B07f33A8B32118C"), Name: "USDC", Version: "2"},
}

// KnownUSDC returns the USDC contract x402-mcp knows for a network. These,
// and only these, count against the operator's USDC budgets.
func KnownUSDC(n Network) (Asset, bool) {
	id, err := chainIDOf(string(n))
	if err != nil {
		return Asset{}, false
	}
	a, ok := knownUSDC[id]
	if !ok {
		return Asset{}, false
	}
	a.Network, a.Symbol, a.Decimals = n, USDC.Symbol, USDCDecimals
	return a, true
}
