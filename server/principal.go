package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/tools"
)

// DefaultPrincipal names the one implicit principal, an admin: every call
// over stdio, and every call over HTTP when no principals are configured
// (with the single token of X402_MCP_TOKEN or --token-file, or without a
// token on loopback).
const DefaultPrincipal = "default"

// Principal is who makes a call: over HTTP the principal its bearer token
// or OAuth access token names, over stdio the implicit one.
type Principal struct {
	Name string
	// Admin principals see every principal's payments and budgets, and may
	// read /metrics.
	Admin bool
	// Tools are the only tools it may list and call; nil means every tool.
	// The built-ins that spend nothing are always allowed.
	Tools []string
}

// implicit is the principal of calls that name none.
var implicit = &Principal{Name: DefaultPrincipal, Admin: true}

// freeBuiltins are the built-in tools every principal may call: they spend
// nothing, and x402_call checks the entry it calls.
var freeBuiltins = []string{ToolWallet, ToolQuote, ToolSpendHistory, ToolFind, ToolCall}

// May says whether the principal may list and call the tool name.
func (p *Principal) May(name string) bool {
	return p.Tools == nil || slices.Contains(p.Tools, name) || slices.Contains(freeBuiltins, name)
}

type principalKey struct{}

// withPrincipal returns ctx carrying p, for the server and for payments
// (which books the call's payments to p and keys its per-session budget on
// p during this run).
func (s *Server) withPrincipal(ctx context.Context, p *Principal) context.Context {
	ctx = context.WithValue(ctx, principalKey{}, p)
	ctx = payments.WithPrincipal(ctx, p.Name)
	return payments.WithSession(ctx, p.Name+"@"+s.run)
}

// caller is the principal of a call made with ctx: the one the HTTP
// transport authenticated, else the implicit one.
func caller(ctx context.Context) *Principal {
	if p, ok := ctx.Value(principalKey{}).(*Principal); ok && p != nil {
		return p
	}
	return implicit
}

// filterTools is the server's tool filter: a principal lists (and mcp-go
// lets it call) only the tools it may, and x402_quote's list of tools names
// only those.
func (s *Server) filterTools(ctx context.Context, list []mcp.Tool) []mcp.Tool {
	p := caller(ctx)
	if p.Tools == nil {
		return list
	}
	out := make([]mcp.Tool, 0, len(list))
	for _, t := range list {
		if !p.May(t.Name) {
			continue
		}
		if t.Name == ToolQuote {
			t = quoteFor(t, p)
		}
		out = append(out, t)
	}
	return out
}

// quoteFor is x402_quote as p sees it: the enum of its tool argument names
// only the tools p may call.
func quoteFor(t mcp.Tool, p *Principal) mcp.Tool {
	var schema map[string]any
	if json.Unmarshal(t.RawInputSchema, &schema) != nil {
		return t
	}
	props, _ := schema["properties"].(map[string]any)
	tool, _ := props["tool"].(map[string]any)
	enum, _ := tool["enum"].([]any)
	if enum == nil {
		return t
	}
	kept := []any{}
	for _, n := range enum {
		if name, _ := n.(string); p.May(name) {
			kept = append(kept, n)
		}
	}
	tool["enum"] = kept
	if raw, err := json.Marshal(schema); err == nil {
		t.RawInputSchema = raw
	}
	return t
}

// Auth says who may call over HTTP: named principals with bearer tokens
// (stored as SHA-256 hashes), and the OAuth authorization server whose
// access tokens name principals too. Build it with AuthFrom.
type Auth struct {
	Principals []PrincipalAuth
	// OAuth is nil without an authorization server.
	OAuth *OAuthOptions
}

// PrincipalAuth is a principal and the SHA-256 hashes of its bearer tokens
// (none for a principal that signs in with OAuth only).
type PrincipalAuth struct {
	Principal
	Tokens [][32]byte
}

// AuthFrom builds the HTTP transport's Auth from a principals file or the
// catalog's sections: each ${ENV} token is read with getenv and hashed (it
// must be set, and at least MinTokenLength characters); the token itself
// is kept nowhere.
func AuthFrom(g *tools.Gateway, getenv func(string) string) (*Auth, error) {
	if g == nil {
		return nil, nil
	}
	a := &Auth{}
	var errs []error
	for i, pr := range g.Principals {
		pa := PrincipalAuth{Principal: Principal{Name: pr.Name, Admin: pr.Admin, Tools: slices.Clone(pr.Tools)}}
		for k, t := range pr.Tokens {
			if t.Env == "" {
				pa.Tokens = append(pa.Tokens, t.SHA256)
				continue
			}
			v := strings.TrimSpace(getenv(t.Env))
			where := fmt.Sprintf("%s: principals[%d] (%s).tokens[%d]", g.Path, i, pr.Name, k)
			switch {
			case v == "":
				errs = append(errs, fmt.Errorf("%s: environment variable %s is not set: set it to the principal's token (e.g. `openssl rand -hex 32`)", where, t.Env))
			case len(v) < MinTokenLength:
				errs = append(errs, fmt.Errorf("%s: the token in %s is %d characters; use at least %d (e.g. `openssl rand -hex 32`)", where, t.Env, len(v), MinTokenLength))
			default:
				pa.Tokens = append(pa.Tokens, sha256.Sum256([]byte(v)))
			}
		}
		a.Principals = append(a.Principals, pa)
	}
	if g.OAuth != nil {
		a.OAuth = &OAuthOptions{OAuth: *g.OAuth}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a, nil
}

// authenticator finds the principal of an HTTP request.
type authenticator struct {
	// hashes are every token's SHA-256, owners[i] the index in principals
	// of hashes[i]'s principal.
	hashes     [][32]byte
	owners     []int
	principals []*Principal
	byName     map[string]*Principal
	oauth      *oauthVerifier // nil without OAuth
	// open: no credentials configured (loopback only): every request is
	// the implicit principal.
	open bool
}

// newAuthenticator builds the authenticator of opts: a single Token is the
// implicit principal's; Auth lists principals; neither leaves the server
// open (CheckBind allows that on loopback only).
func (s *Server) newAuthenticator(opts HTTPOptions) *authenticator {
	a := &authenticator{byName: map[string]*Principal{}}
	switch {
	case opts.Auth != nil:
		for _, pa := range opts.Auth.Principals {
			p := pa.Principal
			p.Tools = slices.Clone(pa.Tools)
			a.principals = append(a.principals, &p)
			a.byName[p.Name] = &p
			for _, h := range pa.Tokens {
				a.hashes = append(a.hashes, h)
				a.owners = append(a.owners, len(a.principals)-1)
			}
		}
		if opts.Auth.OAuth != nil {
			a.oauth = newOAuthVerifier(*opts.Auth.OAuth, a.byName, s.cfg.Logger)
		}
	case opts.Token != "":
		a.principals = []*Principal{implicit}
		a.byName[implicit.Name] = implicit
		a.hashes = [][32]byte{sha256.Sum256([]byte(opts.Token))}
		a.owners = []int{0}
	default:
		a.open = true
		a.byName[implicit.Name] = implicit
	}
	return a
}

// httpPrincipals are the principals of the HTTP transport (none over
// stdio).
func (s *Server) httpPrincipals() []*Principal {
	if p := s.principals.Load(); p != nil {
		return *p
	}
	return nil
}

// names lists the principals' names, for the log.
func (a *authenticator) names() []string {
	out := make([]string, 0, len(a.byName))
	for _, p := range a.principals {
		out = append(out, p.Name)
	}
	if a.open {
		out = append(out, implicit.Name)
	}
	return out
}

// byToken returns the principal whose token is tok, or nil. Every stored
// hash is compared, in constant time, whichever matches: how long it takes
// says nothing of which token, if any, was right.
func (a *authenticator) byToken(tok string) *Principal {
	sum := sha256.Sum256([]byte(tok))
	match := -1
	for i := range a.hashes {
		eq := subtle.ConstantTimeCompare(sum[:], a.hashes[i][:])
		match = subtle.ConstantTimeSelect(eq, a.owners[i], match)
	}
	if match < 0 {
		return nil
	}
	return a.principals[match]
}

// authError is a refusal: its status (401 or 403), what the client reads,
// and the WWW-Authenticate parameters of a Bearer challenge.
type authError struct {
	status    int
	msg       string
	challenge string // e.g. error="invalid_token", error_description="…"
}

// authenticate resolves the principal of r: a static token first (compared
// in constant time against every principal's), then an OAuth access token
// when an authorization server is configured.
func (a *authenticator) authenticate(r *http.Request) (*Principal, *authError) {
	if a.open {
		return implicit, nil
	}
	tok, ok := bearer(r.Header.Get("Authorization"))
	if !ok || tok == "" {
		msg := "unauthorized: send Authorization: Bearer <token>"
		if a.oauth != nil {
			msg += " (a principal's token, or an access token from " + a.oauth.cfg.Issuer + ")"
		} else if len(a.principals) == 1 && a.principals[0] == implicit {
			msg += " (the server's X402_MCP_TOKEN)"
		}
		return nil, &authError{status: http.StatusUnauthorized, msg: msg}
	}
	return a.byCredential(r.Context(), tok)
}

// byCredential resolves a token a request carries (as a bearer token, or as
// the dashboard's HTTP Basic password): a principal's static token first,
// compared in constant time against every principal's, then an OAuth access
// token when an authorization server is configured.
func (a *authenticator) byCredential(ctx context.Context, tok string) (*Principal, *authError) {
	if p := a.byToken(tok); p != nil {
		return p, nil
	}
	if a.oauth != nil {
		return a.oauth.authenticate(ctx, tok)
	}
	return nil, &authError{status: http.StatusUnauthorized, msg: "unauthorized: the bearer token is not one this server knows",
		challenge: `error="invalid_token", error_description="unknown token"`}
}

// requireAuth lets through only authenticated requests, with their principal
// in the context. With CORS on, a browser's preflight (OPTIONS, which never
// carries credentials) goes through to mcp-go's CORS handling, which answers
// it and does nothing else. A refusal is logged with its reason, never the
// token.
func (s *Server) requireAuth(a *authenticator, cors bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cors && r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		p, ae := a.authenticate(r)
		if ae != nil {
			s.cfg.Logger.Info("http: refused", "status", ae.status, "path", payments.Sanitize(r.URL.Path, 100), "reason", ae.msg)
			ch := `Bearer realm="x402-mcp"`
			if a.oauth != nil {
				ch += `, resource_metadata="` + a.oauth.metadataURL() + `"`
			}
			if ae.challenge != "" {
				ch += ", " + ae.challenge
			}
			w.Header().Set("WWW-Authenticate", ch)
			allowOrigin(w, r)
			writeHTTPError(w, ae.status, -32001, ae.msg)
			return
		}
		next.ServeHTTP(w, r.WithContext(s.withPrincipal(r.Context(), p)))
	})
}

// adminOnly answers 403 to a principal that is not an admin.
func adminOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := caller(r.Context()); !p.Admin {
			writeHTTPError(w, http.StatusForbidden, -32001, fmt.Sprintf("forbidden: principal %s is not an admin; only an admin principal (admin: true) may read %s", p.Name, r.URL.Path))
			return
		}
		next(w, r)
	}
}
