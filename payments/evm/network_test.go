package evm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
)

func TestParseNetwork(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{{"base", "eip155:8453"}, {"base-sepolia", "eip155:84532"}, {"eip155:84532", "eip155:84532"}, {"eip155:0x2105", ""},
		{"eip155:", ""}, {"eip155:0", ""}, {"eip155:01", ""}, {"solana", ""}, {"", ""}, {"eip155:99999999999999999999999", ""}} {
		got, err := ParseNetwork(tt.in)
		if string(got) != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("ParseNetwork(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestParseNetworkQuotesLittle: a network id that is not one (a seller's,
// a caller's x402_find argument) is quoted by its first 80 bytes, whatever
// its length, in each of ParseNetwork's refusals.
func TestParseNetworkQuotesLittle(t *testing.T) {
	long := strings.Repeat("9", 5000)
	for _, in := range []string{"x" + long, "eip155:x" + long, "eip155:" + long} {
		_, err := ParseNetwork(in)
		_, _, ferr := Family{}.ParseNetwork(in)
		for _, err := range []error{err, ferr} {
			if err == nil || len(err.Error()) > 300 || strings.Contains(err.Error(), long[:100]) {
				t.Fatalf("ParseNetwork(%.20q…) error of %d bytes: %.200v", in, len(fmt.Sprint(err)), err)
			}
		}
	}
}

// TestKnownUSDC: the USDC x402-mcp knows is counted as USDC, with its
// checksummed address and EIP-712 domain.
func TestKnownUSDC(t *testing.T) {
	known, ok := KnownUSDC("eip155:84532")
	if !ok || known.Currency() != payments.USDC || known.Address != "0x036CbD53842c5426634e7929541eC2318f3dCF7e" || known.Name != "USDC" || known.Version != "2" {
		t.Fatalf("the known USDC %+v, %v (currency %+v)", known, ok, known.Currency())
	}
	if _, ok := KnownUSDC("eip155:1337"); ok {
		t.Fatal("a USDC on the local dev chain")
	}
}

// TestExplorerURL: a transaction hash on a network whose explorer the
// family knows links to its page there; anything else links nowhere (the
// dashboard shows the hash alone).
func TestExplorerURL(t *testing.T) {
	const tx = "0x" + "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef"
	for _, tt := range []struct {
		network, tx, want string
	}{
		{"eip155:84532", tx, "https://sepolia.basescan.org/tx/" + tx},
		{"eip155:8453", tx, "https://basescan.org/tx/" + tx},
		{"eip155:1", tx, "https://etherscan.io/tx/" + tx},
		{"eip155:42220", tx, "https://celoscan.io/tx/" + tx},
		{"eip155:1337", tx, ""},                  // a local chain: no explorer
		{"eip155:84532", tx[:65], ""},            // too short
		{"eip155:84532", tx[2:] + "00", ""},      // no 0x
		{"eip155:84532", tx[:65] + "g", ""},      // not hex
		{"eip155:84532", tx + "/../../evil", ""}, // not a hash
		{"eip155:84532", "", ""},
		{"solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", tx, ""}, // not the family's
	} {
		if got := (Family{}).ExplorerURL(payments.Network(tt.network), tt.tx); got != tt.want {
			t.Errorf("ExplorerURL(%s, %q) = %q, want %q", tt.network, tt.tx, got, tt.want)
		}
	}
}

// TestIsTestnet: the known testnets and local chains are test networks;
// mainnets, and chains x402-mcp does not know, are not.
func TestIsTestnet(t *testing.T) {
	for n, want := range map[payments.Network]bool{
		"eip155:84532": true, "eip155:11155111": true, "eip155:1337": true, "eip155:31337": true, "eip155:43113": true,
		"eip155:8453": false, "eip155:1": false, "eip155:137": false, "eip155:999999": false, "solana:x": false,
	} {
		if got := (Family{}).IsTestnet(n); got != want {
			t.Errorf("IsTestnet(%s) = %v, want %v", n, got, want)
		}
	}
}
