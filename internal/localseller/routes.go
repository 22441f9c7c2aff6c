package localseller

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/x402-mcp/x402-mcp/payments"
)

// RouteInfo describes one route for people: GET / lists them.
type RouteInfo struct {
	Name        string          `json:"name"`
	Method      string          `json:"method"`
	Path        string          `json:"path"`
	X402Version int             `json:"x402Version,omitempty"`
	Price       payments.Amount `json:"price"`
	Description string          `json:"description"`
}

// Routes lists the seller's well-behaved routes with their prices.
func (s *Seller) Routes() []RouteInfo {
	p := s.Prices()
	return []RouteInfo{
		{RouteWeather, "GET", "/v2/weather/{city}?units=metric|imperial", 2, p.Weather, "current weather for a city (deterministic)"},
		{RouteSummarize, "POST", "/v2/summarize", 2, p.Summarize, `first sentence and word count of {"text": "..."}`},
		{RouteQuote, "GET", "/v1/quote?symbol=ABC", 1, p.Quote, "a stock quote (deterministic), sold over x402 v1"},
		{RouteText, "GET", "/v2/text", 2, p.Text, "a paid text/plain resource"},
		{RouteImage, "GET", "/v2/image", 2, p.Image, "a paid 16x16 PNG"},
		{RouteIdempotent, "GET", "/v2/idempotent", 2, p.Idempotent, "a purchase that requires the payment-identifier extension"},
		{RouteTip, "GET", "/v2/tip/{name}?amount=0.25", 2, 0, "pay what you want: the 402 asks exactly the amount given (" + MinTip.String() + " to " + MaxTip.String() + " USDC; &inflate=1 misbehaves and asks double)"},
		{RoutePing, "GET", "/free/ping", 0, 0, "free health check"},
		{"misbehave", "GET", "/v2/misbehave/{mode}", 2, p.Misbehave, "misbehaving sellers for tests: " + strings.Join(Modes, ", ")},
	}
}

func (s *Seller) handleIndex(w http.ResponseWriter, r *http.Request) {
	index := map[string]any{
		"source": Source, "payTo": s.payTo.Hex(), "network": s.fac.network, "asset": s.fac.asset.Hex(), "routes": s.Routes(),
	}
	if sol := s.solanaIndex(); sol != nil {
		index["solana"] = sol
	}
	writeJSON(w, http.StatusOK, index)
}

func (s *Seller) handlePing(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "source": Source})
}

// hash32 is a stable hash of s, the seed of deterministic answers.
func hash32(s string) uint32 {
	h := fnv.New32a()
	_, _ = io.WriteString(h, s) // a hash's Write never fails
	return h.Sum32()
}

var conditions = []string{"clear", "partly cloudy", "cloudy", "light rain", "rain", "thunderstorms", "snow", "fog", "windy"}

// Weather is the GET /v2/weather answer.
type Weather struct {
	City    string         `json:"city"`
	Units   string         `json:"units"`
	Current CurrentWeather `json:"current"`
	Source  string         `json:"source"`
}

// CurrentWeather is Weather.Current. TempF is set for imperial units.
type CurrentWeather struct {
	TempC      int      `json:"tempC"`
	TempF      *float64 `json:"tempF,omitempty"`
	Conditions string   `json:"conditions"`
	Humidity   int      `json:"humidity"`
}

// WeatherFor returns the deterministic weather of a city: the same city
// (case and surrounding space ignored) always gets the same answer.
func WeatherFor(city, units string) Weather {
	h := hash32(strings.ToLower(strings.TrimSpace(city)))
	c := CurrentWeather{
		TempC:      int(h%45) - 10,
		Conditions: conditions[(h/45)%uint32(len(conditions))],
		Humidity:   30 + int((h/1000)%61),
	}
	if units == "imperial" {
		f := math.Round((float64(c.TempC)*9/5+32)*10) / 10
		c.TempF = &f
	}
	return Weather{City: city, Units: units, Current: c, Source: Source}
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
}

// handleWeather sells GET /v2/weather/{city}. Bad input is refused with 400
// before any payment is asked for.
func (s *Seller) handleWeather(w http.ResponseWriter, r *http.Request) {
	city := strings.TrimSpace(r.PathValue("city"))
	units := r.URL.Query().Get("units")
	if units == "" {
		units = "metric"
	}
	switch {
	case city == "" || len(city) > 100:
		badRequest(w, "city must be 1 to 100 characters")
		return
	case units != "metric" && units != "imperial":
		badRequest(w, `units must be "metric" or "imperial"`)
		return
	}
	o := s.simpleOffer(r, RouteWeather, 2, "Current weather for "+city, "application/json", s.Prices().Weather)
	o.setExtension(x402.ExtBazaar, weatherBazaar)
	s.sell(w, r, o, func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, WeatherFor(city, units)) })
}

// maxSummarizeBody bounds POST /v2/summarize's body.
const maxSummarizeBody = 1 << 20

// Summary is the POST /v2/summarize answer.
type Summary struct {
	Summary string `json:"summary"`
	Words   int    `json:"words"`
	Source  string `json:"source"`
}

// Summarize returns text's first sentence (up to the first '.', '!' or '?'
// followed by a space or the end) and its word count.
func Summarize(text string) Summary {
	t := strings.TrimSpace(text)
	first := t
	for i := 0; i < len(t); i++ {
		if c := t[i]; (c == '.' || c == '!' || c == '?') && (i+1 == len(t) || t[i+1] == ' ' || t[i+1] == '\n' || t[i+1] == '\t' || t[i+1] == '\r') {
			first = t[:i+1]
			break
		}
	}
	return Summary{Summary: strings.Join(strings.Fields(first), " "), Words: len(strings.Fields(t)), Source: Source}
}

func (s *Seller) handleSummarize(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxSummarizeBody+1))
	if err != nil {
		badRequest(w, "could not read the body: "+err.Error())
		return
	}
	if len(b) > maxSummarizeBody {
		badRequest(w, fmt.Sprintf("body is over %d bytes", maxSummarizeBody))
		return
	}
	var in struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(b, &in); err != nil || in.Text == nil || strings.TrimSpace(*in.Text) == "" {
		badRequest(w, `body must be JSON {"text": "..."} with non-empty text`)
		return
	}
	o := s.simpleOffer(r, RouteSummarize, 2, "Summarize a text", "application/json", s.Prices().Summarize)
	o.setExtension(x402.ExtBazaar, summarizeBazaar)
	s.sell(w, r, o, func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, Summarize(*in.Text)) })
}

// Quote is the GET /v1/quote answer.
type Quote struct {
	Symbol   string `json:"symbol"`
	Price    string `json:"price"`
	Currency string `json:"currency"`
	Source   string `json:"source"`
}

// QuoteFor returns a deterministic quote for symbol.
func QuoteFor(symbol string) Quote {
	cents := 100 + hash32(symbol)%99_900 // 1.00 to 999.99
	return Quote{Symbol: symbol, Price: fmt.Sprintf("%d.%02d", cents/100, cents%100), Currency: "USD", Source: Source}
}

var quoteOutputSchema = json.RawMessage(`{"input":{"type":"http","method":"GET","queryParams":{"symbol":{"type":"string","description":"ticker, 1 to 10 of A-Z 0-9 ."}}},"output":{"symbol":"string","price":"string","currency":"string","source":"string"}}`)

// handleQuote sells GET /v1/quote over x402 v1.
func (s *Seller) handleQuote(w http.ResponseWriter, r *http.Request) {
	sym := strings.ToUpper(strings.TrimSpace(r.URL.Query().Get("symbol")))
	if !validSymbol(sym) {
		badRequest(w, "symbol must be 1 to 10 characters of A-Z, 0-9 and '.'")
		return
	}
	o := s.newOffer(r, RouteQuote, 1, "Stock quote for "+sym, "application/json")
	rq := s.requirement(o, s.Prices().Quote)
	rq.OutputSchema = quoteOutputSchema
	o.add(rq)
	s.sell(w, r, o, func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, QuoteFor(sym)) })
}

func validSymbol(s string) bool {
	if len(s) < 1 || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.') {
			return false
		}
	}
	return true
}

// TextBody is the GET /v2/text answer.
const TextBody = "Hello from the x402-mcp local seller. This text was paid for with an EIP-3009 USDC authorization.\n"

func (s *Seller) handleText(w http.ResponseWriter, r *http.Request) {
	o := s.simpleOffer(r, RouteText, 2, "A paid text resource", "text/plain; charset=utf-8", s.Prices().Text)
	s.sell(w, r, o, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, TextBody) // a client gone away: nothing to be done
	})
}

var pngOnce = sync.OnceValue(func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x * 16), G: uint8(y * 16), B: 0x80, A: 0xff})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic("localseller: encode png: " + err.Error())
	}
	return b.Bytes()
})

// PNG returns the 16x16 gradient GET /v2/image sells.
func PNG() []byte { return bytes.Clone(pngOnce()) }

func (s *Seller) handleImage(w http.ResponseWriter, r *http.Request) {
	o := s.simpleOffer(r, RouteImage, 2, "A paid 16x16 PNG", "image/png", s.Prices().Image)
	s.sell(w, r, o, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(pngOnce()) // a client gone away: nothing to be done
	})
}

// handleMisbehave serves GET /v2/misbehave/{mode}.
func (s *Seller) handleMisbehave(w http.ResponseWriter, r *http.Request) {
	mode := r.PathValue("mode")
	route := MisbehaveRoute(mode)
	o := s.newOffer(r, route, 2, "Misbehaving test resource ("+mode+")", "application/json")
	body := func(w http.ResponseWriter) {
		writeJSON(w, http.StatusOK, map[string]any{"mode": mode, "ok": true, "source": Source})
	}
	std := s.requirement(o, s.Prices().Misbehave)

	switch mode {
	case ModePriceHigh:
		o.add(s.requirement(o, PriceHigh))
	case ModeSwitchedPayee:
		std.PayTo = SwitchedPayTo.Hex()
		o.add(std)
	case ModeUnknownNetwork:
		std.Network = UnknownNetwork
		o.add(std)
	case ModeMultiAccept:
		odd := std
		odd.Scheme = "streamed-magic"
		o.add(odd)
		o.add(s.requirement(o, PriceMultiHigh))
		o.add(std)
	// A write that fails here is a client gone away: nothing to be done.
	case ModeBadBase64:
		w.Header().Set(x402.HeaderPaymentRequired, "%%% this is not base64 %%%")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPaymentRequired)
		_, _ = io.WriteString(w, "{}")
		return
	case ModeBadJSON:
		w.Header().Set(x402.HeaderPaymentRequired, base64.StdEncoding.EncodeToString([]byte("<html>pay me</html>")))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPaymentRequired)
		_, _ = io.WriteString(w, "{}")
		return
	case ModeSecond402, ModeErrorAfterSettle, ModeErrorNoReceipt, ModeHugeBody, ModeSlowBody, ModePending, ModeNoReceipt, ModeDropAfterSettle,
		ModeSettleThen402, ModeDeepJSON:
		o.add(std)
		s.misbehaveAfterPayment(w, r, o, mode, body)
		return
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "unknown misbehaviour mode " + strconv.Quote(mode), "modes": Modes})
		return
	}
	s.sell(w, r, o, body)
}

// writeRepeated answers 200 with size bytes of c, as contentType.
func writeRepeated(w http.ResponseWriter, contentType string, c byte, size int) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	chunk := bytes.Repeat([]byte{c}, 64<<10)
	for n := 0; n < size; n += len(chunk) {
		if _, err := w.Write(chunk[:min(len(chunk), size-n)]); err != nil {
			return
		}
	}
}

// misbehaveAfterPayment runs the modes that misbehave once a valid payment
// has arrived.
func (s *Seller) misbehaveAfterPayment(w http.ResponseWriter, r *http.Request, o *offer, mode string, body func(http.ResponseWriter)) {
	pd, ok := s.accept(w, r, o)
	if !ok {
		return
	}
	if mode == ModeSecond402 {
		s.challenge(w, o, ErrSecond402, nil)
		return
	}
	sr, ok := s.settle(w, r, o, pd)
	if !ok {
		return
	}
	switch mode {
	case ModeErrorAfterSettle:
		s.setReceipt(w.Header(), o, sr)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error after settlement (error_after_settle test mode)"})
	case ModeErrorNoReceipt:
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "bad gateway after settlement (error_no_receipt test mode)"})
	case ModeHugeBody:
		s.setReceipt(w.Header(), o, sr)
		writeRepeated(w, "text/plain; charset=utf-8", 'x', HugeBodySize)
	case ModeDeepJSON:
		s.setReceipt(w.Header(), o, sr)
		writeRepeated(w, "application/json", '[', DeepJSONSize)
	case ModeSlowBody:
		s.setReceipt(w.Header(), o, sr)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		if err := rc.Flush(); err != nil {
			return // the client went away
		}
		tick := time.NewTicker(SlowBodyInterval)
		defer tick.Stop()
		end := time.NewTimer(SlowBodyDuration)
		defer end.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-end.C:
				return
			case <-tick.C:
				if _, err := io.WriteString(w, "tick\n"); err != nil {
					return
				}
				if err := rc.Flush(); err != nil {
					return
				}
			}
		}
	case ModePending:
		// The money has moved, as when a transaction is broadcast and mined
		// but the facilitator timed out waiting for its receipt.
		sr.Success = false
		sr.ErrorReason = x402.ReasonSettlementPending
		sr.ErrorMessage = "transaction broadcast; its receipt is not known yet"
		s.setReceipt(w.Header(), o, sr)
		body(w)
	case ModeNoReceipt:
		body(w)
	case ModeSettleThen402:
		// A hostile seller: the money has moved, and it answers as if it
		// had refused the payment, to be paid again.
		s.challenge(w, o, ErrSecond402, nil)
	case ModeDropAfterSettle:
		// The money has moved and the buyer hears nothing: the connection
		// closes before any answer. A resend of the same payment then gets
		// 402 invalid_exact_evm_nonce_already_used.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		_ = conn.Close() // closing it is the point; a failure closes it too
	}
}

// Bounds of GET /v2/tip's amount.
const (
	MinTip payments.Amount = 1           // 0.000001 USDC
	MaxTip payments.Amount = 100_000_000 // 100 USDC
)

// Tip is the GET /v2/tip answer once paid.
type Tip struct {
	Thanks       string `json:"thanks"`
	Amount       string `json:"amount"`
	AmountAtomic string `json:"amountAtomic"`
	Message      string `json:"message"`
	Source       string `json:"source"`
}

// TipFor returns the thank-you note for a tip of amount to name.
func TipFor(name string, amount payments.Amount) Tip {
	return Tip{Thanks: name, Amount: amount.String(), AmountAtomic: amount.Atomic(),
		Message: "Thank you for tipping " + amount.USDC() + " to " + name + ".", Source: Source}
}

// handleTip sells GET /v2/tip/{name}?amount=0.25, a pay-what-you-want route:
// the 402 asks exactly the amount given (a decimal USDC amount from MinTip to
// MaxTip), and the paid answer is a thank-you note. With inflate=1 it
// misbehaves and asks double the amount given. Bad input is refused with 400
// before any payment is asked for.
func (s *Seller) handleTip(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	amount, err := payments.ParseAmount(q.Get("amount"))
	switch {
	case !validTipName(name):
		badRequest(w, "name must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'")
		return
	case err != nil:
		badRequest(w, "amount: "+err.Error())
		return
	case amount < MinTip || amount > MaxTip:
		badRequest(w, "amount must be from "+MinTip.String()+" to "+MaxTip.String()+" USDC")
		return
	}
	asked := amount
	switch q.Get("inflate") {
	case "":
	case "1":
		asked = 2 * amount
	default:
		badRequest(w, `inflate must be 1 or absent`)
		return
	}
	o := s.simpleOffer(r, RouteTip, 2, "Tip "+name+" "+amount.USDC(), "application/json", asked)
	s.sell(w, r, o, func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, TipFor(name, asked)) })
}

func validTipName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
