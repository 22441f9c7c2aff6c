// Package simchain is a real EVM for tests and demos: go-ethereum's
// simulated chain (chain id 1337), served over HTTP JSON-RPC on loopback,
// with the EIP-3009 test token of contracts/ deployed (a 6-decimal "USDC" by
// default; DeployToken adds tokens with other symbols and decimals), and
// x402-mcp's own Permit2 and x402 exact and upto Permit2 proxies at their
// canonical addresses from the first block (DeployERC20 and DeployEIP2612
// add tokens without EIP-3009, paid through them; see permit2.go). It is
// its own package so that the x402-mcp binary, which only reads chains
// (payments/evm), does not link a whole Ethereum node; it is internal
// because only tests, benchmarks and `demo --chain` use it. Its tests also
// cover payments/evm's RPCChecker against it.
package simchain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"

	"github.com/x402-mcp/x402-mcp/contracts"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// TokenABI is the EIP-3009 test token's ABI; its balanceOf,
// authorizationState and DOMAIN_SEPARATOR are those of USDC (FiatTokenV2).
// It sends transactions here; payments/evm reads the token without it.
var TokenABI = func() abi.ABI {
	a, err := abi.JSON(strings.NewReader(contracts.EIP3009TokenABI))
	if err != nil {
		panic("simchain: contracts/EIP3009Token.abi does not parse: " + err.Error())
	}
	return a
}()

// Method returns the token ABI's method with the given signature, which
// picks an overload ("transferWithAuthorization(...,bytes)") unambiguously.
// It panics on a signature the ABI lacks (a programming error).
func Method(sig string) abi.Method {
	for _, m := range TokenABI.Methods {
		if m.Sig == sig {
			return m
		}
	}
	panic("simchain: the token ABI has no method " + sig)
}

// Caller adapts a go-ethereum client (ethclient, the simulated backend's
// client) to evm.Caller, for chain's token reads.
func Caller(c ethereum.ContractCaller) evm.Caller { return caller{c} }

type caller struct{ c ethereum.ContractCaller }

func (c caller) Call(ctx context.Context, to common.Address, data []byte) ([]byte, error) {
	return c.c.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
}

// ChainID is the chain id of go-ethereum's simulated backend.
const ChainID = 1337

// Network is the simulated chain's CAIP-2 network.
const Network = payments.Network("eip155:1337")

// Options configures Start. The zero value deploys "USDC" version "2", a
// 6-decimal token with the symbol USDC.
type Options struct {
	// Name and Version are the token's EIP-712 domain (default "USDC", "2",
	// as Base Sepolia's USDC).
	Name, Version string
	// Symbol and Decimals are the token's symbol() and decimals() (default
	// "USDC" and 6; Decimals is used as given once Symbol is set).
	Symbol   string
	Decimals uint8
	// Logger, if set, receives the node's log records at Info and above.
	// They are discarded otherwise.
	Logger *slog.Logger
}

// TokenOptions describes a token for DeployToken: its EIP-712 domain (Name,
// Version), its symbol() and its decimals().
type TokenOptions struct {
	Name, Version, Symbol string
	Decimals              uint8
}

// Sim is an in-process EVM chain with an EIP-3009 token: go-ethereum's
// simulated backend, serving JSON-RPC (eth, net, web3) over HTTP on
// 127.0.0.1. Blocks are sealed only when Sim sends a transaction (or
// AdjustTime is called), each at once, with the wall-clock time or one second
// after its parent, whichever is later; transactions sent by others over RPC
// wait in the pool until then. Its methods are safe for concurrent use.
type Sim struct {
	backend *simulated.Backend
	client  simulated.Client
	url     string
	token   *Token // the token Start deployed

	relayer     *ecdsa.PrivateKey
	relayerAddr common.Address
	signer      types.Signer

	// mu serialises transactions and block production: one transaction per
	// block, its receipt read before the next is sent.
	mu        sync.Mutex
	closed    bool
	closeOnce sync.Once
	closeErr  error
}

// relayerFunds is the ETH the relayer starts with (1000 ETH): gas for
// millions of transfers.
var relayerFunds = new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))

// Start starts a simulated chain with its JSON-RPC on a free loopback
// port, and deploys the token from contracts.EIP3009TokenBytecode with a
// fresh relayer key, which pays the gas of every transaction Sim sends and
// is the token's minter. ctx bounds the start only. Close stops the chain.
func Start(ctx context.Context, opts Options) (s *Sim, err error) {
	if opts.Name == "" && opts.Version == "" {
		opts.Name, opts.Version = "USDC", "2"
	}
	if opts.Name == "" || opts.Version == "" {
		return nil, errors.New("simulated chain: set both Options.Name and Version, or neither")
	}
	if opts.Symbol == "" {
		opts.Symbol, opts.Decimals = "USDC", 6
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("simulated chain: relayer key: %w", err)
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)

	// go-ethereum's Backend does not expose its node, so the HTTP endpoint
	// it bound (port 0: the kernel picks a free one) is learnt from the log
	// line the node writes when its HTTP server starts.
	alloc, err := canonicalAlloc()
	if err != nil {
		return nil, fmt.Errorf("simulated chain: %w", err)
	}
	alloc[addr] = types.Account{Balance: relayerFunds}
	catcher := &endpointCatcher{next: opts.Logger}
	backend, err := newBackend(alloc, func(nc *node.Config, ec *ethconfig.Config) {
		nc.HTTPHost = "127.0.0.1"
		nc.HTTPPort = 0
		nc.HTTPModules = []string{"eth", "net", "web3"}
		nc.HTTPVirtualHosts = []string{"localhost", "127.0.0.1"}
		// WebSocket on the same port (port 0 for both shares the server).
		nc.WSHost, nc.WSPort = "127.0.0.1", 0
		nc.WSModules = []string{"eth", "net", "web3"}
		nc.IPCPath = ""
		nc.Logger = log.NewLogger(catcher)
	})
	if err != nil {
		return nil, err
	}
	s = &Sim{
		backend:     backend,
		client:      backend.Client(),
		relayer:     key,
		relayerAddr: addr,
		signer:      types.LatestSignerForChainID(big.NewInt(ChainID)),
	}
	defer func() {
		if err != nil {
			_ = s.Close() // err is the one to report
		}
	}()
	ep := catcher.get()
	if ep == "" {
		return nil, errors.New("simulated chain: go-ethereum did not report its HTTP endpoint (its \"HTTP server started\" log line changed?)")
	}
	s.url = "http://" + ep

	if s.token, err = s.DeployToken(ctx, TokenOptions{Name: opts.Name, Version: opts.Version, Symbol: opts.Symbol, Decimals: opts.Decimals}); err != nil {
		return nil, fmt.Errorf("simulated chain: %w", err)
	}
	return s, nil
}

// DeployToken deploys another EIP-3009 test token on the chain, with the
// relayer as its minter, and returns it. Sim's own methods (Mint, Balance,
// TransferWithAuthorization, …) act on the token Start deployed; the
// returned Token's act on this one.
func (s *Sim) DeployToken(ctx context.Context, o TokenOptions) (*Token, error) {
	if o.Name == "" || o.Version == "" || o.Symbol == "" {
		return nil, errors.New("deploy token: set Name, Version and Symbol")
	}
	args, err := TokenABI.Pack("", o.Name, o.Version, o.Symbol, o.Decimals)
	if err != nil {
		return nil, fmt.Errorf("deploy token: encode constructor: %w", err)
	}
	s.mu.Lock()
	rc, err := s.sendLocked(ctx, nil, append(contracts.EIP3009TokenBytecode(), args...))
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("deploy token %s: %w", o.Symbol, err)
	}
	return &Token{sim: s, addr: rc.ContractAddress, symbol: o.Symbol, decimals: o.Decimals, kind: KindEIP3009,
		domain: evm.Domain{Name: o.Name, Version: o.Version, ChainID: big.NewInt(ChainID), VerifyingContract: rc.ContractAddress}}, nil
}

// newBackend is simulated.NewBackend with its panics turned into errors.
func newBackend(alloc types.GenesisAlloc, opt func(*node.Config, *ethconfig.Config)) (b *simulated.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("simulated chain: start: %v", r)
		}
	}()
	return simulated.NewBackend(alloc, opt), nil
}

// URL returns the JSON-RPC URL, http://127.0.0.1:<port>.
func (s *Sim) URL() string { return s.url }

// WSURL returns the JSON-RPC URL over WebSocket, ws://127.0.0.1:<port>
// (the HTTP port).
func (s *Sim) WSURL() string { return "ws" + strings.TrimPrefix(s.url, "http") }

// Network returns eip155:1337.
func (s *Sim) Network() payments.Network { return Network }

// Token returns the address of the token Start deployed.
func (s *Sim) Token() common.Address { return s.token.addr }

// Domain returns the EIP-712 domain of the token Start deployed.
func (s *Sim) Domain() evm.Domain { return s.token.Domain() }

// Default returns the token Start deployed.
func (s *Sim) Default() *Token { return s.token }

// Relayer returns the address that sends Sim's transactions and pays their
// gas; it is also the token's minter.
func (s *Sim) Relayer() common.Address { return s.relayerAddr }

// Client returns an in-process client of the chain (no HTTP).
func (s *Sim) Client() simulated.Client { return s.client }

// Backend returns go-ethereum's simulated backend, for what Sim does not
// wrap. A block committed through it bypasses Sim's lock.
func (s *Sim) Backend() *simulated.Backend { return s.backend }

// Mint creates amt of the default token for to, in a mined transaction.
func (s *Sim) Mint(ctx context.Context, to common.Address, amt payments.Amount) error {
	return s.token.Mint(ctx, to, amt)
}

// Balance returns addr's balance of the default token.
func (s *Sim) Balance(ctx context.Context, addr common.Address) (payments.Amount, error) {
	return s.token.Balance(ctx, addr)
}

// AuthorizationUsed reports whether payer's nonce has been used on the token
// at asset. network must be eip155:1337. With this signature Sim is also a
// reconciliation checker, like evm.RPCChecker.
func (s *Sim) AuthorizationUsed(ctx context.Context, network payments.Network, asset, payer common.Address, nonce [32]byte) (bool, error) {
	if n, err := evm.ParseNetwork(string(network)); err != nil || n != Network {
		return false, fmt.Errorf("the simulated chain is %s, not %s", Network, network)
	}
	return evm.AuthorizationState(ctx, Caller(s.client), asset, payer, nonce)
}

// Time returns the latest block's timestamp: the chain's "now" as the last
// transaction saw it. A transaction sent now runs at the later of the wall
// clock and this plus one second.
func (s *Sim) Time(ctx context.Context) (time.Time, error) {
	h, err := s.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("latest header: %w", err)
	}
	return time.Unix(int64(h.Time), 0), nil
}

// ChainTime is Time, in the form reconciliation asks for it.
func (s *Sim) ChainTime(ctx context.Context, _ payments.Network) (time.Time, error) {
	return s.Time(ctx)
}

// AdjustTime seals an empty block d after the latest one, moving the chain's
// clock forward for good: later blocks are never older. Use it to expire
// authorizations (validBefore) on chain.
func (s *Sim) AdjustTime(d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("simulated chain is closed")
	}
	err := s.backend.AdjustTime(d)
	for try := 0; try < 50 && err != nil && strings.Contains(err.Error(), "non-empty block"); try++ {
		// A transaction reached the pool after the last seal (the pool
		// admits asynchronously): mine it first, then move the clock.
		s.backend.Commit()
		time.Sleep(10 * time.Millisecond)
		err = s.backend.AdjustTime(d)
	}
	return err
}

// Seal seals n empty blocks, each at the wall clock's time or one second
// after its parent, whichever is later. go-ethereum's simulated beacon
// answers "safe" with the head and "finalized" with the newest block whose
// number is a multiple of 32: sealing 32 blocks makes a block at least as
// late as the head before them final.
func (s *Sim) Seal(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("simulated chain is closed")
	}
	for range n {
		s.backend.Commit()
	}
	return nil
}

// Signatures of the two transferWithAuthorization overloads.
var (
	transferVRS   = Method("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)")
	transferBytes = Method("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)")
)

// TransferWithAuthorization settles a (signed with sig) on the default token (see
// Token.TransferWithAuthorization).
func (s *Sim) TransferWithAuthorization(ctx context.Context, a evm.Authorization, sig []byte) (common.Hash, error) {
	return s.token.TransferWithAuthorization(ctx, a, sig)
}

// Token is one EIP-3009 test token on a Sim: the one Start deployed
// (Sim.Default) or one DeployToken added. Like Sim, it is a
// localseller.Chain, so a facilitator can settle on it. Its methods are safe
// for concurrent use.
type Token struct {
	sim      *Sim
	addr     common.Address
	domain   evm.Domain
	symbol   string
	decimals uint8
	kind     TokenKind
}

// Address returns the token contract's address.
func (t *Token) Address() common.Address { return t.addr }

// Symbol returns the token's symbol().
func (t *Token) Symbol() string { return t.symbol }

// Decimals returns the token's decimals().
func (t *Token) Decimals() uint8 { return t.decimals }

// Domain returns the token's EIP-712 domain.
func (t *Token) Domain() evm.Domain {
	d := t.domain
	d.ChainID = new(big.Int).Set(t.domain.ChainID)
	return d
}

// Mint creates amt tokens (atomic units) for to, in a mined transaction.
func (t *Token) Mint(ctx context.Context, to common.Address, amt payments.Amount) error {
	data, err := TokenABI.Pack("mint", to, new(big.Int).SetUint64(uint64(amt)))
	if err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	t.sim.mu.Lock()
	defer t.sim.mu.Unlock()
	if _, err := t.sim.sendLocked(ctx, &t.addr, data); err != nil {
		return fmt.Errorf("mint %s atomic units of %s to %s: %w", amt.Atomic(), t.symbol, to.Hex(), err)
	}
	return nil
}

// Balance returns addr's balance, in atomic units.
func (t *Token) Balance(ctx context.Context, addr common.Address) (payments.Amount, error) {
	return evm.BalanceOf(ctx, Caller(t.sim.client), t.addr, addr)
}

// AuthorizationUsed is Sim.AuthorizationUsed.
func (t *Token) AuthorizationUsed(ctx context.Context, network payments.Network, asset, payer common.Address, nonce [32]byte) (bool, error) {
	return t.sim.AuthorizationUsed(ctx, network, asset, payer, nonce)
}

// TransferWithAuthorization settles a signed EIP-3009 authorization on the
// token, as a facilitator does: the relayer sends transferWithAuthorization
// (the v,r,s overload for a 65-byte r‖s‖v signature, v = 27/28 or 0/1; the
// bytes overload otherwise) and the transaction is mined at once. It
// returns the transaction hash when the transfer succeeded. A transfer the
// token refuses (used nonce, expired, bad signature, low balance) fails with
// an error wrapping evm.ErrReverted that gives the contract's reason; when that
// is found before sending, as it usually is, no transaction is sent and the
// hash is zero, otherwise it is the hash of the reverted transaction.
func (t *Token) TransferWithAuthorization(ctx context.Context, a evm.Authorization, sig []byte) (common.Hash, error) {
	if t.kind != KindEIP3009 {
		return common.Hash{}, fmt.Errorf("transferWithAuthorization: %s is %s, without EIP-3009", t.symbol, t.kind)
	}
	data, err := transferCalldata(a, sig)
	if err != nil {
		return common.Hash{}, err
	}
	t.sim.mu.Lock()
	defer t.sim.mu.Unlock()
	rc, err := t.sim.sendLocked(ctx, &t.addr, data)
	if err != nil {
		var h common.Hash
		if rc != nil {
			h = rc.TxHash
		}
		return h, fmt.Errorf("transferWithAuthorization: %w", err)
	}
	return rc.TxHash, nil
}

// transferCalldata encodes transferWithAuthorization for a and sig.
func transferCalldata(a evm.Authorization, sig []byte) ([]byte, error) {
	if a.Value == nil || a.ValidAfter == nil || a.ValidBefore == nil {
		return nil, errors.New("transferWithAuthorization: authorization has a nil value or validity bound")
	}
	var m abi.Method
	args := []any{a.From, a.To, a.Value, a.ValidAfter, a.ValidBefore, a.Nonce}
	if len(sig) == 65 {
		v := sig[64]
		if v < 27 {
			v += 27
		}
		var r, s [32]byte
		copy(r[:], sig[:32])
		copy(s[:], sig[32:64])
		m, args = transferVRS, append(args, v, r, s)
	} else {
		m, args = transferBytes, append(args, sig)
	}
	packed, err := m.Inputs.Pack(args...)
	if err != nil {
		return nil, fmt.Errorf("encode transferWithAuthorization: %w", err)
	}
	return append(append([]byte{}, m.ID...), packed...), nil
}

// sendLocked sends one transaction from the relayer, seals a block with it,
// and returns its receipt. It first runs the transaction as a gas estimate,
// so a revert is reported with its reason and nothing is sent; a transaction
// that still reverts when mined returns its receipt with the error. s.mu must
// be held.
func (s *Sim) sendLocked(ctx context.Context, to *common.Address, data []byte) (*types.Receipt, error) {
	return s.sendAsLocked(ctx, s.relayer, to, nil, data)
}

// sendAsLocked is sendLocked with key as the sender (it pays the gas) and
// value wei sent along (nil: none).
func (s *Sim) sendAsLocked(ctx context.Context, key *ecdsa.PrivateKey, to *common.Address, value *big.Int, data []byte) (*types.Receipt, error) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	if s.closed {
		return nil, errors.New("simulated chain is closed")
	}
	// Calls run at the latest block's time. Seal an empty block first if
	// that is behind the clock, so the estimate below checks validAfter and
	// validBefore at about the time the transaction will be mined.
	head, err := s.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("latest header: %w", err)
	}
	if int64(head.Time) < time.Now().Unix() {
		s.backend.Commit()
		if head, err = s.client.HeaderByNumber(ctx, nil); err != nil {
			return nil, fmt.Errorf("latest header: %w", err)
		}
	}
	msg := ethereum.CallMsg{From: from, To: to, Value: value, Data: data}
	gas, err := s.client.EstimateGas(ctx, msg)
	if err != nil {
		return nil, revertErr(err)
	}
	nonce, err := s.client.PendingNonceAt(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("sender nonce: %w", err)
	}
	tip, err := s.client.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, fmt.Errorf("gas tip: %w", err)
	}
	// Twice the base fee covers its largest rise over one block.
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	tx, err := types.SignNewTx(key, s.signer, &types.DynamicFeeTx{
		ChainID: big.NewInt(ChainID), Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: gas + gas/5, To: to, Value: value, Data: data,
	})
	if err != nil {
		return nil, fmt.Errorf("sign transaction: %w", err)
	}
	if err := s.sendToPool(ctx, tx); err != nil {
		return nil, fmt.Errorf("send transaction: %w", err)
	}
	// The transaction is in the pool: mine it and read the outcome even if
	// ctx ends now, so that no transaction is left pending behind the lock.
	ctx = context.WithoutCancel(ctx)
	s.backend.Commit()
	rc, err := s.client.TransactionReceipt(ctx, tx.Hash())
	if err != nil {
		return &types.Receipt{TxHash: tx.Hash()}, fmt.Errorf("transaction %s: receipt: %w", tx.Hash().Hex(), err)
	}
	if rc.Status != types.ReceiptStatusSuccessful {
		// Replay it on the block it was mined in for the reason.
		_, cerr := s.client.CallContract(ctx, msg, new(big.Int).Sub(rc.BlockNumber, big.NewInt(1)))
		if cerr == nil {
			cerr = evm.ErrReverted
		}
		return rc, fmt.Errorf("transaction %s: %w", tx.Hash().Hex(), revertErr(cerr))
	}
	return rc, nil
}

// revertErr makes an "execution reverted: reason" error from a node wrap
// evm.ErrReverted, keeping the node's text.
func revertErr(err error) error {
	if err == nil || errors.Is(err, evm.ErrReverted) {
		return err
	}
	msg := err.Error()
	if reason, ok := strings.CutPrefix(msg, "execution reverted"); ok {
		reason = strings.TrimPrefix(reason, ": ")
		if reason == "" {
			return evm.ErrReverted
		}
		return fmt.Errorf("%w: %s", evm.ErrReverted, reason)
	}
	return err
}

// Close stops the chain and its HTTP server. It is safe to call twice.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.closeErr = s.backend.Close()
	})
	return s.closeErr
}

// endpointCatcher is a slog handler that records the endpoint of go-ethereum's
// "HTTP server started" record and passes records to next, if any.
type endpointCatcher struct {
	next *slog.Logger

	mu       sync.Mutex
	endpoint string
}

// Enabled leaves out go-ethereum's debug and trace records, which are many.
func (h *endpointCatcher) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *endpointCatcher) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "HTTP server started" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "endpoint" {
				h.mu.Lock()
				h.endpoint = a.Value.String()
				h.mu.Unlock()
				return false
			}
			return true
		})
	}
	if h.next != nil && h.next.Handler().Enabled(ctx, r.Level) {
		return h.next.Handler().Handle(ctx, r)
	}
	return nil
}

func (h *endpointCatcher) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *endpointCatcher) WithGroup(string) slog.Handler      { return h }

func (h *endpointCatcher) get() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.endpoint
}

// sendToPool hands tx to the pool. The simulated backend's pool moves to a
// newly sealed block asynchronously, so for a moment after a seal it may
// still judge a sender by the state before it: an account funded in that
// block looks empty ("insufficient funds"). Such a refusal is retried for up
// to two seconds; any other error, or one that persists, is returned.
func (s *Sim) sendToPool(ctx context.Context, tx *types.Transaction) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := s.client.SendTransaction(ctx, tx)
		if err == nil || !strings.Contains(err.Error(), "insufficient funds") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}
