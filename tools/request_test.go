package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

const requestRegistry = `version: 1
defaults:
  networks: [eip155:84532]
tools:
  - name: weather
    description: Weather.
    url: ${BASE:-http://seller.test}/v2/weather/{city}?v=2
    max_price: "0.01"
    params:
      - {name: city, required: true}
      - {name: days, type: integer, default: 3}
      - {name: units, enum: [metric, imperial]}
      - {name: tags, type: array, enum: [wind, rain, sun]}
      - {name: X-Trace, in: header}
      - {name: exact, in: query, type: boolean}
      - {name: ratio, in: query, type: number}
    headers:
      X-Api-Key: ${API_KEY}
      X-Static: fixed
  - name: summarize
    description: Summarize.
    method: POST
    url: https://seller.test/v2/summarize/{lang}
    max_price: "0.01"
    params:
      - {name: lang, type: string, enum: [en, fr], default: en}
      - {name: text, required: true}
      - {name: opts, type: object}
      - {name: n, type: integer}
  - name: ping
    description: Ping with a body but no arguments.
    method: POST
    url: https://seller.test/ping
    max_price: "0.01"
    params:
      - {name: note, in: body}
  - name: search
    description: Search (input_schema, GET).
    url: https://seller.test/search/{index}
    max_price: "0.01"
    input_schema:
      type: object
      properties:
        index: {type: string}
        q: {type: string}
        limit: {type: integer, default: 10}
        filter: {type: object}
      required: [index, q]
  - name: create
    description: Create (input_schema, POST, open).
    method: POST
    url: https://seller.test/items/{kind}
    max_price: "0.01"
    headers:
      Content-Type: application/vnd.api+json
    input_schema:
      type: object
      additionalProperties: true
      properties:
        kind: {type: string, enum: [a, b]}
        name: {type: string}
      required: [kind]
  - name: keyed
    description: A key in the URL.
    url: ${BASE}/k?key=${KEY:-none}
    max_price: "0.01"
    params: []
`

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func entry(t *testing.T, src, name string) *Entry {
	t.Helper()
	e, ok := mustParse(t, src).Entry(name)
	if !ok {
		t.Fatalf("no tool %q", name)
	}
	return e
}

func readBody(t *testing.T, r *http.Request) string {
	t.Helper()
	if r.Body == nil {
		return ""
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewRequest(t *testing.T) {
	getenv := env(map[string]string{"API_KEY": "k-123"})
	cases := []struct {
		name, tool string
		args       map[string]any
		getenv     func(string) string
		method     string
		url        string
		body       string
		headers    map[string]string // "" means must be absent
	}{
		{
			name: "path escaping, defaults, repeated array, existing query kept",
			tool: "weather", args: map[string]any{"city": "São Paulo/Centro", "tags": []any{"wind", "rain"}, "X-Trace": "t1"},
			method: "GET", url: "http://seller.test/v2/weather/S%C3%A3o%20Paulo%2FCentro?v=2&days=3&tags=wind&tags=rain",
			headers: map[string]string{"X-Api-Key": "k-123", "X-Static": "fixed", "X-Trace": "t1", "Content-Type": "", "Accept": "application/json, text/*;q=0.9, */*;q=0.8", "User-Agent": "x402-mcp"},
		},
		{
			name: "query escaping, numbers and booleans formatted plainly",
			tool: "weather", args: map[string]any{"city": "a b", "days": float64(7), "units": "metric", "exact": true, "ratio": 0.25},
			method: "GET", url: "http://seller.test/v2/weather/a%20b?v=2&days=7&units=metric&exact=true&ratio=0.25",
		},
		{
			name: "query injection is escaped",
			tool: "weather", args: map[string]any{"city": "x?y=1&z#f"},
			method: "GET", url: "http://seller.test/v2/weather/x%3Fy=1&z%23f?v=2&days=3",
		},
		{
			name: "env default replaced by the variable",
			tool: "weather", args: map[string]any{"city": "paris"}, getenv: env(map[string]string{"BASE": "https://real.example:8443/api", "API_KEY": "k"}),
			method: "GET", url: "https://real.example:8443/api/v2/weather/paris?v=2&days=3",
		},
		{
			name: "json body, path default",
			tool: "summarize", args: map[string]any{"text": "<b>Hello</b> & bye", "opts": map[string]any{"style": "short"}, "n": float64(2)},
			method: "POST", url: "https://seller.test/v2/summarize/en",
			body:    `{"n":2,"opts":{"style":"short"},"text":"<b>Hello</b> & bye"}`,
			headers: map[string]string{"Content-Type": "application/json"},
		},
		{
			name: "body entry with no arguments sends an empty object",
			tool: "ping", args: nil, method: "POST", url: "https://seller.test/ping", body: `{}`,
		},
		{
			name: "null arguments are left out",
			tool: "summarize", args: map[string]any{"text": "t", "n": nil, "opts": nil},
			method: "POST", url: "https://seller.test/v2/summarize/en", body: `{"text":"t"}`,
		},
		{
			name: "input_schema GET: path, then query; objects as JSON",
			tool: "search", args: map[string]any{"index": "books", "q": "go lang", "filter": map[string]any{"y": float64(2024)}},
			method: "GET", url: "https://seller.test/search/books?q=go+lang&limit=10&filter=%7B%22y%22%3A2024%7D",
		},
		{
			name: "input_schema POST: path, then body, extra arguments allowed; registry Content-Type kept",
			tool: "create", args: map[string]any{"kind": "a", "name": "n1", "color": "red"},
			method: "POST", url: "https://seller.test/items/a", body: `{"color":"red","name":"n1"}`,
			headers: map[string]string{"Content-Type": "application/vnd.api+json"},
		},
		{
			name: "variable default in the query",
			tool: "keyed", getenv: env(map[string]string{"BASE": "http://h.test"}),
			method: "GET", url: "http://h.test/k?key=none",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := entry(t, requestRegistry, c.tool)
			g := c.getenv
			if g == nil {
				g = getenv
			}
			req, err := e.NewRequest(context.Background(), c.args, g)
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			if req.Method != c.method {
				t.Errorf("method = %s, want %s", req.Method, c.method)
			}
			if got := req.URL.String(); got != c.url {
				t.Errorf("url =\n%s\nwant\n%s", got, c.url)
			}
			if c.body != "" {
				if req.GetBody == nil {
					t.Fatal("GetBody is nil: the body cannot be replayed")
				}
				if got := readBody(t, req); got != c.body {
					t.Errorf("body = %s, want %s", got, c.body)
				}
				again, _ := req.GetBody()
				b, _ := io.ReadAll(again)
				if string(b) != c.body {
					t.Errorf("replayed body = %s", b)
				}
				if req.ContentLength != int64(len(c.body)) {
					t.Errorf("ContentLength = %d, want %d", req.ContentLength, len(c.body))
				}
			} else if req.Body != nil && req.Body != http.NoBody {
				t.Errorf("unexpected body %q", readBody(t, req))
			}
			for k, want := range c.headers {
				if got := req.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// manyArgs is n arguments no entry declares: a00, a01, ….
func manyArgs(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprintf("a%02d", i)] = i
	}
	return m
}

// TestNewRequestArgumentErrors: each message in whole. Unknown arguments
// are named up to eight, each by at most 40 bytes, and the rest counted:
// a call with thousands of them, or one with a name of megabytes, got an
// error quoting them all.
func TestNewRequestArgumentErrors(t *testing.T) {
	getenv := env(map[string]string{"API_KEY": "k"})
	cases := []struct {
		name, tool string
		args       map[string]any
		want       string // the whole message
	}{
		{"unknown argument", "weather", map[string]any{"city": "x", "citty": "y", "zz": 1},
			`invalid arguments: unknown argument "citty", "zz"; valid arguments: city, days, units, tags, X-Trace, exact, ratio`},
		{"missing required", "weather", map[string]any{},
			`invalid arguments: "city" is required (a string)`},
		{"missing required with enum", "create", map[string]any{"name": "x"},
			`invalid arguments: "kind" is required (a string: one of "a", "b")`},
		{"integer as string", "weather", map[string]any{"city": "x", "days": "3"},
			`invalid arguments: "days" must be an integer, got string "3"`},
		{"integer with fraction", "weather", map[string]any{"city": "x", "days": 2.5},
			`invalid arguments: "days" must be an integer, got number 2.5`},
		{"enum", "weather", map[string]any{"city": "x", "units": "kelvin"},
			`invalid arguments: "units" must be one of "metric", "imperial", got "kelvin"`},
		{"array item enum", "weather", map[string]any{"city": "x", "tags": []any{"wind", "snow"}},
			`invalid arguments: "tags"[1] must be one of "wind", "rain", "sun", got "snow"`},
		{"array wanted", "weather", map[string]any{"city": "x", "tags": "wind"},
			`invalid arguments: "tags" must be an array, got string "wind"`},
		{"object wanted", "summarize", map[string]any{"text": "x", "opts": []any{1}},
			`invalid arguments: "opts" must be an object, got array [1]`},
		{"boolean wanted", "weather", map[string]any{"city": "x", "exact": "yes"},
			`invalid arguments: "exact" must be a boolean, got string "yes"`},
		{"several at once", "summarize", map[string]any{"lang": "de", "n": "two"},
			`invalid arguments: "lang" must be one of "en", "fr", got "de"; "text" is required (a string); "n" must be an integer, got string "two"`},
		{"empty path segment", "weather", map[string]any{"city": ""},
			`invalid arguments: "city" must not be empty: it fills a path segment of the URL`},
		{"dot-dot path segment", "weather", map[string]any{"city": ".."},
			`invalid arguments: "city" cannot be "..": it fills a path segment of the URL`},
		{"header with a line break", "weather", map[string]any{"city": "x", "X-Trace": "a\r\nX-Evil: 1"},
			`invalid arguments: "X-Trace" must not contain line breaks: it is sent as a header`},
		{"many unknown arguments", "weather", manyArgs(20),
			`invalid arguments: unknown argument "a00", "a01", "a02", "a03", "a04", "a05", "a06", "a07" and 12 more; valid arguments: city, days, units, tags, X-Trace, exact, ratio; "city" is required (a string)`},
		{"a long unknown argument", "weather", map[string]any{"city": "x", strings.Repeat("é", 5000): 1},
			`invalid arguments: unknown argument "` + strings.Repeat("é", 20) + `…"; valid arguments: city, days, units, tags, X-Trace, exact, ratio`},
		{"no arguments declared", "keyed", map[string]any{"x": 1},
			`invalid arguments: unknown argument "x"; valid arguments: none (call it with no arguments)`},
		{"input_schema closed", "search", map[string]any{"index": "b", "q": "x", "page": 2},
			`invalid arguments: unknown argument "page"; valid arguments: index, q, limit, filter`},
		{"input_schema type", "search", map[string]any{"index": "b", "q": "x", "limit": "ten"},
			`invalid arguments: "limit" must be an integer, got string "ten"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := entry(t, requestRegistry, c.tool)
			_, err := e.NewRequest(context.Background(), c.args, getenv)
			ae, ok := AsArgumentError(err)
			if !ok {
				t.Fatalf("error = %v (%T), want *ArgumentError", err, err)
			}
			if ae.Error() != c.want {
				t.Errorf("error =\n%s\nwant\n%s", ae.Error(), c.want)
			}
			if ae.Tool != c.tool {
				t.Errorf("Tool = %q", ae.Tool)
			}
		})
	}
}

func TestNewRequestConfigErrors(t *testing.T) {
	const secret = "s3cr3t-value"
	cases := []struct {
		name, tool string
		env        map[string]string
		want       []string
	}{
		{"header variable unset", "weather", map[string]string{}, []string{
			"tool weather is not configured correctly: environment variable API_KEY is not set (the registry uses it in headers.X-Api-Key and gives no default)",
			"The operator must set it"}},
		{"url variable unset", "keyed", map[string]string{"KEY": secret}, []string{
			"environment variable BASE is not set (the registry uses it in url and gives no default)"}},
		{"url variable not a URL", "keyed", map[string]string{"BASE": "ftp://" + secret, "KEY": secret}, []string{
			"its url does not expand to a valid http or https URL (check environment variable BASE, KEY)"}},
		{"header variable with a line break", "weather", map[string]string{"API_KEY": secret + "\r\nX-Evil: 1"}, []string{
			"header X-Api-Key expands to a value with a line break (check environment variable API_KEY)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := entry(t, requestRegistry, c.tool)
			args := map[string]any{}
			if c.tool == "weather" {
				args["city"] = "x"
			}
			_, err := e.NewRequest(context.Background(), args, env(c.env))
			var ce *ConfigError
			if !asConfig(err, &ce) {
				t.Fatalf("error = %v (%T), want *ConfigError", err, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows a secret: %v", err)
			}
			res := ErrorResult(err)
			if !res.IsError || strings.Contains(resultText(res), secret) || !strings.HasPrefix(resultText(res), "Configuration error (not charged): ") {
				t.Errorf("ErrorResult = %q", resultText(res))
			}
		})
	}
}

func asConfig(err error, ce **ConfigError) bool {
	c, ok := err.(*ConfigError)
	*ce = c
	return ok
}

func TestNewRequestUsesProcessEnvWhenGetenvIsNil(t *testing.T) {
	t.Setenv("API_KEY", "from-process")
	e := entry(t, requestRegistry, "weather")
	req, err := e.NewRequest(context.Background(), map[string]any{"city": "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("X-Api-Key"); got != "from-process" {
		t.Errorf("X-Api-Key = %q", got)
	}
}

// Arguments from an in-process caller may be Go ints or json.Number; they
// are checked and sent the same as decoded JSON.
func TestNewRequestGoValues(t *testing.T) {
	e := entry(t, requestRegistry, "summarize")
	req, err := e.NewRequest(context.Background(), map[string]any{"text": "t", "n": 5, "opts": map[string]string{"a": "b"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(readBody(t, req)), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"text": "t", "n": float64(5), "opts": map[string]any{"a": "b"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
	if _, err := e.NewRequest(context.Background(), map[string]any{"text": "t", "n": json.Number("5.5")}, nil); err == nil {
		t.Error("5.5 accepted as an integer")
	}
}

func TestParseTemplate(t *testing.T) {
	parts, err := parseTemplate("${A}/x/{id}${B:-d:-e}/y", true)
	if err != nil {
		t.Fatal(err)
	}
	want := []part{{kind: envPart, text: "A"}, {kind: litPart, text: "/x/"}, {kind: paramPart, text: "id"}, {kind: envPart, text: "B", def: "d:-e", hasDef: true}, {kind: litPart, text: "/y"}}
	if !reflect.DeepEqual(parts, want) {
		t.Errorf("parts = %+v", parts)
	}
	// In headers, braces are literal.
	parts, err = parseTemplate(`{"a":1} ${T}`, false)
	if err != nil || len(parts) != 2 || parts[0].text != `{"a":1} ` {
		t.Errorf("header parts = %+v, %v", parts, err)
	}
	got, err := expand(parts, env(map[string]string{"T": "v"}), nil, "h")
	if err != nil || got != `{"a":1} v` {
		t.Errorf("expand = %q, %v", got, err)
	}
	for _, bad := range []string{"${}", "${A-B}", "${A", "x/{id", "x/{a b}", "x?q={id}"} {
		if _, err := parseTemplate(bad, true); err == nil {
			t.Errorf("parseTemplate(%q) accepted", bad)
		}
	}
}
