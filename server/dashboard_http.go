package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/tools"
)

// dashboardRealm is the dashboard's HTTP Basic realm: a browser asks for
// the bearer token once (any user name, the token as the password) and
// sends it with every request of the page, its polling included.
const dashboardRealm = "x402-mcp dashboard"

// dashboardCredential resolves the principal of a dashboard request: a
// bearer token as on /mcp (a principal's token, or an OAuth access token),
// or, from a browser, a principal's token as the password of HTTP Basic
// (the user name is ignored), checked against every principal's hash in
// constant time as a bearer token is. A server without credentials (on
// loopback only, as /mcp) serves the implicit admin.
func (a *authenticator) dashboardCredential(r *http.Request) (*Principal, *authError) {
	if a.open {
		return implicit, nil
	}
	if _, pass, ok := r.BasicAuth(); ok {
		return a.byCredential(r.Context(), pass)
	}
	return a.authenticate(r)
}

// dashboardUnauthorized is the 401 of the dashboard: what it needs, how a
// browser gives it, and what was wrong with the credential sent, if any.
func (a *authenticator) dashboardUnauthorized(r *http.Request, ae *authError) string {
	msg := "unauthorized: the dashboard needs an admin principal's token"
	if len(a.principals) == 1 && a.principals[0] == implicit {
		msg = "unauthorized: the dashboard needs the server's bearer token (X402_MCP_TOKEN)"
	} else if a.oauth != nil {
		msg += " (or an admin's access token from " + a.oauth.cfg.Issuer + ")"
	}
	msg += ": send Authorization: Bearer <token>, or, in a browser, give it as the password when asked (any user name)"
	if r.Header.Get("Authorization") != "" {
		msg += "; " + strings.TrimPrefix(ae.msg, "unauthorized: ")
	}
	return msg
}

// dashboardAuth lets through requests whose credentials name an admin
// principal, with that principal in the context: 401 without valid
// credentials (with WWW-Authenticate for a browser's Basic prompt and for
// bearer tokens), 403 for a principal that is not an admin (the dashboard
// shows every principal's payments). A refusal is logged with its reason,
// never the credential.
func (s *Server) dashboardAuth(a *authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ae := a.dashboardCredential(r)
		if ae != nil {
			s.cfg.Logger.Info("http: refused", "status", ae.status, "path", payments.Sanitize(r.URL.Path, 100), "reason", ae.msg)
			if ae.status == http.StatusUnauthorized {
				w.Header().Add("WWW-Authenticate", `Basic realm="`+dashboardRealm+`", charset="UTF-8"`)
				ch := `Bearer realm="x402-mcp"`
				if a.oauth != nil {
					ch += `, resource_metadata="` + a.oauth.metadataURL() + `"`
				}
				w.Header().Add("WWW-Authenticate", ch)
				writeJSONError(w, ae.status, a.dashboardUnauthorized(r, ae))
				return
			}
			writeJSONError(w, ae.status, ae.msg)
			return
		}
		if !p.Admin {
			s.cfg.Logger.Info("http: refused", "status", http.StatusForbidden, "path", payments.Sanitize(r.URL.Path, 100), "principal", p.Name, "reason", "not an admin")
			writeJSONError(w, http.StatusForbidden, fmt.Sprintf("forbidden: principal %s is not an admin; the dashboard shows every "+
				"principal's payments, so only an admin principal (admin: true) may read it", p.Name))
			return
		}
		next.ServeHTTP(w, r.WithContext(s.withPrincipal(r.Context(), p)))
	})
}

// rejectRebinding answers 403 to a request that reached a loopback listener
// with a Host that is not loopback: a page whose domain was rebound to
// 127.0.0.1 (DNS rebinding) must not read the dashboard. mcp-go does the
// same for /mcp and /sse.
func rejectRebinding(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if local != nil && IsLoopback(local.String()) && !IsLoopback(r.Host) {
			writeJSONError(w, http.StatusForbidden, fmt.Sprintf("forbidden: Host %q is not this machine's loopback address; "+
				"open the dashboard at http://127.0.0.1:PORT/dashboard/", payments.Sanitize(r.Host, 100)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// dashboardHandler is the gateway's dashboard: the admins', behind the same
// credentials as /mcp, read from the server's ledger (Config.Books).
func (s *Server) dashboardHandler(auth *authenticator) http.Handler {
	d := &dashboard{books: s.cfg.Books, catalog: func() *tools.Registry { return s.catalog().reg }, now: time.Now,
		log: s.cfg.Logger, reconcileEvery: s.cfg.ReconcileEvery}
	return rejectRebinding(s.dashboardAuth(auth, d.handler()))
}

// DashboardOptions configure ServeDashboard.
type DashboardOptions struct {
	// Books is the ledger, opened read-only (ledger.OpenReadOnly).
	Books Books
	// Registry gives the per-entry budgets and the networks with an rpc
	// endpoint (what reconciliation can check).
	Registry *tools.Registry
	// Key is the secret the URL carries (at least MinTokenLength
	// characters): only a browser that opened that URL, or a program that
	// sends it as a bearer token, reads the dashboard.
	Key    string
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// DashboardCookie names the cookie that carries the local dashboard's key,
// per port (cookies are not kept apart by port).
func DashboardCookie(ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String()) // a TCP listener's address is host:port
	return "x402_dashboard_" + port
}

// ServeDashboard serves the read-only dashboard on ln until ctx ends: the
// local dashboard (x402-mcp dashboard) of someone who runs x402-mcp over
// stdio. It refuses a listener that is not on loopback. A request needs the
// key: in the URL once (?key=…, which sets a cookie and redirects to the
// page without it), then in that cookie, or as a bearer token. A request
// with an Origin header (another site's page) gets 403, and so does one
// whose Host is not loopback (DNS rebinding).
func ServeDashboard(ctx context.Context, ln net.Listener, o DashboardOptions) error {
	addr := ln.Addr().String()
	// A refused listener is closed; the refusal is the error to report.
	if !IsLoopback(addr) {
		_ = ln.Close()
		return fmt.Errorf("refusing to serve the dashboard on %s: it is for this machine only; bind 127.0.0.1 "+
			"(a shared gateway serves /dashboard with serve --http and a token)", addr)
	}
	if len(o.Key) < MinTokenLength {
		_ = ln.Close()
		return fmt.Errorf("the dashboard key is %d characters; use at least %d", len(o.Key), MinTokenLength)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &dashboard{books: o.Books, catalog: func() *tools.Registry { return o.Registry }, now: o.Now, log: o.Logger, readOnly: true}
	mux := http.NewServeMux()
	page := d.handler()
	mux.Handle("/dashboard", page)
	mux.Handle("/dashboard/", page)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		u := *r.URL
		u.Path = PathDashboard
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
	})
	hs := &http.Server{
		Handler:           checkOrigin(nil, rejectRebinding(keyGuard(o.Key, DashboardCookie(ln), mux))),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(slogWriter{o.Logger}, "", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}

// keyGuard lets through requests that carry key: as ?key= in the URL (the
// answer sets the cookie and redirects to the same URL without the key, so
// that it stays out of the history), in the cookie, or as a bearer token.
// Anything else gets 401 saying where the key is.
func keyGuard(key, cookie string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(key))
	match := func(got string) bool {
		sum := sha256.Sum256([]byte(got))
		return got != "" && subtle.ConstantTimeCompare(sum[:], want[:]) == 1
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Has("key") {
			if !match(q.Get("key")) {
				writeJSONError(w, http.StatusUnauthorized, "unauthorized: this key is not the dashboard's: open the URL x402-mcp dashboard printed when it started")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: cookie, Value: key, Path: "/dashboard", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			q.Del("key")
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		if c, err := r.Cookie(cookie); err == nil && match(c.Value) {
			next.ServeHTTP(w, r)
			return
		}
		if got, ok := bearer(r.Header.Get("Authorization")); ok && match(strings.TrimSpace(got)) {
			next.ServeHTTP(w, r)
			return
		}
		writeJSONError(w, http.StatusUnauthorized, "unauthorized: open the URL x402-mcp dashboard printed when it started (it carries the key)")
	})
}
