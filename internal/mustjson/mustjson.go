// Package mustjson marshals values that cannot fail to marshal: maps and
// structs of strings, numbers and booleans, canonical JSON values. Where
// such a value is marshaled, the error is impossible by construction, and
// Marshal says so instead of dropping it: it panics, because a value that
// fails is a programming error (a type changed), never bad input. A value
// that holds anything a stranger sent, or a type that may not marshal
// (channels, functions, NaN, a json.RawMessage not checked as JSON), is
// marshaled with encoding/json and its error handled.
package mustjson

import (
	"encoding/json"
	"fmt"
)

// Marshal is json.Marshal for a value of fixed, marshalable types. It
// panics, naming the value's type, when the value cannot be marshaled.
func Marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("mustjson: a %T cannot be marshaled (a programming error): %v", v, err))
	}
	return b
}
