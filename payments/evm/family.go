package evm

import (
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Name is the family's name, as the ledger and the wallet's signers write
// it.
const Name = "evm"

// Family is the EVM family: eip155 networks, 0x addresses, the USDC
// contracts x402-mcp knows. Its zero value is ready to use.
type Family struct{}

var (
	_ payments.Family       = Family{}
	_ payments.TestNetworks = Family{}
)

// Name implements payments.Family: "evm".
func (Family) Name() string { return Name }

// Title implements payments.Family: "EVM".
func (Family) Title() string { return "EVM" }

// Namespace implements payments.Family: "eip155".
func (Family) Namespace() string { return "eip155" }

// ParseNetwork implements payments.Family: a CAIP-2 eip155 id or an x402 v1
// name of an EVM network (see ParseNetwork).
func (Family) ParseNetwork(s string) (payments.Network, bool, error) {
	n, err := ParseNetwork(s)
	if err != nil {
		_, isV1 := v1Networks[s]
		return "", isV1 || strings.HasPrefix(s, "eip155:"), err
	}
	return n, true, nil
}

// IsTestnet implements payments.TestNetworks (see IsTestnet, the function).
func (Family) IsTestnet(n payments.Network) bool { return IsTestnet(n) }

// NetworkName implements payments.Family.
func (Family) NetworkName(n payments.Network) string { return NetworkName(n) }

// Schemes implements payments.Family: exact (EIP-3009 or Permit2) and upto
// (Permit2), Exact's and UpTo's.
func (Family) Schemes() []string { return []string{x402.SchemeExact, x402.SchemeUpto} }

// TransferMethods implements payments.Family: eip3009
// (transferWithAuthorization) and permit2.
func (Family) TransferMethods() []string { return []string{MethodEIP3009, MethodPermit2} }

// ParseAddress implements payments.Family: 40 hex digits, 0x optional, any
// case; the canonical form is EIP-55 checksummed.
func (Family) ParseAddress(s string) (string, error) {
	if !common.IsHexAddress(s) {
		return "", notAddress(s)
	}
	return checksummed(common.HexToAddress(s)), nil
}

// CheckAddress implements payments.Family (see ParseAddress, the function).
func (Family) CheckAddress(s string) (string, error) {
	a, err := ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.Hex(), nil
}

// AddressName implements payments.Family: "0x address".
func (Family) AddressName() string { return "0x address" }

// AddressForm implements payments.Family: "0x and 40 hex digits".
func (Family) AddressForm() string { return "0x and 40 hex digits" }

// KnownUSDC implements payments.Family (see KnownUSDC, the function).
func (Family) KnownUSDC(n payments.Network) (payments.Asset, bool) { return KnownUSDC(n) }

// explorers are the block explorers a receipt links to, by chain id: the
// transaction's page is the pattern with the hash in place of %s.
var explorers = map[uint64]string{
	1:        "https://etherscan.io/tx/%s",
	11155111: "https://sepolia.etherscan.io/tx/%s",
	8453:     "https://basescan.org/tx/%s",
	84532:    "https://sepolia.basescan.org/tx/%s",
	10:       "https://optimistic.etherscan.io/tx/%s",
	11155420: "https://sepolia-optimism.etherscan.io/tx/%s",
	42161:    "https://arbiscan.io/tx/%s",
	421614:   "https://sepolia.arbiscan.io/tx/%s",
	137:      "https://polygonscan.com/tx/%s",
	80002:    "https://amoy.polygonscan.com/tx/%s",
	43114:    "https://snowtrace.io/tx/%s",
	43113:    "https://testnet.snowtrace.io/tx/%s",
	42220:    "https://celoscan.io/tx/%s",
}

// ExplorerURL implements payments.Family: the explorers of Ethereum, Base,
// Optimism, Arbitrum, Polygon, Avalanche and Celo (and their testnets), for
// a transaction hash (0x and 64 hex digits).
func (Family) ExplorerURL(n payments.Network, tx string) string {
	id, err := chainIDOf(string(n))
	pattern, ok := explorers[id]
	if err != nil || !ok || len(tx) != 66 || !strings.HasPrefix(tx, "0x") {
		return ""
	}
	if _, err := hex.DecodeString(tx[2:]); err != nil {
		return ""
	}
	return fmt.Sprintf(pattern, tx)
}

// CheckAsset implements payments.Family: an EIP-3009 token is signed for
// under its EIP-712 domain, so its name and version must be known.
func (Family) CheckAsset(a payments.Asset) error {
	if a.Name == "" || a.Version == "" {
		return fmt.Errorf("the EIP-712 domain of %s on %s is not known", a.Address, a.Network)
	}
	return nil
}

// ParseAddress reads a 0x address a person typed for money to go to: 40 hex
// digits, and when written in mixed case, a valid EIP-55 checksum (a typo
// in a checksummed address is caught instead of paying a stranger). The
// zero address is refused. An error for text without the 0x prefix wraps
// payments.ErrNotAddress.
func ParseAddress(s string) (common.Address, error) {
	if !common.IsHexAddress(s) || !hasHexPrefix(s) {
		return common.Address{}, notAddress(s)
	}
	hexPart := s[2:]
	a := common.HexToAddress(s)
	if hexPart != strings.ToLower(hexPart) && hexPart != strings.ToUpper(hexPart) && a.Hex() != "0x"+hexPart {
		return common.Address{}, fmt.Errorf("%s has a bad EIP-55 checksum (mixed case that does not match): check it for a typo; the checksummed form of what was written is %s", s, a.Hex())
	}
	if a == (common.Address{}) {
		return common.Address{}, fmt.Errorf("the zero address burns what it receives: it cannot be tipped")
	}
	return a, nil
}

// notAddress is the error for s that is not an address: it wraps
// payments.ErrNotAddress when s does not even start with 0x.
func notAddress(s string) error {
	const format = "%q is not an address: write 0x and 40 hex digits"
	if !hasHexPrefix(s) {
		return payments.NotAddressf(format, payments.Sanitize(s, 80))
	}
	return fmt.Errorf(format, payments.Sanitize(s, 80))
}

// checksummed returns a's EIP-55 form, remembered for the few addresses a
// process meets (sellers' payees and tokens): computing it hashes the
// address and allocates, and every option of every 402 names two.
func checksummed(a common.Address) string {
	if s, ok := checksums.Load(a); ok {
		return s.(string)
	}
	s := a.Hex()
	if checksumCount.Add(1) <= maxChecksums {
		checksums.Store(a, s)
	}
	return s
}

var (
	checksums     sync.Map // common.Address → string
	checksumCount atomic.Int64
)

// maxChecksums bounds the cache: addresses come from sellers' 402 answers,
// and a hostile seller must not grow it without end.
const maxChecksums = 4096

func hasHexPrefix(s string) bool { return strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") }
