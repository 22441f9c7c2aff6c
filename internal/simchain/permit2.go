// This file is Permit2 on the simulated chain: Permit2 and the two x402
// proxies at their canonical addresses, tokens without EIP-3009 (a plain
// ERC-20, an EIP-2612 token), and what a facilitator and a payer do with
// them (settle through a proxy, approve Permit2, fund gas).

package simchain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm/runtime"

	"github.com/x402-mcp/x402-mcp/contracts"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// TokenKind says which transfer methods a token of the chain offers.
type TokenKind string

// The kinds of tokens the chain deploys.
const (
	// KindEIP3009: EIP-3009 transferWithAuthorization (contracts/EIP3009Token.sol, USDC-like).
	KindEIP3009 TokenKind = "an EIP-3009 token"
	// KindERC20: a plain ERC-20, paid only through Permit2 with an allowance.
	KindERC20 TokenKind = "a plain ERC-20"
	// KindEIP2612: an ERC-20 with EIP-2612 permit, paid through Permit2; a
	// permit can give Permit2 its allowance.
	KindEIP2612 TokenKind = "an EIP-2612 token"
)

// The ABIs of the contracts the chain runs, for the transactions it sends.
var (
	ERC20ABI   = mustABI("ERC20Token", contracts.ERC20TokenABI)
	EIP2612ABI = mustABI("EIP2612Token", contracts.EIP2612TokenABI)
	Permit2ABI = mustABI("Permit2", contracts.Permit2ABI)
	ExactABI   = mustABI("x402ExactPermit2Proxy", contracts.ExactPermit2ProxyABI)
	UptoABI    = mustABI("x402UptoPermit2Proxy", contracts.UptoPermit2ProxyABI)
)

func mustABI(name, j string) abi.ABI {
	a, err := abi.JSON(strings.NewReader(j))
	if err != nil {
		panic("simchain: contracts/" + name + ".abi does not parse: " + err.Error())
	}
	return a
}

// canonical are the contracts that live at the same address on every chain.
var canonical = []struct {
	name string
	addr common.Address
	code func() []byte
}{
	{"Permit2", evm.Permit2Address, contracts.Permit2Bytecode},
	{"x402ExactPermit2Proxy", evm.ExactPermit2ProxyAddress, contracts.ExactPermit2ProxyBytecode},
	{"x402UptoPermit2Proxy", evm.UptoPermit2ProxyAddress, contracts.UptoPermit2ProxyBytecode},
}

// canonicalAlloc returns the genesis accounts that hold Permit2 and the
// proxies at their canonical addresses. Their creation code runs once in
// a throwaway EVM and its runtime code goes into the genesis: none of them
// keeps state a constructor sets (Permit2 computes its domain separator
// from the chain id and its own address on every call).
func canonicalAlloc() (types.GenesisAlloc, error) {
	alloc := types.GenesisAlloc{}
	for _, c := range canonical {
		code, _, _, err := runtime.Create(c.code(), nil)
		if err != nil {
			return nil, fmt.Errorf("create %s's runtime code: %w", c.name, err)
		}
		if len(code) == 0 {
			return nil, fmt.Errorf("create %s's runtime code: no code", c.name)
		}
		alloc[c.addr] = types.Account{Code: code, Balance: new(big.Int)}
	}
	return alloc, nil
}

// DeployERC20 deploys a plain ERC-20 (no EIP-3009, no EIP-2612) with the
// relayer as its minter: a token x402 pays only through Permit2. Its
// Domain has the name and no version (it signs nothing itself).
func (s *Sim) DeployERC20(ctx context.Context, name, symbol string, decimals uint8) (*Token, error) {
	if name == "" || symbol == "" {
		return nil, errors.New("deploy ERC-20: set the name and the symbol")
	}
	args, err := ERC20ABI.Pack("", name, symbol, decimals)
	if err != nil {
		return nil, fmt.Errorf("deploy ERC-20: encode constructor: %w", err)
	}
	return s.deploy(ctx, KindERC20, contracts.ERC20TokenBytecode(), args, evm.Domain{Name: name}, symbol, decimals)
}

// DeployEIP2612 deploys an ERC-20 with EIP-2612 permit (no EIP-3009), with
// the relayer as its minter, under the EIP-712 domain (name, version).
func (s *Sim) DeployEIP2612(ctx context.Context, o TokenOptions) (*Token, error) {
	if o.Name == "" || o.Version == "" || o.Symbol == "" {
		return nil, errors.New("deploy EIP-2612 token: set Name, Version and Symbol")
	}
	args, err := EIP2612ABI.Pack("", o.Name, o.Version, o.Symbol, o.Decimals)
	if err != nil {
		return nil, fmt.Errorf("deploy EIP-2612 token: encode constructor: %w", err)
	}
	return s.deploy(ctx, KindEIP2612, contracts.EIP2612TokenBytecode(), args, evm.Domain{Name: o.Name, Version: o.Version}, o.Symbol, o.Decimals)
}

func (s *Sim) deploy(ctx context.Context, kind TokenKind, code, args []byte, d evm.Domain, symbol string, decimals uint8) (*Token, error) {
	s.mu.Lock()
	rc, err := s.sendLocked(ctx, nil, append(code, args...))
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("deploy %s (%s): %w", symbol, kind, err)
	}
	d.ChainID, d.VerifyingContract = big.NewInt(ChainID), rc.ContractAddress
	return &Token{sim: s, addr: rc.ContractAddress, symbol: symbol, decimals: decimals, kind: kind, domain: d}, nil
}

// Kind says which transfer methods the token offers.
func (t *Token) Kind() TokenKind { return t.kind }

// FundETH sends wei from the relayer to addr (gas money for a payer that
// sends its own transactions, such as an approval of Permit2).
func (s *Sim) FundETH(ctx context.Context, addr common.Address, wei *big.Int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.sendAsLocked(ctx, s.relayer, &addr, wei, nil); err != nil {
		return fmt.Errorf("fund %s with %s wei: %w", addr.Hex(), wei, err)
	}
	return nil
}

// ETHBalance returns addr's balance in wei.
func (s *Sim) ETHBalance(ctx context.Context, addr common.Address) (*big.Int, error) {
	return s.client.BalanceAt(ctx, addr, nil)
}

// Approve sends approve(spender, amount) on the token from key's address,
// which pays the gas (fund it first with FundETH), and mines it.
func (t *Token) Approve(ctx context.Context, key *ecdsa.PrivateKey, spender common.Address, amount *big.Int) (common.Hash, error) {
	data, err := ERC20ABI.Pack("approve", spender, amount)
	if err != nil {
		return common.Hash{}, err
	}
	t.sim.mu.Lock()
	defer t.sim.mu.Unlock()
	rc, err := t.sim.sendAsLocked(ctx, key, &t.addr, nil, data)
	if err != nil {
		return common.Hash{}, fmt.Errorf("approve %s for %s: %w", spender.Hex(), t.symbol, err)
	}
	return rc.TxHash, nil
}

// Allowance returns the token's allowance(owner, spender).
func (t *Token) Allowance(ctx context.Context, owner, spender common.Address) (*big.Int, error) {
	var out *big.Int
	err := t.sim.callABI(ctx, ERC20ABI, t.addr, "allowance", &out, owner, spender)
	return out, err
}

// PermitNonce returns an EIP-2612 token's nonces(owner).
func (t *Token) PermitNonce(ctx context.Context, owner common.Address) (*big.Int, error) {
	if t.kind != KindEIP2612 {
		return nil, fmt.Errorf("%s is %s, without EIP-2612", t.symbol, t.kind)
	}
	var out *big.Int
	err := t.sim.callABI(ctx, EIP2612ABI, t.addr, "nonces", &out, owner)
	return out, err
}

// Permit2NonceUsed reports whether owner's Permit2 unordered nonce is used
// (its bit set in nonceBitmap).
func (s *Sim) Permit2NonceUsed(ctx context.Context, owner common.Address, nonce *big.Int) (bool, error) {
	pos, bit := evm.NonceWord(nonce)
	var word *big.Int
	if err := s.callABI(ctx, Permit2ABI, evm.Permit2Address, "nonceBitmap", &word, owner, pos); err != nil {
		return false, err
	}
	return word.Bit(int(bit)) == 1, nil
}

// Permit2NonceUsed is Sim.Permit2NonceUsed (a Token is what a facilitator
// settles on).
func (t *Token) Permit2NonceUsed(ctx context.Context, owner common.Address, nonce *big.Int) (bool, error) {
	return t.sim.Permit2NonceUsed(ctx, owner, nonce)
}

// callABI calls method of the contract at to with args on the latest block
// and unpacks its one result into out.
func (s *Sim) callABI(ctx context.Context, a abi.ABI, to common.Address, method string, out any, args ...any) error {
	data, err := a.Pack(method, args...)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", method, err)
	}
	res, err := s.client.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", method, to.Hex(), revertErr(err))
	}
	if err := a.UnpackIntoInterface(out, method, res); err != nil {
		return fmt.Errorf("%s on %s: decode %x: %w", method, to.Hex(), res, err)
	}
	return nil
}

// Call runs a read-only call of the contract at to on the latest block and
// returns what it returned: what the typehash tests read constants with.
func (s *Sim) Call(ctx context.Context, to common.Address, data []byte) ([]byte, error) {
	out, err := s.client.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	return out, revertErr(err)
}

// Code returns the code at addr.
func (s *Sim) Code(ctx context.Context, addr common.Address) ([]byte, error) {
	return s.client.CodeAt(ctx, addr, nil)
}

// Permit2Settlement is evm.Permit2Settlement: what a facilitator submits.
type Permit2Settlement = evm.Permit2Settlement

type tokenPermissions struct {
	Token  common.Address
	Amount *big.Int
}

type permitTransferFrom struct {
	Permitted tokenPermissions
	Nonce     *big.Int
	Deadline  *big.Int
}

type exactWitness struct {
	To         common.Address
	ValidAfter *big.Int
}

type uptoWitness struct {
	To          common.Address
	Facilitator common.Address
	ValidAfter  *big.Int
}

type eip2612Permit struct {
	Value    *big.Int
	Deadline *big.Int
	R, S     [32]byte
	V        uint8
}

// SettlePermit2 settles p through the exact proxy (p.Auth's spender) or
// the upto proxy (an upto witness), as a facilitator does: the relayer
// sends settle, or settleWithPermit with p.Permit, and the transaction is
// mined at once. It returns the hash of a transfer that succeeded; a
// refused one fails with an error wrapping evm.ErrReverted that gives the
// contract's reason (no transaction sent, the hash zero, when the estimate
// found it; otherwise the reverted transaction's hash). The upto proxy lets
// only the witness's facilitator settle: the relayer.
func (t *Token) SettlePermit2(ctx context.Context, p Permit2Settlement) (common.Hash, error) {
	a := p.Auth
	if a.Token != t.addr {
		return common.Hash{}, fmt.Errorf("settle: the authorization permits %s, not %s", a.Token.Hex(), t.addr.Hex())
	}
	permit := permitTransferFrom{Permitted: tokenPermissions{Token: a.Token, Amount: a.Amount}, Nonce: a.Nonce, Deadline: a.Deadline}
	var (
		proxy    = a.Spender
		data     []byte
		err      error
		with2612 *eip2612Permit
	)
	if p.Permit != nil {
		if len(p.PermitSig) != 65 {
			return common.Hash{}, errors.New("settle: the EIP-2612 permit's signature is not 65 bytes")
		}
		v := p.PermitSig[64]
		if v < 27 {
			v += 27
		}
		with2612 = &eip2612Permit{Value: p.Permit.Value, Deadline: p.Permit.Deadline, R: [32]byte(p.PermitSig[:32]), S: [32]byte(p.PermitSig[32:64]), V: v}
	}
	switch {
	case a.Upto() && with2612 != nil:
		data, err = UptoABI.Pack("settleWithPermit", *with2612, permit, p.Amount, a.From, uptoWitness{a.To, *a.Facilitator, a.ValidAfter}, p.Signature)
	case a.Upto():
		data, err = UptoABI.Pack("settle", permit, p.Amount, a.From, uptoWitness{a.To, *a.Facilitator, a.ValidAfter}, p.Signature)
	case with2612 != nil:
		data, err = ExactABI.Pack("settleWithPermit", *with2612, permit, a.From, exactWitness{a.To, a.ValidAfter}, p.Signature)
	default:
		data, err = ExactABI.Pack("settle", permit, a.From, exactWitness{a.To, a.ValidAfter}, p.Signature)
	}
	if err != nil {
		return common.Hash{}, fmt.Errorf("settle: encode: %w", err)
	}
	t.sim.mu.Lock()
	defer t.sim.mu.Unlock()
	rc, err := t.sim.sendLocked(ctx, &proxy, data)
	if err != nil {
		var h common.Hash
		if rc != nil {
			h = rc.TxHash
		}
		return h, fmt.Errorf("settle through %s: %w", proxy.Hex(), err)
	}
	return rc.TxHash, nil
}

// MineEvery seals a block every d until the returned stop is called, so
// that a transaction another program sends over JSON-RPC (which waits in
// the pool: the chain seals blocks only for its own transactions) is mined.
func (s *Sim) MineEvery(d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if s.Seal(1) != nil {
					return
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}

// permit2Chain checks at compile time that a Token has what a facilitator
// settling Permit2 payments asks of its chain.
var _ interface {
	Allowance(ctx context.Context, owner, spender common.Address) (*big.Int, error)
	Permit2NonceUsed(ctx context.Context, owner common.Address, nonce *big.Int) (bool, error)
	SettlePermit2(ctx context.Context, p Permit2Settlement) (common.Hash, error)
	Balance(ctx context.Context, addr common.Address) (payments.Amount, error)
} = (*Token)(nil)

// Relayer returns the address that sends the chain's transactions: what a
// facilitator settling on the token reports as its signer, and what an
// upto payment's witness names.
func (t *Token) Relayer() common.Address { return t.sim.relayerAddr }
