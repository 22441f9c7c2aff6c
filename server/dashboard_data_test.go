package server

import (
	"math/big"
	"testing"
)

// TestCompareAtomic: the dashboard orders budgets by what is left, as
// atomic amounts written in decimal, of any size, without parsing them.
func TestCompareAtomic(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{"0", "0"}, {"0", "1"}, {"9", "10"}, {"500", "499"}, {"1000000", "999999"},
		{"18446744073709551615", "18446744073709551616"}, // past uint64
		{"123456789012345678901234567890", "123456789012345678901234567891"},
		{"42", "42"},
	} {
		x, okx := new(big.Int).SetString(tt.a, 10)
		y, oky := new(big.Int).SetString(tt.b, 10)
		if !okx || !oky {
			t.Fatalf("%s or %s is not a decimal", tt.a, tt.b)
		}
		if got, want := compareAtomic(tt.a, tt.b), x.Cmp(y); got != want {
			t.Errorf("compareAtomic(%s, %s) = %d, want %d", tt.a, tt.b, got, want)
		}
		if got, want := compareAtomic(tt.b, tt.a), y.Cmp(x); got != want {
			t.Errorf("compareAtomic(%s, %s) = %d, want %d", tt.b, tt.a, got, want)
		}
	}
}
