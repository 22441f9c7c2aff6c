package tools

import (
	"encoding/json"
	"errors"
	"fmt"
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
