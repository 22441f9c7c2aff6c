// Package x402 is the wire format of x402, versions 1 and 2: the 402
// challenge (PaymentRequired and its accepts), the payment a client sends
// (PaymentPayload, in the PAYMENT-SIGNATURE or X-PAYMENT header), the
// receipt (SettlementResponse, in PAYMENT-RESPONSE or X-PAYMENT-RESPONSE,
// also a facilitator's /settle answer) and a facilitator's /verify answer,
// the _meta keys that carry them over MCP, and the payment-identifier
// extension. It decodes what others wrote within fixed bounds (64 KiB, 512
// levels of nesting) and keeps the exact bytes a seller sent where they are
// echoed. It knows no chain and no money rules: a scheme's payload is raw
// JSON here, and amounts are the atomic decimal strings of the wire.
package x402

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments/jsonlimit"
)

// HTTP header names of the x402 transports (case-insensitive on the wire).
const (
	HeaderPaymentRequired  = "PAYMENT-REQUIRED"   // v2 challenge
	HeaderPaymentSignature = "PAYMENT-SIGNATURE"  // v2 payment
	HeaderPaymentResponse  = "PAYMENT-RESPONSE"   // v2 receipt
	HeaderXPayment         = "X-PAYMENT"          // v1 payment
	HeaderXPaymentResponse = "X-PAYMENT-RESPONSE" // v1 receipt
)

// _meta keys of x402 over MCP (x402-protocol.md §5).
const (
	// MetaPayment carries the PaymentPayload, as a JSON object, on a paid
	// tools/call.
	MetaPayment = "x402/payment"
	// MetaPaymentResponse carries the SettlementResponse in a tool
	// result's _meta.
	MetaPaymentResponse = "x402/payment-response"
)

// SchemeExact is the exact scheme: a payment of exactly the amount asked.
const SchemeExact = "exact"

// SchemeUpto is the upto scheme: the payer signs a maximum, and the seller
// settles what the request used, from nothing up to it.
const SchemeUpto = "upto"

// Extension keys x402-mcp understands.
const (
	ExtPaymentIdentifier = "payment-identifier"
	ExtBazaar            = "bazaar"
)

// Requirement is one entry of a 402's accepts list, in v1 or v2 shape. Raw keeps
// the exact bytes the seller sent, because v2 servers match the echoed
// `accepted` by deep equality.
type Requirement struct {
	Scheme            string          `json:"scheme"`
	Network           string          `json:"network"`
	Amount            string          `json:"amount,omitempty"`            // v2
	MaxAmountRequired string          `json:"maxAmountRequired,omitempty"` // v1
	Asset             string          `json:"asset"`
	PayTo             string          `json:"payTo"`
	MaxTimeoutSeconds Seconds         `json:"maxTimeoutSeconds"`
	Extra             json.RawMessage `json:"extra,omitempty"`
	// v1 only.
	Resource     string          `json:"resource,omitempty"`
	Description  string          `json:"description,omitempty"`
	MimeType     string          `json:"mimeType,omitempty"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`

	Raw json.RawMessage `json:"-"`
}

// Price returns the amount the requirement asks for, whichever version.
func (r *Requirement) Price() string {
	if r.Amount != "" {
		return r.Amount
	}
	return r.MaxAmountRequired
}

// Seconds is a whole number of seconds that also reads JSON numbers written
// with a fraction or exponent (300.0, 3e2), as some sellers send them.
type Seconds int64

// UnmarshalJSON implements json.Unmarshaler.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = 0
		return nil
	}
	var f float64
	// jsonlimit's error quotes only the start of a number too large
	// for a float64.
	if err := jsonlimit.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("maxTimeoutSeconds is not a number: %w", err)
	}
	if f < 0 || f > 1<<40 {
		return fmt.Errorf("maxTimeoutSeconds %v is out of range", f)
	}
	*s = Seconds(f)
	return nil
}

// PaymentRequired is a 402 challenge, v1 or v2.
type PaymentRequired struct {
	X402Version int                        `json:"x402Version"`
	Error       string                     `json:"error,omitempty"`
	Resource    json.RawMessage            `json:"resource,omitempty"`
	Accepts     []Requirement              `json:"accepts"`
	Extensions  map[string]json.RawMessage `json:"extensions,omitempty"`
}

// UnmarshalJSON decodes a challenge and keeps each accept's raw bytes.
func (p *PaymentRequired) UnmarshalJSON(b []byte) error {
	var w struct {
		X402Version int                        `json:"x402Version"`
		Error       string                     `json:"error"`
		Resource    json.RawMessage            `json:"resource"`
		Accepts     []json.RawMessage          `json:"accepts"`
		Extensions  map[string]json.RawMessage `json:"extensions"`
	}
	// Through jsonlimit, as each accept below: their errors quote only
	// the start of a number too long for its field.
	if err := jsonlimit.Unmarshal(b, &w); err != nil {
		return err
	}
	p.X402Version, p.Error, p.Resource, p.Extensions = w.X402Version, w.Error, w.Resource, w.Extensions
	p.Accepts = make([]Requirement, 0, len(w.Accepts))
	for i, raw := range w.Accepts {
		var r Requirement
		if err := jsonlimit.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("accepts[%d]: %w", i, err)
		}
		r.Raw = raw
		p.Accepts = append(p.Accepts, r)
	}
	return nil
}

// MaxChallengeBytes bounds the 402 body and header we are willing to read.
const MaxChallengeBytes = 64 << 10

// ParseChallenge reads an x402 challenge from a 402 (or 412) response: the v2
// PAYMENT-REQUIRED header if present, else the JSON body (v1, or v2 from servers
// that put it there). body is the response body already read (it may be nil).
func ParseChallenge(h http.Header, body []byte) (*PaymentRequired, error) {
	var raw []byte
	if v := h.Get(HeaderPaymentRequired); v != "" {
		if len(v) > MaxChallengeBytes {
			return nil, fmt.Errorf("PAYMENT-REQUIRED header is %d bytes, over the %d-byte limit", len(v), MaxChallengeBytes)
		}
		dec, err := DecodeB64(v)
		if err != nil {
			return nil, fmt.Errorf("PAYMENT-REQUIRED header is not base64: %w", err)
		}
		raw = dec
	} else {
		raw = bytes.TrimSpace(body)
		if len(raw) == 0 {
			return nil, fmt.Errorf("402 response has neither a PAYMENT-REQUIRED header nor a JSON body: the seller does not speak x402")
		}
	}
	if len(raw) > MaxChallengeBytes {
		return nil, fmt.Errorf("payment challenge is %d bytes, over the %d-byte limit", len(raw), MaxChallengeBytes)
	}
	var pr PaymentRequired
	if err := jsonlimit.Unmarshal(raw, &pr); err != nil {
		return nil, fmt.Errorf("payment challenge is not valid x402 JSON: %w", err)
	}
	switch pr.X402Version {
	case 1, 2:
	case 0:
		return nil, fmt.Errorf("payment challenge has no x402Version")
	default:
		return nil, fmt.Errorf("payment challenge has x402Version %d; x402-mcp speaks versions 1 and 2", pr.X402Version)
	}
	if len(pr.Accepts) == 0 {
		if pr.Error != "" {
			return nil, fmt.Errorf("payment challenge lists no payment options (seller says: %s)", Sanitize(pr.Error, 200))
		}
		return nil, fmt.Errorf("payment challenge lists no payment options")
	}
	return &pr, nil
}

// DecodeB64 accepts standard base64 with or without padding (sellers differ).
func DecodeB64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// PaymentPayload is what the client sends in PAYMENT-SIGNATURE (v2) or
// X-PAYMENT (v1). Accepted, Resource and Extensions are raw so that they echo
// byte for byte what the seller sent.
type PaymentPayload struct {
	X402Version int             `json:"x402Version"`
	Scheme      string          `json:"scheme,omitempty"`  // v1
	Network     string          `json:"network,omitempty"` // v1
	Resource    json.RawMessage `json:"resource,omitempty"`
	Accepted    json.RawMessage `json:"accepted,omitempty"`
	// Payload is the scheme's payload (EVM exact: the EIP-3009
	// authorization and its signature), as the scheme wrote it.
	Payload    json.RawMessage            `json:"payload"`
	Extensions map[string]json.RawMessage `json:"extensions,omitempty"`
}

// Encode returns the header name and the base64 value to send.
func (p *PaymentPayload) Encode() (name, value string, err error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", "", fmt.Errorf("encode payment payload: %w", err)
	}
	name = HeaderPaymentSignature
	if p.X402Version == 1 {
		name = HeaderXPayment
	}
	return name, base64.StdEncoding.EncodeToString(b), nil
}

// DecodePaymentHeader decodes a PAYMENT-SIGNATURE or X-PAYMENT value.
func DecodePaymentHeader(v string) (*PaymentPayload, error) {
	b, err := DecodeB64(v)
	if err != nil {
		return nil, fmt.Errorf("payment header is not base64: %w", err)
	}
	var p PaymentPayload
	if err := jsonlimit.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("payment header is not a JSON payment payload: %w", err)
	}
	// Every scheme's payload is a JSON object; without one there is nothing
	// to verify (and nothing that would encode back to what was sent).
	if pl := bytes.TrimLeft(p.Payload, " \t\r\n"); len(pl) == 0 || pl[0] != '{' {
		return nil, errors.New(`payment header carries no scheme payload: its "payload" field must be a JSON object`)
	}
	return &p, nil
}

// SettlementResponse is the seller's receipt (PAYMENT-RESPONSE or X-PAYMENT-RESPONSE),
// and also a facilitator's /settle answer.
type SettlementResponse struct {
	Success      bool   `json:"success"`
	Transaction  string `json:"transaction"`
	Network      string `json:"network"`
	Payer        string `json:"payer,omitempty"`
	ErrorReason  string `json:"errorReason,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	Amount       string `json:"amount,omitempty"`
}

// ReasonSettlementPending is the reason a seller gives when the transaction was
// broadcast but its receipt is not known yet. x402-mcp treats it as paid.
const ReasonSettlementPending = "settlement_pending"

// ReasonPermit2AllowanceRequired is the error of a 412 Precondition Failed
// (or of a 402) whose seller's facilitator refused a Permit2 payment: the
// payer has not approved Permit2 to spend the token.
const ReasonPermit2AllowanceRequired = "permit2_allowance_required"

// ParseSettlement reads the receipt header of a response, v2 or v1. It returns
// nil and no error when the response carries none.
func ParseSettlement(h http.Header) (*SettlementResponse, error) {
	v := h.Get(HeaderPaymentResponse)
	if v == "" {
		v = h.Get(HeaderXPaymentResponse)
	}
	if v == "" {
		return nil, nil
	}
	if len(v) > MaxChallengeBytes {
		return nil, fmt.Errorf("payment response header is over the %d-byte limit", MaxChallengeBytes)
	}
	b, err := DecodeB64(v)
	if err != nil {
		return nil, fmt.Errorf("payment response header is not base64: %w", err)
	}
	var s SettlementResponse
	if err := jsonlimit.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("payment response header is not JSON: %w", err)
	}
	return &s, nil
}

// EncodeHeaderJSON marshals v and base64-encodes it, as x402 headers carry JSON.
func EncodeHeaderJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Sanitize makes seller-supplied text safe to show: control characters are
// dropped and the text is cut to max bytes (on a rune boundary).
func Sanitize(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			if r == '\n' || r == '\t' {
				b.WriteByte(' ')
			}
			continue
		}
		if b.Len()+len(string(r)) > max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ParseChallengeJSON reads a PaymentRequired carried as JSON (x402 over
// MCP), with the checks ParseChallenge makes.
func ParseChallengeJSON(raw []byte) (*PaymentRequired, error) {
	return ParseChallenge(nil, raw)
}

// VerifyResponse is a facilitator's /verify answer.
type VerifyResponse struct {
	IsValid        bool   `json:"isValid"`
	InvalidReason  string `json:"invalidReason,omitempty"`
	InvalidMessage string `json:"invalidMessage,omitempty"`
	Payer          string `json:"payer,omitempty"`
}

// ValidPaymentID says whether s is a valid x402 payment identifier: 16 to
// 128 characters of [A-Za-z0-9_-] (the payment-identifier extension).
func ValidPaymentID(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// WithPaymentID adds info.id to the server's payment-identifier extension,
// keeping every field the server sent as it was.
func WithPaymentID(raw json.RawMessage, id string) (json.RawMessage, error) {
	var ext map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ext); err != nil {
		return nil, fmt.Errorf("payment-identifier extension is not an object: %w", err)
	}
	info := map[string]json.RawMessage{}
	if ri, ok := ext["info"]; ok && string(ri) != "null" {
		if err := json.Unmarshal(ri, &info); err != nil {
			return nil, fmt.Errorf("payment-identifier info is not an object: %w", err)
		}
	}
	idJSON, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	info["id"] = idJSON
	b, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	ext["info"] = b
	return json.Marshal(ext)
}

// Supported is a facilitator's GET /supported answer (x402-protocol.md §6):
// the scheme and network pairs it settles, each with what it states for it
// in extra (a Solana fee payer).
type Supported struct {
	Kinds []SupportedKind `json:"kinds"`
}

// SupportedKind is one scheme and network a facilitator settles.
type SupportedKind struct {
	X402Version int             `json:"x402Version"`
	Scheme      string          `json:"scheme"`
	Network     string          `json:"network"`
	Extra       json.RawMessage `json:"extra,omitempty"`
}

// DiscoveryPage is one page of a facilitator's discovery API
// (x402-protocol.md §7): the listing of resources (Items) or a search's
// results (Resources), and where the next page starts.
type DiscoveryPage struct {
	Items      []DiscoveryItem `json:"items"`
	Resources  []DiscoveryItem `json:"resources"`
	Pagination struct {
		Limit  int             `json:"limit"`
		Offset int             `json:"offset"`
		Total  int             `json:"total"`
		Cursor json.RawMessage `json:"cursor"`
	} `json:"pagination"`
}

// DiscoveryItem is one resource of a discovery listing.
type DiscoveryItem struct {
	Resource DiscoveryResource `json:"resource"`
	// Description is read where a listing puts it: metadata.description,
	// description, resource.description, or (v1) accepts[].description.
	Description string                     `json:"description"`
	Type        string                     `json:"type"`
	X402Version int                        `json:"x402Version"`
	Accepts     []json.RawMessage          `json:"accepts"`
	Metadata    map[string]any             `json:"metadata"`
	Extensions  map[string]json.RawMessage `json:"extensions"`
}

// DiscoveryResource is an item's resource: its URL, or (as in a v2
// PaymentRequired) an object with the URL and a description.
type DiscoveryResource struct {
	URL         string `json:"url"`
	Description string `json:"description"`
}

// UnmarshalJSON reads a URL string or a resource object.
func (r *DiscoveryResource) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &r.URL); err == nil {
		return nil
	}
	type plain DiscoveryResource
	return json.Unmarshal(b, (*plain)(r))
}
