// Package testfamily is a network family that exists only in tests: it
// proves that the paying core, the ledger and the catalog go through
// payments.Family and payments.Scheme and know no chain, by paying on a
// family they were never told about. Its networks are "tst:1" ("Test One")
// and "tst:2" (no name; v1 name "tst-two"), its addresses "T" and 8 hex
// digits (upper case is canonical), its known USDC "T0000USDC" on each
// network. Its exact scheme signs a payload {payer, payTo, amount, id, sig}
// where sig is an HMAC of the rest under the signer's key, and proves a
// payment's fate from Fates, which a test fills as a chain would. It is a
// stand-in for a second real family (Solana's), which this tree does not
// have yet; nothing in the product uses it.
package testfamily

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Name is the family's name.
const Name = "tst"

// USDC is the known USDC's address on every network of the family.
const USDC = "T0000USDC"

// Family is the test family.
type Family struct{}

var _ payments.Family = Family{}

func (Family) Name() string      { return Name }
func (Family) Title() string     { return "Test" }
func (Family) Namespace() string { return "tst" }

// ParseNetwork reads "tst:1", "tst:2" and the v1 name "tst-two".
func (Family) ParseNetwork(s string) (payments.Network, bool, error) {
	switch s {
	case "tst:1", "tst:2":
		return payments.Network(s), true, nil
	case "tst-two":
		return "tst:2", true, nil
	}
	if strings.HasPrefix(s, "tst:") {
		return "", true, fmt.Errorf("network %q is not a Test network: write tst:1 or tst:2", s)
	}
	return "", false, fmt.Errorf("network %q is not a Test network: write tst:1 or tst:2", s)
}

func (Family) NetworkName(n payments.Network) string {
	if n == "tst:1" {
		return "Test One"
	}
	return string(n)
}

// ParseAddress reads T and 8 hex digits, or T0000USDC, in any case; upper
// case is canonical.
func (Family) ParseAddress(s string) (string, error) {
	if len(s) == 0 || s[0] != 'T' && s[0] != 't' {
		return "", payments.NotAddressf("%q is not an address: write T and 8 hex digits", s)
	}
	if _, err := hex.DecodeString(s[1:]); len(s) != 9 || err != nil && !strings.EqualFold(s, USDC) {
		return "", fmt.Errorf("%q is not an address: write T and 8 hex digits", s)
	}
	return strings.ToUpper(s), nil
}

// CheckAddress is ParseAddress, refusing T00000000 (which burns what it
// receives).
func (f Family) CheckAddress(s string) (string, error) {
	a, err := f.ParseAddress(s)
	if err == nil && a == "T00000000" {
		return "", errors.New("T00000000 burns what it receives")
	}
	return a, err
}

func (Family) AddressName() string { return "T address" }
func (Family) AddressForm() string { return "T and 8 hex digits" }

// KnownUSDC is T0000USDC on every network of the family.
func (Family) KnownUSDC(n payments.Network) (payments.Asset, bool) {
	if n != "tst:1" && n != "tst:2" {
		return payments.Asset{}, false
	}
	return payments.Asset{Network: n, Address: USDC, Symbol: "USDC", Decimals: 6, USDC: true}, true
}

// ExplorerURL links to no explorer.
func (Family) ExplorerURL(payments.Network, string) string { return "" }

// CheckAsset needs nothing.
func (Family) CheckAsset(payments.Asset) error { return nil }

// Schemes is exact, the one scheme the family pays (Exact).
func (Family) Schemes() []string { return []string{x402.SchemeExact} }

// TransferMethods is none: the family moves a token one way only.
func (Family) TransferMethods() []string { return nil }

// Key is a test family key: its address and an HMAC key.
type Key struct {
	Addr string
	key  []byte
}

// NewKey returns a key at addr (canonical form).
func NewKey(addr string) *Key { return &Key{Addr: addr, key: []byte("secret of " + addr)} }

func (k *Key) Family() string { return Name }
func (k *Key) Payer() string  { return k.Addr }

// Payload is what the scheme signs.
type Payload struct {
	Payer  string `json:"payer"`
	PayTo  string `json:"payTo"`
	Amount string `json:"amount"`
	ID     string `json:"id"`
	Sig    string `json:"sig"`
}

// Exact is the family's exact scheme.
type Exact struct {
	mu     sync.Mutex
	fates  map[string]payments.Fate // what Prove answers, by payment id; a missing one is open
	proved int                      // Prove's calls
	signed []payments.Proof         // the proofs of what Sign signed, in order
}

var _ payments.Scheme = (*Exact)(nil)

func (*Exact) Family() payments.Family { return Family{} }
func (*Exact) Scheme() string          { return x402.SchemeExact }

// Judge reads payTo and the asset, and needs extra {"ok": true}.
func (*Exact) Judge(r *x402.Requirement, n payments.Network, want payments.Want) (payments.Terms, *payments.Refusal) {
	t := payments.Terms{Requirement: r, Network: n}
	var extra struct{ OK bool }
	if len(r.Extra) > 0 && json.Unmarshal(r.Extra, &extra) != nil || !extra.OK {
		return t, &payments.Refusal{Code: payments.CodeUnsupported, Message: "extra.ok is not true"}
	}
	payTo, err := Family{}.ParseAddress(r.PayTo)
	if err != nil {
		return t, &payments.Refusal{Code: payments.CodeUnsupported, Message: "payTo: " + err.Error()}
	}
	t.PayTo = payTo
	if ref := want.Payee(Family{}, payTo, r.PayTo); ref != nil {
		return t, ref
	}
	asset, err := Family{}.ParseAddress(r.Asset)
	if err != nil {
		return t, &payments.Refusal{Code: payments.CodeUnsupported, Message: "asset: " + err.Error()}
	}
	t.Asset = asset
	a, ref := want.PickAsset(Family{}, n, asset, r.Asset)
	if a.Symbol != "" {
		t.Currency = a.Currency()
	}
	return t, ref
}

// Prepare needs nothing.
func (*Exact) Prepare(context.Context, *payments.Terms, payments.Signer) error { return nil }

// Sign signs the payload; the proof's id is random, its expiry the
// deadline in seconds.
func (e *Exact) Sign(_ context.Context, t *payments.Terms, s payments.Signer, now time.Time) (json.RawMessage, payments.Proof, error) {
	k, ok := s.(*Key)
	if !ok {
		return nil, payments.Proof{}, fmt.Errorf("not a test key: %s", s.Payer())
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, payments.Proof{}, err
	}
	p := Payload{Payer: k.Addr, PayTo: t.PayTo, Amount: t.Amount.Atomic(), ID: hex.EncodeToString(id[:])}
	p.Sig = Sign(k, p)
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, payments.Proof{}, err
	}
	deadline := now.Add(time.Minute).Truncate(time.Second)
	proof := payments.Proof{Family: Name, Scheme: x402.SchemeExact, Network: t.Network, Payer: k.Addr, Asset: t.Asset,
		ID: p.ID, Expiry: uint64(deadline.Unix()), Deadline: deadline, Since: now, Data: json.RawMessage(`{"payTo":"` + t.PayTo + `"}`)}
	e.mu.Lock()
	e.signed = append(e.signed, proof)
	e.mu.Unlock()
	return raw, proof, nil
}

// Sign is the signature of p by k.
func Sign(k *Key, p Payload) string {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(p.Payer + "|" + p.PayTo + "|" + p.Amount + "|" + p.ID))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify says whether raw is a payload k signed.
func Verify(k *Key, raw json.RawMessage) (Payload, bool) {
	var p Payload
	if json.Unmarshal(raw, &p) != nil {
		return p, false
	}
	return p, hmac.Equal([]byte(p.Sig), []byte(Sign(k, p)))
}

// SetFate makes Prove answer f for the payment with id.
func (e *Exact) SetFate(id string, f payments.Fate) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fates == nil {
		e.fates = map[string]payments.Fate{}
	}
	e.fates[id] = f
}

// Signed returns the proofs of what Sign signed.
func (e *Exact) Signed() []payments.Proof {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]payments.Proof(nil), e.signed...)
}

// Proved says how many times Prove was asked.
func (e *Exact) Proved() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.proved
}

// Prove answers from the fates SetFate set; a proof of another family is
// an error.
func (e *Exact) Prove(_ context.Context, p payments.Proof) (payments.Fate, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.proved++
	if p.Family != Name || p.Scheme != x402.SchemeExact {
		return payments.Fate{}, fmt.Errorf("testfamily: asked to prove a %s %s payment", p.Family, p.Scheme)
	}
	return e.fates[p.ID], nil
}

// Offer states an exact option with extra {"ok": true}.
func (*Exact) Offer(o payments.Offer) (x402.Requirement, error) {
	r := x402.Requirement{Scheme: x402.SchemeExact, Network: string(o.Network), Amount: o.Amount.Atomic(), Asset: o.Asset.Address,
		PayTo: o.PayTo, MaxTimeoutSeconds: x402.Seconds(o.Timeout / time.Second), Extra: json.RawMessage(`{"ok":true}`)}
	raw, err := json.Marshal(r)
	r.Raw = raw
	return r, err
}
