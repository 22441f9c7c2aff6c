// Package facilitator is the client of an x402 facilitator's HTTP API
// (x402-protocol.md §6, §7): POST /verify and POST /settle (and GET
// /supported, for what it states per network, such as a Solana fee payer), for payments
// x402-mcp settles itself with no seller in between (tips), and the
// discovery API's listing and search (GET /discovery/resources, GET
// /discovery/search) that `registry import` drafts entries from. It never signs
// and never retries: a request that may have reached the facilitator is not
// sent again, and an error says whether the request provably never left
// (Error.Sent), the one case in which a signed payment may be released at
// once. Answers are read within fixed bounds, and what the catalog's ${ENV}
// references expanded to (credentials in the URL or headers) is hidden in
// every error through the Redactor it is given. It knows no chain and no
// money rules.
package facilitator

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
	"strconv"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/httplimit"
	"github.com/x402-mcp/x402-mcp/payments/jsonlimit"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Client calls an x402 facilitator's POST /verify and POST /settle. Its
// zero value needs a URL.
type Client struct {
	// URL is the facilitator's base URL; /verify and /settle are appended.
	URL string
	// Header is sent with every request: the credentials of a facilitator
	// that requires them (Authorization, an API key).
	Header http.Header
	// Redactor hides the secrets of URL and Header (values expanded from
	// the catalog's ${ENV}) in errors: *payments.Redaction is one. Nil
	// hides nothing but the URL's query and user info.
	Redactor Redactor
	// ShownURL is how errors name the facilitator; empty: URL without its
	// query and user info.
	ShownURL string
	// HTTP sends the requests (http.DefaultClient when nil). It should not
	// follow redirects (NewHTTPClient does not).
	HTTP *http.Client
	// Timeout bounds each request (DefaultTimeout when zero).
	Timeout time.Duration
}

// Redactor hides secrets in text and errors.
type Redactor interface {
	Text(s string) string
	Err(err error) error
}

// DefaultTimeout bounds one facilitator request.
const DefaultTimeout = 30 * time.Second

// maxAnswer caps what is read of a facilitator's answer.
const maxAnswer = 64 << 10

// Error is a /verify or /settle request that got no usable answer.
type Error struct {
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

func (e *Error) Error() string {
	return fmt.Sprintf("facilitator /%s: %s", e.Op, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Timeout says the facilitator did not answer in time.
func (e *Error) Timeout() bool {
	var ne net.Error
	return errors.Is(e.Err, context.DeadlineExceeded) || errors.As(e.Err, &ne) && ne.Timeout()
}

// Verify asks the facilitator whether p is a valid payment for r. An answer
// with isValid false is a VerifyResponse, not an error.
func (f *Client) Verify(ctx context.Context, p *x402.PaymentPayload, r *x402.Requirement) (*x402.VerifyResponse, error) {
	var v x402.VerifyResponse
	if err := f.post(ctx, "verify", p, r, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Settle asks the facilitator to settle p. An answer with success false is
// a SettlementResponse, not an error.
func (f *Client) Settle(ctx context.Context, p *x402.PaymentPayload, r *x402.Requirement) (*x402.SettlementResponse, error) {
	var s x402.SettlementResponse
	if err := f.post(ctx, "settle", p, r, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// facilitatorBody is the body of /verify and /settle (x402 v2).
type facilitatorBody struct {
	X402Version         int                  `json:"x402Version"`
	PaymentPayload      *x402.PaymentPayload `json:"paymentPayload"`
	PaymentRequirements json.RawMessage      `json:"paymentRequirements"`
}

func (f *Client) post(ctx context.Context, op string, p *x402.PaymentPayload, r *x402.Requirement, out any) error {
	red := f.Redactor
	if red == nil {
		red = noRedactor{}
	}
	fail := func(sent bool, status int, detail string, err error) error {
		return &Error{Op: op, Sent: sent, Status: status, Detail: x402.Sanitize(red.Text(detail), 300), Err: red.Err(err)}
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
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	endpoint := strings.TrimRight(f.URL, "/") + "/" + op
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		shown := f.ShownURL
		if shown == "" {
			shown = redactRawURL(f.URL)
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
		hc = httplimit.DefaultClient
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
		return fail(sent, 0, what+" ("+errText(err, red)+")", err)
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail(true, resp.StatusCode, fmt.Sprintf("answered %d %s: %s", resp.StatusCode, http.StatusText(resp.StatusCode), excerpt(b)), nil)
	}
	switch {
	case rerr != nil:
		return fail(true, 0, "the answer broke off ("+errText(rerr, red)+")", rerr)
	case len(b) > maxAnswer:
		return fail(true, 0, fmt.Sprintf("the answer is over %d bytes", maxAnswer), nil)
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
	return x402.Sanitize(string(b), 200)
}

// noRedactor hides nothing.
type noRedactor struct{}

func (noRedactor) Text(s string) string { return s }
func (noRedactor) Err(err error) error  { return err }

// errText shortens a transport error for the logs and messages: a URL in it
// is shown without its query string or user info (where an operator's
// ${ENV} secret may have been expanded), and red's secrets are hidden in the
// rest of the text.
func errText(err error, red Redactor) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		msg := ue.Op + " " + redactRawURL(ue.URL) + ": "
		if ue.Err != nil {
			msg += ue.Err.Error()
		}
		return x402.Sanitize(red.Text(msg), 300)
	}
	return x402.Sanitize(red.Text(err.Error()), 300)
}

func redactRawURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(url)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// maxDiscoveryPage caps what is read of one page of a discovery listing.
const maxDiscoveryPage = 4 << 20

// Supported asks the facilitator what it settles (GET /supported), bounded
// by ctx and Timeout, reading at most 64 KiB. Its errors are *Error with Op
// "supported".
func (f *Client) Supported(ctx context.Context) (*x402.Supported, error) {
	red := f.Redactor
	if red == nil {
		red = noRedactor{}
	}
	fail := func(sent bool, status int, detail string, err error) error {
		return &Error{Op: "supported", Sent: sent, Status: status, Detail: x402.Sanitize(red.Text(detail), 300), Err: red.Err(err)}
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(f.URL, "/")+"/supported", nil)
	if err != nil {
		shown := f.ShownURL
		if shown == "" {
			shown = redactRawURL(f.URL)
		}
		return nil, fail(false, 0, "bad facilitator URL: "+shown, err)
	}
	for k, vs := range f.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Accept", "application/json")
	hc := f.HTTP
	if hc == nil {
		hc = httplimit.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fail(!neverSent(err), 0, "no answer ("+errText(err, red)+")", err)
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	switch {
	case resp.StatusCode != http.StatusOK:
		return nil, fail(true, resp.StatusCode, fmt.Sprintf("answered %d %s: %s", resp.StatusCode, http.StatusText(resp.StatusCode), excerpt(b)), nil)
	case rerr != nil:
		return nil, fail(true, 0, "the answer broke off ("+errText(rerr, red)+")", rerr)
	case len(b) > maxAnswer:
		return nil, fail(true, 0, fmt.Sprintf("the answer is over %d bytes", maxAnswer), nil)
	}
	var s x402.Supported
	if err := jsonlimit.Unmarshal(b, &s); err != nil {
		return nil, fail(true, 0, "the answer is not JSON ("+err.Error()+"): "+excerpt(b), err)
	}
	return &s, nil
}

// DiscoveryQuery is one page of the discovery API: a search (Search, the
// page after Cursor) or the listing of http resources (from Offset, at most
// Limit).
type DiscoveryQuery struct {
	Search, Cursor string
	Offset, Limit  int
}

// DiscoveryError is a discovery page the facilitator refused: its answer
// (at most 4 MiB of Body), for the caller to quote as it cleans a
// facilitator's words.
type DiscoveryError struct {
	URL string
	// Status is the answer's status code and Go's text for it ("503
	// Service Unavailable"), never the facilitator's own reason phrase,
	// which may run to megabytes.
	Status string
	Body   []byte
}

// status names an HTTP status by its code and Go's text for it: a
// server's own reason phrase is its words, of any length.
func status(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprint(code)
}

func (e *DiscoveryError) Error() string {
	return fmt.Sprintf("discovery: GET %s answered %s: %s", e.URL, e.Status, excerpt(e.Body))
}

// Discover fetches one page of the facilitator's discovery API, bounded by
// ctx (and by Timeout when it is set), with the query of the facilitator's
// URL (an API key, say) beside the paging. An answer other than 200 is a
// *DiscoveryError; one over 4 MiB, or one that is not a listing, is an
// error naming the page.
func (f *Client) Discover(ctx context.Context, q DiscoveryQuery) (*x402.DiscoveryPage, error) {
	if f.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.Timeout)
		defer cancel()
	}
	base, err := url.Parse(f.URL)
	if err != nil {
		return nil, fmt.Errorf("discovery: bad facilitator URL: %w", err)
	}
	// The facilitator's own query (an API key, say) goes on every request,
	// beside the paging.
	v := base.Query()
	u := *base
	u.Path, u.RawPath, u.Fragment = strings.TrimRight(base.Path, "/"), "", ""
	if q.Search != "" {
		u.Path += "/discovery/search"
		v.Set("query", q.Search)
		if q.Cursor != "" {
			v.Set("cursor", q.Cursor)
		}
	} else {
		u.Path += "/discovery/resources"
		v.Set("type", "http")
		v.Set("limit", strconv.Itoa(q.Limit))
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	u.RawQuery = v.Encode()
	page := u.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, page, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range f.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "x402-mcp")
	hc := f.HTTP
	if hc == nil {
		hc = httplimit.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryPage+1))
	if err != nil {
		return nil, fmt.Errorf("discovery: read %s: %w", page, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &DiscoveryError{URL: page, Status: status(resp.StatusCode), Body: b}
	}
	if len(b) > maxDiscoveryPage {
		return nil, fmt.Errorf("discovery: GET %s answered over %d bytes", page, maxDiscoveryPage)
	}
	var pg x402.DiscoveryPage
	if err := jsonlimit.Unmarshal(b, &pg); err != nil {
		return nil, fmt.Errorf("discovery: GET %s did not answer a discovery listing: %v", page, err)
	}
	return &pg, nil
}
