package discover

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/tools"
)

// Draft is a proposed registry entry, in the order registry.yaml lists keys.
type Draft struct {
	Name        string          `yaml:"name"`
	Description string          `yaml:"description"`
	Method      string          `yaml:"method"`
	URL         string          `yaml:"url"`
	Params      []Param         `yaml:"params,omitempty"`
	MaxPrice    payments.Amount `yaml:"max_price"`
	PayTo       string          `yaml:"pay_to"`
	Network     string          `yaml:"network"`
	Asset       string          `yaml:"asset"`
	// Enabled is nil for a probed entry (enabled) and false for a draft.
	Enabled *bool `yaml:"enabled,omitempty"`
}

// Param is one param of a Draft.
type Param struct {
	Name        string `yaml:"name"`
	In          string `yaml:"in"`
	Type        string `yaml:"type"`
	Description string `yaml:"description,omitempty"`
	Required    bool   `yaml:"required,omitempty"`
	Enum        []any  `yaml:"enum,omitempty"`
}

// Filter narrows the accepts a draft may pin: zero values allow any.
type Filter struct {
	Network  payments.Network
	MaxPrice payments.Amount
}

// offerInfo is what a seller says about one resource, from a 402 or a
// discovery item.
type offerInfo struct {
	url         string
	method      string // from the flag; "" lets the seller's info decide
	description string
	accepts     []payments.Requirement
	info        *httpInfo // bazaar info.input, or v1 outputSchema.input
}

// httpInfo is the bazaar extension's info.input for HTTP resources
// (x402-protocol.md §7); v1 outputSchema.input has the same shape.
type httpInfo struct {
	Type        string          `json:"type"`
	Method      string          `json:"method"`
	QueryParams json.RawMessage `json:"queryParams"`
	BodyType    string          `json:"bodyType"`
	Body        json.RawMessage `json:"body"`
}

// inputOf reads info.input out of a bazaar extension ({"info":{"input":…}})
// or a v1 outputSchema ({"input":…}); nil when absent or unreadable.
func inputOf(raw json.RawMessage, wrapped bool) *httpInfo {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var w struct {
		Info struct {
			Input *httpInfo `json:"input"`
		} `json:"info"`
		Input *httpInfo `json:"input"`
	}
	if json.Unmarshal(raw, &w) != nil {
		return nil
	}
	if wrapped {
		return w.Info.Input
	}
	return w.Input
}

// cheapest picks the cheapest accept x402-mcp can pay (exact scheme, an EVM
// network, an atomic amount, 0x payee, USDC) within the filter.
func cheapest(accepts []payments.Requirement, f Filter) (payments.Requirement, payments.Network, payments.Amount, error) {
	var (
		best    payments.Requirement
		bestNet payments.Network
		bestAmt payments.Amount
		found   bool
		why     []string
	)
	for i, a := range accepts {
		n, err := payments.ParseNetwork(a.Network)
		amt, aerr := payments.ParseAtomic(a.Price())
		switch {
		case a.Scheme != "exact":
			why = append(why, fmt.Sprintf("accepts[%d]: scheme %q is not exact", i, SellerText(a.Scheme, 40)))
		case err != nil:
			why = append(why, fmt.Sprintf("accepts[%d]: network %q is not an EVM network", i, SellerText(a.Network, 40)))
		case aerr != nil || amt == 0:
			why = append(why, fmt.Sprintf("accepts[%d]: amount %q is not a positive atomic amount", i, SellerText(a.Price(), 40)))
		case !common.IsHexAddress(a.PayTo) || !common.IsHexAddress(a.Asset):
			why = append(why, fmt.Sprintf("accepts[%d]: payTo or asset is not a 0x address", i))
		case f.Network != "" && n != f.Network:
			why = append(why, fmt.Sprintf("accepts[%d]: network %s is not %s", i, n, f.Network))
		case !isUSDC(n, a.Asset):
			// A draft's max_price is written in USDC: another token needs
			// its own declaration (assets:) first.
			why = append(why, fmt.Sprintf("accepts[%d]: asset %s is not the USDC x402-mcp knows on %s (to pay it, declare it under assets: and write the entry by hand)", i, common.HexToAddress(a.Asset).Hex(), n))
		case f.MaxPrice != 0 && amt > f.MaxPrice:
			why = append(why, fmt.Sprintf("accepts[%d]: price %s is over %s", i, amt.USDC(), f.MaxPrice.USDC()))
		case !found || amt < bestAmt:
			best, bestNet, bestAmt, found = a, n, amt, true
		}
	}
	if !found {
		if len(why) == 0 {
			why = []string{"no accepts"}
		}
		return best, "", 0, fmt.Errorf("no payment option x402-mcp can pay: %s", strings.Join(why, "; "))
	}
	return best, bestNet, bestAmt, nil
}

// draft builds the entry for one offer. Warnings say what was left out.
func draft(o offerInfo, name string, f Filter) (Draft, []string, error) {
	var warn []string
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Draft{}, nil, fmt.Errorf("%q is not an http(s) URL", SellerText(o.url, 200))
	}
	if strings.Contains(o.url, "${") {
		return Draft{}, nil, errors.New("the URL contains ${: the registry would read it as an environment reference")
	}
	if u.User != nil {
		return Draft{}, nil, errors.New("the URL carries credentials (user:password@): leave them out")
	}
	acc, net, price, err := cheapest(o.accepts, f)
	if err != nil {
		return Draft{}, nil, err
	}
	method := o.method
	if method == "" && o.info != nil && o.info.Method != "" {
		method = strings.ToUpper(o.info.Method)
	}
	if method == "" {
		method = http.MethodGet
	}
	if o.info != nil && o.info.Method != "" && !strings.EqualFold(o.info.Method, method) {
		warn = append(warn, fmt.Sprintf("the seller describes method %s, the entry uses %s", SellerText(o.info.Method, 10), method))
	}
	if !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE"}, method) {
		return Draft{}, nil, fmt.Errorf("method %q is not one x402-mcp calls (GET, POST, PUT, PATCH, DELETE)", SellerText(method, 20))
	}
	if name == "" {
		name = NameFromURL(u)
	}
	if !validName(name) {
		return Draft{}, nil, fmt.Errorf("%q is not a valid tool name: use 1 to 64 of a-z, 0-9 and _, starting with a letter, not starting with x402_", name)
	}
	desc := Quoted(o.description, MaxDescription)
	if desc == "" {
		desc = "Paid endpoint " + method + " " + u.Host + u.EscapedPath() + " (the seller gave no description)."
	}
	d := Draft{
		Name: name, Description: desc, Method: method, URL: o.url, MaxPrice: price,
		PayTo: common.HexToAddress(acc.PayTo).Hex(), Network: string(net), Asset: common.HexToAddress(acc.Asset).Hex(),
	}
	d.Params, warn = params(o, method, warn)
	if err := validate(d); err != nil {
		return Draft{}, warn, fmt.Errorf("the proposed entry is not valid: %w", err)
	}
	return d, warn, nil
}

var (
	templateRE  = regexp.MustCompile(`\{([^{}]*)\}`)
	paramNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)
	nameCharRE  = regexp.MustCompile(`[^a-z0-9]+`)
	versionRE   = regexp.MustCompile(`^v[0-9]+$`)
	jsonTypes   = []string{"string", "integer", "number", "boolean", "array", "object"}
)

func validName(n string) bool {
	return regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`).MatchString(n) && !strings.HasPrefix(n, tools.ReservedPrefix)
}

// NameFromURL derives a tool name from a URL's path: its segments without
// {templates} or version segments (v1, v2), lowercased, joined with _; the
// host when nothing is left.
func NameFromURL(u *url.URL) string {
	var parts []string
	for _, seg := range strings.Split(u.Path, "/") {
		seg = strings.ToLower(seg)
		if seg == "" || strings.Contains(seg, "{") || versionRE.MatchString(seg) {
			continue
		}
		if s := strings.Trim(nameCharRE.ReplaceAllString(seg, "_"), "_"); s != "" {
			parts = append(parts, s)
		}
	}
	n := strings.Join(parts, "_")
	if n == "" {
		n = strings.Trim(nameCharRE.ReplaceAllString(strings.ToLower(u.Hostname()), "_"), "_")
	}
	if n == "" || n[0] < 'a' || n[0] > 'z' || strings.HasPrefix(n, tools.ReservedPrefix) {
		n = "paid_" + n
	}
	if len(n) > 64 {
		n = strings.TrimRight(n[:64], "_")
	}
	return n
}

// params reads the seller's input description: {templates} in the URL path
// become required path params; query params (GET, DELETE) or the body
// (POST, PUT, PATCH) come from info.input.
func params(o offerInfo, method string, warn []string) ([]Param, []string) {
	var out []Param
	seen := map[string]bool{}
	add := func(p Param) {
		if !paramNameRE.MatchString(p.Name) {
			warn = append(warn, fmt.Sprintf("left out the seller's param %q: not a valid param name", SellerText(p.Name, 40)))
			return
		}
		if seen[p.Name] {
			return
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	if u, err := url.Parse(o.url); err == nil {
		for _, m := range templateRE.FindAllStringSubmatch(u.Path, -1) {
			add(Param{Name: m[1], In: tools.InPath, Type: "string", Required: true})
		}
	}
	if o.info == nil {
		warn = append(warn, "the seller describes no input (no bazaar info.input, no v1 outputSchema.input): add params by hand if the endpoint takes any")
		return out, warn
	}
	body := method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
	switch {
	case !body && len(o.info.QueryParams) > 0:
		ps, w := fieldsOf(o.info.QueryParams, tools.InQuery, nil)
		warn = append(warn, w...)
		for _, p := range ps {
			add(p)
		}
	case body && len(o.info.Body) > 0:
		if o.info.BodyType != "" && o.info.BodyType != "json" {
			warn = append(warn, fmt.Sprintf("the body type is %q: x402-mcp sends JSON bodies only", SellerText(o.info.BodyType, 20)))
			break
		}
		var schema struct {
			Properties json.RawMessage `json:"properties"`
			Required   []string        `json:"required"`
		}
		_ = json.Unmarshal(o.info.Body, &schema)
		src := o.info.Body // an example object
		if len(schema.Properties) > 0 {
			src = schema.Properties // a JSON Schema
		}
		ps, w := fieldsOf(src, tools.InBody, schema.Required)
		warn = append(warn, w...)
		for _, p := range ps {
			add(p)
		}
	}
	return out, warn
}

// fieldsOf reads an object of fields: each value a schema ({type,
// description, enum}) or an example value whose JSON type becomes the type.
func fieldsOf(raw json.RawMessage, in string, required []string) ([]Param, []string) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, []string{"the seller's input fields are not a JSON object: add params by hand"}
	}
	var warn []string
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []Param
	for _, k := range names {
		p := Param{Name: k, In: in, Required: slices.Contains(required, k)}
		var s struct {
			Type        json.RawMessage `json:"type"`
			Description string          `json:"description"`
			Enum        []any           `json:"enum"`
			Required    bool            `json:"required"`
		}
		var typ string
		if json.Unmarshal(m[k], &s) == nil && len(s.Type) > 0 && json.Unmarshal(s.Type, &typ) == nil {
			p.Description = Quoted(s.Description, MaxParamDescription)
			p.Required = p.Required || s.Required
			for _, e := range s.Enum {
				if v, ok := e.(string); ok && len(p.Enum) < 50 {
					p.Enum = append(p.Enum, SellerText(v, 80))
				}
			}
		} else {
			typ = exampleType(m[k])
		}
		if !slices.Contains(jsonTypes, typ) {
			warn = append(warn, fmt.Sprintf("param %q: type %q is not one of %s; written as string, check it", SellerText(k, 40), SellerText(typ, 20), strings.Join(jsonTypes, ", ")))
			typ = "string"
		}
		if in == tools.InQuery && typ == "object" {
			typ = "string"
		}
		if typ != "string" || len(p.Enum) != len(s.Enum) || slices.Contains(p.Enum, any("")) {
			p.Enum = nil // keep only an enum of non-empty strings on a string
		}
		p.Type = typ
		out = append(out, p)
	}
	return out, warn
}

// exampleType is the JSON Schema type of an example value.
func exampleType(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "string"
	}
	switch x := v.(type) {
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "string"
}

// isUSDC says whether asset is the USDC x402-mcp knows on n.
func isUSDC(n payments.Network, asset string) bool {
	k, ok := payments.KnownUSDC(n)
	return ok && k.Address == common.HexToAddress(asset)
}
