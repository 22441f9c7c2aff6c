package localseller

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/mustjson"
	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

// DefaultPayTo is the seller's payee unless Config.PayTo says otherwise (the
// payee of the x402 specification's examples).
var DefaultPayTo = common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")

// SwitchedPayTo is the payee misbehave/switched_payee asks to be paid instead
// of the seller's own.
var SwitchedPayTo = common.HexToAddress("0x5B38Da6a701c568545dCfcB03FcB875f56beddC4")

// UnknownNetwork is the network misbehave/unknown_network asks to be paid on.
const UnknownNetwork = "eip155:999999"

// Source is the "source" field of the seller's JSON answers.
const Source = "x402-mcp local seller"

// Route names: the keys of PaidCount and PaidCounts. A misbehaviour route's
// name is MisbehaveRoute(mode).
const (
	RouteWeather    = "weather"
	RouteSummarize  = "summarize"
	RouteQuote      = "quote"
	RouteText       = "text"
	RouteImage      = "image"
	RouteIdempotent = "idempotent"
	RoutePing       = "ping"
	RouteTip        = "tip"
)

// Modes of GET /v2/misbehave/{mode}; the package documentation says what
// each one does.
const (
	ModePriceHigh        = "price_high"
	ModeSwitchedPayee    = "switched_payee"
	ModeUnknownNetwork   = "unknown_network"
	ModeBadBase64        = "bad_base64"
	ModeBadJSON          = "bad_json"
	ModeSecond402        = "second_402"
	ModeErrorAfterSettle = "error_after_settle"
	ModeErrorNoReceipt   = "error_no_receipt"
	ModeHugeBody         = "huge_body"
	ModeSlowBody         = "slow_body"
	ModePending          = "pending"
	ModeNoReceipt        = "no_receipt"
	ModeMultiAccept      = "multi_accept"
	ModeDropAfterSettle  = "drop_after_settle"
	ModeSettleThen402    = "settle_then_402"
	ModeDeepJSON         = "deep_json"
)

// Modes lists every misbehaviour mode.
var Modes = []string{
	ModePriceHigh, ModeSwitchedPayee, ModeUnknownNetwork, ModeBadBase64, ModeBadJSON, ModeSecond402,
	ModeErrorAfterSettle, ModeErrorNoReceipt, ModeHugeBody, ModeSlowBody, ModePending, ModeNoReceipt, ModeMultiAccept,
	ModeDropAfterSettle, ModeSettleThen402, ModeDeepJSON,
}

// MisbehaveRoute returns the route name of a misbehaviour mode.
func MisbehaveRoute(mode string) string { return "misbehave/" + mode }

// Fixed prices of the misbehaviour routes that are about price.
const (
	PriceHigh      payments.Amount = 5_000_000 // misbehave/price_high: 5 USDC
	PriceMultiHigh payments.Amount = 50_000    // misbehave/multi_accept's dearer option: 0.05 USDC
)

// Sizes and pace of the misbehaving bodies.
const (
	HugeBodySize = 20 << 20
	// DeepJSONSize is deep_json's body: that many "[" (10 MiB, just within
	// payments.DefaultMaxBody, so the client reads all of it).
	DeepJSONSize     = 10 << 20
	SlowBodyInterval = 200 * time.Millisecond
	SlowBodyDuration = 60 * time.Second
)

// Prices sets each route's price; a zero field takes the default in
// DefaultPrices.
type Prices struct {
	Weather    payments.Amount
	Summarize  payments.Amount
	Quote      payments.Amount
	Text       payments.Amount
	Image      payments.Amount
	Idempotent payments.Amount
	// Misbehave is the price of every misbehaviour route but price_high and
	// multi_accept's dearer option.
	Misbehave payments.Amount
	// Metered is the maximum GET /v2/metered (upto) asks for.
	Metered payments.Amount
}

// DefaultPrices are the seller's prices unless Config.Prices overrides them.
var DefaultPrices = Prices{
	Weather:    1_000,  // 0.001 USDC
	Summarize:  10_000, // 0.01 USDC
	Quote:      2_000,  // 0.002 USDC
	Text:       1_000,
	Image:      1_000,
	Idempotent: 1_000,
	Misbehave:  1_000,
	Metered:    DefaultMeteredMax,
}

func (p Prices) withDefaults() Prices {
	d := DefaultPrices
	for _, f := range []struct{ dst, def *payments.Amount }{
		{&p.Weather, &d.Weather}, {&p.Summarize, &d.Summarize}, {&p.Quote, &d.Quote}, {&p.Text, &d.Text},
		{&p.Image, &d.Image}, {&p.Idempotent, &d.Idempotent}, {&p.Misbehave, &d.Misbehave}, {&p.Metered, &d.Metered},
	} {
		if *f.dst == 0 {
			*f.dst = *f.def
		}
	}
	return p
}

// DefaultMaxTimeoutSeconds is the maxTimeoutSeconds the seller's accepts carry.
const DefaultMaxTimeoutSeconds = 300

// Config configures a Seller. The zero value is a working seller paid to
// DefaultPayTo through a fresh Base Sepolia USDC facilitator.
type Config struct {
	// PayTo receives the payments (default DefaultPayTo).
	PayTo common.Address
	// Facilitator verifies and settles (default NewFacilitator(FacilitatorConfig{})).
	Facilitator *Facilitator
	// Prices overrides route prices.
	Prices Prices
	// MaxTimeoutSeconds goes into every accept (default 300).
	MaxTimeoutSeconds int64
	// Delay holds every request this long before answering it (for timeout
	// tests); a request whose client goes away meanwhile gets no answer.
	Delay time.Duration
	// OnPayment, if set, is called for every request carrying a payment
	// header, before the request is handled.
	OnPayment func(Received)
	// Solana, when set, offers every route on Solana too (SolanaConfig).
	Solana *SolanaConfig
}

// Received is a request that carried a payment header.
type Received struct {
	Method string
	Path   string
	// Header is the header's name: PAYMENT-SIGNATURE or X-PAYMENT.
	Header string
	// Value is the header's raw value.
	Value string
	// Payload is the decoded payment, nil when the value did not decode.
	Payload *x402.PaymentPayload
}

// Seller is a local paid HTTP API that speaks x402 v1 and v2 and settles
// through its Facilitator, with counters for tests.
type Seller struct {
	payTo     common.Address
	fac       *Facilitator
	prices    atomic.Pointer[Prices]
	requests  atomic.Int64
	timeout   int64
	delay     time.Duration
	onPayment func(Received)
	handler   http.Handler
	sol       *solanaSide

	mu          sync.Mutex
	headersSeen int
	paid        map[string]int
	received    []Received
	ids         []string

	// idemMu serialises GET /v2/idempotent so that one identifier settles once.
	idemMu sync.Mutex
	idem   map[string]*idemEntry

	// beforeSettle, when set (by tests), runs between serving and settling.
	beforeSettle func()
}

type idemEntry struct {
	key  string
	resp *response
}

// New returns a seller.
func New(cfg Config) *Seller {
	s := &Seller{
		payTo:     cfg.PayTo,
		fac:       cfg.Facilitator,
		timeout:   cfg.MaxTimeoutSeconds,
		delay:     cfg.Delay,
		onPayment: cfg.OnPayment,
		sol:       newSolanaSide(cfg.Solana),
		paid:      map[string]int{},
		idem:      map[string]*idemEntry{},
	}
	p := cfg.Prices.withDefaults()
	s.prices.Store(&p)
	if s.payTo == (common.Address{}) {
		s.payTo = DefaultPayTo
	}
	if s.fac == nil {
		s.fac = NewFacilitator(FacilitatorConfig{})
	}
	if s.timeout <= 0 {
		s.timeout = DefaultMaxTimeoutSeconds
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleIndex)
	mux.HandleFunc("GET /free/ping", s.handlePing)
	mux.HandleFunc("GET /v2/weather/{city}", s.handleWeather)
	mux.HandleFunc("POST /v2/summarize", s.handleSummarize)
	mux.HandleFunc("GET /v1/quote", s.handleQuote)
	mux.HandleFunc("GET /v2/text", s.handleText)
	mux.HandleFunc("GET /v2/image", s.handleImage)
	mux.HandleFunc("GET /v2/idempotent", s.handleIdempotent)
	mux.HandleFunc("GET /v2/tip/{name}", s.handleTip)
	mux.HandleFunc("GET /v2/misbehave/{mode}", s.handleMisbehave)
	mux.HandleFunc("GET /v2/metered", s.handleMetered)
	mux.HandleFunc("GET /discovery/resources", s.handleDiscoveryResources)
	mux.HandleFunc("GET /discovery/search", s.handleDiscoverySearch)
	mux.Handle("/facilitator/", http.StripPrefix("/facilitator", s.fac.Handler()))
	if s.sol != nil {
		if sf, ok := s.sol.cfg.Facilitator.(*SolanaFacilitator); ok {
			mux.Handle("/solana/facilitator/", http.StripPrefix("/solana/facilitator", sf.Handler()))
			mux.Handle("POST /solana/rpc", sf.RPC())
		}
	}
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.observe(r)
		if s.delay > 0 {
			t := time.NewTimer(s.delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
	return s
}

// Handler returns the seller's HTTP handler: the routes in the package
// documentation, plus the facilitator API under /facilitator/.
func (s *Seller) Handler() http.Handler { return s.handler }

// Facilitator returns the facilitator the seller settles through.
func (s *Seller) Facilitator() *Facilitator { return s.fac }

// PayTo returns the seller's payee.
func (s *Seller) PayTo() common.Address { return s.payTo }

// Prices returns the seller's prices, defaults filled in.
func (s *Seller) Prices() Prices { return *s.prices.Load() }

// SetPrices changes the seller's prices from now on (zero fields take the
// defaults), as a seller that reprices its API would.
func (s *Seller) SetPrices(p Prices) {
	p = p.withDefaults()
	s.prices.Store(&p)
}

// Requests returns how many HTTP requests the seller received, on any route
// (the facilitator's included).
func (s *Seller) Requests() int64 { return s.requests.Load() }

// PaymentHeadersSeen returns how many requests carried a PAYMENT-SIGNATURE or
// X-PAYMENT header, on any route, valid or not: a client that refused to pay
// leaves it unchanged.
func (s *Seller) PaymentHeadersSeen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headersSeen
}

// PaidCount returns how many payments settled on a route (see the Route
// constants and MisbehaveRoute).
func (s *Seller) PaidCount(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paid[route]
}

// PaidCounts returns a copy of every route's settled-payment count.
func (s *Seller) PaidCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.paid))
	for k, v := range s.paid {
		m[k] = v
	}
	return m
}

// ReceivedPayments returns every request that carried a payment header,
// oldest first.
func (s *Seller) ReceivedPayments() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// PaymentIDs returns the payment-identifier info.id of every request to
// GET /v2/idempotent that carried a well-formed one, in arrival order,
// repeats included.
func (s *Seller) PaymentIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

func (s *Seller) observe(r *http.Request) {
	name := x402.HeaderPaymentSignature
	v := r.Header.Get(name)
	if v == "" {
		name = x402.HeaderXPayment
		v = r.Header.Get(name)
	}
	if v == "" {
		return
	}
	rec := Received{Method: r.Method, Path: r.URL.Path, Header: name, Value: v}
	if p, err := x402.DecodePaymentHeader(v); err == nil {
		rec.Payload = p
	}
	s.mu.Lock()
	s.headersSeen++
	s.received = append(s.received, rec)
	s.mu.Unlock()
	if s.onPayment != nil {
		s.onPayment(rec)
	}
}

func (s *Seller) countPaid(route string) {
	s.mu.Lock()
	s.paid[route]++
	s.mu.Unlock()
}

// resource is a v2 challenge's resource object.
type resource struct {
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
	MimeType    string `json:"mimeType,omitempty"`
}

// offer is what one request is asked to pay: the challenge's content.
type offer struct {
	route      string
	version    int
	resource   resource
	accepts    []x402.Requirement
	extensions map[string]json.RawMessage
	// sol, when set, adds a Solana counterpart to every exact option.
	sol *solanaSide
}

// newOffer starts an offer with no accepts.
func (s *Seller) newOffer(r *http.Request, route string, version int, desc, mime string) *offer {
	return &offer{route: route, version: version, resource: resource{URL: requestURL(r), Description: desc, MimeType: mime}, sol: s.sol}
}

// simpleOffer is an offer with one accept at price, and the facilitator's
// gas sponsoring when it offers it.
func (s *Seller) simpleOffer(r *http.Request, route string, version int, desc, mime string, price payments.Amount) *offer {
	o := s.newOffer(r, route, version, desc, mime)
	o.add(s.requirement(o, price))
	s.offerSponsoring(o)
	return o
}

// offerSponsoring adds eip2612GasSponsoring to a v2 offer when the
// facilitator sponsors gas (FacilitatorConfig.GasSponsoring).
func (s *Seller) offerSponsoring(o *offer) {
	if !s.fac.sponsor || o.version != 2 {
		return
	}
	o.setExtension(evm.ExtEIP2612GasSponsoring, eip2612SponsoringExt)
}

// setExtension declares extension key in the offer's challenge.
func (o *offer) setExtension(key string, ext json.RawMessage) {
	if o.extensions == nil {
		o.extensions = map[string]json.RawMessage{}
	}
	o.extensions[key] = ext
}

// eip2612SponsoringExt is the eip2612GasSponsoring extension a sponsoring
// seller declares (specs/extensions/eip2612_gas_sponsoring.md): the payer
// fills info.
var eip2612SponsoringExt = json.RawMessage(`{"info":{"description":"The facilitator accepts EIP-2612 gasless Permit to ` + "`Permit2`" + ` canonical contract.","version":"1"},"schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"from":{"type":"string","pattern":"^0x[a-fA-F0-9]{40}$"},"asset":{"type":"string","pattern":"^0x[a-fA-F0-9]{40}$"},"spender":{"type":"string","pattern":"^0x[a-fA-F0-9]{40}$"},"amount":{"type":"string","pattern":"^[0-9]+$"},"nonce":{"type":"string","pattern":"^[0-9]+$"},"deadline":{"type":"string","pattern":"^[0-9]+$"},"signature":{"type":"string","pattern":"^0x[a-fA-F0-9]+$"},"version":{"type":"string","pattern":"^[0-9]+(\\.[0-9]+)*$"}},"required":["from","asset","spender","amount","nonce","deadline","signature","version"]}}`)

// requirement returns the seller's standard exact accept at price, in the
// offer's version.
func (s *Seller) requirement(o *offer, price payments.Amount) x402.Requirement {
	extra := mustjson.Marshal(evm.Extra{Name: s.fac.name, Version: s.fac.version, AssetTransferMethod: s.fac.method})
	rq := x402.Requirement{
		Scheme: "exact", Asset: s.fac.asset.Hex(), PayTo: s.payTo.Hex(), MaxTimeoutSeconds: x402.Seconds(s.timeout), Extra: extra,
	}
	if o.version == 1 {
		rq.Network, rq.MaxAmountRequired = s.fac.v1Network, price.Atomic()
		rq.Resource, rq.Description, rq.MimeType = o.resource.URL, o.resource.Description, o.resource.MimeType
		rq.OutputSchema = json.RawMessage("null")
	} else {
		rq.Network, rq.Amount = string(s.fac.network), price.Atomic()
	}
	return rq
}

// add appends rq, fixing its Raw bytes: what the challenge carries and what
// a v2 payment's `accepted` is compared with. A seller that takes Solana
// appends its Solana counterpart of an exact option after it (or instead
// of it, SolanaConfig.Only).
func (o *offer) add(rq x402.Requirement) {
	if o.sol == nil || rq.Scheme != "exact" {
		o.append(rq)
		return
	}
	if !o.sol.cfg.Only {
		o.append(rq)
	}
	o.append(o.sol.counterpart(o, rq))
}

func (o *offer) append(rq x402.Requirement) {
	rq.Raw = mustjson.Marshal(rq) // the seller's own option: its raw fields are JSON it wrote
	o.accepts = append(o.accepts, rq)
}

func (o *offer) paymentHeader() string {
	if o.version == 1 {
		return x402.HeaderXPayment
	}
	return x402.HeaderPaymentSignature
}

func (o *offer) receiptHeader() string {
	if o.version == 1 {
		return x402.HeaderXPaymentResponse
	}
	return x402.HeaderPaymentResponse
}

// match finds the accept a payment answers: by deep equality of `accepted`
// in v2, by scheme and network in v1.
func (o *offer) match(p *x402.PaymentPayload) (x402.Requirement, bool) {
	for _, a := range o.accepts {
		if o.version == 2 && sameJSON(p.Accepted, a.Raw) ||
			o.version == 1 && a.Scheme == p.Scheme && a.Network == p.Network {
			return a, true
		}
	}
	return x402.Requirement{}, false
}

// Errors the seller puts in a challenge's error field besides the
// facilitator's reason codes.
const (
	ErrV2PaymentRequired  = "PAYMENT-SIGNATURE header is required"
	ErrV1PaymentRequired  = "X-PAYMENT header is required"
	ErrNoMatchingAccept   = "No matching payment requirements"
	ErrSecond402          = "payment not accepted (second_402 test mode)"
	ErrIdentifierRequired = "payment-identifier extension with info.id is required"
)

type challengeJSON struct {
	X402Version int                        `json:"x402Version"`
	Error       string                     `json:"error,omitempty"`
	Resource    *resource                  `json:"resource,omitempty"`
	Accepts     []json.RawMessage          `json:"accepts"`
	Extensions  map[string]json.RawMessage `json:"extensions,omitempty"`
}

// challenge answers 402 with the offer: the PAYMENT-REQUIRED header and a {}
// body in v2, a JSON body in v1. A failed settlement's receipt goes along.
func (s *Seller) challenge(w http.ResponseWriter, o *offer, errMsg string, receipt *x402.SettlementResponse) {
	s.challengeStatus(w, o, http.StatusPaymentRequired, errMsg, receipt)
}

// challengeStatus is challenge with another status: 412 Precondition
// Failed for permit2_allowance_required (x402-protocol.md §1).
func (s *Seller) challengeStatus(w http.ResponseWriter, o *offer, status int, errMsg string, receipt *x402.SettlementResponse) {
	c := challengeJSON{X402Version: o.version, Error: errMsg, Extensions: o.extensions}
	for _, a := range o.accepts {
		c.Accepts = append(c.Accepts, a.Raw)
	}
	if receipt != nil {
		s.setReceipt(w.Header(), o, *receipt)
	}
	if o.version == 1 {
		writeJSON(w, status, c)
		return
	}
	c.Resource = &o.resource
	v, err := x402.EncodeHeaderJSON(c)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set(x402.HeaderPaymentRequired, v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte("{}")) // a client gone away: nothing to be done
}

func (s *Seller) setReceipt(h http.Header, o *offer, sr x402.SettlementResponse) {
	if v, err := x402.EncodeHeaderJSON(sr); err == nil {
		h.Set(o.receiptHeader(), v)
	}
}

// paid is a payment that verified against one of the offer's accepts.
type paid struct {
	payload *x402.PaymentPayload
	req     x402.Requirement
}

// accept reads and verifies the request's payment. When it returns false it
// has answered the request: a 402 challenge, with the reason in its error.
func (s *Seller) accept(w http.ResponseWriter, r *http.Request, o *offer) (*paid, bool) {
	v := r.Header.Get(o.paymentHeader())
	if v == "" {
		msg := ErrV2PaymentRequired
		if o.version == 1 {
			msg = ErrV1PaymentRequired
		}
		s.challenge(w, o, msg, nil)
		return nil, false
	}
	p, err := x402.DecodePaymentHeader(v)
	if err != nil {
		s.challenge(w, o, ReasonInvalidPayload, nil)
		return nil, false
	}
	return s.acceptPayload(w, r, o, p)
}

func (s *Seller) acceptPayload(w http.ResponseWriter, r *http.Request, o *offer, p *x402.PaymentPayload) (*paid, bool) {
	if p.X402Version != o.version {
		s.challenge(w, o, ReasonInvalidVersion, nil)
		return nil, false
	}
	rq, ok := o.match(p)
	if !ok {
		s.challenge(w, o, ErrNoMatchingAccept, nil)
		return nil, false
	}
	if vr := s.settlerFor(rq).Verify(r.Context(), p, rq); !vr.IsValid {
		status := http.StatusPaymentRequired
		if vr.InvalidReason == ReasonPermit2AllowanceRequired {
			status = http.StatusPreconditionFailed
		}
		s.challengeStatus(w, o, status, vr.InvalidReason, nil)
		return nil, false
	}
	return &paid{payload: p, req: rq}, true
}

// settle settles a verified payment. When it fails it answers 402 with a
// fresh challenge and the failed receipt, and returns false.
func (s *Seller) settle(w http.ResponseWriter, r *http.Request, o *offer, pd *paid) (x402.SettlementResponse, bool) {
	if s.beforeSettle != nil {
		s.beforeSettle()
	}
	sr := s.settlerFor(pd.req).Settle(r.Context(), pd.payload, pd.req)
	if !sr.Success {
		s.challenge(w, o, sr.ErrorReason, &sr)
		return sr, false
	}
	s.countPaid(o.route)
	return sr, true
}

// sell runs the authorization flow: verify, serve into a buffer, settle, and
// only then release the body with its receipt. A content answer of 400 or
// more is passed on unsettled: nothing is charged for a failure.
func (s *Seller) sell(w http.ResponseWriter, r *http.Request, o *offer, serve func(http.ResponseWriter)) {
	pd, ok := s.accept(w, r, o)
	if !ok {
		return
	}
	out := newResponse()
	serve(out)
	if out.status >= 400 {
		out.writeTo(w)
		return
	}
	sr, ok := s.settle(w, r, o, pd)
	if !ok {
		return
	}
	s.setReceipt(out.Header(), o, sr)
	out.writeTo(w)
}

// response is a buffered answer.
type response struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newResponse() *response { return &response{header: http.Header{}} }

func (b *response) Header() http.Header { return b.header }

func (b *response) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *response) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *response) writeTo(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range b.header {
		h[k] = append([]string(nil), v...)
	}
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(b.body.Bytes()) // a client gone away: nothing to be done
}

func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// paymentIdentifierExt is the payment-identifier extension the idempotent
// route offers (x402-protocol.md §7).
var paymentIdentifierExt = json.RawMessage(`{"info":{"required":true},"schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"required":{"type":"boolean"},"id":{"type":"string","minLength":16,"maxLength":128,"pattern":"^[A-Za-z0-9_-]+$"}},"required":["required"]}}`)

// paymentIdentifier reads info.id from a payment's payment-identifier
// extension.
func paymentIdentifier(p *x402.PaymentPayload) (string, error) {
	raw, ok := p.Extensions[x402.ExtPaymentIdentifier]
	if !ok {
		return "", errors.New(ErrIdentifierRequired + ": the payment does not echo the extension")
	}
	var ext struct {
		Info struct {
			ID *string `json:"id"`
		} `json:"info"`
	}
	if err := json.Unmarshal(raw, &ext); err != nil {
		return "", errors.New(ErrIdentifierRequired + ": the extension is malformed")
	}
	if ext.Info.ID == nil || *ext.Info.ID == "" {
		return "", errors.New(ErrIdentifierRequired + ": info.id is missing")
	}
	id := *ext.Info.ID
	if !x402.ValidPaymentID(id) {
		return "", errors.New("payment-identifier info.id must be 16 to 128 characters of [A-Za-z0-9_-]")
	}
	return id, nil
}

// payloadKey is a payment's canonical JSON: equal for the same payment
// however its JSON was spaced or ordered.
func payloadKey(p *x402.PaymentPayload) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	if b, err = json.Marshal(v); err != nil {
		return "", err
	}
	return string(b), nil
}

// handleIdempotent sells GET /v2/idempotent under the payment-identifier
// extension: an id settles once; the same id with the same payment replays
// the first answer, with a different payment it gets 409.
func (s *Seller) handleIdempotent(w http.ResponseWriter, r *http.Request) {
	o := s.simpleOffer(r, RouteIdempotent, 2, "Idempotent purchase (payment-identifier required)", "application/json", s.Prices().Idempotent)
	o.setExtension(x402.ExtPaymentIdentifier, paymentIdentifierExt)
	v := r.Header.Get(x402.HeaderPaymentSignature)
	if v == "" {
		s.challenge(w, o, ErrV2PaymentRequired, nil)
		return
	}
	p, err := x402.DecodePaymentHeader(v)
	if err != nil {
		s.challenge(w, o, ReasonInvalidPayload, nil)
		return
	}
	id, err := paymentIdentifier(p)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	s.ids = append(s.ids, id)
	s.mu.Unlock()

	key, err := payloadKey(p)
	if err != nil {
		s.challenge(w, o, ReasonInvalidPayload, nil)
		return
	}
	s.idemMu.Lock()
	defer s.idemMu.Unlock()
	if e, ok := s.idem[id]; ok {
		if e.key != key {
			writeJSON(w, http.StatusConflict, map[string]string{
				"error": "payment identifier " + id + " was already used with a different payment"})
			return
		}
		e.resp.writeTo(w)
		return
	}
	out := newResponse()
	if pd, ok := s.acceptPayload(out, r, o, p); ok {
		content := newResponse()
		writeJSON(content, http.StatusOK, map[string]any{"paymentId": id, "item": "one idempotent purchase", "source": Source})
		if sr, ok := s.settle(out, r, o, pd); ok {
			s.setReceipt(content.Header(), o, sr)
			s.idem[id] = &idemEntry{key: key, resp: content}
			out = content
		}
	}
	out.writeTo(w)
}
