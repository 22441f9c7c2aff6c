package localseller

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/x402-mcp/x402-mcp/payments"
)

// fakeChain is a Chain in memory that records what the facilitator asks of
// it. The real one, internal/simchain.Sim, is tested there.
type fakeChain struct {
	domain evm.Domain

	mu        sync.Mutex
	balances  map[common.Address]payments.Amount
	used      map[[32]byte]bool
	transfers int
	readErr   error // fails Balance and AuthorizationUsed
	// onTransfer, when set, replaces the transfer: it runs under mu and
	// returns what TransferWithAuthorization returns.
	onTransfer func(a evm.Authorization) (common.Hash, error)
}

var fakeToken = common.HexToAddress("0x3009300930093009300930093009300930093009")

func newFakeChain() *fakeChain {
	return &fakeChain{
		domain:   evm.Domain{Name: "USDC", Version: "2", ChainID: big.NewInt(1337), VerifyingContract: fakeToken},
		balances: map[common.Address]payments.Amount{},
		used:     map[[32]byte]bool{},
	}
}

func (c *fakeChain) Domain() evm.Domain { return c.domain }

func (c *fakeChain) Relayer() common.Address {
	return common.HexToAddress("0x1111111111111111111111111111111111111111")
}

func (c *fakeChain) Balance(_ context.Context, addr common.Address) (payments.Amount, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.balances[addr], c.readErr
}

func (c *fakeChain) Mint(_ context.Context, to common.Address, amt payments.Amount) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.balances[to] += amt
	return nil
}

func (c *fakeChain) AuthorizationUsed(_ context.Context, n payments.Network, asset, payer common.Address, nonce [32]byte) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n != "eip155:1337" || asset != fakeToken {
		return false, errors.New("wrong network or asset")
	}
	return c.used[nonce], c.readErr
}

func (c *fakeChain) TransferWithAuthorization(_ context.Context, a evm.Authorization, sig []byte) (common.Hash, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.transfers++
	if c.onTransfer != nil {
		return c.onTransfer(a)
	}
	if len(sig) != 65 {
		return common.Hash{}, errors.New("bad signature length")
	}
	v := payments.Amount(a.Value.Uint64())
	c.balances[a.From] -= v
	c.balances[a.To] += v
	c.used[a.Nonce] = true
	return crypto.Keccak256Hash([]byte("tx"), a.Nonce[:]), nil
}

// chainFixture is the facilitator fixture on a fake chain, paying a v2
// requirement for the chain's token.
func chainFixture(t *testing.T) (*fixture, *fakeChain) {
	t.Helper()
	ch := newFakeChain()
	f := &fixture{
		fac:    NewFacilitator(FacilitatorConfig{Chain: ch, Now: func() time.Time { return testNow }}),
		payer:  mustWallet(t, anvilKey0),
		payTo:  DefaultPayTo,
		price:  10_000,
		funded: 1_000_000,
	}
	f.req = v2Requirement(t, f.payTo, f.price.Atomic())
	f.req.Network, f.req.Asset, f.req.Raw = "eip155:1337", fakeToken.Hex(), nil
	f.fac.Fund(f.payer.Address(), f.funded)
	return f, ch
}

func (f *fixture) chainPayload(t *testing.T) *x402.PaymentPayload {
	t.Helper()
	p := f.payload(t, f.payer, nil)
	p.Accepted = mustJSON(t, f.req)
	return p
}

func TestChainFacilitatorTakesTheChainsToken(t *testing.T) {
	f, ch := chainFixture(t)
	if f.fac.Network() != "eip155:1337" || f.fac.Asset() != fakeToken || f.fac.Chain() != Chain(ch) {
		t.Fatalf("network %s asset %s", f.fac.Network(), f.fac.Asset().Hex())
	}
	if d := f.fac.Domain(); d.Separator() != ch.domain.Separator() {
		t.Fatalf("domain %+v, want the chain's %+v", d, ch.domain)
	}
	if got := ch.balances[f.payer.Address()]; got != f.funded {
		t.Fatalf("Fund minted %s on chain, want %s", got.USDC(), f.funded.USDC())
	}
	if got := f.fac.Balance(f.payer.Address()); got != f.funded {
		t.Fatalf("Balance read %s, want %s", got.USDC(), f.funded.USDC())
	}
	if s := f.fac.Supported().Signers["eip155:*"]; len(s) != 1 || s[0] != ch.Relayer().Hex() {
		t.Fatalf("signers %v, want the relayer", s)
	}
	// Explicit fields must agree with the chain.
	for _, cfg := range []FacilitatorConfig{
		{Chain: ch, Network: "eip155:84532"},
		{Chain: ch, Asset: BaseSepoliaUSDC},
		{Chain: ch, Name: "USD Coin"},
		{Chain: ch, Version: "1"},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "chain's token") {
					t.Errorf("NewFacilitator(%+v): panic %v, want a mismatch", cfg, r)
				}
			}()
			NewFacilitator(cfg)
		}()
	}
	same := NewFacilitator(FacilitatorConfig{Chain: ch, Network: "eip155:1337", Asset: fakeToken, Name: "USDC", Version: "2"})
	if same.Asset() != fakeToken {
		t.Fatal("agreeing explicit config refused")
	}
}

func TestChainFacilitatorSettles(t *testing.T) {
	f, ch := chainFixture(t)
	p := f.chainPayload(t)
	ctx := context.Background()
	if vr := f.fac.Verify(ctx, p, f.req); !vr.IsValid {
		t.Fatalf("verify = %+v", vr)
	}
	sr := f.fac.Settle(ctx, p, f.req)
	a, _ := evm.ParseAuthorization(evm.MustPayload(p.Payload).Authorization)
	if want := crypto.Keccak256Hash([]byte("tx"), a.Nonce[:]).Hex(); !sr.Success || sr.Transaction != want || sr.Network != "eip155:1337" || sr.Amount != "10000" {
		t.Fatalf("settle = %+v, want the chain's hash %s", sr, want)
	}
	if f.fac.Balance(f.payTo) != f.price || f.fac.Balance(f.payer.Address()) != f.funded-f.price {
		t.Fatal("balances did not move on chain")
	}
	if !f.fac.NonceUsed(f.payer.Address(), a.Nonce) || f.fac.SettledCount() != 1 || f.fac.SettledTotal() != f.price {
		t.Fatal("nonce or counters not updated")
	}
	// The chain says the nonce is used: both refuse without a transfer.
	if vr := f.fac.Verify(ctx, p, f.req); vr.InvalidReason != ReasonNonceUsed {
		t.Fatalf("verify replay = %+v", vr)
	}
	if sr := f.fac.Settle(ctx, p, f.req); sr.ErrorReason != ReasonNonceUsed || ch.transfers != 1 {
		t.Fatalf("settle replay = %+v after %d transfers", sr, ch.transfers)
	}
}

func TestChainFacilitatorRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		setup    func(f *fixture, ch *fakeChain, p *x402.PaymentPayload)
		verify   string // Verify's reason
		settle   string // Settle's reason
		tx       string // Settle's transaction
		sent     int    // transfers attempted
		contains string
	}{
		{name: "balance too low", setup: func(f *fixture, ch *fakeChain, _ *x402.PaymentPayload) {
			ch.balances[f.payer.Address()] = 9_999
		}, verify: ReasonInsufficientBalance, settle: ReasonInsufficientBalance},
		{name: "chain unreadable", setup: func(_ *fixture, ch *fakeChain, _ *x402.PaymentPayload) {
			ch.readErr = errors.New("node down")
		}, verify: ReasonUnexpectedVerifyError, settle: ReasonUnexpectedSettleError, contains: "node down"},
		{name: "spent meanwhile", setup: func(_ *fixture, ch *fakeChain, _ *x402.PaymentPayload) {
			ch.onTransfer = func(a evm.Authorization) (common.Hash, error) {
				ch.used[a.Nonce] = true // another relayer got there first
				return common.Hash{}, errors.New("reverted: EIP3009: authorization is used")
			}
		}, settle: ReasonNonceUsed, sent: 1},
		{name: "reverted on chain", setup: func(_ *fixture, ch *fakeChain, _ *x402.PaymentPayload) {
			ch.onTransfer = func(evm.Authorization) (common.Hash, error) {
				return common.HexToHash("0xdead"), errors.New("reverted: EIP3009: authorization is expired")
			}
		}, settle: ReasonTransactionFailed, tx: common.HexToHash("0xdead").Hex(), sent: 1, contains: "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ch := chainFixture(t)
			p := f.chainPayload(t)
			tt.setup(f, ch, p)
			vr := f.fac.Verify(ctx, p, f.req)
			if tt.verify == "" && !vr.IsValid || tt.verify != "" && vr.InvalidReason != tt.verify {
				t.Fatalf("verify = %+v, want %q", vr, tt.verify)
			}
			sr := f.fac.Settle(ctx, p, f.req)
			if sr.Success || sr.ErrorReason != tt.settle || sr.Transaction != tt.tx || ch.transfers != tt.sent {
				t.Fatalf("settle = %+v after %d transfers, want %s, tx %q, %d transfers", sr, ch.transfers, tt.settle, tt.tx, tt.sent)
			}
			if !strings.Contains(sr.ErrorMessage, tt.contains) {
				t.Fatalf("message %q lacks %q", sr.ErrorMessage, tt.contains)
			}
			if f.fac.SettledCount() != 0 {
				t.Fatal("a failed settlement was counted")
			}
		})
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
