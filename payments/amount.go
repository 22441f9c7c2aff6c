package payments

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// USDCDecimals is the number of decimals of every asset x402-mcp budgets in.
// USDC and the other USD stablecoins the policy accepts all use 6.
const USDCDecimals = 6

// Amount is a quantity of a USD stablecoin in atomic units (1 USDC = 1,000,000).
// Money is never a float anywhere in x402-mcp.
type Amount uint64

// MaxAmount is the largest amount x402-mcp will represent. Anything larger,
// from a registry or from a seller, is refused as malformed.
const MaxAmount = Amount(math.MaxUint64)

// ParseAmount parses a user-facing decimal USDC amount ("0.05", "1", "12.345678")
// exactly into atomic units. It rejects signs, exponents, spaces, more than six
// decimals and values that do not fit.
func ParseAmount(s string) (Amount, error) {
	if s == "" {
		return 0, fmt.Errorf("empty amount: write a decimal USDC amount such as 0.05")
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if hasDot && frac == "" || whole == "" && !hasDot {
		return 0, fmt.Errorf("%q is not a USDC amount: write a decimal such as 0.05", s)
	}
	if whole == "" {
		whole = "0"
	}
	if !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("%q is not a USDC amount: use digits and at most one '.', such as 0.05", s)
	}
	if len(frac) > USDCDecimals {
		return 0, fmt.Errorf("%q has more than %d decimals: USDC's smallest unit is 0.000001", s, USDCDecimals)
	}
	frac += strings.Repeat("0", USDCDecimals-len(frac))
	atomic, err := strconv.ParseUint(strings.TrimLeft(whole, "0")+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large an amount", s)
	}
	return Amount(atomic), nil
}

// ParseAtomic parses a decimal string of atomic units, as x402 puts on the wire
// ("10000" = 0.01 USDC). It rejects anything but plain decimal digits.
func ParseAtomic(s string) (Amount, error) {
	if s == "" || !allDigits(s) {
		return 0, fmt.Errorf("%q is not an amount in atomic units (a whole decimal number)", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q is too large", s)
	}
	return Amount(v), nil
}

// String formats the amount as a decimal USDC figure with no trailing zeros:
// 10000 → "0.01", 1000000 → "1".
func (a Amount) String() string {
	s := strconv.FormatUint(uint64(a), 10)
	if len(s) <= USDCDecimals {
		s = strings.Repeat("0", USDCDecimals-len(s)+1) + s
	}
	whole, frac := s[:len(s)-USDCDecimals], strings.TrimRight(s[len(s)-USDCDecimals:], "0")
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
