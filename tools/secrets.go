package tools

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v4"
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
