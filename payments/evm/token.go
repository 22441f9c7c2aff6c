package evm

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Caller runs a read-only call of the contract at to on the latest block
// and returns what it returned (eth_call). *Client implements it;
// simchain.Caller adapts go-ethereum's clients.
type Caller interface {
	Call(ctx context.Context, to common.Address, data []byte) ([]byte, error)
}

// The token's view functions, as USDC (FiatTokenV2), ERC-20 (decimals) and
// the test token of contracts/ declare them. Their calldata is the selector (the first four
// bytes of the keccak256 of the signature) and each argument as one 32-byte
// word; each returns one 32-byte word.
var (
	selAuthorizationState = selector("authorizationState(address,bytes32)")
	selBalanceOf          = selector("balanceOf(address)")
	selDomainSeparator    = selector("DOMAIN_SEPARATOR()")
	selDecimals           = selector("decimals()")
)

func selector(sig string) [4]byte {
	var s [4]byte
	copy(s[:], crypto.Keccak256([]byte(sig)))
	return s
}

// calldata is sel followed by the words.
func calldata(sel [4]byte, words ...[32]byte) []byte {
	b := make([]byte, 0, 4+32*len(words))
	b = append(b, sel[:]...)
	for _, w := range words {
		b = append(b, w[:]...)
	}
	return b
}

// addressWord is an address left-padded to a word.
func addressWord(a common.Address) [32]byte {
	var w [32]byte
	copy(w[12:], a[:])
	return w
}

// call runs name with data on the token at asset and returns its one word.
func call(ctx context.Context, c Caller, asset common.Address, name string, data []byte) ([32]byte, error) {
	out, err := c.Call(ctx, asset, data)
	if err != nil {
		return [32]byte{}, fmt.Errorf("call %s on %s: %w", name, asset.Hex(), err)
	}
	if len(out) == 0 {
		// A call to an address without code succeeds with no data.
		return [32]byte{}, fmt.Errorf("call %s on %s: no answer (is a token contract deployed at that address on this network?)", name, asset.Hex())
	}
	if len(out) != 32 {
		return [32]byte{}, fmt.Errorf("decode %s from %s: %d bytes returned, want one 32-byte word (is that contract a USDC-like token?)", name, asset.Hex(), len(out))
	}
	return [32]byte(out), nil
}

// decodeBool reads an ABI bool: 31 zero bytes and 0 or 1.
func decodeBool(w [32]byte) (bool, error) {
	for _, b := range w[:31] {
		if b != 0 {
			return false, fmt.Errorf("0x%x is not an ABI bool", w)
		}
	}
	switch w[31] {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, fmt.Errorf("0x%x is not an ABI bool", w)
}

// decodeAmount reads an ABI uint256 that must fit a payments.Amount.
func decodeAmount(w [32]byte) (payments.Amount, bool) {
	for _, b := range w[:24] {
		if b != 0 {
			return 0, false
		}
	}
	var v uint64
	for _, b := range w[24:] {
		v = v<<8 | uint64(b)
	}
	return payments.Amount(v), true
}

// AuthorizationState reports whether payer's EIP-3009 nonce has been used
// (or canceled) on the token at asset: authorizationState(payer, nonce).
func AuthorizationState(ctx context.Context, c Caller, asset, payer common.Address, nonce [32]byte) (bool, error) {
	w, err := call(ctx, c, asset, "authorizationState", calldata(selAuthorizationState, addressWord(payer), nonce))
	if err != nil {
		return false, err
	}
	used, err := decodeBool(w)
	if err != nil {
		return false, fmt.Errorf("decode authorizationState from %s: %w", asset.Hex(), err)
	}
	return used, nil
}

// BlockCaller runs a read-only call of the contract at to on block number n
// (eth_call at that block). *Client implements it.
type BlockCaller interface {
	CallAt(ctx context.Context, to common.Address, data []byte, n uint64) ([]byte, error)
}

// AuthorizationStateAt is AuthorizationState in the state after block n.
func AuthorizationStateAt(ctx context.Context, c BlockCaller, asset, payer common.Address, nonce [32]byte, n uint64) (bool, error) {
	return AuthorizationState(ctx, atBlock{c, n}, asset, payer, nonce)
}

// atBlock is a BlockCaller pinned to one block, as a Caller.
type atBlock struct {
	c BlockCaller
	n uint64
}

func (a atBlock) Call(ctx context.Context, to common.Address, data []byte) ([]byte, error) {
	return a.c.CallAt(ctx, to, data, a.n)
}

// TopicAuthorizationUsed is the topic of the token's AuthorizationUsed
// (address indexed authorizer, bytes32 indexed nonce) event, which
// transferWithAuthorization emits beside its Transfer.
var TopicAuthorizationUsed = crypto.Keccak256Hash([]byte("AuthorizationUsed(address,bytes32)"))

// BalanceOf returns addr's balance of the token at asset, in atomic units.
// It fails when the balance does not fit a payments.Amount.
func BalanceOf(ctx context.Context, c Caller, asset, addr common.Address) (payments.Amount, error) {
	w, err := call(ctx, c, asset, "balanceOf", calldata(selBalanceOf, addressWord(addr)))
	if err != nil {
		return 0, err
	}
	b, ok := decodeAmount(w)
	if !ok {
		return 0, fmt.Errorf("balance of %s on %s is %s atomic units, too large to count", addr.Hex(), asset.Hex(), new(big.Int).SetBytes(w[:]))
	}
	return b, nil
}

// DomainSeparator returns the token's EIP-712 DOMAIN_SEPARATOR().
func DomainSeparator(ctx context.Context, c Caller, asset common.Address) (common.Hash, error) {
	w, err := call(ctx, c, asset, "DOMAIN_SEPARATOR", calldata(selDomainSeparator))
	if err != nil {
		return common.Hash{}, err
	}
	return common.Hash(w), nil
}

// MaxDecimals is the most decimals x402-mcp accepts for a token: amounts are
// counted in 64 bits, which hold 18.4 whole tokens of 18 decimals.
const MaxDecimals = 18

// Decimals returns the token's ERC-20 decimals(): how many of its atomic
// units make one token. It fails when the answer is not a uint8, or is more
// than MaxDecimals.
func Decimals(ctx context.Context, c Caller, asset common.Address) (int, error) {
	w, err := call(ctx, c, asset, "decimals", calldata(selDecimals))
	if err != nil {
		return 0, err
	}
	for _, b := range w[:31] {
		if b != 0 {
			return 0, fmt.Errorf("decode decimals from %s: 0x%x is not a uint8", asset.Hex(), w)
		}
	}
	if d := int(w[31]); d <= MaxDecimals {
		return d, nil
	}
	return 0, fmt.Errorf("the token at %s has %d decimals: x402-mcp counts tokens of at most %d", asset.Hex(), w[31], MaxDecimals)
}
