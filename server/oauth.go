package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/x402-mcp/x402-mcp/internal/mustjson"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/httplimit"
	"github.com/x402-mcp/x402-mcp/payments/jsonlimit"
	"github.com/x402-mcp/x402-mcp/tools"
)

// OAuth 2.1, as the MCP authorization specification has a server do it:
// x402-mcp is a resource server. It publishes its Protected Resource
// Metadata (RFC 9728), which names the authorization server; it answers a
// request without a valid token with 401 and a WWW-Authenticate header that
// points at that metadata; and it accepts access tokens that are JWTs
// signed by one of the issuer's keys (its JWKS, fetched and cached by
// go-oidc's RemoteKeySet, fetched again when a token names a key it has not
// seen: key rotation), issued by the issuer, not expired, not before their
// nbf, and whose audience names this resource (RFC 8707). The principal is
// the value of a claim (sub by default), mapped to a principal's name.

// PathProtectedResource is where the Protected Resource Metadata is served
// (and, path-suffixed, at PathProtectedResource + the resource's path).
const PathProtectedResource = "/.well-known/oauth-protected-resource"

// Bounds of the OAuth verifier's requests to the authorization server.
const (
	// DefaultKeysEvery is how often, at most, the issuer's keys are fetched:
	// a token that names a key not in the cached set fetches them again,
	// and a flood of such tokens fetches them at most this often.
	DefaultKeysEvery = time.Second
	// metadataEvery is how soon a failed metadata fetch is tried again.
	metadataEvery  = 5 * time.Second
	oauthTimeout   = 10 * time.Second
	oauthMaxAnswer = 1 << 20
)

// signingAlgs are the JWS algorithms accepted: asymmetric ones only (a
// symmetric key would be a shared secret; "none" is never accepted).
var signingAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

// OAuthOptions configure the OAuth resource server (Auth.OAuth).
type OAuthOptions struct {
	tools.OAuth
	// HTTPClient reaches the authorization server (a client with a 10 s
	// timeout when nil).
	HTTPClient *http.Client
	// KeysEvery bounds how often the issuer's keys are fetched
	// (DefaultKeysEvery when zero).
	KeysEvery time.Duration
}

// oauthVerifier checks access tokens for one authorization server.
type oauthVerifier struct {
	cfg     OAuthOptions
	byName  map[string]*Principal
	log     *slog.Logger
	hc      *http.Client
	metaURL string

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier // nil until discovery succeeded
	lastTry  time.Time
	lastErr  error
}

func newOAuthVerifier(cfg OAuthOptions, byName map[string]*Principal, log *slog.Logger) *oauthVerifier {
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: oauthTimeout, Transport: httplimit.DefaultTransport}
	}
	if cfg.Claim == "" {
		cfg.Claim = tools.DefaultOAuthClaim
	}
	v := &oauthVerifier{cfg: cfg, byName: byName, log: log, hc: hc}
	v.metaURL = metadataURL(cfg.Resource)
	return v
}

// metadataURL is where a client finds the Protected Resource Metadata of
// resource (RFC 9728 §3.1): the well-known path inserted between the host
// and the resource's path.
func metadataURL(resource string) string {
	u, err := url.Parse(resource)
	if err != nil {
		return ""
	}
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	return u.Scheme + "://" + u.Host + PathProtectedResource + p
}

func (v *oauthVerifier) metadataURL() string { return v.metaURL }

// protectedResource is the Protected Resource Metadata document.
type protectedResource struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	ResourceName           string   `json:"resource_name"`
}

// serveMetadata serves the Protected Resource Metadata.
func (v *oauthVerifier) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	b := mustjson.Marshal(protectedResource{Resource: v.cfg.Resource, AuthorizationServers: []string{v.cfg.Issuer},
		BearerMethodsSupported: []string{"header"}, ScopesSupported: v.cfg.Scopes, ResourceName: Name})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(append(b, '\n')) // a client gone away: nothing to be done
}

// resourcePaths are the paths the metadata is served at: the root form and
// the form suffixed with the resource's path.
func (v *oauthVerifier) resourcePaths() []string {
	out := []string{PathProtectedResource}
	if u, err := url.Parse(v.metaURL); err == nil && u.Path != PathProtectedResource {
		out = append(out, u.Path)
	}
	return out
}

// verifierFor returns the token verifier, discovering the issuer's JWKS
// (its metadata, RFC 8414 or OpenID Connect Discovery, unless jwks_uri is
// configured) on first use; a failure is tried again at most every
// metadataEvery.
func (v *oauthVerifier) verifierFor(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.verifier != nil {
		return v.verifier, nil
	}
	if !v.lastTry.IsZero() && time.Since(v.lastTry) < metadataEvery {
		return nil, v.lastErr
	}
	v.lastTry = time.Now()
	jwks := v.cfg.JWKSURI
	if jwks == "" {
		var err error
		if jwks, err = v.discover(ctx); err != nil {
			v.lastErr = err
			v.log.Warn("oauth: the authorization server's metadata", "issuer", v.cfg.Issuer, "err", err)
			return nil, err
		}
	}
	keysEvery := v.cfg.KeysEvery
	if keysEvery <= 0 {
		keysEvery = DefaultKeysEvery
	}
	keyClient := &http.Client{Timeout: v.hc.Timeout, Transport: &keysThrottle{base: v.hc.Transport, every: keysEvery}}
	if keyClient.Timeout == 0 {
		keyClient.Timeout = oauthTimeout
	}
	ks := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), keyClient), jwks)
	v.verifier = oidc.NewVerifier(v.cfg.Issuer, ks, &oidc.Config{ClientID: v.cfg.Resource, SupportedSigningAlgs: signingAlgs})
	v.log.Info("oauth: authorization server found", "issuer", v.cfg.Issuer, "jwks", jwks)
	return v.verifier, nil
}

// discover reads the issuer's metadata and returns its jwks_uri. It tries
// the OAuth location (RFC 8414, the well-known path inserted before the
// issuer's path), then OpenID Connect's (appended to it), and checks that
// the document names this issuer.
func (v *oauthVerifier) discover(ctx context.Context) (string, error) {
	u, err := url.Parse(v.cfg.Issuer)
	if err != nil {
		return "", err
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	base := u.Scheme + "://" + u.Host
	var errs []error
	for _, loc := range []string{base + "/.well-known/oauth-authorization-server" + path, base + path + "/.well-known/openid-configuration"} {
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := v.getJSON(ctx, loc, &meta); err != nil {
			errs = append(errs, err)
			continue
		}
		if meta.Issuer != v.cfg.Issuer {
			return "", fmt.Errorf("%s names issuer %q, not %q: set oauth.issuer to the issuer exactly as it writes it", loc, payments.Sanitize(meta.Issuer, 200), v.cfg.Issuer)
		}
		if meta.JWKSURI == "" {
			return "", fmt.Errorf("%s has no jwks_uri: set oauth.jwks_uri", loc)
		}
		return meta.JWKSURI, nil
	}
	return "", fmt.Errorf("no metadata for issuer %s: %w", v.cfg.Issuer, errors.Join(errs...))
}

// getJSON fetches a JSON document of at most oauthMaxAnswer bytes.
func (v *oauthVerifier) getJSON(ctx context.Context, loc string, dst any) error {
	ctx, cancel := context.WithTimeout(ctx, oauthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := v.hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", loc, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, oauthMaxAnswer+1))
	switch {
	case err != nil:
		return fmt.Errorf("GET %s: %w", loc, err)
	case res.StatusCode != http.StatusOK:
		// By its code: the server's reason phrase may run to megabytes.
		return fmt.Errorf("GET %s: answered %d %s", loc, res.StatusCode, http.StatusText(res.StatusCode))
	case len(b) > oauthMaxAnswer:
		return fmt.Errorf("GET %s: the answer is over %d bytes", loc, oauthMaxAnswer)
	}
	if err := jsonlimit.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("GET %s: %w", loc, err)
	}
	return nil
}

// authenticate checks an access token and returns its principal, or a 401
// (no valid token: the client should get one) or a 403 (a valid token that
// does not grant this: a missing scope, a subject no principal maps).
func (v *oauthVerifier) authenticate(ctx context.Context, tok string) (*Principal, *authError) {
	invalid := func(desc string) *authError {
		return &authError{status: http.StatusUnauthorized, msg: "unauthorized: " + desc,
			challenge: `error="invalid_token", error_description="` + challengeText(desc) + `"`}
	}
	if strings.Count(tok, ".") != 2 {
		return nil, invalid("the bearer token is neither a principal's token nor a JWT access token")
	}
	verifier, err := v.verifierFor(ctx)
	if err != nil {
		return nil, &authError{status: http.StatusServiceUnavailable,
			msg: "the authorization server " + v.cfg.Issuer + " could not be reached to check the access token; try again later"}
	}
	idt, err := verifier.Verify(ctx, tok)
	if err != nil {
		return nil, invalid(v.describe(err, tok))
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, invalid("the access token's claims do not decode")
	}
	if missing := missingScopes(claims, v.cfg.Scopes); len(missing) > 0 {
		return nil, &authError{status: http.StatusForbidden,
			msg:       fmt.Sprintf("forbidden: the access token lacks the scope %s; request a token with scope %q", strings.Join(missing, " "), strings.Join(v.cfg.Scopes, " ")),
			challenge: `error="insufficient_scope", scope="` + challengeText(strings.Join(v.cfg.Scopes, " ")) + `"`}
	}
	value, _ := claims[v.cfg.Claim].(string)
	if value == "" {
		return nil, invalid(fmt.Sprintf("the access token has no %s claim (a string) to name its principal", v.cfg.Claim))
	}
	name := value
	if v.cfg.Subjects != nil {
		name = v.cfg.Subjects[value]
	}
	p := v.byName[name]
	if p == nil {
		how := "map it to a principal under oauth.subjects"
		if v.cfg.Subjects == nil {
			how = "name a principal after it, or map it under oauth.subjects"
		}
		return nil, &authError{status: http.StatusForbidden, msg: fmt.Sprintf("forbidden: the access token's %s %q names no principal of this server: the operator must %s",
			v.cfg.Claim, payments.Sanitize(value, 100), how)}
	}
	return p, nil
}

// describe says why a token was refused, in words a client and its user
// can act on; never the token.
func (v *oauthVerifier) describe(err error, tok string) string {
	var exp *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &exp):
		return "the access token expired at " + exp.Expiry.UTC().Format(time.RFC3339) + ": get a new one"
	case strings.Contains(msg, "expected audience"):
		return "the access token is not for this resource: request it with resource=" + v.cfg.Resource
	case strings.Contains(msg, "different provider"):
		return "the access token was issued by another authorization server: get one from " + v.cfg.Issuer
	case strings.Contains(msg, "malformed jwt"):
		return "the access token is not a JWT signed with an algorithm x402-mcp accepts (RS256/384/512, PS256/384/512, ES256/384/512, EdDSA)"
	case strings.Contains(msg, "nbf"):
		return "the access token is not valid yet (nbf)"
	case strings.Contains(msg, "signature"):
		return "the access token's signature does not verify with the keys of " + v.cfg.Issuer
	}
	return "the access token is not valid: " + payments.Sanitize(strings.ReplaceAll(msg, tok, "[token]"), 200)
}

// missingScopes lists the scopes of want that the token's scope (a
// space-separated string, RFC 9068) or scp (a string or a list) lacks.
func missingScopes(claims map[string]any, want []string) []string {
	var have []string
	for _, k := range []string{"scope", "scp"} {
		switch v := claims[k].(type) {
		case string:
			have = append(have, strings.Fields(v)...)
		case []any:
			for _, s := range v {
				if s, ok := s.(string); ok {
					have = append(have, s)
				}
			}
		}
	}
	var missing []string
	for _, s := range want {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

// challengeText makes s safe inside a quoted WWW-Authenticate parameter.
func challengeText(s string) string {
	return strings.NewReplacer(`"`, "'", `\`, "/", "\r", " ", "\n", " ").Replace(payments.Sanitize(s, 300))
}

// keysThrottle is the transport of the key set's requests: it fetches the
// issuer's keys at most once per every, and answers a request in between
// with the last answer. go-oidc fetches the keys again whenever a token
// fails to verify with the cached ones, so without it every forged token
// would be a request to the issuer.
type keysThrottle struct {
	base  http.RoundTripper
	every time.Duration

	mu     sync.Mutex
	last   time.Time
	status int
	header http.Header
	body   []byte
}

func (t *keysThrottle) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() && time.Since(t.last) < t.every {
		if t.body == nil {
			return nil, fmt.Errorf("the issuer's keys were fetched less than %s ago, and that failed", t.every)
		}
		return t.answer(req), nil
	}
	t.last = time.Now()
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	res, err := base.RoundTrip(req)
	if err != nil {
		t.body = nil
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, oauthMaxAnswer+1))
	if err != nil || len(b) > oauthMaxAnswer || res.StatusCode != http.StatusOK || jsonlimit.Check(b) != nil {
		t.body = nil
		if err == nil {
			err = fmt.Errorf("the issuer's keys: %s, %d bytes", res.Status, len(b))
		}
		return nil, err
	}
	t.status, t.header, t.body = res.StatusCode, res.Header.Clone(), b
	return t.answer(req), nil
}

func (t *keysThrottle) answer(req *http.Request) *http.Response {
	return &http.Response{StatusCode: t.status, Status: http.StatusText(t.status), Header: t.header.Clone(), Request: req,
		Body: io.NopCloser(bytes.NewReader(t.body)), ContentLength: int64(len(t.body)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

// wellKnown serves what OAuth clients look for: the Protected Resource
// Metadata when OAuth is configured, and 404 with an OAuth error naming the
// way forward for everything else they probe (the authorization server's
// metadata, registration, authorization and token endpoints belong to the
// issuer, not to x402-mcp). Without OAuth every such path answers 404 (a
// 401 there once sent OAuth-aware clients into a registration that failed
// with a garbled message).
func wellKnown(v *oauthVerifier, next http.Handler) http.Handler {
	body := noOAuthBody
	var meta []string
	if v != nil {
		meta = v.resourcePaths()
		b := mustjson.Marshal(map[string]string{"error": "not_found", "error_description": "x402-mcp is an OAuth resource server, not an authorization server: " +
			"get an access token from " + v.cfg.Issuer + " (the authorization server named in " + v.metaURL + ")"})
		body = string(b) + "\n"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if v != nil && slices.Contains(meta, p) {
			switch r.Method {
			case http.MethodGet, http.MethodHead:
				allowOrigin(w, r)
				v.serveMetadata(w, r)
				return
			case http.MethodOptions:
				// A browser's preflight (an SDK sends MCP-Protocol-Version).
				allowOrigin(w, r)
				w.Header().Set("Access-Control-Allow-Methods", "GET, OPTIONS")
				w.Header().Set("Access-Control-Allow-Headers", "Mcp-Protocol-Version")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if strings.Contains(p, "/.well-known/") || p == "/register" || p == "/authorize" || p == "/token" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, body) // a client gone away: nothing to be done
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowOrigin lets a browser page read an answer x402-mcp writes itself
// (the metadata, a 401 or 403 with its WWW-Authenticate): when the request
// has an Origin, checkOrigin has already refused any but the allowed ones.
func allowOrigin(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Add("Vary", "Origin")
		w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate")
	}
}
