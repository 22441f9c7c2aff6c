package localseller

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/mustjson"
	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Reason codes a Facilitator answers with (x402-protocol.md §6).
const (
	ReasonInvalidPayload        = "invalid_payload"
	ReasonInvalidNetwork        = "invalid_network"
	ReasonInvalidScheme         = "invalid_scheme"
	ReasonUnsupportedScheme     = "unsupported_scheme"
	ReasonInvalidVersion        = "invalid_x402_version"
	ReasonInvalidRequirements   = "invalid_payment_requirements"
	ReasonRecipientMismatch     = "invalid_exact_evm_payload_recipient_mismatch"
	ReasonValueMismatch         = "invalid_exact_evm_payload_authorization_value_mismatch"
	ReasonValidAfter            = "invalid_exact_evm_payload_authorization_valid_after"
	ReasonValidBefore           = "invalid_exact_evm_payload_authorization_valid_before"
	ReasonSignature             = "invalid_exact_evm_payload_signature"
	ReasonNonceUsed             = "invalid_exact_evm_nonce_already_used"
	ReasonInsufficientBalance   = "invalid_exact_evm_insufficient_balance"
	ReasonTokenNameMismatch     = "invalid_exact_evm_token_name_mismatch"
	ReasonTokenVersionMismatch  = "invalid_exact_evm_token_version_mismatch"
	ReasonUnexpectedVerifyError = "unexpected_verify_error"
	ReasonUnexpectedSettleError = "unexpected_settle_error"
)

// ValidBeforeMargin is how far in the future an authorization's validBefore
// must be for the facilitator to accept it, as the reference facilitator
// requires (it leaves time to broadcast the transfer).
const ValidBeforeMargin = 6 * time.Second

// Base Sepolia USDC, the facilitator's default asset.
var (
	BaseSepolia     = payments.Network("eip155:84532")
	BaseSepoliaUSDC = common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e")
)

// FacilitatorAddress is the fake signer address /supported reports. The
// in-memory facilitator sends no transaction, so no key stands behind it; on
// a chain with a Relayer() address, /supported reports that instead.
var FacilitatorAddress = common.HexToAddress("0x4020000000000000000000000000000000000402")

// FacilitatorConfig selects the one asset a Facilitator keeps a ledger of.
// The zero value is Base Sepolia USDC ("USDC", version "2") in memory.
type FacilitatorConfig struct {
	// Network is the CAIP-2 network (default eip155:84532).
	Network payments.Network
	// Asset is the token contract, the EIP-712 verifyingContract (default:
	// the network's USDC from evm.KnownUSDC).
	Asset common.Address
	// Name and Version are the token's EIP-712 domain (default: the known
	// USDC's).
	Name, Version string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Chain, when set, is where the facilitator settles: Verify reads the
	// nonce and the balance on chain, Settle sends transferWithAuthorization
	// and answers with the real transaction hash, Fund mints and Balance
	// reads the token. Network, Asset, Name and Version default to the
	// chain's token domain (with internal/simchain.Sim: eip155:1337, the
	// deployed token, "USDC", "2"); set otherwise, they must agree with it.
	// A chain that is also a Permit2Chain (a simchain Token) settles
	// Permit2 payments, exact and upto, through the x402 proxies.
	Chain Chain
	// Method is what the seller's exact accepts write in
	// extra.assetTransferMethod: "" (nothing: the payer chooses by the
	// token), "eip3009" or "permit2". The facilitator settles whichever
	// payload it gets.
	Method string
	// GasSponsoring makes the seller's challenges offer
	// eip2612GasSponsoring: the facilitator then submits a payer's attached
	// EIP-2612 permit of Permit2 (settleWithPermit) when its allowance
	// falls short.
	GasSponsoring bool
}

// VerifyResponse is a facilitator's /verify answer.
type VerifyResponse struct {
	IsValid        bool   `json:"isValid"`
	InvalidReason  string `json:"invalidReason,omitempty"`
	InvalidMessage string `json:"invalidMessage,omitempty"`
	Payer          string `json:"payer,omitempty"`
}

// Settlement is one transfer the facilitator carried out.
type Settlement struct {
	Payer       common.Address
	To          common.Address
	Value       payments.Amount
	Nonce       common.Hash
	Transaction string
	Network     string
	At          time.Time
}

// Facilitator verifies and settles EIP-3009 exact payments against an
// in-memory token ledger. It checks everything a real facilitator checks
// (signature by ecrecover over the EIP-712 digest, payee, exact value, time
// window, nonce reuse, balance) but moves balances in memory instead of
// broadcasting a transaction, unless FacilitatorConfig.Chain gives it a
// chain to settle on. It is safe for concurrent use.
type Facilitator struct {
	method    string // what the seller's accepts say in extra.assetTransferMethod
	sponsor   bool   // the seller offers eip2612GasSponsoring
	network   payments.Network
	v1Network string
	asset     common.Address
	name      string
	version   string
	domainSep common.Hash
	now       func() time.Time

	// chain, when set, holds the balances and nonces instead of the maps
	// below; chainMu runs its settlements one at a time.
	chain   Chain
	chainMu sync.Mutex

	mu       sync.Mutex
	balances map[common.Address]payments.Amount
	used     map[nonceKey]struct{}
	settled  []Settlement
	total    payments.Amount
}

type nonceKey struct {
	payer common.Address
	nonce [32]byte
}

// NewFacilitator returns a facilitator with an empty ledger, or settling on
// cfg.Chain. It panics when the configuration names no valid EVM network, or
// a network whose USDC x402-mcp does not know while Asset, Name or Version
// is left empty, or disagrees with the chain's token: the configuration is
// code, and a mistake there is a programming error.
func NewFacilitator(cfg FacilitatorConfig) *Facilitator {
	if cfg.Chain != nil {
		cfg = withChainDomain(cfg)
	}
	if cfg.Network == "" {
		cfg.Network = BaseSepolia
	}
	n, err := evm.ParseNetwork(string(cfg.Network))
	if err != nil {
		panic("localseller: " + err.Error())
	}
	if known, ok := evm.KnownUSDC(n); ok {
		if cfg.Asset == (common.Address{}) {
			cfg.Asset = common.HexToAddress(known.Address)
		}
		if cfg.Name == "" && cfg.Version == "" {
			cfg.Name, cfg.Version = known.Name, known.Version
		}
	}
	if cfg.Asset == (common.Address{}) || cfg.Chain == nil && (cfg.Name == "" || cfg.Version == "") {
		panic(fmt.Sprintf("localseller: network %s has no known USDC: set FacilitatorConfig.Asset, Name and Version", n))
	}
	switch cfg.Method {
	case "", evm.MethodEIP3009, evm.MethodPermit2:
	default:
		panic(fmt.Sprintf("localseller: FacilitatorConfig.Method %q is not eip3009 or permit2", cfg.Method))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Facilitator{
		method:    cfg.Method,
		sponsor:   cfg.GasSponsoring,
		network:   n,
		v1Network: v1Name(n),
		asset:     cfg.Asset,
		name:      cfg.Name,
		version:   cfg.Version,
		now:       cfg.Now,
		chain:     cfg.Chain,
		balances:  map[common.Address]payments.Amount{},
		used:      map[nonceKey]struct{}{},
	}
	f.domainSep = f.Domain().Separator()
	return f
}

// withChainDomain fills cfg's token from its chain's and panics when cfg
// names another one.
func withChainDomain(cfg FacilitatorConfig) FacilitatorConfig {
	d := cfg.Chain.Domain()
	if d.ChainID == nil || d.ChainID.Sign() <= 0 {
		panic("localseller: FacilitatorConfig.Chain has no chain id")
	}
	n := payments.Network("eip155:" + d.ChainID.String())
	mismatch := func(field string, got, want any) {
		panic(fmt.Sprintf("localseller: FacilitatorConfig.%s is %v but the chain's token has %v: leave it empty to use the chain's", field, got, want))
	}
	if cfg.Network != "" {
		if p, err := evm.ParseNetwork(string(cfg.Network)); err != nil || p != n {
			mismatch("Network", cfg.Network, n)
		}
	}
	if cfg.Asset != (common.Address{}) && cfg.Asset != d.VerifyingContract {
		mismatch("Asset", cfg.Asset.Hex(), d.VerifyingContract.Hex())
	}
	if cfg.Name != "" && cfg.Name != d.Name {
		mismatch("Name", cfg.Name, d.Name)
	}
	if cfg.Version != "" && cfg.Version != d.Version {
		mismatch("Version", cfg.Version, d.Version)
	}
	cfg.Network, cfg.Asset, cfg.Name, cfg.Version = n, d.VerifyingContract, d.Name, d.Version
	return cfg
}

// v1Names maps CAIP-2 ids to x402 v1 network names (x402-protocol.md §2).
// payments keeps its own table unexported; this copy covers the networks a
// local facilitator is likely to be configured with.
var v1Names = map[payments.Network]string{
	"eip155:8453": "base", "eip155:84532": "base-sepolia", "eip155:1": "ethereum",
	"eip155:11155111": "sepolia", "eip155:43114": "avalanche", "eip155:43113": "avalanche-fuji",
	"eip155:137": "polygon", "eip155:80002": "polygon-amoy", "eip155:1329": "sei",
	"eip155:143": "monad", "eip155:42220": "celo",
}

func v1Name(n payments.Network) string {
	if s, ok := v1Names[n]; ok {
		return s
	}
	return string(n)
}

// Network returns the facilitator's CAIP-2 network.
func (f *Facilitator) Network() payments.Network { return f.network }

// V1Network returns the network's x402 v1 name ("base-sepolia"), or the
// CAIP-2 id when v1 has no name for it.
func (f *Facilitator) V1Network() string { return f.v1Network }

// Asset returns the token contract address.
func (f *Facilitator) Asset() common.Address { return f.asset }

// Domain returns the token's EIP-712 domain.
func (f *Facilitator) Domain() evm.Domain {
	return evm.Domain{Name: f.name, Version: f.version, ChainID: evm.ChainID(f.network), VerifyingContract: f.asset}
}

// Fund credits amt to addr. It panics if the balance would overflow. On a
// chain it mints amt for addr, and panics if that fails (call
// Chain().Mint to handle the error).
func (f *Facilitator) Fund(addr common.Address, amt payments.Amount) {
	if f.chain != nil {
		ctx, cancel := chainCtx()
		defer cancel()
		if err := f.chain.Mint(ctx, addr, amt); err != nil {
			panic("localseller: fund " + addr.Hex() + " on chain: " + err.Error())
		}
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.balances[addr].AddChecked(amt)
	if !ok {
		panic("localseller: balance overflow funding " + addr.Hex())
	}
	f.balances[addr] = b
}

// Balance returns addr's balance. On a chain it reads the token, and panics
// if that fails (call Chain().Balance to handle the error).
func (f *Facilitator) Balance(addr common.Address) payments.Amount {
	if f.chain != nil {
		ctx, cancel := chainCtx()
		defer cancel()
		b, err := f.chain.Balance(ctx, addr)
		if err != nil {
			panic("localseller: balance of " + addr.Hex() + " on chain: " + err.Error())
		}
		return b
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.balances[addr]
}

// NonceUsed reports whether payer's authorization nonce has been settled.
// On a chain it reads authorizationState, and panics if that fails (call
// Chain().AuthorizationUsed to handle the error).
func (f *Facilitator) NonceUsed(payer common.Address, nonce common.Hash) bool {
	if f.chain != nil {
		ctx, cancel := chainCtx()
		defer cancel()
		used, err := f.chain.AuthorizationUsed(ctx, f.network, f.asset, payer, nonce)
		if err != nil {
			panic("localseller: authorizationState on chain: " + err.Error())
		}
		return used
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.used[nonceKey{payer, nonce}]
	return ok
}

// SettledCount returns how many payments have settled through this
// facilitator (on a chain too).
func (f *Facilitator) SettledCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.settled)
}

// SettledTotal returns the sum of every settled payment.
func (f *Facilitator) SettledTotal() payments.Amount {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// Settlements returns a copy of every settled authorization, oldest first.
func (f *Facilitator) Settlements() []Settlement {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Settlement(nil), f.settled...)
}

// checked is an authorization that passed every check not involving state.
type checked struct {
	auth  evm.Authorization
	value payments.Amount
	sig   []byte
}

type rejection struct {
	reason, message string
	payer           string
}

func reject(reason, format string, args ...any) *rejection {
	return &rejection{reason: reason, message: fmt.Sprintf(format, args...)}
}

// Verify checks payload against req without moving money. A payment that
// verifies can still fail to settle if another payment spends the nonce or
// the balance first.
func (f *Facilitator) Verify(ctx context.Context, payload *x402.PaymentPayload, req x402.Requirement) VerifyResponse {
	if err := ctx.Err(); err != nil {
		return VerifyResponse{InvalidReason: ReasonUnexpectedVerifyError, InvalidMessage: err.Error()}
	}
	if isPermit2(payload, req) {
		return f.verifyPermit2(ctx, payload, req)
	}
	c, rej := f.check(payload, req)
	if rej == nil && f.chain != nil {
		rej = f.checkChainState(ctx, c, ReasonUnexpectedVerifyError)
	} else if rej == nil {
		f.mu.Lock()
		rej = f.checkStateLocked(c)
		f.mu.Unlock()
	}
	if rej != nil {
		return VerifyResponse{InvalidReason: rej.reason, InvalidMessage: rej.message, Payer: rej.payer}
	}
	return VerifyResponse{IsValid: true, Payer: c.auth.From.Hex()}
}

// Settle verifies payload again and, in one step under the ledger's lock,
// moves the value from the payer to the payee and marks the nonce used. Of
// two settles of the same authorization exactly one succeeds. The returned
// transaction hash is keccak256(nonce ‖ payer): fake, but unique per
// settlement.
//
// On a chain, Settle checks the nonce and the balance there and sends
// transferWithAuthorization; the answer carries the mined transaction's
// hash. A transaction the token refuses fails the settlement with
// invalid_exact_evm_nonce_already_used or …_insufficient_balance when the
// chain's state explains it, and invalid_exact_evm_transaction_failed
// otherwise.
func (f *Facilitator) Settle(ctx context.Context, payload *x402.PaymentPayload, req x402.Requirement) x402.SettlementResponse {
	network := req.Network
	if err := ctx.Err(); err != nil {
		return x402.SettlementResponse{Network: network, ErrorReason: ReasonUnexpectedSettleError, ErrorMessage: err.Error()}
	}
	if isPermit2(payload, req) {
		return f.settlePermit2(ctx, payload, req)
	}
	c, rej := f.check(payload, req)
	if rej != nil {
		return x402.SettlementResponse{Network: network, Payer: rej.payer, ErrorReason: rej.reason, ErrorMessage: rej.message}
	}
	if f.chain != nil {
		return f.settleOnChain(ctx, c, c.sig, network)
	}
	a := c.auth
	f.mu.Lock()
	defer f.mu.Unlock()
	if rej := f.checkStateLocked(c); rej != nil {
		return x402.SettlementResponse{Network: network, Payer: rej.payer, ErrorReason: rej.reason, ErrorMessage: rej.message}
	}
	total, rej := f.totalAfterLocked(c.value, a.From.Hex())
	if rej != nil {
		return x402.SettlementResponse{Network: network, Payer: rej.payer, ErrorReason: rej.reason, ErrorMessage: rej.message}
	}
	to, ok := f.balances[a.To].AddChecked(c.value)
	if !ok {
		return x402.SettlementResponse{Network: network, Payer: a.From.Hex(), ErrorReason: ReasonUnexpectedSettleError, ErrorMessage: "payee balance would overflow"}
	}
	f.balances[a.From] -= c.value
	f.balances[a.To] = to
	f.used[nonceKey{a.From, a.Nonce}] = struct{}{}
	tx := crypto.Keccak256Hash(a.Nonce[:], a.From[:]).Hex()
	f.settled = append(f.settled, Settlement{
		Payer: a.From, To: a.To, Value: c.value, Nonce: a.Nonce, Transaction: tx, Network: network, At: f.now(),
	})
	f.total = total
	return x402.SettlementResponse{Success: true, Transaction: tx, Network: network, Payer: a.From.Hex(), Amount: c.value.Atomic()}
}

// totalAfterLocked is the settled total once v more settles, or a refusal
// when that would pass the largest amount: the books refuse a payment
// rather than wrap around. f.mu must be held.
func (f *Facilitator) totalAfterLocked(v payments.Amount, payer string) (payments.Amount, *rejection) {
	total, ok := f.total.AddChecked(v)
	if !ok {
		return 0, &rejection{reason: ReasonUnexpectedSettleError, payer: payer,
			message: fmt.Sprintf("the facilitator's settled total (%s atomic units) cannot count %s more", f.total.Atomic(), v.Atomic())}
	}
	return total, nil
}

// checkStateLocked checks what depends on the ledger: the nonce and the
// balance. f.mu must be held.
func (f *Facilitator) checkStateLocked(c checked) *rejection {
	payer := c.auth.From.Hex()
	if _, ok := f.used[nonceKey{c.auth.From, c.auth.Nonce}]; ok {
		return &rejection{reason: ReasonNonceUsed, message: "this authorization nonce has already been used by " + payer, payer: payer}
	}
	if bal := f.balances[c.auth.From]; bal < c.value {
		return &rejection{reason: ReasonInsufficientBalance,
			message: fmt.Sprintf("%s holds %s, the payment needs %s", payer, bal.USDC(), c.value.USDC()), payer: payer}
	}
	return nil
}

// check runs every check of an EIP-3009 payment that does not depend on
// the ledger's state, in the order a reference facilitator runs them.
func (f *Facilitator) check(p *x402.PaymentPayload, req x402.Requirement) (checked, *rejection) {
	var c checked
	price, rej := f.checkRequirement(p, req, false)
	if rej != nil {
		return c, rej
	}
	if req.Scheme != "exact" {
		return c, reject(ReasonUnsupportedScheme, "scheme %q is not supported with EIP-3009; this facilitator settles exact", req.Scheme)
	}
	return f.checkEIP3009(p, req, price)
}

// checkRequirement checks a payment's version, scheme and network, that its
// `accepted` (v2) is the requirement (at an upto settlement, but for the
// amount: anyAmount), and that the requirement names this facilitator's
// asset, a payTo and its token's EIP-712 name and version; it returns the
// requirement's price.
func (f *Facilitator) checkRequirement(p *x402.PaymentPayload, req x402.Requirement, anyAmount bool) (payments.Amount, *rejection) {
	if p == nil {
		return 0, reject(ReasonInvalidPayload, "no payment payload")
	}
	reqV1 := req.Amount == "" && req.MaxAmountRequired != ""
	switch {
	case p.X402Version != 1 && p.X402Version != 2:
		return 0, reject(ReasonInvalidVersion, "x402Version %d is not supported", p.X402Version)
	case reqV1 != (p.X402Version == 1):
		return 0, reject(ReasonInvalidVersion, "a version %d payload does not answer these requirements", p.X402Version)
	}

	// What the payer says it accepted: top-level in v1, `accepted` in v2.
	scheme, network := p.Scheme, p.Network
	if p.X402Version == 2 {
		if len(p.Accepted) == 0 {
			return 0, reject(ReasonInvalidPayload, "the payload has no `accepted` requirement")
		}
		// Only the two fields are read here; the whole object is compared
		// with the requirement below.
		var acc struct{ Scheme, Network string }
		if err := json.Unmarshal(p.Accepted, &acc); err != nil {
			return 0, reject(ReasonInvalidPayload, "`accepted` is not a requirement object: %v", err)
		}
		scheme, network = acc.Scheme, acc.Network
	}
	if req.Scheme != "exact" && req.Scheme != "upto" {
		return 0, reject(ReasonUnsupportedScheme, "scheme %q is not supported; this facilitator settles exact and upto", req.Scheme)
	}
	if scheme != req.Scheme {
		return 0, reject(ReasonInvalidScheme, "the payload's scheme %q is not the requirement's %q", scheme, req.Scheme)
	}
	rn, err := evm.ParseNetwork(req.Network)
	if err != nil || rn != f.network {
		return 0, reject(ReasonInvalidNetwork, "network %q is not %s, the network this facilitator settles on", req.Network, f.network)
	}
	if pn, err := evm.ParseNetwork(network); err != nil || pn != rn {
		return 0, reject(ReasonInvalidNetwork, "the payload's network %q is not the requirement's %q", network, req.Network)
	}
	if p.X402Version == 2 {
		want := []byte(req.Raw)
		if len(want) == 0 {
			if want, err = json.Marshal(req); err != nil {
				return 0, reject(ReasonInvalidRequirements, "requirements do not encode: %v", err)
			}
		}
		if !sameJSON(p.Accepted, want) && !(anyAmount && sameJSONExcept(p.Accepted, want, "amount")) {
			return 0, reject(ReasonInvalidRequirements, "`accepted` differs from the payment requirements")
		}
	}

	// The requirement itself must name this facilitator's asset.
	if !common.IsHexAddress(req.Asset) || common.HexToAddress(req.Asset) != f.asset {
		return 0, reject(ReasonInvalidRequirements, "asset %q is not %s", req.Asset, f.asset.Hex())
	}
	if !common.IsHexAddress(req.PayTo) {
		return 0, reject(ReasonInvalidRequirements, "payTo %q is not an address", req.PayTo)
	}
	if len(req.Extra) > 0 && string(req.Extra) != "null" {
		var ex evm.Extra
		if err := json.Unmarshal(req.Extra, &ex); err != nil {
			return 0, reject(ReasonInvalidRequirements, "extra is malformed: %v", err)
		}
		if ex.Name != "" && ex.Name != f.name {
			return 0, reject(ReasonTokenNameMismatch, "extra.name %q is not the token's EIP-712 name %q", ex.Name, f.name)
		}
		if ex.Version != "" && ex.Version != f.version {
			return 0, reject(ReasonTokenVersionMismatch, "extra.version %q is not the token's EIP-712 version %q", ex.Version, f.version)
		}
	}
	price, err := payments.ParseAtomic(req.Price())
	if err != nil {
		return 0, reject(ReasonInvalidRequirements, "price: %v", err)
	}
	return price, nil
}

// checkEIP3009 checks an EIP-3009 payment's authorization against req at
// price.
func (f *Facilitator) checkEIP3009(p *x402.PaymentPayload, req x402.Requirement, price payments.Amount) (checked, *rejection) {
	var c checked

	var pl evm.Payload
	if err := json.Unmarshal(p.Payload, &pl); err != nil {
		return c, reject(ReasonInvalidPayload, "payload is not an EIP-3009 authorization with its signature: %v", err)
	}
	a, err := evm.ParseAuthorization(pl.Authorization)
	if err != nil {
		return c, reject(ReasonInvalidPayload, "%v", err)
	}
	payer := a.From.Hex()
	fail := func(reason, format string, args ...any) (checked, *rejection) {
		r := reject(reason, format, args...)
		r.payer = payer
		return c, r
	}
	if a.To != common.HexToAddress(req.PayTo) {
		return fail(ReasonRecipientMismatch, "authorization pays %s, the requirement's payTo is %s", a.To.Hex(), common.HexToAddress(req.PayTo).Hex())
	}
	if a.Value.Cmp(new(big.Int).SetUint64(uint64(price))) != 0 {
		return fail(ReasonValueMismatch, "authorization value %s is not the price %s", a.Value, price.Atomic())
	}
	now := f.now()
	if a.ValidAfter.Cmp(big.NewInt(now.Unix())) > 0 {
		return fail(ReasonValidAfter, "authorization is not valid before %s (now %d)", a.ValidAfter, now.Unix())
	}
	if a.ValidBefore.Cmp(big.NewInt(now.Add(ValidBeforeMargin).Unix())) <= 0 {
		return fail(ReasonValidBefore, "authorization expires at %s, too soon to settle (now %d)", a.ValidBefore, now.Unix())
	}
	sig, err := decodeSig(pl.Signature)
	if err != nil {
		return fail(ReasonSignature, "%v", err)
	}
	signer, err := evm.RecoverSigner(evm.Digest(f.domainSep, a.StructHash()), sig)
	if err != nil {
		return fail(ReasonSignature, "%v", err)
	}
	if signer != a.From {
		return fail(ReasonSignature, "signature is by %s, not by authorization.from %s", signer.Hex(), payer)
	}
	c.auth, c.value, c.sig = a, price, sig
	return c, nil
}

func decodeSig(s string) ([]byte, error) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return nil, fmt.Errorf("signature %q is not 0x-hex", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("signature is not 0x-hex: %v", err)
	}
	return b, nil
}

// sameJSON reports whether a and b are the same JSON value, ignoring key
// order and whitespace: how v2 servers match `accepted` to their accepts.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// facilitatorRequest is the body of POST /verify and POST /settle.
type facilitatorRequest struct {
	X402Version         int             `json:"x402Version"`
	PaymentPayload      json.RawMessage `json:"paymentPayload"`
	PaymentRequirements json.RawMessage `json:"paymentRequirements"`
}

// SupportedKind is one entry of GET /supported's kinds.
type SupportedKind struct {
	X402Version int             `json:"x402Version"`
	Scheme      string          `json:"scheme"`
	Network     string          `json:"network"`
	Extra       json.RawMessage `json:"extra,omitempty"`
}

// Supported is the GET /supported answer.
type Supported struct {
	Kinds      []SupportedKind     `json:"kinds"`
	Extensions []string            `json:"extensions"`
	Signers    map[string][]string `json:"signers"`
}

// Supported returns what GET /supported reports: exact on the facilitator's
// network, in v1 and v2.
func (f *Facilitator) Supported() Supported {
	s := Supported{
		Kinds: []SupportedKind{
			{X402Version: 2, Scheme: "exact", Network: string(f.network), Extra: json.RawMessage(`{}`)},
			{X402Version: 1, Scheme: "exact", Network: f.v1Network, Extra: json.RawMessage(`{}`)},
		},
		Extensions: []string{x402.ExtPaymentIdentifier},
		Signers:    map[string][]string{"eip155:*": {f.signer().Hex()}},
	}
	if _, ok := f.permit2Chain(); ok {
		extra := mustjson.Marshal(map[string]string{"facilitatorAddress": f.signer().Hex()})
		s.Kinds = append(s.Kinds, SupportedKind{X402Version: 2, Scheme: "upto", Network: string(f.network), Extra: extra})
		if f.sponsor {
			s.Extensions = append(s.Extensions, evm.ExtEIP2612GasSponsoring)
		}
	}
	return s
}

// FacilitatorAddress is the address that settles (the chain's relayer):
// what an upto payment's witness names.
func (f *Facilitator) FacilitatorAddress() common.Address { return f.signer() }

// signer is the address that sends settlements: the chain's relayer when
// the chain names one, else FacilitatorAddress.
func (f *Facilitator) signer() common.Address {
	if r, ok := f.chain.(interface{ Relayer() common.Address }); ok {
		return r.Relayer()
	}
	return FacilitatorAddress
}

// maxFacilitatorBody bounds a /verify or /settle request body.
const maxFacilitatorBody = 1 << 20

// Handler serves the facilitator HTTP API (x402-protocol.md §6):
//
//	POST /verify     {"x402Version","paymentPayload","paymentRequirements"} → VerifyResponse
//	POST /settle     same body → SettlementResponse (success:false still answers 200)
//	GET  /supported  → Supported
//
// A body that is not such JSON is answered 400 with {"error": "..."}.
func (f *Facilitator) Handler() http.Handler {
	return settlerHandler(f, func() any { return f.Supported() })
}

// settlerHandler serves s as a facilitator's HTTP API (see
// Facilitator.Handler), with supported's answer at GET /supported.
func settlerHandler(s Settler, supported func() any) http.Handler {
	mux := http.NewServeMux()
	decode := func(w http.ResponseWriter, r *http.Request) (*x402.PaymentPayload, x402.Requirement, bool) {
		var req x402.Requirement
		var body facilitatorRequest
		b, err := io.ReadAll(io.LimitReader(r.Body, maxFacilitatorBody+1))
		if err == nil && len(b) > maxFacilitatorBody {
			err = fmt.Errorf("body is over %d bytes", maxFacilitatorBody)
		}
		if err == nil {
			err = json.Unmarshal(b, &body)
		}
		var p x402.PaymentPayload
		if err == nil && (len(body.PaymentPayload) == 0 || len(body.PaymentRequirements) == 0) {
			err = fmt.Errorf("paymentPayload and paymentRequirements are required")
		}
		if err == nil {
			err = json.Unmarshal(body.PaymentPayload, &p)
		}
		if err == nil {
			err = json.Unmarshal(body.PaymentRequirements, &req)
			req.Raw = body.PaymentRequirements
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid request: " + err.Error()})
			return nil, req, false
		}
		return &p, req, true
	}
	mux.HandleFunc("POST /verify", func(w http.ResponseWriter, r *http.Request) {
		if p, req, ok := decode(w, r); ok {
			writeJSON(w, http.StatusOK, s.Verify(r.Context(), p, req))
		}
	})
	mux.HandleFunc("POST /settle", func(w http.ResponseWriter, r *http.Request) {
		if p, req, ok := decode(w, r); ok {
			writeJSON(w, http.StatusOK, s.Settle(r.Context(), p, req))
		}
	})
	mux.HandleFunc("GET /supported", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, supported())
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // a client gone away: nothing to be done
}
