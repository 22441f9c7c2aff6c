package tools

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Gateway is who may call x402-mcp over HTTP: its principals (named
// callers, each with bearer tokens, budgets of its own, a subset of tools
// and an admin flag) and the OAuth authorization server whose access tokens
// it accepts. It comes from the catalog's principals: and oauth: sections,
// or from a file of its own (LoadGateway, serve's --principals FILE).
type Gateway struct {
	// Path names the file in messages.
	Path       string
	Principals []*Principal
	// OAuth is nil when no authorization server is configured.
	OAuth *OAuth
}

// Principal is one named caller of the HTTP transport.
type Principal struct {
	Name string
	// Admin principals see every principal's payments and budgets and may
	// read /metrics.
	Admin bool
	// Tools are the only tools it may list and call; nil means every tool.
	Tools []string
	// Tokens are its bearer tokens, as the file names them: an environment
	// variable that holds one, or a token's SHA-256. A token itself is never
	// in a file.
	Tokens []TokenRef
	// Budget is its own budgets, on top of the gateway's (Setting names
	// where they are configured).
	Budget payments.PrincipalBudget
}

// TokenRef is one bearer token of a principal: ${Env} in the file (the
// token is that variable's value), or sha256:<hex> (SHA256 is its hash).
type TokenRef struct {
	Env    string
	SHA256 [32]byte
}

// OAuth is the authorization server whose access tokens (JWTs) x402-mcp
// accepts, as an OAuth 2.1 resource server.
type OAuth struct {
	// Issuer is the authorization server's issuer identifier (its tokens'
	// iss); its metadata and keys are found from it.
	Issuer string
	// Resource is this server's canonical URI (the MCP endpoint, e.g.
	// https://mcp.example.com/mcp): tokens must name it in aud (RFC 8707),
	// and the protected resource metadata (RFC 9728) says it.
	Resource string
	// Claim is the token claim that names the principal (default "sub").
	Claim string
	// Subjects maps a value of Claim to a principal's name; nil means the
	// claim's value is the principal's name.
	Subjects map[string]string
	// Scopes are the scopes every token must carry (none when empty).
	Scopes []string
	// JWKSURI is where the issuer's keys are; empty means the one its
	// metadata names.
	JWKSURI string
}

// DefaultOAuthClaim is the claim that names a token's principal when
// oauth.claim is unset.
const DefaultOAuthClaim = "sub"

// The raw shapes of the principals: and oauth: sections.
type rawGateway struct {
	Version    *int            `yaml:"version"`
	Principals []*rawPrincipal `yaml:"principals"`
	OAuth      *rawOAuth       `yaml:"oauth"`
}

type rawPrincipal struct {
	Name   string              `yaml:"name"`
	Token  string              `yaml:"token"`
	Tokens []string            `yaml:"tokens"`
	Admin  bool                `yaml:"admin"`
	Tools  []string            `yaml:"tools"`
	Budget *rawPrincipalBudget `yaml:"budget"`
}

type rawPrincipalBudget struct {
	Total   string `yaml:"total"`
	PerDay  string `yaml:"per_day"`
	PerTool string `yaml:"per_tool"`
}

type rawOAuth struct {
	Issuer   string            `yaml:"issuer"`
	Resource string            `yaml:"resource"`
	Claim    string            `yaml:"claim"`
	Subjects map[string]string `yaml:"subjects"`
	Scopes   []string          `yaml:"scopes"`
	JWKSURI  string            `yaml:"jwks_uri"`
}

var (
	principalNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	claimNameRE     = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,128}$`)
	// scopeRE is a scope token (RFC 6749 §3.3): printable ASCII but space,
	// " and \.
	scopeRE = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`)
)

// LoadGateway reads a principals file: principals: and oauth: as the
// catalog writes them (an optional version: 1 aside).
func LoadGateway(path string) (*Gateway, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("principals file not found: %s", path)
	}
	if err != nil {
		return nil, fmt.Errorf("read the principals file: %w", err)
	}
	return ParseGateway(path, b)
}

// ParseGateway decodes and validates a principals file; name is the file
// name used in messages. Every mistake is reported, joined.
func ParseGateway(name string, data []byte) (*Gateway, error) {
	if err := checkAliases(name, data); err != nil {
		return nil, err
	}
	var raw rawGateway
	if err := yaml.Load(data, &raw, yaml.WithKnownFields()); err != nil {
		return nil, decodeError(name, err)
	}
	p := &problems{file: name, data: data}
	if raw.Version != nil && *raw.Version != 1 {
		p.add("version", "%d is not supported: this x402-mcp reads version 1", *raw.Version)
	}
	if len(raw.Principals) == 0 && raw.OAuth == nil {
		p.add("principals", "missing: list the principals (name and tokens) that may call over HTTP (see docs/gateway.md)")
	}
	g := parseGateway(p, raw.Principals, raw.OAuth)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return g, nil
}

// parseGateway reads the principals: and oauth: sections; nil when both
// are absent.
func parseGateway(p *problems, raws []*rawPrincipal, ro *rawOAuth) *Gateway {
	if raws == nil && ro == nil {
		return nil
	}
	g := &Gateway{Path: p.file}
	names := map[string]int{}
	envs := map[string]string{}     // upper-cased variable → principal
	hashes := map[[32]byte]string{} // hash → principal
	for i, rp := range raws {
		where := fmt.Sprintf("principals[%d]", i)
		if rp == nil {
			p.add(where, "empty entry: give at least name and tokens")
			continue
		}
		if rp.Name != "" {
			where += fmt.Sprintf(" (%s)", payments.Sanitize(rp.Name, 80))
		}
		pr := &Principal{Name: rp.Name, Admin: rp.Admin}
		pr.Budget.Setting = p.file + ": " + where
		switch j, dup := names[rp.Name]; {
		case rp.Name == "":
			p.add(where, "name: missing: name the principal (letters, digits, '.', '_' and '-'), e.g. team-a")
		case !principalNameRE.MatchString(rp.Name):
			p.add(where, "name: %q is not a principal name: use up to 64 letters, digits, '.', '_' and '-', starting with a letter or digit", payments.Sanitize(rp.Name, 80))
		case dup:
			p.add(where, "name: %q is already used by principals[%d]: names must be unique", rp.Name, j)
		default:
			names[rp.Name] = i
		}
		tokens := rp.Tokens
		if rp.Token != "" {
			if len(rp.Tokens) > 0 {
				p.add(where, "token and tokens: give one of them (tokens: lists several, e.g. the old and the new while rotating)")
			}
			tokens = append([]string{rp.Token}, tokens...)
		}
		for k, t := range tokens {
			tw := fmt.Sprintf("%s.tokens[%d]", where, k)
			ref, err := parseTokenRef(t)
			if err != nil {
				p.add(tw, "%v", err)
				continue
			}
			if ref.Env != "" {
				key := strings.ToUpper(ref.Env)
				if other, dup := envs[key]; dup {
					p.add(tw, "${%s} is already a token of principal %s: one token names one principal", ref.Env, other)
				}
				envs[key] = rp.Name
			} else {
				if other, dup := hashes[ref.SHA256]; dup {
					p.add(tw, "this hash is already a token of principal %s: one token names one principal", other)
				}
				hashes[ref.SHA256] = rp.Name
			}
			pr.Tokens = append(pr.Tokens, ref)
		}
		if rp.Tools != nil {
			pr.Tools = []string{}
			for k, t := range rp.Tools {
				if !toolNameRE.MatchString(t) {
					p.add(fmt.Sprintf("%s.tools[%d]", where, k), "%q is not a tool name (lower-case letters, digits and _)", payments.Sanitize(t, 80))
					continue
				}
				if !slices.Contains(pr.Tools, t) {
					pr.Tools = append(pr.Tools, t)
				}
			}
			if len(rp.Tools) == 0 {
				p.add(where+".tools", "an empty list would let the principal call no tool: name the tools it may call, or leave tools out for every tool")
			}
		}
		if rb := rp.Budget; rb != nil {
			amount := func(field, v string, dst *payments.Amount) {
				if v == "" {
					return
				}
				switch a, err := payments.ParseAmount(v); {
				case err != nil:
					p.add(where+".budget."+field, "%v", err)
				case a == 0:
					p.add(where+".budget."+field, "0 would refuse every payment: write a positive amount such as 1.00, or leave the key out for no limit")
				default:
					*dst = a
				}
			}
			amount("total", rb.Total, &pr.Budget.Total)
			amount("per_day", rb.PerDay, &pr.Budget.PerDay)
			amount("per_tool", rb.PerTool, &pr.Budget.PerTool)
		}
		g.Principals = append(g.Principals, pr)
	}
	if ro != nil {
		g.OAuth = parseOAuth(p, ro, names)
	}
	for i, pr := range g.Principals {
		if len(pr.Tokens) == 0 && g.OAuth == nil {
			p.add(fmt.Sprintf("principals[%d] (%s)", i, pr.Name), "no tokens: give it tokens (${NAME} of a variable that holds one, or sha256:<hash>), or configure oauth: so that it signs in with an access token")
		}
	}
	return g
}

// parseTokenRef reads one token reference: ${NAME} or sha256:<64 hex>.
func parseTokenRef(s string) (TokenRef, error) {
	const how = "write ${NAME} (the token is in that environment variable) or sha256:<64 hex digits> (its hash: `x402-mcp token hash`); a token itself never goes in a file"
	switch {
	case strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}"):
		name := s[2 : len(s)-1]
		if strings.Contains(name, ":-") {
			return TokenRef{}, fmt.Errorf("%s has a default, which would put a token in the file: %s", s, how)
		}
		if !validEnvName(name) {
			return TokenRef{}, fmt.Errorf("%q is not a variable reference: %s", payments.Sanitize(s, 40), how)
		}
		if what, secret := payments.SecretEnvWhat(name); secret {
			return TokenRef{}, fmt.Errorf("%s is x402-mcp's own secret (%s): give the principal a token in a variable of its own, such as ${TEAM_A_TOKEN}", s, what)
		}
		return TokenRef{Env: name}, nil
	case strings.HasPrefix(strings.ToLower(s), "sha256:"):
		var ref TokenRef
		b, err := hex.DecodeString(s[len("sha256:"):])
		if err != nil || len(b) != sha256.Size {
			return TokenRef{}, fmt.Errorf("sha256:… must be followed by 64 hex digits: %s", how)
		}
		copy(ref.SHA256[:], b)
		return ref, nil
	}
	// Never echo the value: it may be a token written by mistake.
	return TokenRef{}, errors.New("not a token reference: " + how)
}

// parseOAuth reads the oauth: section; names are the principals' names.
func parseOAuth(p *problems, ro *rawOAuth, names map[string]int) *OAuth {
	o := &OAuth{Claim: ro.Claim, Scopes: ro.Scopes}
	n0 := len(p.errs)
	if o.Claim == "" {
		o.Claim = DefaultOAuthClaim
	} else if !claimNameRE.MatchString(o.Claim) {
		p.add("oauth.claim", "%q is not a claim name: write sub (the default) or the name of a claim of the access token", payments.Sanitize(o.Claim, 80))
	}
	var err error
	if o.Issuer, err = checkOAuthURL(ro.Issuer, false); err != nil {
		p.add("oauth.issuer", "%v", err)
	}
	if o.Resource, err = checkOAuthURL(ro.Resource, true); err != nil {
		p.add("oauth.resource", "%v (the resource is this server's MCP endpoint as clients reach it, e.g. https://mcp.example.com/mcp)", err)
	}
	if ro.JWKSURI != "" {
		if o.JWKSURI, err = checkOAuthURL(ro.JWKSURI, false); err != nil {
			p.add("oauth.jwks_uri", "%v", err)
		}
	}
	for i, s := range ro.Scopes {
		if !scopeRE.MatchString(s) {
			p.add(fmt.Sprintf("oauth.scopes[%d]", i), "%q is not a scope (one word of printable characters, no spaces or quotes)", payments.Sanitize(s, 80))
		}
	}
	if ro.Subjects != nil {
		o.Subjects = map[string]string{}
		keys := make([]string, 0, len(ro.Subjects))
		for k := range ro.Subjects {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := ro.Subjects[k]
			if _, ok := names[v]; !ok {
				p.add("oauth.subjects."+payments.Sanitize(k, 80), "%q is not a principal: name one of principals:", payments.Sanitize(v, 80))
				continue
			}
			if k == "" {
				p.add("oauth.subjects", "an empty claim value maps to %s: remove it", v)
				continue
			}
			o.Subjects[k] = v
		}
	}
	if len(names) == 0 {
		p.add("oauth", "no principals to map tokens to: list them under principals: (an OAuth-only principal needs no tokens)")
	}
	if len(p.errs) > n0 {
		return nil
	}
	return o
}

// checkOAuthURL checks an issuer, resource or JWKS URL: absolute, https
// (http only on loopback, for a local authorization server), no user info
// and no fragment; a resource may not have a query either.
func checkOAuthURL(s string, resource bool) (string, error) {
	if s == "" {
		return "", errors.New("missing: write an https URL")
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an absolute URL: write https://…", payments.Sanitize(s, 200))
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
	default:
		return "", fmt.Errorf("%q: use https (http is allowed only on loopback, for a local server)", payments.Sanitize(s, 200))
	}
	if u.User != nil || u.Fragment != "" || u.RawFragment != "" || strings.Contains(s, "#") {
		return "", fmt.Errorf("%q: remove the user info and the fragment", payments.Sanitize(s, 200))
	}
	if resource && (u.RawQuery != "" || u.ForceQuery) {
		return "", fmt.Errorf("%q: a resource has no query", payments.Sanitize(s, 200))
	}
	return s, nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// Env lists the environment variables that hold the principals' tokens.
func (g *Gateway) Env() []string {
	if g == nil {
		return nil
	}
	var out []string
	for _, pr := range g.Principals {
		for _, t := range pr.Tokens {
			if t.Env != "" {
				out = append(out, t.Env)
			}
		}
	}
	return out
}

// Budgets returns the principals' own budgets by name, for
// payments.Budget.Principals; nil when none has any.
func (g *Gateway) Budgets() map[string]payments.PrincipalBudget {
	if g == nil {
		return nil
	}
	var out map[string]payments.PrincipalBudget
	for _, pr := range g.Principals {
		b := pr.Budget
		if b.Total == 0 && b.PerDay == 0 && b.PerTool == 0 {
			continue
		}
		if out == nil {
			out = map[string]payments.PrincipalBudget{}
		}
		out[pr.Name] = b
	}
	return out
}

// Equal says whether g and o configure the same principals and OAuth,
// wherever they are written.
func (g *Gateway) Equal(o *Gateway) bool {
	if g == nil || o == nil {
		return g == o
	}
	a, b := *g, *o
	a.Path, b.Path = "", ""
	strip := func(ps []*Principal) []Principal {
		out := make([]Principal, len(ps))
		for i, p := range ps {
			out[i] = *p
			out[i].Budget.Setting = ""
		}
		return out
	}
	return reflect.DeepEqual(strip(a.Principals), strip(b.Principals)) && reflect.DeepEqual(a.OAuth, b.OAuth)
}

// CheckGateway checks a principals file against the catalog r serves: the
// catalog may not read the principals' token variables (they are
// x402-mcp's own secrets, and a catalog may send what it reads to a
// seller), may not have principals of its own as well, and every tool a
// principal names must be one the catalog can list.
func (r *Registry) CheckGateway(g *Gateway) error {
	if g == nil {
		return nil
	}
	var errs []error
	if r.Gateway != nil && r.Gateway != g {
		errs = append(errs, fmt.Errorf("%s has principals:/oauth: and %s gives them too: keep them in one place", r.Path, g.Path))
	}
	errs = append(errs, r.CheckSecretEnv(g.Env(), g.Path)...)
	for i, pr := range g.Principals {
		for _, t := range pr.Tools {
			if !r.mayList(t) {
				errs = append(errs, fmt.Errorf("%s: principals[%d] (%s).tools: %q is not a tool of %s: name a tools[].name, x402_tip, or a tool of a kind: mcp entry (its prefix, then the remote name)",
					g.Path, i, pr.Name, t, r.Path))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckSecretEnv refuses a catalog that reads any of the variables names
// (the principals' token variables, which where names): in a URL, a
// header, an rpc endpoint or the tipping section.
func (r *Registry) CheckSecretEnv(names []string, where string) []error {
	if len(names) == 0 {
		return nil
	}
	var errs []error
	for _, ref := range r.envRefs() {
		for _, n := range names {
			if strings.EqualFold(ref.name, n) {
				errs = append(errs, fmt.Errorf("%s: %s reads ${%s}, a principal's bearer token (%s): a catalog may not read it (it could send it to a seller); give the endpoint a credential of its own in another variable",
					r.Path, ref.where, ref.name, where))
			}
		}
	}
	return errs
}

type envRef struct{ name, where string }

// envRefs lists every ${ENV} reference of the catalog, with where it is.
func (r *Registry) envRefs() []envRef {
	var out []envRef
	add := func(where string, parts []part) {
		for _, n := range envNames(parts) {
			out = append(out, envRef{n, where})
		}
	}
	for _, e := range r.Tools {
		add(fmt.Sprintf("tools %q url", e.Name), e.urlParts)
		for _, h := range e.headers {
			add(fmt.Sprintf("tools %q headers.%s", e.Name, h.name), h.parts)
		}
	}
	for n, parts := range r.rpcParts {
		add("rpc."+string(n), parts)
	}
	add("tipping.facilitator_url", r.tipURL)
	for _, h := range r.tipHdrs {
		add("tipping.headers."+h.name, h.parts)
	}
	return out
}

// mayList says whether name is a tool the catalog can list: an entry, the
// tip tool, or a tool of a kind: mcp entry (under its prefix).
func (r *Registry) mayList(name string) bool {
	if _, ok := r.byName[name]; ok || name == "x402_tip" {
		return true
	}
	for _, e := range r.Tools {
		if e.Kind == KindMCP && strings.HasPrefix(name, e.Prefix) {
			return true
		}
	}
	return false
}

// HashToken returns the SHA-256 of a bearer token, as principals' tokens
// are compared and as sha256:<hex> writes them.
func HashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// FormatTokenHash writes a token's hash as a principals file takes it.
func FormatTokenHash(h [32]byte) string { return "sha256:" + hex.EncodeToString(h[:]) }
