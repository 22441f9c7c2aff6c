package tools

import (
	"fmt"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments"
)

// partKind says what a piece of a url or header template is.
type partKind uint8

const (
	litPart   partKind = iota // literal text
	envPart                   // ${NAME} or ${NAME:-default}
	paramPart                 // {name}: a path parameter (urls only)
)

// part is one piece of a parsed template.
type part struct {
	kind   partKind
	text   string // literal text, variable name or parameter name
	def    string // the default of ${NAME:-default}
	hasDef bool
}

// parseTemplate splits s into literal text, ${ENV} references and, when
// params is true, {param} path templates. A {param} after a literal '?' or
// '#' is refused: templates fill path segments only. A reference to one of
// x402-mcp's own secrets (payments.SecretEnv) is a *secretRefError.
func parseTemplate(s string, params bool) ([]part, error) {
	var parts []part
	var lit strings.Builder
	inPath := true
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, part{kind: litPart, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%q opens ${ but never closes it: write ${NAME} or ${NAME:-default}", s[i:])
			}
			ref := s[i+2 : i+end]
			name, def, hasDef := strings.Cut(ref, ":-")
			if !validEnvName(name) {
				return nil, fmt.Errorf("${%s} is not a valid variable reference: write ${NAME} or ${NAME:-default}, where NAME is letters, digits and _ and does not start with a digit", ref)
			}
			if what, secret := payments.SecretEnvWhat(name); secret {
				return nil, &secretRefError{ref: "${" + ref + "}", what: what}
			}
			flush()
			parts = append(parts, part{kind: envPart, text: name, def: def, hasDef: hasDef})
			i += end + 1
		case params && s[i] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%q opens { but never closes it: write a path template as {name}", s[i:])
			}
			name := s[i+1 : i+end]
			if !validParamName(name) {
				return nil, fmt.Errorf("{%s} is not a valid path template: write {name}, where name is a parameter name (letters, digits, _, . and -)", name)
			}
			if !inPath {
				return nil, fmt.Errorf("{%s} is in the query string or fragment; templates fill path segments only: declare it as a param with `in: query` instead", name)
			}
			flush()
			parts = append(parts, part{kind: paramPart, text: name})
			i += end + 1
		default:
			if s[i] == '?' || s[i] == '#' {
				inPath = false
			}
			lit.WriteByte(s[i])
			i++
		}
	}
	flush()
	return parts, nil
}

// templateParams lists the {param} names of a parsed template, in order.
func templateParams(parts []part) []string {
	var names []string
	for _, p := range parts {
		if p.kind == paramPart {
			names = append(names, p.text)
		}
	}
	return names
}

// envNames lists the variables a parsed template reads, in order.
func envNames(parts []part) []string {
	var names []string
	for _, p := range parts {
		if p.kind == envPart {
			names = append(names, p.text)
		}
	}
	return names
}

// missingEnvError says which environment variable a template needs. It is a
// configuration problem for the operator, not something the model can fix.
type missingEnvError struct {
	Name  string
	Where string // "url" or "headers.X-Api-Key"
}

func (e *missingEnvError) Error() string {
	return fmt.Sprintf("environment variable %s is not set (the registry uses it in %s and gives no default)", e.Name, e.Where)
}

// expand renders a parsed template. ${NAME} takes getenv(NAME); an empty or
// unset variable takes the default of ${NAME:-default}, and without one is an
// error naming the variable. {param} takes params[name] as it is (the caller
// escapes it).
func expand(parts []part, getenv func(string) string, params map[string]string, where string) (string, error) {
	x, err := expandSpans(parts, getenv, params, where)
	return x.text, err
}

// expansion is a rendered template and where in it each ${ENV} value went.
type expansion struct {
	text  string
	spans []envSpan // in order
}

// envSpan is the value of ${name} at text[start:end].
type envSpan struct {
	name       string
	start, end int
}

// expandSpans is expand, keeping the spans of the ${ENV} values.
func expandSpans(parts []part, getenv func(string) string, params map[string]string, where string) (expansion, error) {
	var b strings.Builder
	var spans []envSpan
	for _, p := range parts {
		switch p.kind {
		case litPart:
			b.WriteString(p.text)
		case envPart:
			v := getenv(p.text)
			if v == "" {
				if !p.hasDef {
					return expansion{}, &missingEnvError{Name: p.text, Where: where}
				}
				v = p.def
			}
			spans = append(spans, envSpan{name: p.text, start: b.Len(), end: b.Len() + len(v)})
			b.WriteString(v)
		case paramPart:
			b.WriteString(params[p.text])
		}
	}
	return expansion{text: b.String(), spans: spans}, nil
}

// probeURL renders a url template for load-time checks: variables take their
// default or a placeholder, path templates a placeholder. It reports whether
// the scheme and host are known (not taken from a variable with no default).
func probeURL(parts []part) (string, bool) {
	var b strings.Builder
	known := true
	for i, p := range parts {
		switch p.kind {
		case litPart:
			b.WriteString(p.text)
		case envPart:
			if p.hasDef {
				b.WriteString(p.def)
				continue
			}
			if i == 0 || !strings.Contains(b.String(), "://") {
				known = false
			}
			b.WriteString("x")
		case paramPart:
			b.WriteString("x")
		}
	}
	return b.String(), known
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
