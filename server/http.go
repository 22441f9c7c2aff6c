package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/payments"
)

// HTTP endpoints served by ListenAndServe and HTTPHandler.
const (
	PathMCP     = "/mcp"     // Streamable HTTP
	PathSSE     = "/sse"     // legacy HTTP+SSE: the event stream
	PathMessage = "/message" // legacy HTTP+SSE: client messages
	PathHealth  = "/healthz" // liveness, no auth
	PathMetrics = "/metrics" // Prometheus text format
)

// Defaults of HTTPOptions.
const (
	DefaultMaxRequestBytes = 1 << 20
	DefaultDrainTimeout    = 30 * time.Second
	// MinTokenLength is the shortest bearer token accepted.
	MinTokenLength = 16
)

// HTTPOptions configure the HTTP transports.
type HTTPOptions struct {
	// Token, when set, is the bearer token every request but GET /healthz
	// (and the OAuth metadata) must carry: the implicit principal's
	// (DefaultPrincipal, an admin). A bind beyond loopback refuses to start
	// without a Token or an Auth.
	Token string
	// Auth, instead of Token, names the principals that may call, with
	// their tokens, and the OAuth authorization server whose access tokens
	// name principals too (AuthFrom builds it).
	Auth *Auth
	// MaxRequestBytes caps a request body (DefaultMaxRequestBytes when ≤ 0);
	// a larger one gets 413.
	MaxRequestBytes int64
	// CORSOrigins are the browser origins allowed to call (exact origins,
	// e.g. https://app.example; CheckOrigins says which are valid). A request
	// that carries any other Origin gets 403, on every endpoint; CORS is off
	// without them. They need a Token.
	CORSOrigins []string
	// DrainTimeout bounds how long shutdown waits for tool calls in flight
	// (DefaultDrainTimeout when ≤ 0).
	DrainTimeout time.Duration
}

func (o HTTPOptions) maxBytes() int64 {
	if o.MaxRequestBytes <= 0 {
		return DefaultMaxRequestBytes
	}
	return o.MaxRequestBytes
}

func (o HTTPOptions) drainTimeout() time.Duration {
	if o.DrainTimeout <= 0 {
		return DefaultDrainTimeout
	}
	return o.DrainTimeout
}

// Check refuses options that would let anyone who can reach addr spend
// the wallet (no credentials beyond loopback, or browser origins without
// credentials), a token too short to resist guessing, and a Token given
// with principals.
func (o HTTPOptions) Check(addr string) error {
	if o.Auth == nil {
		return errors.Join(CheckBind(addr, o.Token), CheckOrigins(o.CORSOrigins, o.Token))
	}
	if o.Token != "" {
		return errors.New("X402_MCP_TOKEN (or --token-file) and principals are both set: list that token's principal under principals: " +
			"(its hash, from `x402-mcp token hash`, in tokens:) and unset X402_MCP_TOKEN, or drop the principals")
	}
	if len(o.Auth.Principals) == 0 {
		return errors.New("no principals: list who may call under principals:")
	}
	// Every principal has a token or signs in with OAuth (tools checks it):
	// the server has credentials.
	return checkOrigins(o.CORSOrigins, true)
}

// IsLoopback says whether a listen address (host:port, or a bare host) is
// on loopback only: 127.0.0.0/8, ::1 or localhost. An empty host (":8402")
// means every interface, so it is not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// CheckBind refuses to serve a non-loopback address without a token (or a
// token too short to resist guessing).
func CheckBind(addr, token string) error {
	if token != "" && len(token) < MinTokenLength {
		return fmt.Errorf("the bearer token is %d characters; use at least %d (e.g. `openssl rand -hex 32`)", len(token), MinTokenLength)
	}
	if token == "" && !IsLoopback(addr) {
		return fmt.Errorf("refusing to serve MCP on %s without a bearer token: anyone who can reach it could spend the wallet; "+
			"set X402_MCP_TOKEN or --token-file FILE, or bind 127.0.0.1", addr)
	}
	return nil
}

// CheckOrigins refuses browser origins that x402-mcp must not trust: any
// origin without a bearer token (a page from it could spend the wallet),
// "*", and anything that is not an exact origin (scheme http or https, a
// host, an optional port, no path).
func CheckOrigins(origins []string, token string) error {
	return checkOrigins(origins, token != "")
}

func checkOrigins(origins []string, credentials bool) error {
	if len(origins) == 0 {
		return nil
	}
	if !credentials {
		return fmt.Errorf("refusing --cors-origin without a bearer token: a page from %s could spend the wallet; "+
			"set X402_MCP_TOKEN or --token-file FILE (the page must send it)", payments.Sanitize(strings.Join(origins, ", "), 300))
	}
	var errs []error
	for _, o := range origins {
		if _, err := normalizeOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("--cors-origin %q: %w", payments.Sanitize(o, 200), err))
		}
	}
	return errors.Join(errs...)
}

// normalizeOrigin returns an origin as browsers send it in the Origin header
// (lower-case scheme and host, no default port), or an error saying why o is
// not an exact origin.
func normalizeOrigin(o string) (string, error) {
	const want = "give an exact origin such as https://app.example or http://localhost:6274"
	if o == "*" {
		return "", errors.New("any origin (*) would let every site's pages call: " + want)
	}
	u, err := url.Parse(o) // lower-cases the scheme
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Opaque != "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Path != "" && u.Path != "/" {
		return "", errors.New("not an origin: " + want)
	}
	scheme, host, port := u.Scheme, strings.ToLower(u.Hostname()), u.Port()
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// httpTransports is the handler tree plus what shutdown must close.
type httpTransports struct {
	handler    http.Handler
	streamable *mcpserver.StreamableHTTPServer
	sse        *mcpserver.SSEServer
	// sessions are the Streamable HTTP sessions issued and not yet ended.
	sessions *sessionIDs
	// asker carries elicitation/create over the legacy SSE streams (sse.go).
	asker *sseAsker
	auth  *authenticator
}

// HTTPHandler serves MCP over Streamable HTTP at /mcp and legacy SSE at
// /sse and /message, with /healthz, /metrics (admins only) and (with
// Config.Books) the dashboard at /dashboard/ (admins only), under opts'
// auth, size limit and CORS. A request that carries an Origin not in
// opts.CORSOrigins gets 403, whatever its path. With OAuth, the Protected
// Resource Metadata is served at PathProtectedResource; every other OAuth
// discovery and registration path gets 404 (they belong to the
// authorization server). mcp-go's DNS-rebinding protection stays on: a
// request that reaches a loopback listener must name a loopback Host.
func (s *Server) HTTPHandler(opts HTTPOptions) http.Handler {
	return s.httpTransports(opts).handler
}

func (s *Server) httpTransports(opts HTTPOptions) *httpTransports {
	// Every request is authenticated before it reaches a transport
	// (requireAuth), which puts its principal in the request's context: a
	// session is one principal during this server's run (withPrincipal),
	// and the per-session budget resets when the server restarts, as it
	// does over stdio.
	auth := s.newAuthenticator(opts)
	s.principals.Store(&auth.principals)
	// Only exact origins are allowed; one that does not parse is never
	// allowed (Serve refuses it at start, through CheckOrigins).
	var origins []string
	for _, o := range opts.CORSOrigins {
		if n, err := normalizeOrigin(o); err == nil {
			origins = append(origins, n)
		}
	}
	t := &httpTransports{sessions: newSessionIDs(), asker: newSSEAsker(s.cfg.Logger), auth: auth}
	streamOpts := []mcpserver.StreamableHTTPOption{
		mcpserver.WithEndpointPath(PathMCP),
		mcpserver.WithStreamableHTTPLogger(s.cfg.Logger),
		// A session belongs to the principal that opened it.
		mcpserver.WithSessionIdManagerResolver(t.sessions),
	}
	sseOpts := []mcpserver.SSEOption{
		mcpserver.WithSSEEndpoint(PathSSE),
		mcpserver.WithMessageEndpoint(PathMessage),
		mcpserver.WithSSEContextFunc(func(ctx context.Context, _ *http.Request) context.Context {
			return t.asker.wrapSession(ctx, s.mcp)
		}),
		mcpserver.WithSessionIDGenerator(t.asker.newSessionID),
	}
	if len(origins) > 0 {
		cors := []mcpserver.CORSOption{
			mcpserver.WithCORSAllowedOrigins(origins...),
			mcpserver.WithCORSAllowedHeaders("Authorization", "Content-Type", "Mcp-Session-Id", "Mcp-Protocol-Version", "Last-Event-ID"),
		}
		streamOpts = append(streamOpts, mcpserver.WithStreamableHTTPCORS(cors...))
		sseOpts = append(sseOpts, mcpserver.WithSSECORS(cors...))
	}
	t.streamable = mcpserver.NewStreamableHTTPServer(s.mcp, streamOpts...)
	t.sse = mcpserver.NewSSEServer(s.mcp, sseOpts...)
	t.asker.sse = t.sse
	mux := http.NewServeMux()
	mux.Handle(PathMCP, t.sessions.guard(t.streamable))
	var sse http.Handler = t.sse
	if len(origins) == 0 {
		sse = noAnyOrigin(sse)
	}
	mux.Handle(PathSSE, t.asker.streams(sse))
	mux.Handle(PathMessage, t.asker.messages(sse))
	mux.HandleFunc("GET "+PathMetrics, adminOnly(s.serveMetrics))
	guarded := s.requireAuth(auth, len(origins) > 0, limitBody(opts.maxBytes(), mux))
	root := http.NewServeMux()
	root.HandleFunc("GET "+PathHealth, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n") // a prober gone away: nothing to be done
	})
	root.Handle("/", guarded)
	if s.cfg.Books != nil {
		// The dashboard takes a principal's token from a browser too (HTTP
		// Basic's password), and serves admins only.
		dash := s.dashboardHandler(auth)
		root.Handle("/dashboard", dash)
		root.Handle("/dashboard/", dash)
	}
	t.handler = checkOrigin(origins, wellKnown(auth.oauth, root))
	return t
}

// checkOrigin answers 403 to a request whose Origin header is present and
// not one of allowed (normalized origins), as the MCP transport spec
// requires: browsers send Origin, and only the operator's own pages may
// call. Loopback origins get no exemption: any local web app or dev server
// could be such a page. A request without Origin (not from a browser) goes
// on to auth.
func checkOrigin(allowed []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals := r.Header.Values("Origin")
		if len(vals) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		o, err := normalizeOrigin(vals[0])
		if len(vals) > 1 || err != nil || !slices.Contains(allowed, o) {
			writeHTTPError(w, http.StatusForbidden, -32001, fmt.Sprintf("forbidden: Origin %q may not call this server; "+
				"to let a browser page call it, start x402-mcp with --cors-origin ORIGIN and a bearer token", payments.Sanitize(vals[0], 100)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// noOAuthBody is the 404 of the OAuth paths without OAuth (wellKnown): an
// OAuth error (RFC 6749 §5.2), so that an OAuth-aware client shows its
// description: send the bearer token.
const noOAuthBody = `{"error":"not_found","error_description":"x402-mcp has no OAuth: send Authorization: Bearer <token> (the server's X402_MCP_TOKEN)"}` + "\n"

// noAnyOrigin drops the "Access-Control-Allow-Origin: *" that mcp-go's SSE
// stream sends when CORS is not configured: CORS stays off unless
// --cors-origin names an origin.
func noAnyOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(noOriginWriter{w}, r)
	})
}

type noOriginWriter struct{ http.ResponseWriter }

func (w noOriginWriter) WriteHeader(code int) {
	w.Header().Del("Access-Control-Allow-Origin")
	w.ResponseWriter.WriteHeader(code)
}

func (w noOriginWriter) Write(b []byte) (int, error) {
	w.Header().Del("Access-Control-Allow-Origin")
	return w.ResponseWriter.Write(b)
}

func (w noOriginWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() } //nolint:errcheck // as http.Flusher

func (w noOriginWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeHTTPError answers with a JSON-RPC-shaped error body.
func writeHTTPError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"jsonrpc":"2.0","id":null,"error":{"code":%d,"message":%q}}`+"\n", code, msg) // a client gone away: nothing to be done
}

func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// limitBody answers 413 to a request body over max bytes. The body is read
// up front (it is at most max bytes) so the answer is a clean 413 rather
// than a parse error from deep inside the transport.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			writeHTTPError(w, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("request body over %d bytes", max))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			writeHTTPError(w, http.StatusBadRequest, -32700, "reading the request body failed")
			return
		}
		if int64(len(body)) > max {
			writeHTTPError(w, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("request body over %d bytes", max))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// ListenAndServe serves MCP over HTTP on addr (see Serve). It refuses a
// non-loopback addr without a token, and opts.CORSOrigins that CheckOrigins
// refuses.
func (s *Server) ListenAndServe(ctx context.Context, addr string, opts HTTPOptions) error {
	if err := opts.Check(addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	return s.Serve(ctx, ln, opts)
}

// Serve serves MCP over HTTP on ln until ctx ends, then shuts down
// gracefully: it stops accepting, refuses new tool calls, lets the calls in
// flight (and so their payments) finish and be recorded, bounded by
// opts.DrainTimeout, then closes the streams. It logs "listening" with the
// bound address first. It refuses a non-loopback listener without a token,
// and opts.CORSOrigins that CheckOrigins refuses.
func (s *Server) Serve(ctx context.Context, ln net.Listener, opts HTTPOptions) error {
	addr := ln.Addr().String()
	if err := opts.Check(addr); err != nil {
		_ = ln.Close() // refused: the refusal is the error to report
		return err
	}
	t := s.httpTransports(opts)
	hs := &http.Server{
		Handler:           t.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second, // bodies are ≤ MaxRequestBytes
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// No WriteTimeout: SSE and Streamable HTTP streams stay open.
		ErrorLog: log.New(slogWriter{s.cfg.Logger}, "", 0),
	}
	args := []any{"addr", addr, "mcp", PathMCP, "sse", PathSSE, "auth", !t.auth.open, "principals", t.auth.names()}
	if v := t.auth.oauth; v != nil {
		args = append(args, "oauthIssuer", v.cfg.Issuer, "resource", v.cfg.Resource, "metadata", v.metaURL)
	}
	if s.cfg.Books != nil {
		args = append(args, "dashboard", PathDashboard)
	}
	s.cfg.Logger.Info("listening", args...)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}

	drain := opts.drainTimeout()
	s.cfg.Logger.Info("shutting down: draining tool calls in flight", "inFlight", s.calls.count(), "timeout", drain)
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- hs.Shutdown(dctx) }() // closes the listener now; waits for active requests
	select {
	case <-s.calls.drain():
	case <-dctx.Done():
		s.cfg.Logger.Warn("drain timeout: tool calls still in flight; their payments stay counted until reconciled", "inFlight", s.calls.count())
	}
	// Give the last answers a moment to reach their SSE streams, then end
	// the long-lived streams so Shutdown can return.
	select {
	case <-time.After(200 * time.Millisecond):
	case <-dctx.Done():
	}
	t.sse.CloseSessions()
	t.streamable.CloseSessions(dctx)
	err := <-shut
	if err != nil {
		_ = hs.Close() // Shutdown's error is the one to report
		if errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
	}
	s.cfg.Logger.Info("http stopped")
	return err
}

// callTracker counts tool calls in flight so shutdown can wait for them.
type callTracker struct {
	mu       sync.Mutex
	n        int
	draining bool
	idle     chan struct{}
}

// enter registers a call; false once draining (the call must be refused).
func (t *callTracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		return false
	}
	t.n++
	return true
}

func (t *callTracker) leave() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 && t.idle != nil {
		close(t.idle)
	}
}

func (t *callTracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// drain refuses new calls and returns a channel closed when none is in flight.
func (t *callTracker) drain() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.draining = true
	if t.idle == nil {
		t.idle = make(chan struct{})
		if t.n == 0 {
			close(t.idle)
		}
	}
	return t.idle
}
