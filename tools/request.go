package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments"
)

// ArgumentError is a mistake in a tool call's arguments. The model can fix
// it; nothing was sent and nothing was charged.
type ArgumentError struct {
	Tool     string
	Problems []string
}

func (e *ArgumentError) Error() string {
	return "invalid arguments: " + strings.Join(e.Problems, "; ")
}

// ConfigError is a problem with the operator's setup found at call time, such
// as an environment variable the registry needs and nobody set. The model
// cannot fix it; nothing was sent and nothing was charged. Its message never
// contains an expanded value.
type ConfigError struct {
	Tool string
	Msg  string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("tool %s is not configured correctly: %s", e.Tool, e.Msg)
}

// InputSchema returns the JSON Schema of the tool's arguments.
func (e *Entry) InputSchema() json.RawMessage { return e.schema }

// ArgumentNames lists the arguments the tool declares, in schema order.
func (e *Entry) ArgumentNames() []string {
	names := make([]string, len(e.fields))
	for i, f := range e.fields {
		names[i] = f.name
	}
	return names
}

// NewRequest validates args and builds the upstream request: path templates
// (escaped), query string, headers (with ${ENV} expanded through getenv) and
// a JSON body that can be replayed (GetBody is set). A nil getenv reads the
// process environment.
//
// It fails with *ArgumentError when the arguments are wrong (unknown names,
// missing required ones, wrong types, values outside enum) and with
// *ConfigError when the registry needs an environment variable that is not
// set or its url does not expand to an http(s) URL.
func (e *Entry) NewRequest(ctx context.Context, args map[string]any, getenv func(string) string) (*http.Request, error) {
	req, _, err := e.NewRedactedRequest(ctx, args, getenv)
	return req, err
}

// NewRedactedRequest is NewRequest, with the request's Redaction: its URL as
// shown (each ${ENV} value in the path and query written ${NAME}) and the
// values of its ${ENV} references to hide wherever it is shown, logged,
// stored or signed (payments.Limit.Redaction).
func (e *Entry) NewRedactedRequest(ctx context.Context, args map[string]any, getenv func(string) string) (*http.Request, *payments.Redaction, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	vals, err := e.bind(args)
	if err != nil {
		return nil, nil, err
	}

	pathVals := map[string]string{}
	var query []string
	body := map[string]any{}
	hdr := http.Header{}
	var problems []string
	place := func(name, in string, v any) {
		switch in {
		case InPath:
			s := scalarString(v)
			switch s {
			case "":
				problems = append(problems, fmt.Sprintf("%q must not be empty: it fills a path segment of the URL", name))
			case ".", "..":
				problems = append(problems, fmt.Sprintf("%q cannot be %q: it fills a path segment of the URL", name, s))
			}
			pathVals[name] = url.PathEscape(s)
		case InQuery:
			if arr, ok := v.([]any); ok {
				for _, it := range arr {
					query = append(query, url.QueryEscape(name)+"="+url.QueryEscape(scalarString(it)))
				}
				return
			}
			query = append(query, url.QueryEscape(name)+"="+url.QueryEscape(scalarString(v)))
		case InHeader:
			s := scalarString(v)
			if strings.ContainsAny(s, "\r\n\x00") {
				problems = append(problems, fmt.Sprintf("%q must not contain line breaks: it is sent as a header", name))
				return
			}
			hdr.Set(name, s)
		case InBody:
			body[name] = v
		}
	}
	for _, f := range e.fields {
		if v, ok := vals[f.name]; ok {
			place(f.name, f.in, v)
		}
	}
	// Undeclared arguments, when input_schema allows them, in name order.
	var extra []string
	for name := range vals {
		if !slices.ContainsFunc(e.fields, func(f field) bool { return f.name == name }) {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		place(name, e.extraIn, vals[name])
	}
	if len(problems) > 0 {
		return nil, nil, &ArgumentError{Tool: e.Name, Problems: problems}
	}

	x, err := expandSpans(e.urlParts, getenv, pathVals, "url")
	if err != nil {
		return nil, nil, &ConfigError{Tool: e.Name, Msg: err.Error() + ". The operator must set it and restart x402-mcp. Nothing was sent or charged."}
	}
	u, err := url.Parse(x.text)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Do not quote the URL: an environment variable may hold a secret.
		return nil, nil, &ConfigError{Tool: e.Name, Msg: fmt.Sprintf("its url does not expand to a valid http or https URL (check %s). Nothing was sent or charged.", envHint(e.urlParts))}
	}
	if u.User != nil {
		return nil, nil, &ConfigError{Tool: e.Name, Msg: fmt.Sprintf("its url expands to a URL with user:password@ (check %s): credentials in a URL are shown and logged; send them in headers. Nothing was sent or charged.", envHint(e.urlParts))}
	}
	// The request as shown: the URL with its ${ENV} values as ${NAME}, and
	// the same query.
	red := payments.NewRedaction("", "")
	shown := redactedURL(x, red)
	if len(query) > 0 {
		sep := "?"
		switch {
		case strings.HasSuffix(shown, "?") || strings.HasSuffix(shown, "&"):
			sep = ""
		case strings.Contains(shown, "?"):
			sep = "&"
		}
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += strings.Join(query, "&")
		shown += sep + strings.Join(query, "&")
	}

	var bodyBytes []byte
	if e.hasBody || len(body) > 0 {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(body); err != nil {
			return nil, nil, &ArgumentError{Tool: e.Name, Problems: []string{"the body arguments are not JSON values"}}
		}
		bodyBytes = bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	}
	var req *http.Request
	if bodyBytes != nil {
		req, err = http.NewRequestWithContext(ctx, e.Method, u.String(), bytes.NewReader(bodyBytes))
	} else {
		req, err = http.NewRequestWithContext(ctx, e.Method, u.String(), nil)
	}
	if err != nil {
		return nil, nil, &ConfigError{Tool: e.Name, Msg: "the request cannot be built from its url and method. Nothing was sent or charged."}
	}

	for _, h := range e.headers {
		hx, err := expandSpans(h.parts, getenv, nil, "headers."+h.name)
		if err != nil {
			return nil, nil, &ConfigError{Tool: e.Name, Msg: err.Error() + ". The operator must set it and restart x402-mcp. Nothing was sent or charged."}
		}
		if strings.ContainsAny(hx.text, "\r\n\x00") {
			return nil, nil, &ConfigError{Tool: e.Name, Msg: fmt.Sprintf("header %s expands to a value with a line break (check %s). Nothing was sent or charged.", h.name, envHint(h.parts))}
		}
		req.Header.Set(h.name, hx.text)
		addHeaderSecrets(hx, red)
	}
	red.SetURL(req.URL.String(), shown)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if bodyBytes != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json, text/*;q=0.9, */*;q=0.8")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "x402-mcp")
	}
	return req, red, nil
}

func envHint(parts []part) string {
	names := envNames(parts)
	if len(names) == 0 {
		return "the registry"
	}
	return "environment variable " + strings.Join(names, ", ")
}

// bind checks args against the entry's fields and applies defaults. It
// returns the canonical values to send, keyed by argument name.
// UnknownArguments names the unknown arguments of a call for its error:
// the first eight, quoted, each cut to 40 bytes, and a count of the rest
// (`"a", "b" and 3 more`). A caller may send thousands of arguments, or a
// name of megabytes, and the error goes back to it whole.
func UnknownArguments(names []string) string {
	const maxNamed, maxName = 8, 40
	q := make([]string, 0, min(len(names), maxNamed))
	for _, n := range names[:min(len(names), maxNamed)] {
		if len(n) > maxName {
			n = truncateUTF8(n, maxName) + "…"
		}
		q = append(q, fmt.Sprintf("%q", n))
	}
	list := strings.Join(q, ", ")
	if n := len(names) - maxNamed; n > 0 {
		list += fmt.Sprintf(" and %d more", n)
	}
	return list
}

func (e *Entry) bind(args map[string]any) (map[string]any, error) {
	var canon map[string]any
	if len(args) > 0 {
		c, err := canonical(args)
		if err != nil {
			return nil, &ArgumentError{Tool: e.Name, Problems: []string{"arguments are not JSON values"}}
		}
		canon = c.(map[string]any)
	}
	var problems []string
	var unknown []string
	for name, v := range canon {
		if v == nil {
			// A null argument means "not given".
			delete(canon, name)
			continue
		}
		if e.extraIn == "" && !slices.ContainsFunc(e.fields, func(f field) bool { return f.name == name }) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		valid := "none (call it with no arguments)"
		if names := e.ArgumentNames(); len(names) > 0 {
			valid = strings.Join(names, ", ")
		}
		problems = append(problems, fmt.Sprintf("unknown argument %s; valid arguments: %s", UnknownArguments(unknown), valid))
	}
	out := make(map[string]any, len(e.fields))
	for i := range e.fields {
		f := &e.fields[i]
		v, ok := canon[f.name]
		if !ok {
			switch {
			case f.hasDef:
				out[f.name] = f.def
			case f.required && f.amount:
				_, msg := ParseAmountArg(f.cur, f.name, nil)
				problems = append(problems, msg)
			case f.required:
				problems = append(problems, fmt.Sprintf("%q is required%s", f.name, typeSuffix(f)))
			}
			continue
		}
		if f.amount {
			// The canonical decimal goes upstream ("0.250", ".25" → "0.25"),
			// so the seller reads the amount the payment will be held to.
			a, msg := f.checkAmount(v)
			if msg != "" {
				problems = append(problems, msg)
				continue
			}
			out[f.name] = f.cur.Decimal(a)
			continue
		}
		if msg := f.check(v); msg != "" {
			problems = append(problems, msg)
			continue
		}
		out[f.name] = v
	}
	if e.extraIn != "" {
		for name, v := range canon {
			if _, declared := out[name]; !declared && !slices.ContainsFunc(e.fields, func(f field) bool { return f.name == name }) {
				out[name] = v
			}
		}
	}
	if len(problems) > 0 {
		return nil, &ArgumentError{Tool: e.Name, Problems: problems}
	}
	return out, nil
}

func typeSuffix(f *field) string {
	if len(f.types) == 0 {
		return ""
	}
	s := " (" + withArticle(joinTypes(f.types))
	if len(f.enum) > 0 {
		s += ": one of " + enumList(f.enum)
	}
	return s + ")"
}

// AsArgumentError returns the *ArgumentError inside err, if any.
func AsArgumentError(err error) (*ArgumentError, bool) {
	var ae *ArgumentError
	ok := errors.As(err, &ae)
	return ae, ok
}
