// This file is what the chain client reads for Permit2 payments: ERC-20
// allowances, EIP-2612 nonces and domain separators, and Permit2's nonce
// bitmap, with the transfer that used a nonce.

package evm

import (
	"bytes"
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/x402-mcp/x402-mcp/payments"
)

var _ Permit2Checker = (*RPCChecker)(nil)

// The view functions Permit2 payments read.
var (
	selAllowance   = selector("allowance(address,address)")
	selNonces      = selector("nonces(address)")
	selNonceBitmap = selector("nonceBitmap(address,uint256)")
	// SelApprove is ERC-20 approve(address,uint256), which
	// `wallet approve-permit2` sends.
	SelApprove = selector("approve(address,uint256)")
)

// TopicTransfer is the topic of ERC-20's Transfer(address indexed from,
// address indexed to, uint256 value).
var TopicTransfer = crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))

// uintWord is v as an ABI word.
func uintWord(v *big.Int) [32]byte {
	var w [32]byte
	v.FillBytes(w[:])
	return w
}

// Allowance returns the token's allowance(owner, spender).
func Allowance(ctx context.Context, c Caller, token, owner, spender common.Address) (*big.Int, error) {
	w, err := call(ctx, c, token, "allowance", calldata(selAllowance, addressWord(owner), addressWord(spender)))
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(w[:]), nil
}

// Permit2NonceUsed reports whether owner's Permit2 unordered nonce is used:
// its bit in nonceBitmap(owner, nonce >> 8).
func Permit2NonceUsed(ctx context.Context, c Caller, owner common.Address, nonce *big.Int) (bool, error) {
	pos, bit := NonceWord(nonce)
	w, err := call(ctx, c, Permit2Address, "nonceBitmap", calldata(selNonceBitmap, addressWord(owner), uintWord(pos)))
	if err != nil {
		return false, err
	}
	return new(big.Int).SetBytes(w[:]).Bit(int(bit)) == 1, nil
}

// Allowance implements Permit2Checker.
func (c *RPCChecker) Allowance(ctx context.Context, network payments.Network, token, owner, spender common.Address) (*big.Int, error) {
	cl, raw, err := c.client(ctx, network)
	if err != nil {
		return nil, err
	}
	v, err := Allowance(ctx, cl, token, owner, spender)
	if err != nil {
		return nil, redact(fmt.Errorf("%s via %s: %w", network, raw, err), raw)
	}
	return v, nil
}

// PermitNonce implements Permit2Checker.
func (c *RPCChecker) PermitNonce(ctx context.Context, network payments.Network, token, owner common.Address) (*big.Int, error) {
	cl, raw, err := c.client(ctx, network)
	if err != nil {
		return nil, err
	}
	w, err := call(ctx, cl, token, "nonces", calldata(selNonces, addressWord(owner)))
	if err != nil {
		return nil, redact(fmt.Errorf("%s via %s: %w", network, raw, err), raw)
	}
	return new(big.Int).SetBytes(w[:]), nil
}

// DomainSeparatorOf implements Permit2Checker.
func (c *RPCChecker) DomainSeparatorOf(ctx context.Context, network payments.Network, token common.Address) (common.Hash, error) {
	cl, raw, err := c.client(ctx, network)
	if err != nil {
		return common.Hash{}, err
	}
	h, err := DomainSeparator(ctx, cl, token)
	if err != nil {
		return common.Hash{}, redact(fmt.Errorf("%s via %s: %w", network, raw, err), raw)
	}
	return h, nil
}

// CheckPermit2Nonce implements Permit2Checker: as CheckAuthorization, with
// the nonce's bit in Permit2's nonceBitmap. For a used nonce it looks for
// the token's Transfer from the owner to the payee in a transaction whose
// input carries the nonce (the proxy's settle call does), and returns that
// transaction and the amount it moved. The owner can also burn a nonce
// (invalidateUnorderedNonces): then it is used and no transfer is found.
func (c *RPCChecker) CheckPermit2Nonce(ctx context.Context, r Permit2NonceRef) (AuthorizationStatus, error) {
	if r.Nonce == nil || r.Nonce.Sign() < 0 || r.Nonce.BitLen() > 256 {
		return AuthorizationStatus{}, fmt.Errorf("Permit2 nonce %v is not a uint256", r.Nonce)
	}
	word := uintWord(r.Nonce)
	return c.check(ctx, r.Network, func(ctx context.Context, cl *Client, block uint64) (bool, error) {
		return Permit2NonceUsed(ctx, atBlock{cl, block}, r.Owner, r.Nonce)
	}, func(ctx context.Context, cl *Client, upTo uint64) (common.Hash, *big.Int, bool) {
		topics := []common.Hash{TopicTransfer, common.Hash(addressWord(r.Owner)), common.Hash(addressWord(r.PayTo))}
		l, ok := findLog(ctx, cl, r.Token, topics, r.Since, upTo, func(l Log) bool {
			in, err := cl.TransactionInput(ctx, l.TxHash)
			return err == nil && bytes.Contains(in, word[:])
		})
		if !ok {
			return common.Hash{}, nil, false
		}
		var amt *big.Int
		if len(l.Data) == 32 {
			amt = new(big.Int).SetBytes(l.Data)
		}
		return l.TxHash, amt, true
	})
}
