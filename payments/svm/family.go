package svm

import (
	"fmt"
	"strings"

	"github.com/gagliardetto/solana-go"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Family is the Solana family for the core (payments.Family): solana
// networks, base58 addresses, the USDC mints x402-mcp knows. Its zero value
// is ready to use.
type Family struct{}

var (
	_ payments.Family       = Family{}
	_ payments.TestNetworks = Family{}
)

// Name implements payments.Family: "svm".
func (Family) Name() string { return Name }

// Title implements payments.Family: "Solana".
func (Family) Title() string { return "Solana" }

// Namespace implements payments.Family: "solana".
func (Family) Namespace() string { return "solana" }

// ParseNetwork implements payments.Family: a v1 name (solana,
// solana-devnet, solana-testnet) or a CAIP-2 solana id x402-mcp knows.
func (Family) ParseNetwork(s string) (payments.Network, bool, error) {
	n, ok, err := ParseNetwork(s)
	if !ok {
		return "", false, fmt.Errorf("%q is not a Solana network: write solana, solana-devnet or solana-testnet (or a CAIP-2 id such as %s)", clip(s), Devnet)
	}
	if err != nil {
		return "", true, err
	}
	return payments.Network(n), true, nil
}

// IsTestnet implements payments.TestNetworks: Solana devnet and testnet,
// whose tokens are worth nothing. Mainnet, and any network x402-mcp does
// not know, counts as one with real money.
func (Family) IsTestnet(n payments.Network) bool {
	return Network(n) == Devnet || Network(n) == Testnet
}

// NetworkName implements payments.Family: "Solana devnet".
func (Family) NetworkName(n payments.Network) string { return Network(n).Name() }

// Schemes implements payments.Family: exact, Exact's. x402's upto is an
// EVM scheme (Permit2): Solana sellers are paid with exact.
func (Family) Schemes() []string { return []string{x402.SchemeExact} }

// TransferMethods implements payments.Family: none. A Solana payment is an
// SPL TransferChecked, with no other way to choose.
func (Family) TransferMethods() []string { return nil }

// ParseAddress implements payments.Family: a base58 address of 32 bytes;
// the canonical form is its base58 encoding (Solana addresses are
// case-sensitive, so only a leading-zero variant could differ). Text that
// is not base58 at all (a 0x address, a name) wraps payments.ErrNotAddress.
func (Family) ParseAddress(s string) (string, error) {
	pk, err := parseAddress(s)
	if err != nil {
		return "", err
	}
	return pk.String(), nil
}

// CheckAddress implements payments.Family: ParseAddress, refusing the
// addresses that burn or lose what they receive: the system program (all
// zero bytes) and the incinerator.
func (f Family) CheckAddress(s string) (string, error) {
	pk, err := parseAddress(s)
	if err != nil {
		return "", err
	}
	switch pk {
	case solana.SystemProgramID, incinerator:
		return "", fmt.Errorf("%s burns what it receives: it cannot be paid", pk)
	}
	return pk.String(), nil
}

// incinerator is Solana's burn address.
var incinerator = solana.MustPublicKeyFromBase58("1nc1nerator11111111111111111111111111111111")

// parseAddress is ParseAddress with the core's error for text that is not
// written like a Solana address at all: not 32 to 44 base58 characters (a
// 0x address, a token's symbol).
func parseAddress(s string) (solana.PublicKey, error) {
	if len(s) < 32 || len(s) > 44 || strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune(base58Alphabet, r) }) >= 0 {
		return solana.PublicKey{}, payments.NotAddressf("%q is not a Solana address: write 32 to 44 base58 characters", payments.Sanitize(s, 80))
	}
	return ParseAddress("address", s)
}

// AddressName implements payments.Family: "base58 address".
func (Family) AddressName() string { return "base58 address" }

// AddressForm implements payments.Family.
func (Family) AddressForm() string { return "32 to 44 base58 characters" }

// KnownUSDC implements payments.Family: the USDC mint of mainnet, devnet
// and testnet (6 decimals, Token program).
func (Family) KnownUSDC(n payments.Network) (payments.Asset, bool) {
	mint, ok := KnownUSDC(Network(n))
	if !ok {
		return payments.Asset{}, false
	}
	return payments.Asset{Network: n, Address: mint.String(), Symbol: "USDC", Decimals: USDCDecimals, USDC: true}, true
}

// ExplorerURL implements payments.Family: the Solana Explorer's page of
// transaction tx (a base58 signature) on mainnet, devnet or testnet.
func (Family) ExplorerURL(n payments.Network, tx string) string {
	if _, err := solana.SignatureFromBase58(tx); err != nil || len(tx) > 90 {
		return ""
	}
	switch Network(n) {
	case Mainnet:
		return "https://explorer.solana.com/tx/" + tx
	case Devnet:
		return "https://explorer.solana.com/tx/" + tx + "?cluster=devnet"
	case Testnet:
		return "https://explorer.solana.com/tx/" + tx + "?cluster=testnet"
	}
	return ""
}

// CheckAsset implements payments.Family: a Solana token needs nothing
// besides its mint; its program and decimals are read from the chain
// before each payment.
func (Family) CheckAsset(payments.Asset) error { return nil }
