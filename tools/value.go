package tools

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/x402-mcp/x402-mcp/internal/mustjson"
)

// jsonTypes are the JSON Schema types a param may declare.
var jsonTypes = []string{"string", "integer", "number", "boolean", "array", "object"}

// canonical turns a Go value (from YAML or from a tool call's arguments) into
// the shape encoding/json produces: string, float64, bool, nil, []any and
// map[string]any. Comparisons and type checks work on this form.
func canonical(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not a JSON value: %w", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// jsonTypeOf names the JSON type of a canonical value. Integral numbers are
// "integer" (which is also a "number").
func jsonTypeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64:
		if isIntegral(x) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func isIntegral(f float64) bool {
	return !math.IsInf(f, 0) && !math.IsNaN(f) && f == math.Trunc(f)
}

// hasType reports whether canonical value v is of JSON Schema type t.
func hasType(v any, t string) bool {
	got := jsonTypeOf(v)
	return got == t || t == "number" && got == "integer"
}

// hasAnyType reports whether v matches one of types; no types matches anything.
func hasAnyType(v any, types []string) bool {
	if len(types) == 0 {
		return true
	}
	for _, t := range types {
		if hasType(v, t) {
			return true
		}
	}
	return false
}

// inEnum reports whether canonical v equals one of the canonical enum values.
func inEnum(v any, enum []any) bool {
	return slices.ContainsFunc(enum, func(e any) bool { return reflect.DeepEqual(v, e) })
}

// describe renders a value for a message: JSON, cut short.
func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	s := string(b)
	if len(s) > 60 {
		s = truncateUTF8(s, 57) + "..."
	}
	return s
}

// describeType names a value's type for a message ("string \"3\"").
func describeType(v any) string {
	t := jsonTypeOf(v)
	if t == "integer" {
		t = "number"
	}
	if t == "null" {
		return "null"
	}
	return t + " " + describe(v)
}

// joinTypes renders a type list: "string", "string or null".
func joinTypes(types []string) string {
	if len(types) == 1 {
		return types[0]
	}
	return strings.Join(types[:len(types)-1], ", ") + " or " + types[len(types)-1]
}

// scalarString renders a scalar for a URL or header: strings as they are,
// numbers without exponent, booleans as true/false. Arrays and objects are
// JSON-encoded.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		if isIntegral(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	return string(mustjson.Marshal(v)) // a canonical JSON value (bind) always marshals
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, float64:
		return true
	}
	return false
}

// truncateUTF8 cuts s to at most max bytes without splitting a rune.
func truncateUTF8(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	cut := max
	// Step back over continuation bytes (10xxxxxx) to a rune start.
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut]
}
