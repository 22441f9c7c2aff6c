package payments

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// USDCDecimals is the number of decimals of USDC, the asset x402-mcp pays in
// unless registry.yaml declares another (see Currency).
const USDCDecimals = 6

// MaxDecimals is the most decimals an asset may have: amounts are counted in
// 64 bits, which hold 18.4 whole tokens of 18 decimals.
const MaxDecimals = 18

// Amount is a quantity of one asset in its atomic units (1 USDC = 1,000,000;
// 1 token of 18 decimals = 10^18). What the units are worth, and how they are
// written, is the asset's Currency: String, USDC and the text forms read
// amounts as USDC. Money is never a float anywhere in x402-mcp.
type Amount uint64

// MaxAmount is the largest amount x402-mcp will represent. Anything larger,
// from a registry or from a seller, is refused as malformed.
const MaxAmount = Amount(math.MaxUint64)

// ParseAmount parses a user-facing decimal USDC amount ("0.05", "1", "12.345678")
// exactly into atomic units. It rejects signs, exponents, spaces, more than six
// decimals and values that do not fit.
func ParseAmount(s string) (Amount, error) { return USDC.Parse(s) }

// parseUnits parses a decimal amount of a token of the given decimals
// exactly into atomic units; symbol names the token in errors.
func parseUnits(s string, decimals int, symbol string) (Amount, error) {
	if s == "" {
		return 0, fmt.Errorf("empty amount: write a decimal %s amount such as 0.05", symbol)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if hasDot && frac == "" || whole == "" && !hasDot {
		return 0, fmt.Errorf("%q is not a %s amount: write a decimal such as 0.05", clip(s), symbol)
	}
	if whole == "" {
		whole = "0"
	}
	if !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("%q is not a %s amount: use digits and at most one '.', such as 0.05", clip(s), symbol)
	}
	if len(frac) > decimals {
		return 0, fmt.Errorf("%q has more than %d decimals: %s's smallest unit is %s", clip(s), decimals, symbol, formatUnits(1, decimals))
	}
	frac += strings.Repeat("0", decimals-len(frac))
	digits := strings.TrimLeft(whole, "0") + frac
	if strings.TrimLeft(digits, "0") == "" {
		return 0, nil
	}
	atomic, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large an amount", clip(s))
	}
	return Amount(atomic), nil
}

// clip is how an amount error quotes the text it could not read: its first
// 40 bytes (on a rune boundary) and "…". A seller's price can be as long as
// its 402, and the error reaches the model whole.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}

// ParseAtomic parses a decimal string of atomic units, as x402 puts on the wire
// ("10000" = 0.01 USDC). It rejects anything but plain decimal digits.
func ParseAtomic(s string) (Amount, error) {
	if s == "" || !allDigits(s) {
		return 0, fmt.Errorf("%q is not an amount in atomic units (a whole decimal number)", clip(s))
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q is too large", clip(s))
	}
	return Amount(v), nil
}

// String formats the amount as a decimal USDC figure with no trailing zeros:
// 10000 → "0.01", 1000000 → "1". An amount of another asset is formatted by
// its Currency.
func (a Amount) String() string { return formatUnits(a, USDCDecimals) }

// formatUnits formats a as a decimal figure of a token with the given
// decimals, with no trailing zeros.
func formatUnits(a Amount, decimals int) string {
	s := strconv.FormatUint(uint64(a), 10)
	if decimals <= 0 {
		return s
	}
	if len(s) <= decimals {
		s = strings.Repeat("0", decimals-len(s)+1) + s
	}
	whole, frac := s[:len(s)-decimals], strings.TrimRight(s[len(s)-decimals:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// Atomic formats the amount in atomic units, as x402 puts it on the wire.
func (a Amount) Atomic() string { return strconv.FormatUint(uint64(a), 10) }

// USDC formats the amount for people: "0.01 USDC".
func (a Amount) USDC() string { return a.String() + " USDC" }

// MarshalText writes the decimal USDC form, so amounts in JSON and YAML read as money.
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses the decimal USDC form exactly (see ParseAmount).
func (a *Amount) UnmarshalText(b []byte) error {
	v, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// AddChecked returns a+b, or false when the sum would overflow.
func (a Amount) AddChecked(b Amount) (Amount, bool) {
	s := a + b
	return s, s >= a
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
