package payments

import "context"

// sessionKey carries the per-session budget key in a context.
type sessionKey struct{}

// WithSession returns a context whose paid calls count against the
// per-session budget of session (over HTTP: the authenticated principal,
// never an MCP session id, which the newest protocol revision does not have).
// An empty session leaves ctx as it is.
func WithSession(ctx context.Context, session string) context.Context {
	if session == "" {
		return ctx
	}
	return context.WithValue(ctx, sessionKey{}, session)
}

// SessionFrom returns the session WithSession put in ctx, or "".
func SessionFrom(ctx context.Context) string {
	s, _ := ctx.Value(sessionKey{}).(string)
	return s
}

// SessionFor is the per-session budget key of a call made with ctx whose
// Limit names no session: the context's (WithSession), else c.Session.
func (c *Client) SessionFor(ctx context.Context) string {
	if s := SessionFrom(ctx); s != "" {
		return s
	}
	return c.Session
}

// principalKey carries the name of the call's principal in a context.
type principalKey struct{}

// WithPrincipal returns a context whose paid calls the ledger books to the
// principal name, under its own budgets (Budget.Principals). An empty name
// leaves ctx as it is.
func WithPrincipal(ctx context.Context, name string) context.Context {
	if name == "" {
		return ctx
	}
	return context.WithValue(ctx, principalKey{}, name)
}

// PrincipalFrom returns the principal WithPrincipal put in ctx, or "".
func PrincipalFrom(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(string)
	return p
}

// PrincipalFor is the principal of a call made with ctx: the context's
// (WithPrincipal), else c.Principal.
func (c *Client) PrincipalFor(ctx context.Context) string {
	if p := PrincipalFrom(ctx); p != "" {
		return p
	}
	return c.Principal
}
