package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/jsonlimit"
)

// FacilitatorClient calls an x402 facilitator's POST /verify and POST
// /settle (x402-protocol.md §6) for payments x402-mcp settles itself, with
// no seller in between: tips. It never signs anything and never retries: a
// request that may have reached the facilitator is not sent again.
type FacilitatorClient struct {
	// URL is the facilitator's base URL; /verify and /settle are appended.
	URL string
	// Header is sent with every request: the credentials of a facilitator
	// that requires them (Authorization, an API key).
	Header http.Header
	// Redaction hides the secrets of URL and Header (values expanded from
	// the catalog's ${ENV}) in errors; its URL names the facilitator in
	// them. Nil: the URL is shown without its query and user info.
	Redaction *Redaction
	// HTTP sends the requests (http.DefaultClient when nil). It should not
	// follow redirects (NewHTTPClient does not).
	HTTP *http.Client
	// Timeout bounds each request (DefaultFacilitatorTimeout when zero).
	Timeout time.Duration
}

// DefaultFacilitatorTimeout bounds one facilitator request.
const DefaultFacilitatorTimeout = 30 * time.Second

// maxFacilitatorAnswer caps what is read of a facilitator's answer.
const maxFacilitatorAnswer = 64 << 10

// VerifyResponse is a facilitator's /verify answer.
type VerifyResponse struct {
	IsValid        bool   `json:"isValid"`
	InvalidReason  string `json:"invalidReason,omitempty"`
	InvalidMessage string `json:"invalidMessage,omitempty"`
	Payer          string `json:"payer,omitempty"`
}

// FacilitatorError is a /verify or /settle request that got no usable
// answer.
type FacilitatorError struct {
	// Op is "verify" or "settle".
	Op string
	// Sent is false only when the request provably never left x402-mcp (the
	// connection could not be made); true means the facilitator may have
	// received it.
	Sent bool
	// Status is the HTTP status of a non-2xx answer (0 for a transport
	// error or an unreadable 2xx body).
	Status int
	// Detail is a short description safe to show (no query string, no
	// credentials).
	Detail string
	Err    error
}

func (e *FacilitatorError) Error() string {
	return fmt.Sprintf("facilitator /%s: %s", e.Op, e.Detail)
}

func (e *FacilitatorError) Unwrap() error { return e.Err }

// Timeout says the facilitator did not answer in time.
func (e *FacilitatorError) Timeout() bool {
	var ne net.Error
	return errors.Is(e.Err, context.DeadlineExceeded) || errors.As(e.Err, &ne) && ne.Timeout()
}

// Verify asks the facilitator whether p is a valid payment for r. An answer
// with isValid false is a VerifyResponse, not an error.
func (f *FacilitatorClient) Verify(ctx context.Context, p *PaymentPayload, r *Requirement) (*VerifyResponse, error) {
	var v VerifyResponse
	if err := f.post(ctx, "verify", p, r, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Settle asks the facilitator to settle p. An answer with success false is
// a SettlementResponse, not an error.
func (f *FacilitatorClient) Settle(ctx context.Context, p *PaymentPayload, r *Requirement) (*SettlementResponse, error) {
	var s SettlementResponse
	if err := f.post(ctx, "settle", p, r, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// facilitatorBody is the body of /verify and /settle (x402 v2).
type facilitatorBody struct {
	X402Version         int             `json:"x402Version"`
	PaymentPayload      *PaymentPayload `json:"paymentPayload"`
	PaymentRequirements json.RawMessage `json:"paymentRequirements"`
}

func (f *FacilitatorClient) post(ctx context.Context, op string, p *PaymentPayload, r *Requirement, out any) error {
	red := f.Redaction
	fail := func(sent bool, status int, detail string, err error) error {
		return &FacilitatorError{Op: op, Sent: sent, Status: status, Detail: Sanitize(red.Text(detail), 300), Err: red.Err(err)}
	}
	reqJSON := []byte(r.Raw)
	if len(reqJSON) == 0 {
		b, err := json.Marshal(r)
		if err != nil {
			return fail(false, 0, "encode the requirements: "+err.Error(), err)
		}
		reqJSON = b
	}
	body, err := json.Marshal(facilitatorBody{X402Version: p.X402Version, PaymentPayload: p, PaymentRequirements: reqJSON})
	if err != nil {
		return fail(false, 0, "encode the request: "+err.Error(), err)
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultFacilitatorTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	endpoint := strings.TrimRight(f.URL, "/") + "/" + op
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		shown := RedactURL(f.URL)
		if red != nil && red.URL != "" {
			shown = red.URL
		}
		return fail(false, 0, "bad facilitator URL: "+shown, err)
	}
	for k, vs := range f.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hc := f.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		sent := !neverSent(err)
		what := "no answer"
		if !sent {
			what = "could not connect"
		} else if errors.Is(err, context.DeadlineExceeded) {
			what = fmt.Sprintf("no answer within %s", timeout)
		}
		return fail(sent, 0, what+" ("+safeErr(err, red)+")", err)
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxFacilitatorAnswer+1))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail(true, resp.StatusCode, fmt.Sprintf("answered %d %s: %s", resp.StatusCode, http.StatusText(resp.StatusCode), excerpt(b)), nil)
	}
	switch {
	case rerr != nil:
		return fail(true, 0, "the answer broke off ("+safeErr(rerr, red)+")", rerr)
	case len(b) > maxFacilitatorAnswer:
		return fail(true, 0, fmt.Sprintf("the answer is over %d bytes", maxFacilitatorAnswer), nil)
	}
	if err := jsonlimit.Unmarshal(b, out); err != nil {
		return fail(true, 0, "the answer is not JSON ("+err.Error()+"): "+excerpt(b), err)
	}
	return nil
}

// neverSent says a request failed before any byte of it could reach the
// server: the connection was never made.
func neverSent(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) && errors.Is(ue.Err, http.ErrSchemeMismatch) {
		return true
	}
	return false
}

func excerpt(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "(empty body)"
	}
	return Sanitize(string(b), 200)
}
