package payments

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in   string
		want Amount
		ok   bool
	}{
		{"0.01", 10000, true}, {"0.05", 50000, true}, {"1", 1000000, true}, {"0", 0, true},
		{".5", 500000, true}, {"12.345678", 12345678, true}, {"0.000001", 1, true},
		{"0010.10", 10100000, true}, {"18446744073709.551615", MaxAmount, true},
		{"", 0, false}, {"0.0000001", 0, false}, {"1e-6", 0, false}, {"-1", 0, false},
		{"+1", 0, false}, {"1.", 0, false}, {".", 0, false}, {" 1", 0, false}, {"1,5", 0, false},
		{"0.1x", 0, false}, {"18446744073709.551616", 0, false}, {"NaN", 0, false}, {"1.2.3", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseAmount(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestAmountString(t *testing.T) {
	for _, tt := range []struct {
		a    Amount
		want string
	}{{0, "0"}, {1, "0.000001"}, {10000, "0.01"}, {1000000, "1"}, {1234567, "1.234567"}, {100000, "0.1"}, {MaxAmount, "18446744073709.551615"}} {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", tt.a, got, tt.want)
		}
		back, err := ParseAmount(tt.want)
		if err != nil || back != tt.a {
			t.Errorf("round trip of %q = %d, %v", tt.want, back, err)
		}
	}
}

func TestParseAtomic(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{{"10000", true}, {"0", true}, {"", false}, {"1.5", false}, {"-3", false}, {"0x10", false}, {"99999999999999999999999", false}} {
		if _, err := ParseAtomic(tt.in); (err == nil) != tt.ok {
			t.Errorf("ParseAtomic(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

// TestAmountErrorsQuoteLittle: an amount that does not parse (a seller's
// price, a settled amount) is quoted by its first 40 bytes, not whole.
func TestAmountErrorsQuoteLittle(t *testing.T) {
	long := strings.Repeat("9", 5000)
	for _, tt := range []struct {
		name  string
		parse func(string) (Amount, error)
		in    string
		want  string
	}{
		{"atomic, too large", ParseAtomic, long, "is too large"},
		{"atomic, not digits", ParseAtomic, long + "x", "is not an amount in atomic units"},
		{"atomic, a rune at the cut", ParseAtomic, "1" + strings.Repeat("é", 2000), "is not an amount in atomic units"},
		{"decimal, too large", ParseAmount, long, "is too large an amount"},
		{"decimal, not digits", ParseAmount, long + "x", "is not a USDC amount"},
		{"decimal, too many decimals", ParseAmount, "0." + long, "has more than 6 decimals"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.parse(tt.in)
			if err == nil {
				t.Fatal("parsed")
			}
			msg := err.Error()
			if len(msg) > 200 || !strings.Contains(msg, tt.want) || !utf8.ValidString(msg) {
				t.Fatalf("error of %d bytes, want one saying %q: %.200s", len(msg), tt.want, msg)
			}
		})
	}
}
