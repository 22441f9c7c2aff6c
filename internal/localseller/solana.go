package localseller

import (
	"context"

	"github.com/x402-mcp/x402-mcp/internal/mustjson"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/facilitator"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// SolanaConfig makes the seller offer Solana too: every exact option on
// the EVM network gets a Solana counterpart of the same price, after it (or
// instead of it, with Only), paid to PayTo in Mint, with the facilitator's
// fee payer in extra. Payments on Solana are verified and settled by
// Facilitator: the reference @x402/svm facilitator over HTTP (Remote), or
// the in-memory SolanaFacilitator.
type SolanaConfig struct {
	// Network is the CAIP-2 Solana network (default devnet).
	Network payments.Network
	// Mint is the token (default the network's USDC).
	Mint string
	// PayTo is the seller's Solana address (base58).
	PayTo string
	// FeePayer is the facilitator's fee payer, extra.feePayer (default,
	// with a SolanaFacilitator, its own).
	FeePayer string
	// Facilitator verifies and settles the Solana payments. A
	// *SolanaFacilitator is also served by the seller: its facilitator API
	// under /solana/facilitator/ and its chain's JSON-RPC at /solana/rpc;
	// the seller's token account is opened there.
	Facilitator Settler
	// Only offers Solana alone: the EVM options are left out.
	Only bool
	// Extra, when set, adds to every Solana option's extra (a memo, a
	// recentBlockhash): it is called for each challenge.
	Extra func() map[string]any
}

// SwitchedSolanaPayTo is the Solana payee misbehave/switched_payee asks to
// be paid instead of the seller's own.
const SwitchedSolanaPayTo = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"

// Settler verifies and settles payments: a Facilitator, a
// SolanaFacilitator, or a facilitator over HTTP (Remote).
type Settler interface {
	Verify(ctx context.Context, p *x402.PaymentPayload, req x402.Requirement) VerifyResponse
	Settle(ctx context.Context, p *x402.PaymentPayload, req x402.Requirement) x402.SettlementResponse
}

// Remote is a facilitator at a URL (POST /verify, POST /settle), such as
// the reference @x402/svm facilitator test/solana runs.
type Remote struct {
	c *facilitator.Client
}

// NewRemote returns the facilitator at url.
func NewRemote(url string) *Remote {
	return &Remote{c: &facilitator.Client{URL: url}}
}

// Verify implements Settler. A request that got no usable answer is
// invalid, with the reason unexpected_verify_error. It runs to its end
// even when the buyer has gone away (ctx's cancellation is ignored; the
// facilitator client's timeout bounds it), as a seller's does.
func (f *Remote) Verify(ctx context.Context, p *x402.PaymentPayload, req x402.Requirement) VerifyResponse {
	v, err := f.c.Verify(context.WithoutCancel(ctx), p, &req)
	if err != nil {
		return VerifyResponse{InvalidReason: ReasonUnexpectedVerifyError, InvalidMessage: err.Error()}
	}
	return VerifyResponse{IsValid: v.IsValid, InvalidReason: v.InvalidReason, InvalidMessage: v.InvalidMessage, Payer: v.Payer}
}

// Settle implements Settler. A request that got no usable answer fails
// with unexpected_settle_error. Like Verify, it settles even when the
// buyer has gone away.
func (f *Remote) Settle(ctx context.Context, p *x402.PaymentPayload, req x402.Requirement) x402.SettlementResponse {
	s, err := f.c.Settle(context.WithoutCancel(ctx), p, &req)
	if err != nil {
		return x402.SettlementResponse{Network: req.Network, ErrorReason: ReasonUnexpectedSettleError, ErrorMessage: err.Error()}
	}
	return *s
}

// solanaSide is a seller's checked SolanaConfig.
type solanaSide struct {
	cfg     SolanaConfig
	network svm.Network
}

func newSolanaSide(cfg *SolanaConfig) *solanaSide {
	if cfg == nil {
		return nil
	}
	c := *cfg
	if c.Network == "" {
		c.Network = payments.Network(svm.Devnet)
	}
	n, ok, err := svm.ParseNetwork(string(c.Network))
	if !ok || err != nil {
		panic("localseller: SolanaConfig.Network " + string(c.Network) + " is not a Solana network x402-mcp knows")
	}
	if sf, ok := c.Facilitator.(*SolanaFacilitator); ok {
		if c.FeePayer == "" {
			c.FeePayer = sf.FeePayer()
		}
		if c.Mint == "" {
			c.Mint = sf.Mint()
		}
		if c.PayTo != "" {
			sf.Fund(c.PayTo, 0)
		}
	}
	if c.Mint == "" {
		mint, _ := svm.KnownUSDC(n)
		c.Mint = mint.String()
	}
	if c.PayTo == "" || c.FeePayer == "" || c.Facilitator == nil {
		panic("localseller: SolanaConfig needs PayTo, FeePayer and Facilitator")
	}
	return &solanaSide{cfg: c, network: n}
}

// counterpart is the Solana option of the same price as the EVM option rq,
// in the offer's version: a switched payee stays switched, an unknown
// network stays unknown.
func (s *solanaSide) counterpart(o *offer, rq x402.Requirement) x402.Requirement {
	extra := map[string]any{"feePayer": s.cfg.FeePayer}
	if s.cfg.Extra != nil {
		for k, v := range s.cfg.Extra() {
			extra[k] = v
		}
	}
	raw := mustjson.Marshal(extra) // the feePayer and the test's Extra: strings and plain values
	sol := x402.Requirement{
		Scheme: rq.Scheme, Asset: s.cfg.Mint, PayTo: s.cfg.PayTo, MaxTimeoutSeconds: rq.MaxTimeoutSeconds, Extra: raw,
		Resource: rq.Resource, Description: rq.Description, MimeType: rq.MimeType, OutputSchema: rq.OutputSchema,
		Amount: rq.Amount, MaxAmountRequired: rq.MaxAmountRequired,
	}
	switch {
	case o.version == 1:
		sol.Network = s.network.V1Name()
	default:
		sol.Network = string(s.network)
	}
	if rq.PayTo == SwitchedPayTo.Hex() {
		sol.PayTo = SwitchedSolanaPayTo
	}
	if rq.Network == UnknownNetwork {
		sol.Network = "solana:UnknownNetwork1111111111111111"
	}
	return sol
}

// isSolana says whether rq is an option on a Solana network. A "solana…"
// network x402-mcp does not know (ParseNetwork's error) is one too: the
// Solana facilitator refuses it, naming the network.
func isSolana(rq x402.Requirement) bool {
	_, ok, _ := svm.ParseNetwork(rq.Network)
	return ok
}

// settlerFor is who verifies and settles a payment of rq.
func (s *Seller) settlerFor(rq x402.Requirement) Settler {
	if s.sol != nil && isSolana(rq) {
		return s.sol.cfg.Facilitator
	}
	return s.fac
}

// solanaIndex is what GET / says of the Solana side.
func (s *Seller) solanaIndex() map[string]any {
	if s.sol == nil {
		return nil
	}
	return map[string]any{"network": s.sol.network, "payTo": s.sol.cfg.PayTo, "asset": s.sol.cfg.Mint, "feePayer": s.sol.cfg.FeePayer}
}
