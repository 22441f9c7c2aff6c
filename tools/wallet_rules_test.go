package tools

import (
	"strings"
	"testing"
)

// TestParseWalletRules: the wallet: section's require_protected_key is
// read (absent: false), and a key it does not know is an error naming it.
func TestParseWalletRules(t *testing.T) {
	const head = "version: 1\n"
	for _, tt := range []struct {
		src     string
		want    bool
		errLike string
	}{
		{head, false, ""},
		{head + "wallet:\n  require_protected_key: true\n", true, ""},
		{head + "wallet:\n  require_protected_key: false\n", false, ""},
		{head + "wallet:\n  require_protected: true\n", false, "require_protected"},
		{head + "wallet:\n  require_protected_key: maybe\n", false, "maybe"},
	} {
		reg, err := Parse("registry.yaml", []byte(tt.src), testFamilies)
		if tt.errLike != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errLike) {
				t.Errorf("%q: err = %v, want %q", tt.src, err, tt.errLike)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tt.src, err)
		}
		if reg.Wallet.RequireProtectedKey != tt.want {
			t.Errorf("%q: require_protected_key %v, want %v", tt.src, reg.Wallet.RequireProtectedKey, tt.want)
		}
	}
}
