package plural

import "testing"

func TestCount(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want string
	}{{0, "0 payments"}, {1, "1 payment"}, {2, "2 payments"}, {11, "11 payments"}, {-1, "-1 payments"}} {
		if got := Count(tt.n, "payment", "payments"); got != tt.want {
			t.Errorf("Count(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if Verb(1, "matches", "match") != "matches" || Verb(2, "matches", "match") != "match" || Verb(0, "matches", "match") != "match" {
		t.Error("Verb")
	}
}
