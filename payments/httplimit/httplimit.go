// Package httplimit bounds what someone else's HTTP answer can make
// x402-mcp hold in memory or repeat in an error.
//
// Every HTTP client x402-mcp uses talks to a party it does not control: a
// seller, a facilitator, an RPC node, a remote MCP server, a discovery
// service. net/http reads a response's headers up to 10 MB by default, and
// some of its errors quote the offending input whole: a header line without a
// colon comes back as `malformed MIME header…: "…"`, however long the
// line. That text then reaches logs, tool errors the model reads, and the
// ledger's notes. Transport caps both: headers at MaxHeaderBytes and the
// text of a round trip's error at MaxErrorText, keeping the error's chain
// (errors.Is and errors.As see the same causes: a timeout is still a
// timeout). net/http offers the first as a setting and nothing for the
// second, hence this small wrapper.
package httplimit

import (
	"fmt"
	"net/http"
	"strings"
)

// MaxHeaderBytes is how many bytes of response headers a client reads, the
// status line included. x402's PAYMENT-REQUIRED header carries a whole
// challenge, with its offers and their schemas, in base64; the reference
// clients (Node's fetch and http) refuse more than 16 KB of headers, so no
// seller that works with them comes near this.
const MaxHeaderBytes = 256 << 10

// MaxErrorText is how many bytes of a round trip's error text are kept.
const MaxErrorText = 512

// Transport returns base (http.DefaultTransport when nil) with headers
// limited to MaxHeaderBytes, where base is an *http.Transport that sets no
// smaller limit, and with the text of its errors cut to MaxErrorText.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if t, ok := base.(*http.Transport); ok && (t.MaxResponseHeaderBytes <= 0 || t.MaxResponseHeaderBytes > MaxHeaderBytes) {
		t = t.Clone()
		t.MaxResponseHeaderBytes = MaxHeaderBytes
		base = t
	}
	return &transport{base: base}
}

// DefaultTransport is Transport(nil), shared, as http.DefaultTransport is:
// one pool of connections for every client that sets nothing else.
var DefaultTransport = Transport(nil)

// DefaultClient is Client's, shared: what a package uses when its caller
// gave no client.
var DefaultClient = Client()

// Client returns an HTTP client on DefaultTransport that follows no
// redirect: the answer to a request that redirects is the redirect itself
// (a seller must not send a payment or an operator's headers elsewhere).
func Client() *http.Client {
	return &http.Client{
		Transport:     DefaultTransport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Unwrap returns the transport that rt, made by Transport, wraps (rt
// itself when Transport did not make it): to change a setting of it, such
// as the TLS roots a test trusts.
func Unwrap(rt http.RoundTripper) http.RoundTripper {
	if t, ok := rt.(*transport); ok {
		return t.base
	}
	return rt
}

type transport struct{ base http.RoundTripper }

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, Clip(err)
	}
	return res, nil
}

// CloseIdleConnections closes the base transport's idle connections, as
// http.Client.CloseIdleConnections asks.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Clip returns err unchanged when its text is at most MaxErrorText bytes,
// and otherwise an error whose text is at most the first MaxErrorText bytes
// of it and how many were left out, wrapping err. The text is cut after a
// space or a double quote, never inside a word: callers hide secrets (an
// ${ENV} value, an API key a server echoes back) after Clip, by replacing
// each whole, and a secret cut in two would show its first part.
func Clip(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if len(msg) <= MaxErrorText {
		return err
	}
	cut := strings.LastIndexAny(msg[:MaxErrorText], " \"") + 1 // 0 when there is none
	return &clipped{text: fmt.Sprintf("%s… (%d more bytes not shown)", msg[:cut], len(msg)-cut), err: err}
}

// clipped is an error whose text is cut; Unwrap gives the whole error, for
// errors.Is and errors.As, never for display.
type clipped struct {
	text string
	err  error
}

func (c *clipped) Error() string { return c.text }
func (c *clipped) Unwrap() error { return c.err }
