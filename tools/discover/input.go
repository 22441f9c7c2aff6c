package discover

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/x402-mcp/x402-mcp/tools"
)

// What a seller says about a resource's input, and how a draft keeps it.
//
// Sources, merged argument by argument (a later source's type, description
// and enum win; required is kept when any source says it):
//   - the bazaar extension's info.input (x402-protocol.md §7): queryParams,
//     pathParams and body, each either example values, field schemas
//     ({type, description, enum, required}) or an inline JSON Schema
//     ({type: object, properties, required});
//   - the same extension's schema, which describes info as a JSON Schema:
//     schema.properties.input.properties.{queryParams,pathParams,body}
//     carry each property's type and description and the required lists
//     (the x402 SDKs put examples in info and the descriptions here);
//   - v1's accepts[].outputSchema.input, the same shape with bodyFields (field
//     schemas) for the body.
//
// Each argument keeps its type, description (quoted as the seller's words),
// enum and required flag; path params come from {name} (or :name) segments of
// the URL. When an argument's schema says more than a param can (nested
// properties, items, limits such as maxLength) and the arguments go where the
// registry's convention puts them, the draft gets an input_schema instead of
// params, cleaned keyword by keyword.

// httpInfo is the bazaar extension's info.input for HTTP resources; v1
// outputSchema.input has the same shape, with bodyFields.
type httpInfo struct {
	Type        string          `json:"type"`
	Method      string          `json:"method"`
	QueryParams json.RawMessage `json:"queryParams"`
	PathParams  json.RawMessage `json:"pathParams"`
	BodyType    string          `json:"bodyType"`
	Body        json.RawMessage `json:"body"`
	BodyFields  json.RawMessage `json:"bodyFields"` // v1

	// The JSON Schemas of queryParams, pathParams and body from the bazaar
	// extension's schema (schema.properties.input.properties).
	querySchema, pathSchema, bodySchema json.RawMessage
}

// inputOf reads the input description out of a bazaar extension
// ({"info":{"input":…},"schema":…}, wrapped) or a v1 outputSchema
// ({"input":…}); nil when there is none or it is unreadable.
func inputOf(raw json.RawMessage, wrapped bool) *httpInfo {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var w struct {
		Info struct {
			Input *httpInfo `json:"input"`
		} `json:"info"`
		Schema struct {
			Properties struct {
				Input struct {
					Properties struct {
						QueryParams json.RawMessage `json:"queryParams"`
						PathParams  json.RawMessage `json:"pathParams"`
						Body        json.RawMessage `json:"body"`
					} `json:"properties"`
				} `json:"input"`
			} `json:"properties"`
		} `json:"schema"`
		Input *httpInfo `json:"input"`
	}
	if json.Unmarshal(raw, &w) != nil {
		return nil
	}
	if !wrapped {
		return w.Input
	}
	in, s := w.Info.Input, w.Schema.Properties.Input.Properties
	if in == nil && len(s.QueryParams)+len(s.PathParams)+len(s.Body) == 0 {
		return nil
	}
	if in == nil {
		in = &httpInfo{}
	}
	in.querySchema, in.pathSchema, in.bodySchema = s.QueryParams, s.PathParams, s.Body
	return in
}

// Bounds on a seller's input description.
const (
	maxSchemaDepth      = 6  // nesting of properties and items below an argument
	maxSchemaProperties = 50 // properties of one object (arguments included)
	maxEnum             = 50
)

// spec is one argument as the seller describes it.
type spec struct {
	name     string
	in       string
	schema   *omap // cleaned JSON Schema: type, description, enum, and more
	required bool
}

// rich says whether the schema says more than a param can.
func (s spec) rich() bool {
	for _, k := range s.schema.keys {
		if k != "type" && k != "description" && k != "enum" {
			return true
		}
	}
	return false
}

func (s spec) typ() string { t, _ := s.schema.get("type").(string); return t }

// specs collects the arguments of one place from its sources, in name order.
func specs(in string, warn *[]string, sources ...json.RawMessage) []spec {
	byName := map[string]*spec{}
	var names []string
	for _, src := range sources {
		fields, order, required, ok := fieldsIn(src)
		if !ok {
			if len(bytes.TrimSpace(src)) > 0 && string(src) != "null" {
				*warn = append(*warn, fmt.Sprintf("the seller's %s fields are not a JSON object: add them by hand", in))
			}
			continue
		}
		for _, name := range order {
			if !paramNameRE.MatchString(name) {
				*warn = append(*warn, fmt.Sprintf("left out the seller's param %q: not a valid param name", SellerText(name, 40)))
				continue
			}
			s, req := specOf(fields[name], warn)
			if prev, seen := byName[name]; seen {
				prev.schema.merge(s)
				prev.required = prev.required || req || slices.Contains(required, name)
				continue
			}
			if len(byName) >= maxSchemaProperties {
				*warn = append(*warn, fmt.Sprintf("the seller describes more than %d %s fields: the rest are left out", maxSchemaProperties, in))
				break
			}
			byName[name] = &spec{name: name, in: in, schema: s, required: req || slices.Contains(required, name)}
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := make([]spec, 0, len(names))
	for _, n := range names {
		s := byName[n]
		if t := s.typ(); !slices.Contains(jsonTypes, t) {
			if t != "" {
				*warn = append(*warn, fmt.Sprintf("param %q: type %q is not one of %s; written as string, check it", SellerText(n, 40), SellerText(t, 20), strings.Join(jsonTypes, ", ")))
			}
			s.schema.set("type", "string")
			s.schema.moveFirst("type")
		}
		out = append(out, *s)
	}
	return out
}

// fieldsIn reads one source: an object of fields, or an object JSON Schema
// whose properties are the fields. ok is false when src is not an object.
func fieldsIn(src json.RawMessage) (fields map[string]json.RawMessage, order []string, required []string, ok bool) {
	if err := json.Unmarshal(src, &fields); err != nil || fields == nil {
		return nil, nil, nil, false
	}
	if isObjectSchema(fields) {
		var s struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		}
		if json.Unmarshal(src, &s) == nil {
			fields, required = s.Properties, s.Required
		}
	}
	for k := range fields {
		order = append(order, k)
	}
	sort.Strings(order)
	return fields, order, required, true
}

// isObjectSchema tells a JSON Schema of an object ({type: object,
// properties: {…}}) from an object of fields or an example.
func isObjectSchema(m map[string]json.RawMessage) bool {
	props, ok := m["properties"]
	if !ok || !bytes.HasPrefix(bytes.TrimSpace(props), []byte("{")) {
		return false
	}
	var typ string
	if json.Unmarshal(m["type"], &typ) == nil && typ == "object" {
		return true
	}
	for k := range m {
		switch k {
		case "properties", "required", "type", "additionalProperties", "description", "$schema", "title":
		default:
			return false
		}
	}
	return true
}

// specOf reads one field: a schema ({type, description, enum, required,
// …}) or an example value whose JSON type becomes the type.
func specOf(raw json.RawMessage, warn *[]string) (*omap, bool) {
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		oneType(m)
		if t, ok := m["type"].(string); ok && t != "" {
			req, _ := m["required"].(bool) // v1 field schemas flag themselves
			return cleanSchema(m, 0, warn), req
		}
	}
	s := &omap{}
	s.set("type", exampleType(raw))
	return s, false
}

var formatRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// oneType turns a list of types (["string", "null"]) into its first type
// other than null: an argument has one type in the registry.
func oneType(m map[string]any) {
	if ts, ok := m["type"].([]any); ok {
		delete(m, "type")
		for _, t := range ts {
			if s, ok := t.(string); ok && s != "null" {
				m["type"] = s
				return
			}
		}
	}
}

// cleanSchema keeps the JSON Schema keywords a draft may carry, with seller
// text cleaned: descriptions quoted (SellerText), enum strings cleaned,
// property names checked, depth and size bounded. Anything else ($ref,
// patterns, defaults, conditionals) is dropped.
func cleanSchema(m map[string]any, depth int, warn *[]string) *omap {
	oneType(m)
	s := &omap{}
	if t, ok := m["type"].(string); ok && (slices.Contains(jsonTypes, t) || t == "null" || depth == 0) {
		s.set("type", SellerText(t, 20)) // an argument's odd type is reported by specs
	}
	if d, ok := m["description"].(string); ok {
		if q := Quoted(d, MaxParamDescription); q != "" {
			s.set("description", q)
		}
	}
	if e, ok := m["enum"].([]any); ok && len(e) > 0 && len(e) <= maxEnum {
		var vals []any
		for _, v := range e {
			switch x := v.(type) {
			case string:
				if c := SellerText(x, 80); c != "" {
					vals = append(vals, c)
				}
			case float64, bool:
				vals = append(vals, number(v))
			}
		}
		if len(vals) == len(e) {
			s.set("enum", vals)
		}
	}
	if f, ok := m["format"].(string); ok && formatRE.MatchString(f) {
		s.set("format", f)
	}
	for _, k := range []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems"} {
		if v, ok := m[k].(float64); ok && !math.IsInf(v, 0) && !math.IsNaN(v) {
			s.set(k, number(v))
		}
	}
	if depth >= maxSchemaDepth {
		if m["items"] != nil || m["properties"] != nil {
			*warn = append(*warn, fmt.Sprintf("the seller's schema nests deeper than %d levels: the deeper levels are left out", maxSchemaDepth))
		}
		return s
	}
	if it, ok := m["items"].(map[string]any); ok {
		s.set("items", cleanSchema(it, depth+1, warn))
	}
	if props, ok := m["properties"].(map[string]any); ok {
		names := make([]string, 0, len(props))
		for k := range props {
			names = append(names, k)
		}
		sort.Strings(names)
		ps := &omap{}
		for _, k := range names {
			pm, isObj := props[k].(map[string]any)
			switch {
			case !paramNameRE.MatchString(k):
				*warn = append(*warn, fmt.Sprintf("left out the seller's property %q: not a valid name", SellerText(k, 40)))
			case !isObj:
			case len(ps.keys) >= maxSchemaProperties:
				*warn = append(*warn, fmt.Sprintf("the seller's schema has more than %d properties in one object: the rest are left out", maxSchemaProperties))
			default:
				ps.set(k, cleanSchema(pm, depth+1, warn))
			}
			if len(ps.keys) >= maxSchemaProperties {
				break
			}
		}
		s.set("properties", ps)
		if req, ok := m["required"].([]any); ok {
			var names []any
			for _, r := range req {
				if n, ok := r.(string); ok && ps.get(n) != nil && !slices.Contains(names, any(n)) {
					names = append(names, n)
				}
			}
			if len(names) > 0 {
				s.set("required", names)
			}
		}
	}
	if ap, ok := m["additionalProperties"].(bool); ok {
		s.set("additionalProperties", ap)
	}
	return s
}

// number writes a JSON number as an integer when it is one.
func number(v any) any {
	if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return v
}

// input builds a draft's arguments from what the seller says: params, or an
// input_schema when the seller's schemas say more than params can. It
// returns o.url with the :name path segments that name a described path
// param written {name}, and without the query keys that became params (they
// were example values).
func input(o offerInfo, method string, warn []string) ([]Param, *omap, string, []string) {
	info := o.info
	if info == nil {
		info = &httpInfo{}
	}
	body := method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch

	pathSpecs := specs(tools.InPath, &warn, info.PathParams, info.pathSchema)
	querySpecs := specs(tools.InQuery, &warn, info.QueryParams, info.querySchema)
	var bodySpecs []spec
	if body {
		if info.BodyType != "" && info.BodyType != "json" {
			warn = append(warn, fmt.Sprintf("the body type is %q: x402-mcp sends JSON bodies only", SellerText(info.BodyType, 20)))
		} else {
			bodySpecs = specs(tools.InBody, &warn, info.Body, info.BodyFields, info.bodySchema)
		}
	}
	if o.info == nil {
		warn = append(warn, "the seller describes no input (no bazaar info.input, no v1 outputSchema.input): add params by hand if the endpoint takes any")
	}

	// Path params: {name} segments of the URL, and :name segments naming
	// a path param the seller describes. The URL is edited as text: its
	// templates must stay unescaped.
	head, query, hasQuery := strings.Cut(o.url, "?")
	segs := strings.Split(head, "/")
	for i, seg := range segs {
		if n, ok := strings.CutPrefix(seg, ":"); ok && i > 2 && slices.ContainsFunc(pathSpecs, func(s spec) bool { return s.name == n }) {
			segs[i] = "{" + n + "}"
		}
	}
	head = strings.Join(segs, "/")
	u, err := url.Parse(head)
	if err != nil {
		return nil, nil, o.url, warn // draft reports the URL
	}
	q, qerr := url.ParseQuery(query)
	var args []spec
	seen := map[string]bool{}
	for _, m := range templateRE.FindAllStringSubmatch(u.Path, -1) {
		name := m[1]
		if seen[name] {
			continue
		}
		seen[name] = true
		s := spec{name: name, in: tools.InPath, schema: &omap{}, required: true}
		s.schema.set("type", "string")
		if i := slices.IndexFunc(pathSpecs, func(p spec) bool { return p.name == name }); i >= 0 {
			s.schema = pathSpecs[i].schema
			if t := s.typ(); t == "object" || t == "array" {
				warn = append(warn, fmt.Sprintf("path param %q: type %s cannot fill a path segment; written as string", name, t))
				s.schema.set("type", "string")
			}
		}
		if !paramNameRE.MatchString(name) {
			warn = append(warn, fmt.Sprintf("left out the seller's param %q: not a valid param name", SellerText(name, 40)))
			continue
		}
		args = append(args, s)
	}
	for _, p := range pathSpecs {
		if !seen[p.name] {
			warn = append(warn, fmt.Sprintf("left out path param %q: the URL has no {%s} segment (it names one resource)", p.name, p.name))
		}
	}
	for _, group := range [][]spec{querySpecs, bodySpecs} {
		for _, s := range group {
			if seen[s.name] {
				continue
			}
			seen[s.name] = true
			if s.in == tools.InQuery && qerr == nil && q.Has(s.name) {
				q.Del(s.name) // an example value: the argument fills it
				query = q.Encode()
			}
			args = append(args, s)
		}
	}

	raw := head
	if hasQuery && query != "" {
		raw += "?" + query
	}
	conventional := body && len(querySpecs) == 0 || !body && len(bodySpecs) == 0
	if conventional && slices.ContainsFunc(args, spec.rich) {
		props, schema := &omap{}, &omap{}
		var required []any
		for _, s := range args {
			props.set(s.name, s.schema)
			if s.required {
				required = append(required, s.name)
			}
		}
		schema.set("type", "object")
		schema.set("properties", props)
		if len(required) > 0 {
			schema.set("required", required)
		}
		return nil, schema, raw, warn
	}
	var out []Param
	for _, s := range args {
		if s.rich() {
			warn = append(warn, fmt.Sprintf("param %q: the seller's schema says more (nested fields or limits) than a param can; kept as type %s, check it", s.name, s.typ()))
		}
		p := Param{Name: s.name, In: s.in, Type: s.typ(), Required: s.required}
		p.Description, _ = s.schema.get("description").(string)
		if e, ok := s.schema.get("enum").([]any); ok && p.Type == "string" && !slices.ContainsFunc(e, func(v any) bool { _, isStr := v.(string); return !isStr }) {
			p.Enum = e
		}
		if p.In == tools.InQuery && p.Type == "object" {
			p.Type = "string"
		}
		out = append(out, p)
	}
	return out, nil, raw, warn
}

// omap is a JSON Schema object that keeps its keys in order, so that a
// draft's input_schema reads type first, then description, and so on.
type omap struct {
	keys []string
	vals map[string]any
}

func (m *omap) set(k string, v any) {
	if m.vals == nil {
		m.vals = map[string]any{}
	}
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

func (m *omap) get(k string) any {
	if m == nil {
		return nil
	}
	return m.vals[k]
}

func (m *omap) moveFirst(k string) {
	if i := slices.Index(m.keys, k); i > 0 {
		m.keys = append([]string{k}, slices.Delete(m.keys, i, i+1)...)
	}
}

// merge sets every key of o on m (o wins).
func (m *omap) merge(o *omap) {
	for _, k := range o.keys {
		m.set(k, o.vals[k])
	}
}

// MarshalYAML writes the keys in order.
func (m *omap) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range m.keys {
		var v yaml.Node
		if err := v.Encode(m.vals[k]); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, &v)
	}
	return n, nil
}

// MarshalJSON writes the keys in order.
func (m *omap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(m.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
