package payments

// Network is a network as a CAIP-2 identifier: "eip155:8453",
// "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp". Its Family reads and names it
// (Families.ParseNetwork, Families.NetworkName).
type Network string

// Asset is a token on one network: where it is, how its amounts read, and
// what its family needs to pay in it.
type Asset struct {
	Network Network
	// Address is the token's address in its family's canonical form.
	Address string
	// Name and Version are the token's signing domain where its family
	// needs one (EVM: the EIP-712 domain name and version of an EIP-3009
	// token); empty otherwise.
	Name, Version string
	// Symbol and Decimals say how its amounts read ("USDC", 6).
	Symbol   string
	Decimals int
	// USDC says the token is the USDC x402-mcp knows on its network
	// (Family.KnownUSDC): the operator's USDC budgets count it.
	USDC bool
	// Transfer is how the token moves when a seller does not say, in its
	// family's words (EVM: "eip3009", or "permit2" for a token without
	// EIP-3009); empty: the family's default.
	Transfer string
}

// Currency returns how the asset's amounts read and which budgets count
// them: USDC for the USDC x402-mcp knows, else its own, keyed by AssetKey.
func (a Asset) Currency() Currency {
	if a.USDC {
		return USDC
	}
	return Currency{Symbol: a.Symbol, Decimals: a.Decimals, Budget: AssetKey(a.Network, a.Address)}
}
