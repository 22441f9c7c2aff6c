package tools

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"go.yaml.in/yaml/v4"

	"github.com/x402-mcp/x402-mcp/payments"
)

// secretRefError is a ${ENV} reference to one of x402-mcp's own secrets
// (payments.SecretEnv): a catalog may not read them.
type secretRefError struct {
	ref  string // as written: ${NAME} or ${NAME:-default}
	what string // what x402-mcp keeps there
}

func (e *secretRefError) Error() string {
	return fmt.Sprintf("%s is x402-mcp's own secret (%s), which a catalog may not read (a catalog is often written by someone other than the operator): "+
		"remove the reference, and give the endpoint a credential of its own in another variable, such as ${API_KEY}", e.ref, e.what)
}

// template parses a template at where (path locates its value in the
// file) and reports a mistake, naming the line of a secret reference.
func (p *problems) template(where string, path []any, s string, params bool) ([]part, bool) {
	parts, err := parseTemplate(s, params)
	if err == nil {
		return parts, true
	}
	var se *secretRefError
	if errors.As(err, &se) {
		if line := p.line(path); line > 0 {
			p.errs = append(p.errs, fmt.Errorf("%s:%d: %s: %v", p.file, line, where, err))
			return nil, false
		}
	}
	p.add(where, "%v", err)
	return nil, false
}

// line returns the line of the value at path (mapping keys and sequence
// indexes) in the file, or 0 when it cannot be told (an alias's target is
// followed one step; a merged key is not found).
func (p *problems) line(path []any) int {
	if p.data == nil {
		return 0
	}
	if p.root == nil {
		var root yaml.Node
		if err := yaml.Load(p.data, &root); err != nil {
			p.data = nil // the file was read once already: do not try again
			return 0
		}
		p.root = &root
	}
	n := p.root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for _, step := range path {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s >= 0 && s < len(n.Content) {
				next = n.Content[s]
			}
		}
		if next == nil {
			return 0
		}
		n = next
	}
	return n.Line
}

// originEnd is where the origin (scheme://host:port) of a URL ends in s: a
// value expanded before it is shown, one after it is hidden.
func originEnd(s string) int {
	i := strings.Index(s, "://")
	if i < 0 {
		return 0
	}
	j := i + 3
	if k := strings.IndexAny(s[j:], "/?#"); k >= 0 {
		return j + k
	}
	return len(s)
}

// redactedURL adds the secrets of an expanded URL to red and returns the
// URL as shown: every ${ENV} value past the origin written ${NAME}. Values
// in the scheme and host are shown: they say where the money goes.
func redactedURL(x expansion, red *payments.Redaction) string {
	end := originEnd(x.text)
	var b strings.Builder
	pos := 0
	for _, sp := range x.spans {
		// (The text may have been cut since, as a trailing / is.)
		stop := min(sp.end, len(x.text))
		if stop <= end || sp.start < pos {
			continue
		}
		start := max(sp.start, end)
		red.AddSecret(sp.name, x.text[start:stop])
		b.WriteString(x.text[pos:start])
		b.WriteString("${" + sp.name + "}")
		pos = stop
	}
	b.WriteString(x.text[pos:])
	return b.String()
}

// addHeaderSecrets adds every ${ENV} value of an expanded header to red.
func addHeaderSecrets(x expansion, red *payments.Redaction) {
	for _, sp := range x.spans {
		red.AddSecret(sp.name, x.text[sp.start:sp.end])
	}
}

// ExpandURL expands a URL template written outside the catalog (a command
// line's --from) by the catalog's rules: ${NAME} and ${NAME:-default} from
// getenv, never one of x402-mcp's own secrets. It returns the URL and its
// Redaction (the URL as shown, its secrets hidden).
func ExpandURL(s string, getenv func(string) string) (string, *payments.Redaction, error) {
	parts, err := parseTemplate(s, false)
	if err != nil {
		return "", nil, err
	}
	x, err := expandSpans(parts, getenv, nil, "the URL")
	var me *missingEnvError
	if errors.As(err, &me) {
		return "", nil, fmt.Errorf("environment variable %s is not set: set it, or give it a default with ${%s:-default}", me.Name, me.Name)
	}
	if err != nil {
		return "", nil, err
	}
	red := payments.NewRedaction(x.text, "")
	red.URL = redactedURL(x, red)
	return x.text, red, nil
}

// ExpandHeader expands a header line written outside the catalog (a
// command line's --header "Name: value") by the catalog's rules, and adds
// the secrets of its value to red.
func ExpandHeader(line string, getenv func(string) string, red *payments.Redaction) (name, value string, err error) {
	name, v, ok := strings.Cut(line, ":")
	name = strings.TrimSpace(name)
	if !ok || checkHeaderName(name) != "" {
		return "", "", fmt.Errorf("%q is not a header: write \"Name: value\", such as \"Authorization: Bearer ${TOKEN}\"", headerNameOnly(line))
	}
	parts, err := parseTemplate(strings.TrimSpace(v), false)
	if err != nil {
		return "", "", fmt.Errorf("header %s: %w", name, err)
	}
	x, err := expandSpans(parts, getenv, nil, "header "+name)
	var me *missingEnvError
	if errors.As(err, &me) {
		return "", "", fmt.Errorf("header %s: environment variable %s is not set: set it, or give it a default with ${%s:-default}", name, me.Name, me.Name)
	}
	if err != nil {
		return "", "", err
	}
	if strings.ContainsAny(x.text, "\r\n\x00") {
		return "", "", fmt.Errorf("header %s expands to a value with a line break (check %s)", name, envHint(parts))
	}
	addHeaderSecrets(x, red)
	return http.CanonicalHeaderKey(name), x.text, nil
}

// headerNameOnly shows what precedes the value of a header line: the value
// may be a secret.
func headerNameOnly(line string) string {
	if i := strings.IndexByte(line, ':'); i >= 0 {
		return line[:i] + ": …"
	}
	if len(line) > 40 {
		return line[:40] + "…"
	}
	return line
}

// redactResult hides red's secrets in a tool result's text and structured
// content: an upstream may quote the request, or its credentials, in its
// answer.
func redactResult(r *mcp.CallToolResult, red *payments.Redaction) *mcp.CallToolResult {
	if r == nil || red == nil {
		return r
	}
	for i, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			tc.Text = red.Text(tc.Text)
			r.Content[i] = tc
		}
	}
	if raw, ok := r.StructuredContent.(json.RawMessage); ok {
		if s := red.Text(string(raw)); s != string(raw) {
			if json.Valid([]byte(s)) {
				r.StructuredContent = json.RawMessage(s)
			} else {
				// A secret cut across JSON syntax: leave the text alone.
				r.StructuredContent = nil
			}
		}
	}
	return r
}

// expandRPC expands the rpc URL of network n.
func (r *Registry) expandRPC(n payments.Network, getenv func(string) string) (string, error) {
	parts := r.rpcParts[n]
	raw, err := expand(parts, getenv, nil, "rpc."+string(n))
	if err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		// Do not quote the URL: an environment variable may hold a secret.
		return "", fmt.Errorf("rpc.%s does not expand to a JSON-RPC URL (check %s)", n, envHint(parts))
	}
	return raw, nil
}

// RPCURLs returns the rpc: URLs reconciliation reads the chain at, by
// network, their ${ENV} references expanded through getenv (nil: the
// process environment is not read, and a reference with no default is an
// error). The URLs hold secrets: show them only through
// evm.RedactURL.
func (r *Registry) RPCURLs(getenv func(string) string) (map[payments.Network]string, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	out := make(map[payments.Network]string, len(r.RPC))
	var errs []error
	for n := range r.RPC {
		u, err := r.expandRPC(n, getenv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[n] = u
	}
	return out, errors.Join(errs...)
}
