package payments

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Warm is the warm path's memory: per catalog entry (Limit.WarmKey), the
// payment terms the seller last accepted. A call whose terms are known and
// still allowed sends the paid request at once: one round trip instead of
// two (unpaid request, 402, paid retry).
//
// When the seller answers a warm payment with a 402 whose terms differ (the
// price or payee changed), the call falls back to the normal path with that
// fresh challenge, so the model still sees one result. The refused warm
// authorization stays counted against the budget until reconciliation
// proves it unused on chain (it was never settled by the seller's account,
// but only the chain proves it never will be), and the entry goes cold for
// Cooldown or until that authorization expires,
// whichever is later: a seller that refuses warm payments gets at most one
// extra authorization per cooldown, and each one is counted. A 402 with the
// same terms is a plain refusal, as on the normal path: nothing is signed
// again.
//
// The zero value is ready to use; a nil *Warm turns the warm path off.
type Warm struct {
	// TTL bounds how long accepted terms are reused (default 60 s; also at
	// most the seller's maxTimeoutSeconds).
	TTL time.Duration
	// Cooldown is how long an entry stays cold after the seller refused a
	// warm payment (default 10 min).
	Cooldown time.Duration

	mu    sync.Mutex
	terms map[string]*warmTerms

	hits, fallbacks, refusals atomic.Int64
}

// Default warm path settings.
const (
	DefaultWarmTTL      = 60 * time.Second
	DefaultWarmCooldown = 10 * time.Minute
	// maxWarmEntries bounds the memory: one entry per catalog entry in use.
	maxWarmEntries = 4096
)

type warmTerms struct {
	pr *PaymentRequired // the challenge the accepted payment answered
	// req is the accept that was paid (an element of pr.Accepts).
	req     *Requirement
	expires time.Time
	// coldUntil is set after a refused warm payment.
	coldUntil time.Time
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

// Reset forgets every remembered term (after a catalog reload, say).
func (w *Warm) Reset() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.terms = nil
	w.mu.Unlock()
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

// lookup returns the remembered challenge for key when it is fresh and the
// entry is not cold.
func (w *Warm) lookup(key string, now time.Time) *PaymentRequired {
	if w == nil || key == "" {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.terms[key]
	if t == nil || t.pr == nil || now.After(t.expires) || now.Before(t.coldUntil) {
		return nil
	}
	return t.pr
}

// store remembers that the seller accepted a payment of req, an accept of pr.
func (w *Warm) store(key string, pr *PaymentRequired, req *Requirement, now time.Time) {
	if w == nil || key == "" || pr == nil || req == nil {
		return
	}
	ttl := w.ttl()
	if s := time.Duration(req.MaxTimeoutSeconds) * time.Second; s > 0 && s < ttl {
		ttl = s
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.terms == nil {
		w.terms = make(map[string]*warmTerms)
	}
	t := w.terms[key]
	if t == nil {
		if len(w.terms) >= maxWarmEntries {
			w.evictLocked(now)
		}
		t = &warmTerms{}
		w.terms[key] = t
	}
	if now.Before(t.coldUntil) {
		return // cold after a refusal: accepted terms are not reused yet
	}
	t.pr, t.req, t.expires = pr, req, now.Add(ttl)
}

// forget drops the terms of key (no longer allowed by the policy).
func (w *Warm) forget(key string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if t := w.terms[key]; t != nil {
		t.pr, t.req = nil, nil
	}
}

// chill makes key cold until the later of now+Cooldown and until.
func (w *Warm) chill(key string, now, until time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.terms[key]
	if t == nil {
		return
	}
	t.pr, t.req = nil, nil
	t.coldUntil = now.Add(w.cooldown())
	if until.After(t.coldUntil) {
		t.coldUntil = until
	}
}

// evictLocked drops expired entries, or every entry when none has expired.
func (w *Warm) evictLocked(now time.Time) {
	for k, t := range w.terms {
		if now.After(t.expires) && !now.Before(t.coldUntil) {
			delete(w.terms, k)
		}
	}
	if len(w.terms) >= maxWarmEntries {
		w.terms = make(map[string]*warmTerms)
	}
}

// forResource returns pr with its v2 resource naming rawURL (the warm
// request's own URL, which may differ from the one the terms were quoted
// for: one entry, many URLs). pr itself is shared and never changed.
func forResource(pr *PaymentRequired, rawURL string) *PaymentRequired {
	if pr.X402Version == 1 || len(pr.Resource) == 0 {
		return pr
	}
	var res map[string]json.RawMessage
	if err := json.Unmarshal(pr.Resource, &res); err != nil {
		return pr
	}
	u, _ := json.Marshal(rawURL)
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
func stillOffered(fresh *PaymentRequired, r *Requirement, version int) bool {
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
