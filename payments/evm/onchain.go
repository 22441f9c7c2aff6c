package evm

import (
	"context"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

// AuthorizationRef names one EIP-3009 authorization on chain: the payer's
// nonce on the token at Asset on Network.
type AuthorizationRef struct {
	Network      payments.Network
	Asset, Payer common.Address
	Nonce        [32]byte
	// Since is a time no later than the authorization was signed: the
	// transaction that used it, if any, is in a block no older. Zero when
	// unknown. It bounds the search for that transaction.
	Since time.Time
}

// AuthorizationStatus is what the chain says of an authorization.
type AuthorizationStatus struct {
	// Used: the nonce is used on chain (the authorization was settled).
	Used bool
	// Transaction is the hash of the transaction that used it, when found.
	Transaction string
	// Block and BlockTime are the block the state was read at and its
	// timestamp. For an unused nonce this is one block, read once: the
	// nonce was unused in the state after it, and its timestamp is what
	// proves expiry (an authorization whose validBefore is at or before
	// BlockTime can never be used: later blocks are never older).
	Block     uint64
	BlockTime time.Time
	// Amount is what the transaction that used a Permit2 nonce moved to the
	// payee, when it was found (nil otherwise, and for EIP-3009).
	Amount *big.Int
}

// Checker reads an authorization's state on chain: what Exact proves a
// payment's fate with. RPCChecker implements it over JSON-RPC. An error for
// a network without an endpoint wraps payments.ErrNoRPC.
type Checker interface {
	CheckAuthorization(ctx context.Context, a AuthorizationRef) (AuthorizationStatus, error)
}

// Permit2NonceRef names one Permit2 payment on chain: the owner's
// unordered nonce, and the token and payee of the transfer that would use
// it.
type Permit2NonceRef struct {
	Network      payments.Network
	Token, Owner common.Address
	PayTo        common.Address
	Nonce        *big.Int
	// Since is a time no later than the payment was signed (see
	// AuthorizationRef.Since).
	Since time.Time
}

// Permit2Checker reads what Permit2 payments need from the chain: an
// owner's ERC-20 allowance, a token's EIP-2612 nonce and domain separator,
// and a Permit2 nonce's state. RPCChecker implements it. An error for a
// network without an endpoint wraps payments.ErrNoRPC.
type Permit2Checker interface {
	// Allowance is the token's allowance(owner, spender).
	Allowance(ctx context.Context, network payments.Network, token, owner, spender common.Address) (*big.Int, error)
	// PermitNonce is an EIP-2612 token's nonces(owner).
	PermitNonce(ctx context.Context, network payments.Network, token, owner common.Address) (*big.Int, error)
	// DomainSeparatorOf is the token's DOMAIN_SEPARATOR().
	DomainSeparatorOf(ctx context.Context, network payments.Network, token common.Address) (common.Hash, error)
	// CheckPermit2Nonce is CheckAuthorization for a Permit2 nonce: its bit
	// in Permit2's nonceBitmap at one block, with the transfer that used it
	// (transaction and amount) when found.
	CheckPermit2Nonce(ctx context.Context, r Permit2NonceRef) (AuthorizationStatus, error)
}

// Signer is an EVM key that signs without showing itself: the payer of
// Exact.Sign. package wallet's keys implement it. Its errors never hold key
// material.
type Signer interface {
	payments.Signer
	// Address is the signer's address (Payer is its checksummed form).
	Address() common.Address
	// SignDigest signs a 32-byte EIP-712 digest and returns r‖s‖v, v = 27
	// or 28.
	SignDigest(ctx context.Context, digest common.Hash) ([]byte, error)
}
