package tools

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
)

const fullRegistry = `version: 1
defaults:
  networks: [eip155:84532, base]
  max_per_call: "0.10"
  timeout: 45s
  max_result_bytes: 4096
budget:
  total: "2.50"
tools:
  - name: weather
    description: Current weather for a city.
    url: ${X402_SELLER_URL:-http://127.0.0.1:4021}/v2/weather/{city}
    params:
      - name: city
        in: path
        type: string
        description: City name
        required: true
        enum: [paris, tokyo]
        default: paris
      - name: days
        in: query
        type: integer
        default: 3
      - name: X-Trace
        in: header
        type: string
    headers:
      X-Api-Key: ${WEATHER_API_KEY}
    max_price: "0.01"
    pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    network: base-sepolia
    asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    result: current
    timeout: 20s
  - name: summarize
    description: Summarize a text.
    method: post
    url: https://api.example.com/summarize
    input_schema:
      type: object
      properties:
        text: {type: string, description: The text}
        max_words: {type: integer, default: 50}
      required: [text]
    max_price: 0.000001
`

func mustParse(t *testing.T, src string) *Registry {
	t.Helper()
	r, err := Parse("registry.yaml", []byte(src), testFamilies)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r
}

func TestParseFullRegistry(t *testing.T) {
	r := mustParse(t, fullRegistry)

	wantDefaults := Defaults{
		Networks:       []payments.Network{"eip155:84532", "eip155:8453"},
		MaxPerCall:     100_000,
		Timeout:        45 * time.Second,
		MaxResultBytes: 4096,
	}
	if !reflect.DeepEqual(r.Defaults, wantDefaults) {
		t.Errorf("Defaults = %+v, want %+v", r.Defaults, wantDefaults)
	}
	if r.Budget.Total != 2_500_000 {
		t.Errorf("Budget.Total = %d, want 2500000", r.Budget.Total)
	}
	if r.Path != "registry.yaml" {
		t.Errorf("Path = %q", r.Path)
	}
	pol := r.Policy()
	if !reflect.DeepEqual(pol, payments.Policy{Networks: wantDefaults.Networks, PerCall: 100_000, Budget: payments.Budget{Total: 2_500_000}}) {
		t.Errorf("Policy() = %+v", pol)
	}
	if len(r.Tools) != 2 {
		t.Fatalf("got %d tools, want 2", len(r.Tools))
	}

	w, ok := r.Entry("weather")
	if !ok || w != r.Tools[0] {
		t.Fatalf("Entry(weather) = %v, %v", w, ok)
	}
	if w.Method != "GET" || w.MaxPrice != 10_000 || w.Network != "eip155:84532" || w.Timeout != 20*time.Second || w.Result != "current" {
		t.Errorf("weather = method %q price %d network %q timeout %s result %q", w.Method, w.MaxPrice, w.Network, w.Timeout, w.Result)
	}
	if w.PayTo != "0x209693Bc6afc0C5328bA36FaF03C514EF312287C" || w.Asset != "0x036CbD53842c5426634e7929541eC2318f3dCF7e" {
		t.Errorf("pins = %q %q", w.PayTo, w.Asset)
	}
	if w.URL != "${X402_SELLER_URL:-http://127.0.0.1:4021}/v2/weather/{city}" {
		t.Errorf("URL kept as written? %q", w.URL)
	}
	if got := w.Headers["X-Api-Key"]; got != "${WEATHER_API_KEY}" {
		t.Errorf("Headers = %v", w.Headers)
	}
	wantParams := []Param{
		{Name: "city", In: "path", Type: "string", Description: "City name", Required: true, Enum: []any{"paris", "tokyo"}, Default: "paris"},
		{Name: "days", In: "query", Type: "integer", Default: 3},
		{Name: "X-Trace", In: "header", Type: "string"},
	}
	if !reflect.DeepEqual(w.Params, wantParams) {
		t.Errorf("Params =\n%#v\nwant\n%#v", w.Params, wantParams)
	}
	wantLimit := payments.Limit{Tool: "weather", MaxPrice: 10_000, PayTo: w.PayTo, Network: "eip155:84532", Asset: w.Asset, Currency: payments.USDC, CallID: "call_x", Description: "Current weather for a city.",
		WarmKey: "weather GET ${X402_SELLER_URL:-http://127.0.0.1:4021}/v2/weather/{city}"}
	if got := w.Limit("call_x"); got != wantLimit {
		t.Errorf("Limit = %+v, want %+v", got, wantLimit)
	}

	s, _ := r.Entry("summarize")
	if s.Method != "POST" || s.MaxPrice != 1 || s.Params != nil || s.Timeout != 45*time.Second || s.Network != "" {
		t.Errorf("summarize = method %q price %d params %v timeout %s network %q", s.Method, s.MaxPrice, s.Params, s.Timeout, s.Network)
	}
	if got, want := string(s.InputSchema()), `{"type":"object","properties":{"text":{"type":"string","description":"The text"},"max_words":{"type":"integer","default":50}},"required":["text"]}`; got != want {
		t.Errorf("input schema =\n%s\nwant\n%s", got, want)
	}
	if _, ok := r.Entry("nope"); ok {
		t.Error("Entry(nope) found")
	}
}

func TestParseDefaultsAndWalletOnly(t *testing.T) {
	for _, src := range []string{"version: 1\n", "version: 1\ntools: []\n", "version: 1\ndefaults: {}\nbudget: {}\ntools:\n"} {
		r := mustParse(t, src)
		want := Defaults{Networks: DefaultNetworks, MaxPerCall: payments.DefaultPerCall, Timeout: 30 * time.Second, MaxResultBytes: 65536}
		if !reflect.DeepEqual(r.Defaults, want) {
			t.Errorf("%q: Defaults = %+v, want %+v", src, r.Defaults, want)
		}
		if r.Budget.Total != 1_000_000 {
			t.Errorf("%q: Budget.Total = %d, want 1000000", src, r.Budget.Total)
		}
		if len(r.Tools) != 0 {
			t.Errorf("%q: %d tools", src, len(r.Tools))
		}
	}
}

// The YAML is decoded as text: amounts are never floats, even unquoted.
func TestParseExactAmounts(t *testing.T) {
	cases := []struct {
		price, perCall string
		want           payments.Amount
	}{
		{`"0.01"`, `"0.10"`, 10_000},
		{`0.01`, `0.10`, 10_000},
		{`0.1`, `0.1`, 100_000},
		{`0.000001`, `1`, 1},
		{`"0.30"`, `"1"`, 300_000},
		{`1.000001`, `2`, 1_000_001},
		{`.5`, `1`, 500_000},
	}
	for _, c := range cases {
		src := "version: 1\ndefaults:\n  max_per_call: " + c.perCall + "\ntools:\n  - name: t\n    description: d\n    url: https://x.example/a\n    max_price: " + c.price + "\n"
		r := mustParse(t, src)
		if got := r.Tools[0].MaxPrice; got != c.want {
			t.Errorf("max_price %s = %d, want %d", c.price, got, c.want)
		}
	}
}

// tool builds a registry with one tool from its YAML body (indented 4).
func tool(body string) string {
	return "version: 1\ndefaults:\n  networks: [eip155:84532]\n  max_per_call: \"0.10\"\ntools:\n  - " + strings.TrimPrefix(body, "    ")
}

// okTool is valid; params come last so that cases can append params.
const okTool = `    name: weather
    description: Weather.
    url: https://api.example.com/w/{city}
    max_price: "0.01"
    params:
      - {name: city, in: path, required: true}
`

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // every substring must appear in the error
	}{
		// top level
		{"version missing", "tools: []\n", []string{"registry.yaml: version: missing: add `version: 1`"}},
		{"version 2", "version: 2\n", []string{"version: 2 is not supported"}},
		{"networks empty", "version: 1\ndefaults:\n  networks: []\n", []string{"defaults.networks: the list is empty"}},
		{"network bad", "version: 1\ndefaults:\n  networks: [eip155:84532, solana]\n", []string{`defaults.networks[1]: network "solana" is not an EVM network`}},
		{"network twice", "version: 1\ndefaults:\n  networks: [eip155:84532, base-sepolia]\n", []string{"defaults.networks[1]: eip155:84532 is listed twice"}},
		{"per call bad", "version: 1\ndefaults:\n  max_per_call: ten\n", []string{`defaults.max_per_call: "ten" is not a USDC amount`}},
		{"per call zero", "version: 1\ndefaults:\n  max_per_call: \"0\"\n", []string{"defaults.max_per_call: 0 would refuse every payment"}},
		{"default timeout", "version: 1\ndefaults:\n  timeout: 30\n", []string{`defaults.timeout: "30" is not a duration: write a number with a unit, such as 30s`}},
		{"default timeout long", "version: 1\ndefaults:\n  timeout: 11m\n", []string{"defaults.timeout: 11m is out of range: write a positive duration up to 10m0s"}},
		{"result bytes", "version: 1\ndefaults:\n  max_result_bytes: 10\n", []string{"defaults.max_result_bytes: 10 is out of range"}},
		{"budget zero", "version: 1\nbudget:\n  total: \"0\"\n", []string{"budget.total: 0 would refuse every payment: write a positive amount"}},
		{"budget bad", "version: 1\nbudget:\n  total: 1,00\n", []string{`budget.total: "1,00" is not a USDC amount`}},
		{"empty entry", "version: 1\ntools:\n  -\n", []string{"tools[0]: empty entry"}},
		{"per_day bad", "version: 1\nbudget:\n  per_day: lots\n", []string{`budget.per_day: "lots" is not a USDC amount`}},
		{"per_session zero", "version: 1\nbudget:\n  per_session: \"0\"\n", []string{"budget.per_session: 0 would refuse every payment"}},
		{"day rule", "version: 1\nbudget:\n  per_day: \"1\"\n  day: weekly\n", []string{`budget.day: "weekly" is not a day rule`}},
		{"day without per_day", "version: 1\nbudget:\n  day: calendar\n", []string{"budget.day: says how per_day is measured, but per_day is not set"}},
		{"timezone on rolling", "version: 1\nbudget:\n  per_day: \"1\"\n  timezone: UTC\n", []string{"budget.timezone: a time zone only applies to calendar days"}},
		{"bad timezone", "version: 1\nbudget:\n  per_day: \"1\"\n  day: calendar\n  timezone: Mars/Olympus\n", []string{`budget.timezone: "Mars/Olympus" is not a time zone`}},
		{"per_network not allowed", "version: 1\ndefaults:\n  networks: [eip155:84532]\nbudget:\n  per_network:\n    eip155:8453: \"1\"\n", []string{"budget.per_network.eip155:8453: eip155:8453 is not in defaults.networks"}},
		{"per_network bad amount", "version: 1\ndefaults:\n  networks: [eip155:84532]\nbudget:\n  per_network:\n    base-sepolia: x\n", []string{`budget.per_network.base-sepolia: "x" is not a USDC amount`}},
		{"rpc bad network", "version: 1\nrpc:\n  solana: http://x\n", []string{`rpc.solana: network "solana" is not an EVM network`}},
		{"rpc bad url", "version: 1\nrpc:\n  eip155:84532: localhost:8545\n", []string{`rpc.eip155:84532: "localhost:8545" is not a JSON-RPC URL`}},
		{"tool budget", tool(okTool + "    budget: \"0\"\n"), []string{`tools[0] "weather": budget: 0 would refuse every payment`}},
		{"approve_above bad", "version: 1\ndefaults:\n  approve_above: 1e-3\n", []string{`defaults.approve_above: "1e-3" is not a USDC amount`}},
		{"approve_above zero", "version: 1\ndefaults:\n  approve_above: \"0\"\n", []string{"defaults.approve_above: 0 is not a threshold"}},
		{"tool approve_above", tool(okTool + "    approve_above: \"0.0000001\"\n"), []string{`tools[0] "weather": approve_above: "0.0000001" has more than 6 decimals`}},

		// names and basics
		{"bad name", tool(strings.Replace(okTool, "name: weather", "name: Weather", 1)), []string{`tools[0] "Weather": name: "Weather" is not a valid tool name: use 1 to 64 lowercase letters`}},
		{"reserved name", tool(strings.Replace(okTool, "name: weather", "name: x402_wallet", 1)), []string{`tools[0] "x402_wallet": name: names starting with "x402_" are reserved`}},
		{"missing name", tool(strings.Replace(okTool, "name: weather", "name: \"\"", 1)), []string{"tools[0]: name: missing"}},
		{"duplicate name", tool(okTool + "  - " + strings.TrimPrefix(okTool, "    ")), []string{`tools[1] "weather": name: "weather" is already used by tools[0]`}},
		{"missing description", tool(strings.Replace(okTool, "description: Weather.", "description: \"  \"", 1)), []string{`tools[0] "weather": description: missing`}},
		{"bad method", tool(okTool + "    method: FETCH\n"), []string{`tools[0] "weather": method: "FETCH" is not supported: use one of GET, POST, PUT, PATCH, DELETE`}},
		{"missing url", tool(strings.Replace(okTool, "url: https://api.example.com/w/{city}", "url: \"\"", 1)), []string{`tools[0] "weather": url: missing`}},
		{"ftp url", tool(strings.Replace(okTool, "https://api.example.com/w/{city}", "ftp://api.example.com/w/{city}", 1)), []string{`url: "ftp://api.example.com/w/{city}" is not an http or https URL`}},
		{"no host", tool(strings.Replace(okTool, "https://api.example.com/w/{city}", "https:///w/{city}", 1)), []string{"has no host"}},
		{"relative url", tool(strings.Replace(okTool, "https://api.example.com/w/{city}", "/w/{city}", 1)), []string{"is not an http or https URL"}},
		{"credentials", tool(strings.Replace(okTool, "https://api.example.com", "https://bob:pw@api.example.com", 1)), []string{"url: credentials in the URL would be logged"}},
		{"env unclosed", tool(strings.Replace(okTool, "/w/{city}", "/w/{city}${BASE", 1)), []string{"url:", "opens ${ but never closes it"}},
		{"env run-on", tool(strings.Replace(okTool, "https://api.example.com", "${BASE", 1)), []string{"url: ${BASE/w/{city} is not a valid variable reference"}},
		{"env bad name", tool(strings.Replace(okTool, "https://api.example.com", "${1BASE}", 1)), []string{"url: ${1BASE} is not a valid variable reference"}},

		// path templates and params
		{"template without param", tool(strings.Replace(okTool, "      - {name: city, in: path, required: true}\n", "      - {name: units}\n", 1)), []string{`tools[0] "weather": url: {city} names no param`}},
		{"path param not in template", tool(strings.Replace(okTool, "/w/{city}", "/w", 1)), []string{`tools[0] "weather": params[0] "city": in: path param "city" has no {city} in the url`}},
		{"template param in query", tool(strings.Replace(okTool, "in: path, required: true", "in: query", 1)), []string{"url: {city} fills a path segment, but param \"city\" is `in: query`"}},
		{"template in query string", tool(strings.Replace(okTool, "/w/{city}", "/w?c={city}", 1)), []string{"url: {city} is in the query string or fragment; templates fill path segments only"}},
		{"bad in", tool(okTool + "      - {name: sid, in: cookie}\n"), []string{`params[1] "sid": in: "cookie" is not a place in the request: use path, query, header or body`}},
		{"bad type", tool(okTool + "      - {name: n, type: int}\n"), []string{`params[1] "n": type: "int" is not a JSON Schema type: use string, integer, number, boolean, array, object`}},
		{"duplicate param", tool(okTool + "      - {name: city, in: query}\n"), []string{`params[1] "city": name: "city" is already used by params[0]`}},
		{"bad param name", tool(okTool + "      - {name: \"my arg\"}\n"), []string{`params[1] "my arg": name: "my arg" is not a valid argument name`}},
		{"default type", tool(okTool + "      - {name: units, default: 3}\n"), []string{`params[1] "units": default: 3 is not of type string: quote it`}},
		{"default enum", tool(okTool + "      - {name: units, enum: [metric, imperial], default: kelvin}\n"), []string{`params[1] "units": default: "units" must be one of "metric", "imperial", got "kelvin": add it to enum or change the default`}},
		{"enum type", tool(okTool + "      - {name: days, type: integer, enum: [1, x]}\n"), []string{`params[1] "days": enum[1]: "x" is not of type integer`}},
		{"enum empty", tool(okTool + "      - {name: days, enum: []}\n"), []string{`params[1] "days": enum: the list is empty`}},
		{"optional path param", tool(strings.Replace(okTool, "in: path, required: true", "in: path", 1)), []string{`params[0] "city": required: a path param cannot be left out`}},
		{"array path param", tool(strings.Replace(okTool, "in: path, required: true", "in: path, required: true, type: array", 1)), []string{`params[0] "city": type: a path param must be a string, integer, number or boolean, not array`}},
		{"body in GET", tool(okTool + "      - {name: text, in: body}\n"), []string{`params[1] "text": in: GET requests carry no body`}},
		{"object query", tool(okTool + "      - {name: f, in: query, type: object}\n"), []string{`params[1] "f": type: a query param cannot be an object`}},
		{"object header", tool(okTool + "      - {name: X-F, in: header, type: object}\n"), []string{`params[1] "X-F": type: a header param must be a string`}},
		{"reserved header param", tool(okTool + "      - {name: Host, in: header}\n"), []string{`params[1] "Host": name: a header param's name is the header name: Host is set by x402-mcp itself`}},
		{"header param twice", tool(okTool + "      - {name: x-api-key, in: header}\n    headers:\n      X-Api-Key: k\n"), []string{`params[1] "x-api-key": name: header x-api-key is also set in headers.X-Api-Key`}},

		// headers
		{"bad header name", tool(okTool + "    headers:\n      \"X Api\": v\n"), []string{`headers.X Api: "X Api" is not a valid header name`}},
		{"payment header", tool(okTool + "    headers:\n      X-Payment: v\n"), []string{"headers.X-Payment: X-PAYMENT is set by x402-mcp itself and cannot be configured"}},
		{"header newline", tool(okTool + "    headers:\n      X-Key: \"sec\\nret\"\n"), []string{"headers.X-Key: the value contains a line break or NUL: write it on one line"}},
		{"header same name", tool(okTool + "    headers:\n      X-Key: a\n      x-key: b\n"), []string{"headers.x-key: is the same header as X-Key"}},
		{"header bad env", tool(okTool + "    headers:\n      X-Key: ${KEY\n"), []string{"headers.X-Key:", "opens ${ but never closes it"}},

		// price and pins
		{"missing max_price", tool(strings.Replace(okTool, "    max_price: \"0.01\"\n", "", 1)), []string{`tools[0] "weather": max_price: missing`}},
		{"bad max_price", tool(strings.Replace(okTool, `"0.01"`, `"0.1x"`, 1)), []string{`registry.yaml: tools[0] "weather": max_price: "0.1x" is not a USDC amount: use digits and at most one '.', such as 0.05`}},
		{"seven decimals", tool(strings.Replace(okTool, `"0.01"`, `"0.0000001"`, 1)), []string{`max_price: "0.0000001" has more than 6 decimals`}},
		{"exponent", tool(strings.Replace(okTool, `"0.01"`, `1e-6`, 1)), []string{`max_price: "1e-6" is not a USDC amount`}},
		{"zero price", tool(strings.Replace(okTool, `"0.01"`, `"0"`, 1)), []string{"max_price: 0 would refuse every payment"}},
		{"above per call", tool(strings.Replace(okTool, `"0.01"`, `"0.2"`, 1)), []string{`tools[0] "weather": max_price: 0.2 USDC is above defaults.max_per_call (0.1 USDC): lower max_price or raise defaults.max_per_call`}},
		{"bad pay_to", tool(okTool + "    pay_to: \"0x123\"\n"), []string{`tools[0] "weather": pay_to: "0x123" is not an address`}},
		{"bad asset", tool(okTool + "    asset: usdc\n"), []string{`tools[0] "weather": asset: "usdc" is not a token address`}},
		{"network not allowed", tool(okTool + "    network: base\n"), []string{`tools[0] "weather": network: eip155:8453 (Base) is not in defaults.networks (eip155:84532)`}},
		{"network bad", tool(okTool + "    network: eip155:0x2105\n"), []string{`tools[0] "weather": network: network "eip155:0x2105" has no valid chain id`}},
		{"tool timeout", tool(okTool + "    timeout: soon\n"), []string{`tools[0] "weather": timeout: "soon" is not a duration`}},
		{"tool timeout long", tool(okTool + "    timeout: 1h\n"), []string{`timeout: 1h is out of range`}},
		{"result dots", tool(okTool + "    result: a..b\n"), []string{`tools[0] "weather": result: "a..b" is not a valid gjson path: '.' at byte 2 leaves an empty path component`}},
		{"result open", tool(okTool + "    result: \"items.#(name==\\\"x\\\"\"\n"), []string{`result: "items.#(name==\"x\"" is not a valid gjson path: '(' is never closed`}},
		{"result modifier", tool(okTool + "    result: \"@nope\"\n"), []string{"@nope is not a gjson modifier"}},

		// input_schema
		{"both", tool(okTool + "    input_schema: {type: object, properties: {}}\n"), []string{`tools[0] "weather": params and input_schema are both set: use one`}},
		{"schema type", tool(strings.Replace(okTool, "    params:\n      - {name: city, in: path, required: true}\n", "    input_schema: {type: array, properties: {city: {type: string}}, required: [city]}\n", 1)), []string{`input_schema.type: must be "object"`}},
		{"schema anyOf", tool(strings.Replace(okTool, "    params:\n      - {name: city, in: path, required: true}\n", "    input_schema:\n      type: object\n      properties: {city: {type: string}}\n      required: [city]\n      anyOf: [{required: [city]}]\n", 1)), []string{`input_schema.anyOf: top-level anyOf is not accepted by many MCP hosts`}},
		{"schema oneOf", tool(strings.Replace(okTool, "    params:\n      - {name: city, in: path, required: true}\n", "    input_schema: {type: object, properties: {city: {type: string}}, required: [city], oneOf: []}\n", 1)), []string{`input_schema.oneOf: top-level oneOf`}},
		{"schema no properties", tool(strings.Replace(okTool, "    params:\n      - {name: city, in: path, required: true}\n", "    input_schema: {type: object}\n", 1)), []string{"input_schema.properties: missing or not a mapping"}},
		{"schema not mapping", tool(strings.Replace(okTool, "    params:\n      - {name: city, in: path, required: true}\n", "    input_schema: [1]\n", 1)), []string{"input_schema: must be a mapping"}},
		{"schema required unknown", tool(strings.Replace(okTool, "    params:\n      - {name: city, in: path, required: true}\n", "    input_schema: {type: object, properties: {city: {type: string}}, required: [city, zip]}\n", 1)), []string{`input_schema.required[1]: "zip" is not in properties`}},
		{"schema template missing", tool(strings.Replace(okTool, "    params:\n      - {name: city, in: path, required: true}\n", "    input_schema: {type: object, properties: {town: {type: string}}}\n", 1)), []string{`url: {city} names no property of input_schema`}},
		{"schema template optional", tool(strings.Replace(okTool, "    params:\n      - {name: city, in: path, required: true}\n", "    input_schema: {type: object, properties: {city: {type: string}}}\n", 1)), []string{`input_schema.required: "city" fills {city} in the url, so it must be listed in required`}},
		{"schema bad type", tool(strings.Replace(okTool, "    params:\n      - {name: city, in: path, required: true}\n", "    input_schema: {type: object, properties: {city: {type: string}, n: {type: int}}, required: [city]}\n", 1)), []string{`input_schema.properties.n.type: "int" is not a JSON Schema type`}},
		{"schema default", tool(strings.Replace(okTool, "    params:\n      - {name: city, in: path, required: true}\n", "    input_schema: {type: object, properties: {city: {type: string}, n: {type: integer, default: x}}, required: [city]}\n", 1)), []string{`input_schema.properties.n.default: "n" must be an integer, got string "x"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("registry.yaml", []byte(c.src), testFamilies)
			if err == nil {
				t.Fatalf("no error for:\n%s", c.src)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			// Every line names the file.
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "registry.yaml") {
					t.Errorf("line does not start with the file name: %q", line)
				}
			}
		})
	}
}

func TestParseBudgets(t *testing.T) {
	reg := mustParse(t, `version: 1
defaults:
  networks: [eip155:84532, eip155:8453]
budget:
  total: "10"
  per_day: "2.5"
  day: calendar
  timezone: Europe/Paris
  per_session: "1"
  per_tool: "0.5"
  per_host: "3"
  per_network:
    base: "4"
rpc:
  base-sepolia: https://sepolia.base.org
tools:
  - name: weather
    description: Weather.
    url: https://api.example.com/w
    max_price: "0.01"
    budget: "0.2"
`)
	b := reg.Policy().Budget
	if b.Total != 10_000_000 || b.PerDay != 2_500_000 || !b.Day.Calendar || b.Day.Location.String() != "Europe/Paris" ||
		b.PerSession != 1_000_000 || b.PerTool != 500_000 || b.PerHost != 3_000_000 || b.PerNetwork["eip155:8453"] != 4_000_000 {
		t.Fatalf("budget %+v", b)
	}
	if reg.RPC["eip155:84532"] != "https://sepolia.base.org" {
		t.Fatalf("rpc %v", reg.RPC)
	}
	e, _ := reg.Entry("weather")
	if lim := e.Limit("call_x"); lim.ToolBudget != 200_000 {
		t.Fatalf("tool budget %d", lim.ToolBudget)
	}
	rolling := mustParse(t, "version: 1\nbudget:\n  per_day: \"1\"\n").Budget
	if rolling.Day.Calendar || rolling.PerDay != 1_000_000 || rolling.Total != DefaultBudgetTotal {
		t.Fatalf("rolling %+v", rolling)
	}
}

func TestParseHeaderValueNeverQuoted(t *testing.T) {
	_, err := Parse("registry.yaml", []byte(tool(okTool+"    headers:\n      X-Key: \"sup3rs3cret\\r\\nX: y\"\n")), testFamilies)
	if err == nil || strings.Contains(err.Error(), "sup3rs3cret") {
		t.Fatalf("error must exist and not quote the value: %v", err)
	}
}

func TestParseReportsEveryMistake(t *testing.T) {
	src := `version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.05"
tools:
  - name: a
    description: A.
    url: https://x.example/a/{id}
    max_price: "0.1x"
  - name: b
    description: B.
    method: GET
    url: https://x.example/b
    params:
      - {name: q, type: str}
    max_price: "0.06"
  - name: a
    description: again
    url: ftp://x.example
    max_price: "0.01"
    timeout: 0s
`
	_, err := Parse("cat.yaml", []byte(src), testFamilies)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`cat.yaml: tools[0] "a": url: {id} names no param`,
		`cat.yaml: tools[0] "a": max_price: "0.1x" is not a USDC amount`,
		`cat.yaml: tools[1] "b": params[0] "q": type: "str" is not a JSON Schema type`,
		`cat.yaml: tools[1] "b": max_price: 0.06 USDC is above defaults.max_per_call (0.05 USDC)`,
		`cat.yaml: tools[2] "a": url: "ftp://x.example" is not an http or https URL`,
		`cat.yaml: tools[2] "a": timeout: 0s is out of range`,
		`cat.yaml: tools[2] "a": name: "a" is already used by tools[0]`,
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error is not joined: %T", err)
	}
	if got := len(joined.Unwrap()); got != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", got, len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

// A broken max_per_call is reported once, not again as every max_price
// being "above" the fallback cap.
func TestParseNoFollowOnErrors(t *testing.T) {
	src := strings.Replace(tool(okTool), `max_per_call: "0.10"`, `max_per_call: "1,5"`, 1)
	src = strings.Replace(src, `max_price: "0.01"`, `max_price: "0.5"`, 1)
	_, err := Parse("registry.yaml", []byte(src), testFamilies)
	if err == nil || strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), `defaults.max_per_call: "1,5" is not a USDC amount`) {
		t.Errorf("error = %v", err)
	}
}

func TestParseDecodeErrors(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"unknown top key", "version: 1\ntool: []\n", []string{`registry.yaml:2: unknown key "tool" in the top level: check the spelling; allowed keys are version, defaults, budget, rpc, assets, tipping, principals, oauth, tools`}},
		{"unknown tool and param keys", "version: 1\ntools:\n  - name: a\n    descripton: x\n    params:\n      - name: q\n        requird: true\n",
			[]string{`registry.yaml:4: unknown key "descripton" in a tool`, `registry.yaml:7: unknown key "requird" in a param: check the spelling; allowed keys are name, in, type, description, required, enum, default`}},
		{"unknown defaults key", "version: 1\ndefaults:\n  max_price: 1\n", []string{`registry.yaml:3: unknown key "max_price" in defaults`}},
		{"unknown budget key", "version: 1\nbudget:\n  daily: 1\n", []string{`registry.yaml:3: unknown key "daily" in budget: check the spelling; allowed keys are total, per_day, day, timezone, per_session, per_tool, per_host, per_network`}},
		{"wrong type", "version: one\n", []string{"registry.yaml:1: cannot construct !!str `one` into int"}},
		{"tools not a list", "version: 1\ntools:\n  name: a\n", []string{"registry.yaml:3: cannot construct !!map into a list of tools"}},
		{"duplicate key", "version: 1\nversion: 1\n", []string{`registry.yaml:2: mapping key "version" already defined at line 1`}},
		{"syntax", "version: [1\n", []string{"registry.yaml:2: did not find expected"}},
		{"empty", "", []string{"registry.yaml: the file is empty: start it with `version: 1`"}},
		{"not a mapping", "- 1\n", []string{"registry.yaml:1: cannot construct !!seq into the top level"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("registry.yaml", []byte(c.src), testFamilies)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "tools.raw") {
				t.Errorf("error leaks Go type names: %v", err)
			}
		})
	}
}

func TestParseUnsetEnvIsNotALoadError(t *testing.T) {
	r := mustParse(t, tool(`    name: t
    description: d
    url: ${SELLER_URL}/v1/{id}
    params:
      - {name: id, required: true}
    headers:
      Authorization: Bearer ${TOKEN}
    max_price: "0.01"
`))
	if r.Tools[0].Params[0].In != InPath {
		t.Errorf("id should default to in: path, got %q", r.Tools[0].Params[0].In)
	}
}

func TestParseDefaultPlacement(t *testing.T) {
	r := mustParse(t, tool(`    name: t
    description: d
    method: PUT
    url: https://x.example/v1/{id}
    params:
      - {name: id, required: true}
      - {name: text}
    max_price: "0.01"
`))
	got := []string{r.Tools[0].Params[0].In, r.Tools[0].Params[1].In, r.Tools[0].Params[1].Type}
	if want := []string{"path", "body", "string"}; !reflect.DeepEqual(got, want) {
		t.Errorf("placement = %v, want %v", got, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cat.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, testFamilies)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: unknown key \"bogus\"") {
		t.Errorf("Load error = %v", err)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"), testFamilies)
	if err == nil || err.Error() != "registry file not found: "+filepath.Join(dir, "missing.yaml") {
		t.Errorf("missing file error = %v", err)
	}
	if err := os.WriteFile(path, []byte(fullRegistry), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Load(path, testFamilies)
	if err != nil || r.Path != path || len(r.Tools) != 2 {
		t.Errorf("Load = %v, %v", r, err)
	}
	var pe *payments.Error
	if errors.As(err, &pe) {
		t.Error("unexpected payments error")
	}
}

func TestRepoRegistryIsValid(t *testing.T) {
	b, err := os.ReadFile("../registry.yaml")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no registry.yaml at the repository root")
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("registry.yaml", b, testFamilies); err != nil {
		t.Fatalf("the repository's registry.yaml is invalid:\n%v", err)
	}
}

func TestCheckResultPath(t *testing.T) {
	good := []string{"current", "data.items.0.name", "items.#.name", `items.#(name=="x").id`, "a|b", "@reverse", "a.@this", `a\.b`, "{a,b}", "[a,b]", "friends.#(age>40)#.first"}
	for _, p := range good {
		if err := checkResultPath(p); err != nil {
			t.Errorf("checkResultPath(%q) = %v, want nil", p, err)
		}
	}
	bad := []string{".a", "a.", "a..b", "a|", "a)", "(a", "[a", `a\`, "@nope", " a", "a\tb", `a"b`}
	for _, p := range bad {
		if err := checkResultPath(p); err == nil {
			t.Errorf("checkResultPath(%q) = nil, want an error", p)
		}
	}
}

// The example in docs/registry.md must stay valid.
func TestDocExampleIsValid(t *testing.T) {
	b, err := os.ReadFile("../docs/registry.md")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no docs/registry.md")
	}
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	if !ok {
		t.Fatal("no yaml example in docs/registry.md")
	}
	example, _, _ := strings.Cut(rest, "```")
	r, err := Parse("docs/registry.md example", []byte(example), testFamilies)
	if err != nil {
		t.Fatalf("the documented example is invalid:\n%v", err)
	}
	if len(r.Tools) != 2 {
		t.Errorf("example has %d tools", len(r.Tools))
	}
}

func TestApproveAbove(t *testing.T) {
	src := "version: 1\ndefaults:\n  approve_above: \"0.05\"\ntools:\n  -" + strings.TrimPrefix(okTool, "   ") + "  -" + strings.TrimPrefix(strings.Replace(okTool, "name: weather", "name: pricey", 1), "   ") + "    approve_above: \"0.001\"\n"
	r, err := Parse("registry.yaml", []byte(src), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Policy().ApproveAbove; got != 50_000 {
		t.Fatalf("policy threshold %d", got)
	}
	w, _ := r.Entry("weather")
	p, _ := r.Entry("pricey")
	if lw, lp := w.Limit("c"), p.Limit("c"); lw.ApproveAbove != 0 || lp.ApproveAbove != 1000 || lp.Description != p.Description {
		t.Fatalf("limits %+v %+v", lw, lp)
	}
}
