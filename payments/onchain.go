package payments

import (
	"context"
	"errors"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// AuthorizationRef names one EIP-3009 authorization on chain: the payer's
// nonce on the token at Asset on Network.
type AuthorizationRef struct {
	Network      Network
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
}

// ChainChecker reads an authorization's state on chain. payments/chain's
// RPCChecker implements it over JSON-RPC; payments does not import it.
type ChainChecker interface {
	CheckAuthorization(ctx context.Context, a AuthorizationRef) (AuthorizationStatus, error)
}

// ErrNoRPC is wrapped by a ChainChecker's error for a network it has no
// endpoint for: nothing can be proven there until one is configured.
var ErrNoRPC = errors.New("no rpc endpoint configured for the network")
