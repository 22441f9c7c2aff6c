package payments

import (
	"fmt"
)

// Currency says how the amounts of one asset are written and which budgets
// count them. Its zero value is USDC.
//
// USDC, the USD Coin contracts x402-mcp knows (Family.KnownUSDC), is counted by the
// operator's budgets (budget: in registry.yaml). Every other asset is paid
// only when registry.yaml declares it (assets:), with its symbol, its decimals
// and a budget of its own, and is counted only there: an amount of one asset
// is never added to, compared with or shown as an amount of another.
type Currency struct {
	// Symbol is how people read the asset: "USDC", "EURC", "WETH".
	Symbol string
	// Decimals is how many atomic units make one token, as a power of ten
	// (USDC: 6), from 0 to MaxDecimals.
	Decimals int
	// Budget keys the budgets that count the asset: BudgetUSDC for the USDC
	// contracts x402-mcp knows, else the asset's AssetKey.
	Budget string
}

// BudgetUSDC is Currency.Budget of USDC.
const BudgetUSDC = "USDC"

// USDC is the currency of the USDC contracts x402-mcp knows.
var USDC = Currency{Symbol: "USDC", Decimals: USDCDecimals, Budget: BudgetUSDC}

// AssetKey names an asset other than USDC for its budgets and the ledger:
// its network and its address in its family's canonical form,
// "eip155:8453/0x…" (EVM: checksummed).
func AssetKey(n Network, addr string) string { return string(n) + "/" + addr }

// or returns c, or USDC for the zero Currency.
func (c Currency) or() Currency {
	if c == (Currency{}) {
		return USDC
	}
	return c
}

// IsUSDC says whether c is USDC (the zero Currency is).
func (c Currency) IsUSDC() bool { return c.or().Budget == BudgetUSDC }

// Valid says whether amounts can be read in c: a symbol, and decimals from 0
// to MaxDecimals.
func (c Currency) Valid() bool {
	c = c.or()
	return c.Symbol != "" && c.Budget != "" && c.Decimals >= 0 && c.Decimals <= MaxDecimals
}

// Decimal formats a as a decimal figure in c's units, with no trailing
// zeros: 10000 → "0.01" in USDC, "100" in a 2-decimal token.
func (c Currency) Decimal(a Amount) string { return formatUnits(a, c.or().Decimals) }

// Format formats a for people: "0.01 USDC", "0.5 WETH".
func (c Currency) Format(a Amount) string {
	c = c.or()
	return formatUnits(a, c.Decimals) + " " + c.Symbol
}

// Parse reads a user-facing decimal amount of c ("0.05", "12") exactly into
// atomic units. It rejects signs, exponents, spaces, more decimals than c
// has and values that do not fit; its errors name c's symbol.
func (c Currency) Parse(s string) (Amount, error) {
	c = c.or()
	return parseUnits(s, c.Decimals, c.Symbol)
}

// Smallest is c's smallest unit as a decimal figure: "0.000001" for USDC.
func (c Currency) Smallest() string { return formatUnits(1, c.or().Decimals) }

// Pattern is the JSON Schema pattern of a decimal amount of c written as a
// string: digits, and at most c's decimals after one '.'.
func (c Currency) Pattern() string {
	if d := c.or().Decimals; d > 0 {
		return fmt.Sprintf(`^[0-9]+(\.[0-9]{1,%d})?$`, d)
	}
	return `^[0-9]+$`
}

// String names c for messages: its symbol, with the asset key for an asset
// other than USDC ("WETH (eip155:8453/0x…)").
func (c Currency) String() string {
	c = c.or()
	if c.IsUSDC() {
		return c.Symbol
	}
	return c.Symbol + " (" + c.Budget + ")"
}
