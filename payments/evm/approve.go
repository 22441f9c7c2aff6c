// This file sends one transaction from the wallet: the ERC-20 approval of
// Permit2 that `x402-mcp wallet approve-permit2` makes. The binary links
// no go-ethereum core/types, so the EIP-1559 transaction is encoded here
// (with go-ethereum's rlp, which its crypto already links).

package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/x402-mcp/x402-mcp/payments"
)

// DynamicFeeTx is an EIP-1559 (type 2) transaction with an empty access
// list.
type DynamicFeeTx struct {
	ChainID *big.Int
	Nonce   uint64
	// Tip is maxPriorityFeePerGas, FeeCap maxFeePerGas, in wei.
	Tip, FeeCap *big.Int
	Gas         uint64
	To          common.Address
	Value       *big.Int
	Data        []byte
}

func (tx DynamicFeeTx) fields() []any {
	value := tx.Value
	if value == nil {
		value = new(big.Int)
	}
	return []any{tx.ChainID, tx.Nonce, tx.Tip, tx.FeeCap, tx.Gas, tx.To, value, tx.Data, []any{}}
}

// SigningHash is the hash the sender signs: keccak256(0x02 ‖
// rlp([chainId, nonce, tip, feeCap, gas, to, value, data, accessList])).
func (tx DynamicFeeTx) SigningHash() (common.Hash, error) {
	b, err := rlp.EncodeToBytes(tx.fields())
	if err != nil {
		return common.Hash{}, fmt.Errorf("encode the transaction: %w", err)
	}
	return crypto.Keccak256Hash(append([]byte{2}, b...)), nil
}

// Encode returns the signed transaction as eth_sendRawTransaction takes it:
// 0x02 ‖ rlp([… the fields, yParity, r, s]); sig is r‖s‖v, v 27/28 or 0/1.
func (tx DynamicFeeTx) Encode(sig []byte) ([]byte, error) {
	if len(sig) != 65 {
		return nil, fmt.Errorf("signature is %d bytes, want 65", len(sig))
	}
	v := sig[64]
	if v >= 27 {
		v -= 27
	}
	if v > 1 {
		return nil, errors.New("signature has an invalid recovery id")
	}
	f := append(tx.fields(), uint64(v), new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64]))
	b, err := rlp.EncodeToBytes(f)
	if err != nil {
		return nil, fmt.Errorf("encode the transaction: %w", err)
	}
	return append([]byte{2}, b...), nil
}

// Approval is an ERC-20 approve(spender, amount) the wallet is about to
// send, as PlanApproval read it from the chain: what
// `wallet approve-permit2` shows before it sends.
type Approval struct {
	Network payments.Network
	Token   common.Address
	Owner   common.Address
	Spender common.Address
	Amount  *big.Int
	// Current is the allowance now.
	Current *big.Int
	// Tx is the transaction to sign; MaxFee is the most its gas can cost
	// (Gas × FeeCap, wei), Balance the owner's ETH (wei).
	Tx      DynamicFeeTx
	MaxFee  *big.Int
	Balance *big.Int
}

// PlanApproval reads what an approval of spender for amount of token by
// owner needs from the chain at cl: the chain id (it must be network's),
// the current allowance, the owner's nonce and ETH balance, a gas estimate
// (plus a fifth) and the fees (maxFeePerGas twice the base fee plus the
// tip). Nothing is sent.
func PlanApproval(ctx context.Context, cl *Client, network payments.Network, owner, token, spender common.Address, amount *big.Int) (*Approval, error) {
	id, err := cl.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	if want := ChainID(network); id.Cmp(want) != 0 {
		return nil, fmt.Errorf("the rpc endpoint serves chain %s, not %s: fix the rpc entry in registry.yaml", id, want)
	}
	current, err := Allowance(ctx, cl, token, owner, spender)
	if err != nil {
		return nil, fmt.Errorf("read the allowance: %w", err)
	}
	data := calldata(SelApprove, addressWord(spender), uintWord(amount))
	call := map[string]string{"from": owner.Hex(), "to": token.Hex(), "data": "0x" + common.Bytes2Hex(data)}
	gas, err := cl.Quantity(ctx, "eth_estimateGas", call)
	if err != nil {
		return nil, fmt.Errorf("estimate the approval's gas (does the token take approve?): %w", err)
	}
	nonce, err := cl.Quantity(ctx, "eth_getTransactionCount", owner.Hex(), "pending")
	if err != nil {
		return nil, err
	}
	balance, err := cl.Quantity(ctx, "eth_getBalance", owner.Hex(), "latest")
	if err != nil {
		return nil, err
	}
	base, err := cl.BaseFee(ctx)
	if err != nil {
		return nil, err
	}
	tip, err := cl.Quantity(ctx, "eth_maxPriorityFeePerGas")
	if err != nil {
		// Nodes without it: the gas price less the base fee, at least 1 wei.
		price, perr := cl.Quantity(ctx, "eth_gasPrice")
		if perr != nil {
			return nil, errors.Join(err, perr)
		}
		tip = new(big.Int).Sub(price, base)
		if tip.Sign() <= 0 {
			tip = big.NewInt(1)
		}
	}
	if !gas.IsUint64() || !nonce.IsUint64() {
		return nil, errors.New("the node's gas estimate or nonce is out of range")
	}
	g := gas.Uint64() + gas.Uint64()/5
	feeCap := new(big.Int).Add(new(big.Int).Mul(base, big.NewInt(2)), tip)
	a := &Approval{
		Network: network, Token: token, Owner: owner, Spender: spender, Amount: amount, Current: current, Balance: balance,
		Tx:     DynamicFeeTx{ChainID: id, Nonce: nonce.Uint64(), Tip: tip, FeeCap: feeCap, Gas: g, To: token, Data: data},
		MaxFee: new(big.Int).Mul(new(big.Int).SetUint64(g), feeCap),
	}
	return a, nil
}

// Send signs the approval with s (it must be the owner) and sends it,
// then waits, until ctx ends, for it to be mined. It returns the
// transaction's hash, and an error when it reverted or was not mined in
// time (the hash says which transaction to look for).
func (a *Approval) Send(ctx context.Context, cl *Client, s Signer) (common.Hash, error) {
	if s.Address() != a.Owner {
		return common.Hash{}, fmt.Errorf("the wallet is %s, not the owner %s", s.Address().Hex(), a.Owner.Hex())
	}
	h, err := a.Tx.SigningHash()
	if err != nil {
		return common.Hash{}, err
	}
	sig, err := s.SignDigest(ctx, h)
	if err != nil {
		return common.Hash{}, err
	}
	raw, err := a.Tx.Encode(sig)
	if err != nil {
		return common.Hash{}, err
	}
	txHash := crypto.Keccak256Hash(raw)
	sent, err := cl.Send(ctx, raw)
	if err != nil {
		return txHash, fmt.Errorf("send the approval: %w", err)
	}
	if sent != txHash {
		return sent, fmt.Errorf("the node names the transaction %s, not %s", sent.Hex(), txHash.Hex())
	}
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		rc, mined, err := cl.TransactionReceipt(ctx, txHash)
		switch {
		case err == nil && mined && rc.Status == 1:
			return txHash, nil
		case err == nil && mined:
			return txHash, fmt.Errorf("the approval %s was mined in block %d and reverted: %w", txHash.Hex(), rc.BlockNumber, ErrReverted)
		}
		select {
		case <-ctx.Done():
			return txHash, fmt.Errorf("the approval %s was sent, not mined yet (%w): look it up before sending another", txHash.Hex(), ctx.Err())
		case <-time.After(delay):
		}
	}
}
