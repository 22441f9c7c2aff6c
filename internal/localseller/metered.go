package localseller

import (
	"net/http"
	"strconv"

	"github.com/x402-mcp/x402-mcp/internal/mustjson"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// RouteMetered is GET /v2/metered, sold with the upto scheme.
const RouteMetered = "metered"

// Metered prices: GET /v2/metered asks for at most DefaultMeteredMax
// (Prices.Metered overrides it) and settles MeteredUnit per unit used, at
// most the maximum.
const (
	DefaultMeteredMax payments.Amount = 10_000 // 0.01 of a 6-decimal token
	MeteredUnit       payments.Amount = 100
	MaxMeteredUnits                   = 1_000_000
)

// Metered is the GET /v2/metered answer.
type Metered struct {
	Units   int    `json:"units"`
	Charged string `json:"charged"` // atomic units settled
	Source  string `json:"source"`
}

// handleMetered sells GET /v2/metered?units=N with the upto scheme, as a
// usage-priced API does: the 402 asks for a maximum (extra names the
// facilitator that settles, which signs nothing else), the payment is
// verified for it, the answer is made, and only what was used (N ×
// MeteredUnit, at most the maximum; 0 settles nothing and sends no
// transaction) is settled. &overreport=1 misbehaves: it settles what was
// used but reports the maximum plus one in PAYMENT-RESPONSE (a seller
// fault); &overcharge=1 asks the facilitator to settle the maximum plus
// one, which it refuses; &noreceipt=1 settles and answers without
// PAYMENT-RESPONSE (a lost receipt). It needs a facilitator on a chain with Permit2:
// otherwise 501.
func (s *Seller) handleMetered(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.fac.permit2Chain(); !ok {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "upto needs a facilitator on a chain with Permit2"})
		return
	}
	units, err := strconv.Atoi(r.URL.Query().Get("units"))
	if err != nil || units < 0 || units > MaxMeteredUnits {
		badRequest(w, "units must be an integer from 0 to "+strconv.Itoa(MaxMeteredUnits))
		return
	}
	max := s.Prices().Metered
	o := s.newOffer(r, RouteMetered, 2, "Metered usage: pay up to the maximum, settled per unit used", "application/json")
	extra := mustjson.Marshal(evm.Extra{Name: s.fac.name, Version: s.fac.version, FacilitatorAddress: s.fac.signer().Hex()})
	o.add(x402.Requirement{
		Scheme: "upto", Network: string(s.fac.network), Amount: max.Atomic(), Asset: s.fac.asset.Hex(), PayTo: s.payTo.Hex(),
		MaxTimeoutSeconds: x402.Seconds(s.timeout), Extra: extra,
	})
	s.offerSponsoring(o)
	pd, ok := s.accept(w, r, o)
	if !ok {
		return
	}
	used := min(payments.Amount(units)*MeteredUnit, max)
	settleAt := used
	if r.URL.Query().Get("overcharge") == "1" {
		settleAt = max + 1
	}
	req := pd.req
	req.Amount = settleAt.Atomic()
	sr := s.fac.Settle(r.Context(), pd.payload, req)
	if !sr.Success {
		s.challenge(w, o, sr.ErrorReason, &sr)
		return
	}
	s.countPaid(o.route)
	if r.URL.Query().Get("overreport") == "1" {
		sr.Amount = (max + 1).Atomic()
	}
	out := newResponse()
	writeJSON(out, http.StatusOK, Metered{Units: units, Charged: used.Atomic(), Source: Source})
	if r.URL.Query().Get("noreceipt") != "1" {
		s.setReceipt(out.Header(), o, sr)
	}
	out.writeTo(w)
}
