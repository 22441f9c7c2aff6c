package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

var paramNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)

func validParamName(s string) bool { return paramNameRE.MatchString(s) }

func parseParams(p *problems, where string, raws []*rawParam, e *Entry, headers map[string]string) {
	tpl := templateParams(e.urlParts)
	seen := map[string]int{}
	declaredIn := map[string]string{} // params that passed the in/type checks
	var pathParams []string
	for i, rp := range raws {
		pw := fmt.Sprintf("%s: params[%d]", where, i)
		if rp == nil {
			p.add(pw, "empty param: give at least a name")
			continue
		}
		if rp.Name != "" {
			pw += fmt.Sprintf(" %q", rp.Name)
		}
		at := func(f string) string { return pw + ": " + f }
		prm := Param{Name: rp.Name, In: rp.In, Type: rp.Type, Description: strings.TrimSpace(rp.Description), Required: rp.Required}
		switch {
		case rp.Name == "":
			p.add(at("name"), "missing: give the argument a name such as city")
			continue
		case !validParamName(rp.Name):
			p.add(at("name"), "%q is not a valid argument name: use 1 to 64 letters, digits, _, . and -, starting with a letter or _", rp.Name)
			continue
		}
		if j, dup := seen[rp.Name]; dup {
			p.add(at("name"), "%q is already used by params[%d]: argument names must be unique", rp.Name, j)
			continue
		}
		seen[rp.Name] = i
		if prm.In == "" {
			// Default placement: the path if the url names it, else the
			// query for GET/DELETE and the JSON body otherwise.
			prm.In = conventionalIn(e.Method, slices.Contains(tpl, rp.Name))
		}
		if prm.Type == "" {
			prm.Type = "string"
		}
		ok := true
		if !slices.Contains([]string{InPath, InQuery, InHeader, InBody}, prm.In) {
			p.add(at("in"), "%q is not a place in the request: use path, query, header or body", rp.In)
			ok = false
		}
		if !slices.Contains(jsonTypes, prm.Type) {
			p.add(at("type"), "%q is not a JSON Schema type: use %s", rp.Type, strings.Join(jsonTypes, ", "))
			ok = false
		}
		if !ok {
			continue
		}
		declaredIn[rp.Name] = prm.In
		f := field{name: rp.Name, in: prm.In, types: []string{prm.Type}, required: rp.Required}
		switch prm.In {
		case InPath:
			pathParams = append(pathParams, rp.Name)
			if !slices.Contains(tpl, rp.Name) {
				p.add(at("in"), "path param %q has no {%s} in the url: add {%s} to the url path or use `in: query`", rp.Name, rp.Name, rp.Name)
			}
			if !isScalarType(prm.Type) {
				p.add(at("type"), "a path param must be a string, integer, number or boolean, not %s", prm.Type)
			}
			if !rp.Required && rp.Default == nil {
				p.add(at("required"), "a path param cannot be left out: set `required: true` or give a default")
			}
		case InHeader:
			if !isScalarType(prm.Type) {
				p.add(at("type"), "a header param must be a string, integer, number or boolean, not %s", prm.Type)
			}
			if msg := checkHeaderName(rp.Name); msg != "" {
				p.add(at("name"), "a header param's name is the header name: %s", msg)
			} else if prev, dup := headers[http.CanonicalHeaderKey(rp.Name)]; dup {
				p.add(at("name"), "header %s is also set in headers.%s: drop one", rp.Name, prev)
			}
		case InQuery:
			if prm.Type == "object" {
				p.add(at("type"), "a query param cannot be an object: use string, integer, number, boolean or array (its items repeat the key), or send it `in: body`")
			}
		case InBody:
			if e.Method == http.MethodGet {
				p.add(at("in"), "GET requests carry no body: use `in: query`, or method POST")
			}
			e.hasBody = true
		}
		if prm.Type == "array" {
			if prm.In == InQuery {
				f.items = []string{"string", "number", "boolean"}
			}
		}
		// enum and default: canonical JSON values of the declared type.
		if rp.Enum != nil {
			if len(rp.Enum) == 0 {
				p.add(at("enum"), "the list is empty: list the allowed values or remove enum")
			}
			prm.Enum = rp.Enum
			for k, v := range rp.Enum {
				cv, err := canonical(v)
				if err != nil {
					p.add(at(fmt.Sprintf("enum[%d]", k)), "%v", err)
					continue
				}
				// For an array param, enum lists the allowed items.
				if prm.Type == "array" {
					if !isScalar(cv) {
						p.add(at(fmt.Sprintf("enum[%d]", k)), "%s: the enum of an array param lists allowed items, which must be strings, numbers or booleans", describe(cv))
					}
					f.itemEnum = append(f.itemEnum, cv)
					continue
				}
				if !hasType(cv, prm.Type) {
					p.add(at(fmt.Sprintf("enum[%d]", k)), "%s is not of type %s: %s", describe(cv), prm.Type, typeHint(prm.Type))
					continue
				}
				f.enum = append(f.enum, cv)
			}
		}
		if rp.Default != nil {
			prm.Default = rp.Default
			cv, err := canonical(rp.Default)
			var msg string
			if err == nil {
				msg = f.check(cv)
			}
			switch {
			case err != nil:
				p.add(at("default"), "%v", err)
			case !hasAnyType(cv, f.types):
				p.add(at("default"), "%s is not of type %s: %s", describe(cv), prm.Type, typeHint(prm.Type))
			case msg != "":
				p.add(at("default"), "%s: add it to enum or change the default", msg)
			default:
				f.def, f.hasDef = cv, true
			}
		}
		e.Params = append(e.Params, prm)
		e.fields = append(e.fields, f)
	}
	if e.Params == nil {
		e.Params = []Param{}
	}
	for _, name := range tpl {
		if !slices.Contains(pathParams, name) {
			if in, declared := declaredIn[name]; declared {
				p.add(where+": url", "{%s} fills a path segment, but param %q is `in: %s`: set `in: path` on it", name, name, in)
				continue
			}
			if _, declared := seen[name]; declared {
				continue // its own mistake is already reported
			}
			if name == e.AmountFrom {
				continue // amount_from adds it
			}
			p.add(where+": url", "{%s} names no param: add a param {name: %s, in: path, required: true} or remove {%s} from the url", name, name, name)
		}
	}
	e.schema = paramsSchema(e.Params, e.fields)
}

// conventionalIn is where an argument goes when nothing says otherwise.
func conventionalIn(method string, inTemplate bool) string {
	switch {
	case inTemplate:
		return InPath
	case method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		return InBody
	default:
		return InQuery
	}
}

func isScalarType(t string) bool {
	return t == "string" || t == "integer" || t == "number" || t == "boolean"
}

func typeHint(t string) string {
	switch t {
	case "string":
		return "quote it, such as \"42\""
	case "integer":
		return "write a whole number without quotes"
	case "number":
		return "write a number without quotes"
	case "boolean":
		return "write true or false without quotes"
	case "array":
		return "write a list, such as [a, b]"
	case "object":
		return "write a mapping"
	}
	return "change the value or the type"
}

// check validates a canonical value against the field's type and enum. It
// returns "" or a message naming what is wrong.
func (f *field) check(v any) string {
	if f.amount {
		_, msg := f.checkAmount(v)
		return msg
	}
	if !hasAnyType(v, f.types) {
		return fmt.Sprintf("%q must be %s, got %s", f.name, withArticle(joinTypes(f.types)), describeType(v))
	}
	if len(f.enum) > 0 && !inEnum(v, f.enum) {
		return fmt.Sprintf("%q must be one of %s, got %s", f.name, enumList(f.enum), describe(v))
	}
	if arr, ok := v.([]any); ok && (len(f.items) > 0 || len(f.itemEnum) > 0) {
		for i, it := range arr {
			if !hasAnyType(it, f.items) {
				return fmt.Sprintf("%q[%d] must be %s, got %s", f.name, i, withArticle(joinTypes(f.items)), describeType(it))
			}
			if len(f.itemEnum) > 0 && !inEnum(it, f.itemEnum) {
				return fmt.Sprintf("%q[%d] must be one of %s, got %s", f.name, i, enumList(f.itemEnum), describe(it))
			}
		}
	}
	return ""
}

func withArticle(s string) string {
	switch s[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + s
	}
	return "a " + s
}

func enumList(enum []any) string {
	s := make([]string, len(enum))
	for i, v := range enum {
		s[i] = describe(v)
	}
	return strings.Join(s, ", ")
}

// paramsSchema compiles a param list into a JSON Schema object, keeping the
// list's order for the properties.
func paramsSchema(params []Param, fields []field) json.RawMessage {
	var b bytes.Buffer
	b.WriteString(`{"type":"object","properties":{`)
	var required []string
	for i, prm := range params {
		f := fields[i]
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(&b, prm.Name)
		b.WriteString(`:{"type":`)
		writeJSON(&b, prm.Type)
		if prm.Description != "" {
			b.WriteString(`,"description":`)
			writeJSON(&b, prm.Description)
		}
		if f.amount {
			b.WriteString(`,"pattern":`)
			writeJSON(&b, f.cur.Pattern())
		}
		if prm.Type == "array" {
			// Query items are sent as text; the check also takes numbers
			// and booleans, which format unambiguously.
			b.WriteString(`,"items":{`)
			if prm.In == InQuery {
				b.WriteString(`"type":"string"`)
				if len(f.itemEnum) > 0 {
					b.WriteByte(',')
				}
			}
			if len(f.itemEnum) > 0 {
				b.WriteString(`"enum":`)
				writeJSON(&b, f.itemEnum)
			}
			b.WriteByte('}')
		}
		if len(f.enum) > 0 {
			b.WriteString(`,"enum":`)
			writeJSON(&b, f.enum)
		}
		if f.hasDef {
			b.WriteString(`,"default":`)
			writeJSON(&b, f.def)
		}
		b.WriteByte('}')
		if prm.Required {
			required = append(required, prm.Name)
		}
	}
	b.WriteByte('}')
	if len(required) > 0 {
		b.WriteString(`,"required":`)
		writeJSON(&b, required)
	}
	b.WriteByte('}')
	return json.RawMessage(b.Bytes())
}

// writeJSON appends v as JSON without HTML escaping.
func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)       // values here are canonical JSON values or strings
	b.Truncate(b.Len() - 1) // Encode's newline
}

// parseInputSchema compiles an input_schema node: it must be an object
// schema with properties; arguments map by convention (path templates take
// the same-named property, the rest go to the query for GET/DELETE and to the
// JSON body otherwise).
func parseInputSchema(p *problems, where string, n *yaml.Node, e *Entry) {
	at := where + ": input_schema"
	var b bytes.Buffer
	if err := nodeJSON(&b, n, 0); err != nil {
		p.add(at, "%v", err)
		return
	}
	var s map[string]any
	if err := json.Unmarshal(b.Bytes(), &s); err != nil {
		p.add(at, "must be a mapping (a JSON Schema object with type: object and properties)")
		return
	}
	ok := true
	if t, _ := s["type"].(string); t != "object" {
		p.add(at+".type", "must be \"object\" (tool arguments are a JSON object): add `type: object`")
		ok = false
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if _, has := s[k]; has {
			p.add(at+"."+k, "top-level %s is not accepted by many MCP hosts: describe the arguments with plain properties (and required)", k)
			ok = false
		}
	}
	props, isMap := s["properties"].(map[string]any)
	if !isMap {
		p.add(at+".properties", "missing or not a mapping: list the arguments under properties, such as properties: {city: {type: string}}")
		return
	}
	required := map[string]bool{}
	switch r := s["required"].(type) {
	case nil:
	case []any:
		for i, x := range r {
			name, isStr := x.(string)
			if !isStr {
				p.add(fmt.Sprintf("%s.required[%d]", at, i), "must be a property name (a string)")
				ok = false
				continue
			}
			if _, has := props[name]; !has {
				p.add(fmt.Sprintf("%s.required[%d]", at, i), "%q is not in properties: add it there or remove it from required", name)
				ok = false
			}
			required[name] = true
		}
	default:
		p.add(at+".required", "must be a list of property names")
		ok = false
	}
	switch ap := s["additionalProperties"].(type) {
	case bool:
		if ap {
			e.extraIn = conventionalIn(e.Method, false)
		}
	case map[string]any:
		e.extraIn = conventionalIn(e.Method, false)
	}
	tpl := templateParams(e.urlParts)
	for _, name := range tpl {
		if _, has := props[name]; !has {
			p.add(where+": url", "{%s} names no property of input_schema: add it under properties (and required) or remove {%s} from the url", name, name)
			ok = false
		} else if !required[name] {
			p.add(at+".required", "%q fills {%s} in the url, so it must be listed in required", name, name)
			ok = false
		}
	}
	// Keep the properties in the order the file gives them.
	for _, name := range propertyOrder(n) {
		ps, isMap := props[name].(map[string]any)
		pw := at + ".properties." + name
		if !isMap {
			p.add(pw, "must be a mapping (a JSON Schema), such as {type: string}")
			ok = false
			continue
		}
		if !validParamName(name) {
			p.add(pw, "%q is not a valid argument name: use 1 to 64 letters, digits, _, . and -, starting with a letter or _", name)
			ok = false
			continue
		}
		f := field{name: name, required: required[name], in: conventionalIn(e.Method, slices.Contains(tpl, name))}
		switch t := ps["type"].(type) {
		case nil:
		case string:
			f.types = []string{t}
		case []any:
			for _, x := range t {
				if ts, isStr := x.(string); isStr {
					f.types = append(f.types, ts)
				}
			}
		}
		for _, t := range f.types {
			if !slices.Contains(jsonTypes, t) && t != "null" {
				p.add(pw+".type", "%q is not a JSON Schema type: use %s or null", t, strings.Join(jsonTypes, ", "))
				ok = false
			}
		}
		if f.in == InPath && len(f.types) > 0 && !slices.ContainsFunc(f.types, isScalarType) {
			p.add(pw+".type", "%q fills a path segment, so it must be a string, integer, number or boolean", name)
			ok = false
		}
		if en, has := ps["enum"]; has {
			list, isList := en.([]any)
			if !isList || len(list) == 0 {
				p.add(pw+".enum", "must be a non-empty list of allowed values")
				ok = false
			}
			for k, v := range list {
				if !hasAnyType(v, f.types) {
					p.add(fmt.Sprintf("%s.enum[%d]", pw, k), "%s is not of type %s", describe(v), joinTypes(f.types))
					ok = false
				}
			}
			f.enum = list
		}
		if def, has := ps["default"]; has && def != nil {
			if msg := f.check(def); msg != "" {
				p.add(pw+".default", "%s", msg)
				ok = false
			} else {
				f.def, f.hasDef = def, true
			}
		}
		e.fields = append(e.fields, f)
	}
	if ok {
		e.schema = json.RawMessage(b.Bytes())
		e.hasBody = e.Method == http.MethodPost || e.Method == http.MethodPut || e.Method == http.MethodPatch
	}
}

// propertyOrder returns the keys of the schema's properties mapping in file order.
func propertyOrder(n *yaml.Node) []string {
	n = resolveNode(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "properties" {
			props := resolveNode(n.Content[i+1])
			if props == nil || props.Kind != yaml.MappingNode {
				return nil
			}
			var keys []string
			for j := 0; j+1 < len(props.Content); j += 2 {
				keys = append(keys, props.Content[j].Value)
			}
			return keys
		}
	}
	return nil
}

func resolveNode(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

// nodeJSON writes a YAML node as JSON, keeping mapping keys in file order.
func nodeJSON(b *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > 64 {
		return errors.New("nested too deeply (or an alias loops)")
	}
	n = resolveNode(n)
	if n == nil {
		b.WriteString("null")
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				return fmt.Errorf("line %d: keys must be plain strings (merge keys are not supported)", k.Line)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, k.Value)
			b.WriteByte(':')
			if err := nodeJSON(b, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := nodeJSON(b, c, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %v", n.Line, err)
		}
		if t, isTime := v.(time.Time); isTime {
			v = t.Format(time.RFC3339Nano)
		}
		if _, isBytes := v.([]byte); isBytes {
			v = n.Value
		}
		bs, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %q is not a JSON value", n.Line, n.Value)
		}
		b.Write(bs)
	default:
		return fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	return nil
}
