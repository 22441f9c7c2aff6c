package payments

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Warm is the warm path's memory: the payment terms a seller last accepted,
// per concrete request, so that a call whose terms are known and still
// allowed sends the paid request at once: one round trip instead of two
// (unpaid request, 402, paid retry).
//
// Terms are keyed on the concrete request: the catalog entry
// (Limit.WarmKey), the method and the resolved URL, path and query
// included, never on the URL template. Terms learned on one resource are
// never paid on another. The key is a keyed hash (HMAC-SHA256 under a
// random per-process key): a resolved URL may carry an operator's ${ENV}
// secret, and none is kept in clear.
//
// Terms are fresh for TTL (and at most the accept's maxTimeoutSeconds)
// from the 402 challenge that stated them. Paying them warm does not extend
// that window: after it, the next call asks the seller again.
//
// At most one warm payment per catalog entry is in flight at any time;
// while one is, other calls of the entry take the normal path (ask, then
// pay). When the seller answers a warm payment with a 402 whose terms
// differ (the price or payee changed), the call falls back to the normal
// path with that fresh challenge, so the model still sees one result. The
// refused warm authorization left the process, so it stays counted against
// the budget until reconciliation proves it unused on chain (the seller's
// refusal proves nothing: only the chain proves it never will be settled),
// and the entry goes cold for Cooldown or until that authorization expires,
// whichever is later. The entry is cold before its flight ends, so a seller
// that refuses warm payments gets at most one extra authorization per entry
// per cooldown, however many calls are in flight, and each one is counted.
// A 402 with the same terms is a plain refusal, as on the normal path:
// nothing is signed again.
//
// The zero value is ready to use; a nil *Warm turns the warm path off.
type Warm struct {
	// TTL bounds how long accepted terms are reused after the seller
	// stated them (default 60 s; also at most the seller's
	// maxTimeoutSeconds).
	TTL time.Duration
	// Cooldown is how long an entry stays cold after the seller refused a
	// warm payment (default 10 min).
	Cooldown time.Duration

	secretOnce sync.Once
	secret     [32]byte // the HMAC key of the keys

	mu      sync.Mutex
	entries map[string]*warmEntry // by keyed hash of Limit.WarmKey
	nterms  int                   // terms held, over every entry

	hits, fallbacks, refusals atomic.Int64
}

// Default warm path settings.
const (
	DefaultWarmTTL      = 60 * time.Second
	DefaultWarmCooldown = 10 * time.Minute
	// maxWarmTerms bounds the memory: remembered terms, over every entry.
	maxWarmTerms = 4096
	// maxWarmEntries bounds the entries tracked. An entry that is cold or
	// has a payment in flight is never forgotten (the promise depends on
	// it); when every tracked entry is, a new entry simply takes the normal
	// path.
	maxWarmEntries = 4096
)

// warmEntry is the warm path's state of one catalog entry.
type warmEntry struct {
	// coldUntil is set after a refused warm payment.
	coldUntil time.Time
	// flying says a warm payment of the entry is in flight.
	flying bool
	// terms by keyed hash of the request line.
	terms map[string]*warmTerms
}

// warmTerms are the terms a seller accepted for one request.
type warmTerms struct {
	// pr is the challenge the accepted payment answered, reduced to the
	// accept that was paid.
	pr *x402.PaymentRequired
	// expires is TTL (or maxTimeoutSeconds) after the 402 that stated them.
	expires time.Time
}

// WarmStats counts the warm path's outcomes since start.
type WarmStats struct {
	// Hits is warm payments sent (one round trip each).
	Hits int64 `json:"hits"`
	// Fallbacks is warm payments refused with changed terms, then paid on
	// the normal path.
	Fallbacks int64 `json:"fallbacks"`
	// Refusals is warm payments refused with the same terms (no fallback).
	Refusals int64 `json:"refusals"`
}

// Stats returns the counters.
func (w *Warm) Stats() WarmStats {
	if w == nil {
		return WarmStats{}
	}
	return WarmStats{Hits: w.hits.Load(), Fallbacks: w.fallbacks.Load(), Refusals: w.refusals.Load()}
}

// Reset forgets every remembered term (after a catalog reload, say). Cold
// entries stay cold and payments in flight stay counted as in flight: a
// reload does not reopen the door to a seller that refused a warm payment.
func (w *Warm) Reset() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.entries {
		e.terms = nil
	}
	w.nterms = 0
}

func (w *Warm) ttl() time.Duration {
	if w.TTL > 0 {
		return w.TTL
	}
	return DefaultWarmTTL
}

func (w *Warm) cooldown() time.Duration {
	if w.Cooldown > 0 {
		return w.Cooldown
	}
	return DefaultWarmCooldown
}

// hash returns the keyed hash of the parts, each length-prefixed.
func (w *Warm) hash(parts ...string) string {
	w.secretOnce.Do(func() {
		if _, err := rand.Read(w.secret[:]); err != nil {
			panic("warm path: crypto/rand failed: " + err.Error()) // never fails (Go ≥ 1.24)
		}
	})
	m := hmac.New(sha256.New, w.secret[:])
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	return string(m.Sum(nil))
}

// keys returns the keyed hashes of the entry and of the request.
func (w *Warm) keys(entry string, req *http.Request) (ek, rk string) {
	return w.hash(entry), w.hash(entry, req.Method, req.URL.String())
}

// take returns the remembered challenge for req of entry when it is fresh,
// the entry is not cold and no warm payment of the entry is in flight; the
// entry is then in flight until land.
func (w *Warm) take(entry string, req *http.Request, now time.Time) *x402.PaymentRequired {
	if w == nil || entry == "" {
		return nil
	}
	ek, rk := w.keys(entry, req)
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.entries[ek]
	if e == nil || e.flying || now.Before(e.coldUntil) {
		return nil
	}
	t := e.terms[rk]
	if t == nil {
		return nil
	}
	if !now.Before(t.expires) {
		delete(e.terms, rk)
		w.nterms--
		return nil
	}
	e.flying = true
	return t.pr
}

// land ends the warm payment of entry in flight (see take).
func (w *Warm) land(entry string) {
	ek := w.hash(entry)
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.entries[ek]; e != nil {
		e.flying = false
	}
}

// store remembers that the seller accepted a payment of req0, an accept of
// pr, the challenge it stated at stated in answer to req, fresh until the
// TTL, the accept's maxTimeoutSeconds or until (when set: when the paid
// payment is expected to expire), whichever is first. v1 terms are never
// remembered: a v1 payment does not echo the terms it answers, and the v1
// rule lets a seller take a payment that meets or exceeds its price, so a
// v1 seller that cut its price since would be paid the old one. Only asking
// first proves a v1 price.
func (w *Warm) store(entry string, req *http.Request, pr *x402.PaymentRequired, req0 *x402.Requirement, stated, now, until time.Time) {
	if w == nil || entry == "" || pr == nil || req0 == nil {
		return
	}
	if pr.X402Version == 1 {
		return
	}
	ttl := w.ttl()
	if s := time.Duration(req0.MaxTimeoutSeconds) * time.Second; s > 0 && s < ttl {
		ttl = s
	}
	expires := stated.Add(ttl)
	if !until.IsZero() && until.Before(expires) {
		expires = until
	}
	if !now.Before(expires) {
		return
	}
	one := *pr
	one.Accepts = []x402.Requirement{*req0}
	ek, rk := w.keys(entry, req)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.nterms >= maxWarmTerms {
		w.evictLocked(now)
	}
	e := w.entryLocked(ek, now)
	if e == nil || now.Before(e.coldUntil) {
		return // cold after a refusal: accepted terms are not reused yet
	}
	if t := e.terms[rk]; t != nil {
		if t.expires.Before(expires) {
			t.pr, t.expires = &one, expires // newer terms
		}
		return
	}
	if e.terms == nil {
		e.terms = make(map[string]*warmTerms)
	}
	e.terms[rk] = &warmTerms{pr: &one, expires: expires}
	w.nterms++
}

// entryLocked returns the entry of ek, created if need be; nil when the
// memory is full of entries that must be kept.
func (w *Warm) entryLocked(ek string, now time.Time) *warmEntry {
	if e := w.entries[ek]; e != nil {
		return e
	}
	if len(w.entries) >= maxWarmEntries {
		w.evictLocked(now)
		if len(w.entries) >= maxWarmEntries {
			return nil
		}
	}
	if w.entries == nil {
		w.entries = make(map[string]*warmEntry)
	}
	e := &warmEntry{}
	w.entries[ek] = e
	return e
}

// forget drops the terms of req of entry (no longer allowed by the policy)
// and ends the entry's flight.
func (w *Warm) forget(entry string, req *http.Request) {
	ek, rk := w.keys(entry, req)
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.entries[ek]
	if e == nil {
		return
	}
	if _, ok := e.terms[rk]; ok {
		delete(e.terms, rk)
		w.nterms--
	}
	e.flying = false
}

// chill makes entry cold until the later of now+Cooldown and until, and
// forgets every term of it.
func (w *Warm) chill(entry string, now, until time.Time) {
	ek := w.hash(entry)
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.entryLocked(ek, now)
	if e == nil {
		return // unreachable: the entry of a warm payment is in flight, hence kept
	}
	w.nterms -= len(e.terms)
	e.terms = nil
	cold := now.Add(w.cooldown())
	if until.After(cold) {
		cold = until
	}
	if cold.After(e.coldUntil) {
		e.coldUntil = cold
	}
}

// evictLocked drops expired terms, or every term when none has expired,
// and the entries left with nothing to keep (no terms, not cold, nothing
// in flight).
func (w *Warm) evictLocked(now time.Time) {
	for _, e := range w.entries {
		for k, t := range e.terms {
			if !now.Before(t.expires) {
				delete(e.terms, k)
				w.nterms--
			}
		}
	}
	if w.nterms >= maxWarmTerms {
		for _, e := range w.entries {
			e.terms = nil
		}
		w.nterms = 0
	}
	for k, e := range w.entries {
		if len(e.terms) == 0 && !e.flying && !now.Before(e.coldUntil) {
			delete(w.entries, k)
		}
	}
}

// forResource returns pr with its v2 resource naming rawURL (the warm
// request's own URL, which may differ from the one the terms were quoted
// for: one entry, many URLs). pr itself is shared and never changed.
func forResource(pr *x402.PaymentRequired, rawURL string) *x402.PaymentRequired {
	if pr.X402Version == 1 || len(pr.Resource) == 0 {
		return pr
	}
	var res map[string]json.RawMessage
	if err := json.Unmarshal(pr.Resource, &res); err != nil {
		return pr
	}
	u, err := json.Marshal(rawURL)
	if err != nil {
		return pr
	}
	if bytes.Equal(res["url"], u) {
		return pr
	}
	res["url"] = u
	b, err := json.Marshal(res)
	if err != nil {
		return pr
	}
	cp := *pr
	cp.Resource = b
	return &cp
}

// stillOffered says whether the fresh challenge offers the terms of r again:
// the same accept, byte for byte once compacted, in v2 (where the payment
// echoes it); the same scheme, network, amount, payee, asset and extra in v1
// (where each accept also names its resource URL).
func stillOffered(fresh *x402.PaymentRequired, r *x402.Requirement, version int) bool {
	if fresh.X402Version != version {
		return false
	}
	for i := range fresh.Accepts {
		a := &fresh.Accepts[i]
		if version == 2 {
			if sameCompactJSON(a.Raw, r.Raw) {
				return true
			}
			continue
		}
		if a.Scheme == r.Scheme && a.Network == r.Network && a.Price() == r.Price() &&
			strings.EqualFold(a.PayTo, r.PayTo) && strings.EqualFold(a.Asset, r.Asset) && sameCompactJSON(a.Extra, r.Extra) {
			return true
		}
	}
	return false
}

func sameCompactJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
