package simchain

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// p2Options configure a Permit2 seller on the simulated chain.
type p2Options struct {
	kind TokenKind // KindERC20 (default) or KindEIP2612
	// method is what the seller's accepts say in assetTransferMethod.
	method string
	// sponsor makes the seller offer eip2612GasSponsoring.
	sponsor bool
	// noRPC leaves the client without an rpc endpoint (it cannot read the
	// allowance before signing).
	noRPC bool
	// transfer is the declared asset's transfer: (its method when the
	// seller says none); gasless its gasless_approval.
	transfer string
	gasless  payments.Amount
	// maxTimeout is the seller's maxTimeoutSeconds (default 300).
	maxTimeout int64
	// approve is the payer's allowance to Permit2 before the test (0: none).
	approve int64
}

// p2Seller is a local seller whose facilitator settles Permit2 payments of
// a token without EIP-3009 on a sim, the paying client with a real SQLite
// ledger, and the payer (Anvil #0) holding 1 token (1,000,000 atomic).
type p2Seller struct {
	sim     *Sim
	tok     *Token
	run     *localseller.Running
	client  *payments.Client
	ledger  *ledger.Ledger
	payer   *wallet.EVMKey
	key     *ecdsa.PrivateKey
	asset   payments.Asset
	checker *evm.RPCChecker
}

func startPermit2Seller(t *testing.T, o p2Options) *p2Seller {
	t.Helper()
	ctx := context.Background()
	s := startSim(t)
	var tok *Token
	var err error
	if o.kind == KindEIP2612 {
		tok, err = s.DeployEIP2612(ctx, TokenOptions{Name: "Mega USD", Version: "1", Symbol: "USDM", Decimals: 6})
	} else {
		tok, err = s.DeployERC20(ctx, "Plain Dollar", "PUSD", 6)
	}
	if err != nil {
		t.Fatal(err)
	}
	run, err := localseller.Start(localseller.Config{
		Facilitator:       localseller.NewFacilitator(localseller.FacilitatorConfig{Chain: tok, Method: o.method, GasSponsoring: o.sponsor}),
		MaxTimeoutSeconds: o.maxTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Close() })
	w := key(t, anvilKey0)
	k, err := crypto.HexToECDSA(anvilKey0)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Mint(ctx, w.Address(), 1_000_000); err != nil {
		t.Fatal(err)
	}
	if o.approve > 0 {
		if err := s.FundETH(ctx, w.Address(), big.NewInt(1e17)); err != nil {
			t.Fatal(err)
		}
		if _, err := tok.Approve(ctx, k, evm.Permit2Address, big.NewInt(o.approve)); err != nil {
			t.Fatal(err)
		}
	}
	d := tok.Domain()
	asset := payments.Asset{Network: Network, Address: tok.Address().Hex(), Name: d.Name, Version: d.Version, Symbol: tok.Symbol(), Decimals: 6, Transfer: o.transfer}
	pol := payments.Policy{Networks: []payments.Network{Network}, Assets: []payments.AssetPolicy{{Asset: asset, PerCall: 100_000, GaslessApproval: o.gasless}},
		Budget: payments.Budget{Assets: map[string]payments.AssetBudget{asset.Currency().Budget: {Currency: asset.Currency(), Total: 1_000_000}}}}
	urls := map[payments.Network]string{Network: s.URL()}
	if o.noRPC {
		urls = nil
	}
	checker := evm.NewRPCChecker(urls)
	t.Cleanup(checker.Close)
	l, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), pol.Budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return &p2Seller{
		sim: s, tok: tok, run: run, ledger: l, payer: w, key: k, asset: asset, checker: checker,
		client: &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(checker), evm.NewUpTo(checker)),
			Signers: payments.Signers{w}, Policy: pol, Ledger: l, ProveWithin: -1},
	}
}

// limit pays the declared token, pinned.
func (p *p2Seller) limit(tool string) payments.Limit {
	return payments.Limit{Tool: tool, MaxPrice: 20_000, Network: Network, Asset: p.asset.Address, Currency: p.asset.Currency()}
}

func (p *p2Seller) get(t *testing.T, path string, lim payments.Limit) (*payments.Result, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.run.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.client.Do(context.Background(), req, lim)
}

func (p *p2Seller) balances(t *testing.T) (payer, payee payments.Amount) {
	t.Helper()
	ctx := context.Background()
	a, err := p.tok.Balance(ctx, p.payer.Address())
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.tok.Balance(ctx, p.run.Seller.PayTo())
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// counted is what the ledger counts against the token's budget.
func (p *p2Seller) counted(t *testing.T) (settled, pending payments.Amount) {
	t.Helper()
	s, err := p.ledger.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range s.Assets {
		if a.Currency.Budget == p.asset.Currency().Budget {
			return a.Settled, a.Pending
		}
	}
	t.Fatalf("the ledger has no budget of %s", p.asset.Currency())
	return 0, 0
}

// receivedPermit2 returns the i-th payment the seller received, which must
// be a Permit2 one.
func receivedPermit2(t *testing.T, s *localseller.Seller, i int) (*x402.PaymentPayload, evm.Permit2Authorization) {
	t.Helper()
	rp := s.ReceivedPayments()
	if len(rp) <= i || rp[i].Payload == nil {
		t.Fatalf("seller received %d payments, want payment %d", len(rp), i)
	}
	pl, err := evm.ParsePermit2Payload(rp[i].Payload.Payload)
	if err != nil {
		t.Fatal(err)
	}
	a, err := evm.ParsePermit2Authorization(pl.Authorization)
	if err != nil {
		t.Fatalf("the payment is not a Permit2 one: %v (%s)", err, rp[i].Payload.Payload)
	}
	return rp[i].Payload, a
}

// TestPermit2ExactPaysOnChain: a Permit2-only token pays with Permit2,
// chosen as the spec says (the seller's assetTransferMethod, else the
// asset's declared method; the entry's pin), signed for the exact proxy,
// settled once on chain through it with exactly the price moved, and the
// books exact.
func TestPermit2ExactPaysOnChain(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    p2Options
		pin  string
	}{
		{"the seller names permit2", p2Options{method: "permit2", approve: 1_000_000}, ""},
		{"the seller names none, the asset is declared permit2", p2Options{transfer: "permit2", approve: 1_000_000}, ""},
		{"the seller names none, the entry pins permit2", p2Options{approve: 1_000_000}, "permit2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startPermit2Seller(t, tt.o)
			lim := p.limit("weather")
			lim.TransferMethod = tt.pin
			start := time.Now()
			res, err := p.get(t, "/v2/weather/paris", lim)
			if err != nil {
				t.Fatal(err)
			}
			rc := res.Receipt
			if res.Status != 200 || res.Charged != payments.Charged || rc == nil || rc.State != "settled" || rc.Amount != 1_000 || rc.Symbol != "PUSD" {
				t.Fatalf("status %d charged %s receipt %+v", res.Status, res.Charged, rc)
			}
			if payer, payee := p.balances(t); payer != 999_000 || payee != 1_000 {
				t.Fatalf("on chain: payer %d payee %d, want 999000 and 1000", payer, payee)
			}
			if n := p.run.Seller.PaymentHeadersSeen(); n != 1 || len(p.run.Facilitator.Settlements()) != 1 {
				t.Fatalf("%d payments sent, %d settled; want one of each", n, len(p.run.Facilitator.Settlements()))
			}
			_, a := receivedPermit2(t, p.run.Seller, 0)
			if a.Spender != evm.ExactPermit2ProxyAddress || a.To != p.run.Seller.PayTo() || a.Amount.Int64() != 1_000 || a.Token != p.tok.Address() || a.Upto() {
				t.Fatalf("signed %+v", a)
			}
			// deadline = now + maxTimeoutSeconds (300)
			if d := a.Deadline.Int64() - start.Unix(); d < 299 || d > 302 {
				t.Errorf("deadline is %d s after signing, want the seller's 300", d)
			}
			if !p.run.Facilitator.Permit2NonceUsed(p.payer.Address(), a.Nonce) {
				t.Error("the nonce is not used in Permit2's nonceBitmap")
			}
			tx, _, err := dial(t, p.sim).TransactionByHash(context.Background(), common.HexToHash(rc.Transaction))
			if err != nil || tx.To() == nil || *tx.To() != evm.ExactPermit2ProxyAddress {
				t.Fatalf("the receipt's transaction %s does not call the exact proxy (%v)", rc.Transaction, err)
			}
			if settled, pending := p.counted(t); settled != 1_000 || pending != 0 {
				t.Fatalf("ledger: settled %d pending %d, want 1000 and 0", settled, pending)
			}
			// Proved from the chain: used, with its transaction and amount.
			rows, err := p.ledger.List(context.Background(), ledger.Filter{})
			if err != nil || len(rows) != 1 {
				t.Fatalf("ledger rows %d (%v)", len(rows), err)
			}
			f, err := p.client.Schemes.Prove(context.Background(), rows[0].Proof())
			if err != nil || f.State != payments.FateSettled || f.Transaction != rc.Transaction || !f.HasAmount || f.Amount != 1_000 {
				t.Fatalf("proved %+v (%v), want settled by %s moving 1000", f, err, rc.Transaction)
			}
		})
	}
}

// TestPermit2Allowance: without the allowance a Permit2 payment needs, the
// client refuses before signing when it can read the chain, naming the
// command that approves; when it cannot, the seller's 412
// permit2_allowance_required is a clear refusal, never a retry; a seller
// that sponsors an EIP-2612 approval is paid without one when the catalog
// allows it, and not otherwise.
func TestPermit2Allowance(t *testing.T) {
	approveCmd := "x402-mcp wallet approve-permit2 --network eip155:1337 --asset "
	t.Run("no allowance: refused before signing", func(t *testing.T) {
		p := startPermit2Seller(t, p2Options{method: "permit2"})
		_, err := p.get(t, "/v2/weather/paris", p.limit("weather"))
		pe, ok := payments.AsError(err)
		if !ok || pe.Code != payments.CodeAllowanceRequired || pe.Charged != payments.NotCharged ||
			!strings.Contains(pe.Message, approveCmd+p.asset.Address+" --amount 0.001") || !strings.Contains(pe.Message, "Nothing was signed") {
			t.Fatalf("err = %v", err)
		}
		if n := p.run.Seller.PaymentHeadersSeen(); n != 0 {
			t.Fatalf("%d payments sent, want none", n)
		}
		if settled, pending := p.counted(t); settled != 0 || pending != 0 {
			t.Fatalf("ledger counts settled %d pending %d, want nothing", settled, pending)
		}
	})
	t.Run("allowance too small: refused before signing", func(t *testing.T) {
		p := startPermit2Seller(t, p2Options{method: "permit2", approve: 999})
		_, err := p.get(t, "/v2/weather/paris", p.limit("weather"))
		pe, ok := payments.AsError(err)
		if !ok || pe.Code != payments.CodeAllowanceRequired || pe.Charged != payments.NotCharged || !strings.Contains(pe.Message, "an allowance of 0.000999 PUSD") {
			t.Fatalf("err = %v", err)
		}
		if n := p.run.Seller.PaymentHeadersSeen(); n != 0 {
			t.Fatalf("%d payments sent, want none", n)
		}
	})
	t.Run("no rpc: the seller's 412 is a clear refusal, not a retry", func(t *testing.T) {
		p := startPermit2Seller(t, p2Options{method: "permit2", noRPC: true})
		_, err := p.get(t, "/v2/weather/paris", p.limit("weather"))
		pe, ok := payments.AsError(err)
		if !ok || pe.Code != payments.CodeAllowanceRequired || pe.Charged != payments.ChargeUnknown ||
			!strings.Contains(pe.Message, "permit2_allowance_required") || !strings.Contains(pe.Message, approveCmd+p.asset.Address+" --amount 0.001") ||
			!strings.Contains(pe.Message, "will not retry") {
			t.Fatalf("err = %v", err)
		}
		if n, reqs := p.run.Seller.PaymentHeadersSeen(), p.run.Seller.Requests(); n != 1 || reqs != 2 {
			t.Fatalf("%d payments sent in %d requests, want one payment in two requests", n, reqs)
		}
		if payer, payee := p.balances(t); payer != 1_000_000 || payee != 0 {
			t.Fatalf("money moved: payer %d payee %d", payer, payee)
		}
		// The seller holds the signature: it stays counted.
		if settled, pending := p.counted(t); settled != 0 || pending != 1_000 {
			t.Fatalf("ledger counts settled %d pending %d, want the refused 1000 pending", settled, pending)
		}
	})
	t.Run("gas sponsoring offered, not allowed by the catalog", func(t *testing.T) {
		p := startPermit2Seller(t, p2Options{kind: KindEIP2612, method: "permit2", sponsor: true})
		_, err := p.get(t, "/v2/weather/paris", p.limit("weather"))
		pe, ok := payments.AsError(err)
		if !ok || pe.Code != payments.CodeAllowanceRequired || pe.Charged != payments.NotCharged || !strings.Contains(pe.Message, "gasless_approval") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("gas sponsoring allowed: an EIP-2612 permit of exactly the payment", func(t *testing.T) {
		p := startPermit2Seller(t, p2Options{kind: KindEIP2612, method: "permit2", sponsor: true, gasless: 5_000})
		res, err := p.get(t, "/v2/weather/paris", p.limit("weather"))
		if err != nil || res.Charged != payments.Charged {
			t.Fatalf("%v %+v", err, res)
		}
		if payer, payee := p.balances(t); payer != 999_000 || payee != 1_000 {
			t.Fatalf("on chain: payer %d payee %d, want 999000 and 1000", payer, payee)
		}
		if allowance, err := p.tok.Allowance(context.Background(), p.payer.Address(), evm.Permit2Address); err != nil || allowance.Sign() != 0 {
			t.Fatalf("Permit2's allowance left: %v (%v), want 0: the permit approves the payment, never more", allowance, err)
		}
		pl, _ := receivedPermit2(t, p.run.Seller, 0)
		var ext struct {
			Info   map[string]string `json:"info"`
			Schema json.RawMessage   `json:"schema"`
		}
		if err := json.Unmarshal(pl.Extensions[evm.ExtEIP2612GasSponsoring], &ext); err != nil {
			t.Fatal(err)
		}
		if ext.Info["amount"] != "1000" || ext.Info["spender"] != evm.Permit2Address.Hex() || ext.Info["from"] != p.payer.Address().Hex() ||
			!strings.Contains(ext.Info["description"], "EIP-2612") || ext.Info["version"] != "1" || len(ext.Schema) == 0 {
			t.Fatalf("eip2612GasSponsoring sent: %+v (the seller's description and schema must be echoed)", ext)
		}
	})
	t.Run("gas sponsoring allowed below the price", func(t *testing.T) {
		p := startPermit2Seller(t, p2Options{kind: KindEIP2612, method: "permit2", sponsor: true, gasless: 999})
		_, err := p.get(t, "/v2/weather/paris", p.limit("weather"))
		if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodeAllowanceRequired || pe.Charged != payments.NotCharged {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestPermit2ExpiredDeadline: a payment whose deadline is too soon for the
// facilitator (maxTimeoutSeconds 5, under its 6 s margin) is refused; no
// money moves, and it stays counted until reconciliation proves its
// Permit2 nonce unused at a block past its deadline, not before.
func TestPermit2ExpiredDeadline(t *testing.T) {
	ctx := context.Background()
	p := startPermit2Seller(t, p2Options{method: "permit2", approve: 1_000_000, maxTimeout: 5})
	_, err := p.get(t, "/v2/weather/paris", p.limit("weather"))
	pe, ok := payments.AsError(err)
	if !ok || pe.Code != payments.CodePaymentRejected || pe.Charged != payments.ChargeUnknown || !strings.Contains(pe.Message, localseller.ReasonPermit2DeadlineExpired) {
		t.Fatalf("err = %v", err)
	}
	if payer, payee := p.balances(t); payer != 1_000_000 || payee != 0 {
		t.Fatalf("money moved: payer %d payee %d", payer, payee)
	}
	if _, pending := p.counted(t); pending != 1_000 {
		t.Fatalf("pending %d, want the refused 1000 counted", pending)
	}
	// The chain's finalized block is not past the deadline yet: open.
	rep, err := p.ledger.Reconcile(ctx, p.client.Schemes)
	if err != nil || rep.Released != 0 || rep.StillOpen != 1 {
		t.Fatalf("reconcile before the deadline: %+v %v", rep, err)
	}
	if err := p.sim.AdjustTime(time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := p.sim.Seal(40); err != nil {
		t.Fatal(err)
	}
	rep, err = p.ledger.Reconcile(ctx, p.client.Schemes)
	if err != nil || rep.Released != 1 {
		t.Fatalf("reconcile past the deadline: %+v %v", rep, err)
	}
	if _, pending := p.counted(t); pending != 0 {
		t.Fatalf("pending %d after the chain proved the nonce unused past the deadline", pending)
	}
}

// TestPermit2FacilitatorRefuses: the local facilitator's checks of Permit2
// payments, each with the spec's reason, and nothing moved on chain.
func TestPermit2FacilitatorRefuses(t *testing.T) {
	ctx := context.Background()
	p := startPermit2Seller(t, p2Options{method: "permit2", approve: 1_000_000})
	fac := p.run.Facilitator
	// The requirements the seller asks: exact for the weather, upto for
	// the metered route.
	challengeOf := func(path string) (*x402.PaymentRequired, x402.Requirement) {
		resp, err := http.Get(p.run.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		pr, err := x402.ParseChallenge(resp.Header, nil)
		if err != nil {
			t.Fatal(err)
		}
		return pr, pr.Accepts[0]
	}
	_, exact := challengeOf("/v2/weather/paris")
	_, upto := challengeOf("/v2/metered?units=3")
	hour := time.Now().Add(time.Hour)
	sign := func(a evm.Permit2Authorization) string {
		sig, err := crypto.Sign(a.Digest(big.NewInt(ChainID)).Bytes(), p.key)
		if err != nil {
			t.Fatal(err)
		}
		sig[64] += 27
		return "0x" + common.Bytes2Hex(sig)
	}
	base := func(rq x402.Requirement) evm.Permit2Authorization {
		a := evm.Permit2Authorization{From: p.payer.Address(), Token: p.tok.Address(), Amount: big.NewInt(1_000), Spender: evm.ExactPermit2ProxyAddress,
			Nonce: big.NewInt(time.Now().UnixNano()), Deadline: big.NewInt(hour.Unix()), To: p.run.Seller.PayTo(), ValidAfter: big.NewInt(0)}
		if rq.Scheme == "upto" {
			a.Amount, a.Spender = big.NewInt(10_000), evm.UptoPermit2ProxyAddress
			f := fac.FacilitatorAddress()
			a.Facilitator = &f
		}
		return a
	}
	payload := func(rq x402.Requirement, a evm.Permit2Authorization, sig string) *x402.PaymentPayload {
		return &x402.PaymentPayload{X402Version: 2, Accepted: rq.Raw, Payload: evm.Permit2Payload{Signature: sig, Authorization: a.JSON()}.Raw()}
	}
	for _, tt := range []struct {
		name   string
		rq     x402.Requirement
		mutate func(a *evm.Permit2Authorization)
		// settleAt, for upto, is the settlement's amount (0: verify only).
		settleAt payments.Amount
		reason   string
	}{
		{"wrong spender", exact, func(a *evm.Permit2Authorization) { a.Spender = evm.UptoPermit2ProxyAddress }, 0, localseller.ReasonPermit2Spender},
		{"wrong payee", exact, func(a *evm.Permit2Authorization) { a.To = localseller.SwitchedPayTo }, 0, localseller.ReasonPermit2Recipient},
		{"amount is not the price", exact, func(a *evm.Permit2Authorization) { a.Amount = big.NewInt(999) }, 0, localseller.ReasonPermit2Amount},
		{"expired deadline", exact, func(a *evm.Permit2Authorization) { a.Deadline = big.NewInt(time.Now().Unix() - 1) }, 0, localseller.ReasonPermit2DeadlineExpired},
		{"not yet valid", exact, func(a *evm.Permit2Authorization) { a.ValidAfter = big.NewInt(hour.Unix()) }, 0, localseller.ReasonPermit2ValidAfter},
		{"another token", exact, func(a *evm.Permit2Authorization) { a.Token = p.sim.Token() }, 0, localseller.ReasonPermit2Token},
		{"upto for another facilitator", upto, func(a *evm.Permit2Authorization) {
			other := localseller.FacilitatorAddress
			a.Facilitator = &other
		}, 0, localseller.ReasonPermit2Facilitator},
		{"upto settled above the maximum", upto, func(*evm.Permit2Authorization) {}, 10_001, localseller.ReasonUptoExceeds},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := base(tt.rq)
			tt.mutate(&a)
			pl := payload(tt.rq, a, sign(a))
			if tt.settleAt == 0 {
				if vr := fac.Verify(ctx, pl, tt.rq); vr.IsValid || vr.InvalidReason != tt.reason {
					t.Fatalf("verify = %+v, want %s", vr, tt.reason)
				}
			}
			rq := tt.rq
			if tt.settleAt != 0 {
				rq.Amount = tt.settleAt.Atomic()
			}
			if sr := fac.Settle(ctx, pl, rq); sr.Success || sr.ErrorReason != tt.reason {
				t.Fatalf("settle = %+v, want %s", sr, tt.reason)
			}
			if payer, payee := p.balances(t); payer != 1_000_000 || payee != 0 {
				t.Fatalf("money moved: payer %d payee %d", payer, payee)
			}
		})
	}
	t.Run("a nonce settles once", func(t *testing.T) {
		a := base(exact)
		pl := payload(exact, a, sign(a))
		if sr := fac.Settle(ctx, pl, exact); !sr.Success {
			t.Fatalf("first settle: %+v", sr)
		}
		if sr := fac.Settle(ctx, pl, exact); sr.Success || sr.ErrorReason != localseller.ReasonPermit2NonceUsed {
			t.Fatalf("second settle: %+v, want %s", sr, localseller.ReasonPermit2NonceUsed)
		}
		if payer, payee := p.balances(t); payer != 999_000 || payee != 1_000 {
			t.Fatalf("on chain: payer %d payee %d, want 999000 and 1000", payer, payee)
		}
	})
}
