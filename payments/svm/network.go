package svm

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gagliardetto/solana-go"
)

// Network is a Solana network as its CAIP-2 identifier
// ("solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1").
type Network string

// The Solana networks x402 names: their CAIP-2 ids are "solana:" and the
// first 32 characters of the genesis hash.
const (
	Mainnet Network = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"
	Devnet  Network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
	Testnet Network = "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z"
)

// networks lists the known networks with their x402 v1 names and the names
// people read.
var networks = []struct {
	id     Network
	v1     string
	people string
}{
	{Mainnet, "solana", "Solana"},
	{Devnet, "solana-devnet", "Solana devnet"},
	{Testnet, "solana-testnet", "Solana testnet"},
}

// Networks returns the Solana networks x402-mcp can pay on.
func Networks() []Network {
	out := make([]Network, len(networks))
	for i, n := range networks {
		out[i] = n.id
	}
	return out
}

// ParseNetwork reads a network as x402 writes it: a v1 name ("solana-devnet")
// or a CAIP-2 id ("solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"). ok is false, with
// no error, for a network of another family (no "solana" prefix); a
// "solana…" network x402-mcp does not know is an error that names the
// known ones.
func ParseNetwork(s string) (n Network, ok bool, err error) {
	for _, k := range networks {
		if s == k.v1 || s == string(k.id) {
			return k.id, true, nil
		}
	}
	if !strings.HasPrefix(s, "solana:") && !strings.HasPrefix(s, "solana-") && s != "solana" {
		return "", false, nil
	}
	return "", true, fmt.Errorf("%q is not a Solana network x402-mcp knows: use solana, solana-devnet or solana-testnet (or their CAIP-2 ids, e.g. %s)", clip(s), Devnet)
}

// Name is the network's name for people: "Solana", "Solana devnet".
func (n Network) Name() string {
	for _, k := range networks {
		if k.id == n {
			return k.people
		}
	}
	return string(n)
}

// V1Name is the network's x402 v1 name ("solana-devnet"), or "" for a
// network x402-mcp does not know.
func (n Network) V1Name() string {
	for _, k := range networks {
		if k.id == n {
			return k.v1
		}
	}
	return ""
}

// USDC mints, owned by the Token program, 6 decimals. Devnet and testnet
// share the devnet mint, as the reference SDK's asset table does.
var (
	USDCMainnet = solana.MustPublicKeyFromBase58("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
	USDCDevnet  = solana.MustPublicKeyFromBase58("4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU")
)

// USDCDecimals is the decimals of the USDC mints.
const USDCDecimals = 6

// KnownUSDC returns the USDC mint of n.
func KnownUSDC(n Network) (solana.PublicKey, bool) {
	switch n {
	case Mainnet:
		return USDCMainnet, true
	case Devnet, Testnet:
		return USDCDevnet, true
	}
	return solana.PublicKey{}, false
}

// ParseAddress reads a base58 Solana address: a 32-byte ed25519 public key
// (or a program-derived address, which has the same form). what names the
// field in the error ("payTo", "extra.feePayer"). Solana addresses are
// case-sensitive; an EVM 0x address is refused by name.
func ParseAddress(what, s string) (solana.PublicKey, error) {
	if s == "" {
		return solana.PublicKey{}, fmt.Errorf("%s is empty: a Solana address is 32 to 44 base58 characters", what)
	}
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return solana.PublicKey{}, fmt.Errorf("%s %q is an EVM address, not a Solana one (base58, such as %s)", what, clip(s), USDCDevnet)
	}
	if len(s) < 32 || len(s) > 44 {
		return solana.PublicKey{}, fmt.Errorf("%s %q is not a Solana address: one is 32 to 44 base58 characters, this is %d", what, clip(s), len(s))
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune(base58Alphabet, r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return solana.PublicKey{}, fmt.Errorf("%s %q is not a Solana address: %q is not a base58 character (base58 has no 0, O, I or l)", what, clip(s), r)
	}
	pk, err := solana.PublicKeyFromBase58(s)
	if err != nil {
		return solana.PublicKey{}, fmt.Errorf("%s %q is not a Solana address: it does not decode to 32 bytes", what, clip(s))
	}
	return pk, nil
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// clip shortens a string from a seller or a user for an error message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
