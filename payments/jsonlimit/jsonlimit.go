// Package jsonlimit checks JSON that others wrote before a recursive decoder
// reads it.
//
// Recursive JSON parsers use one stack frame or more per level of nesting.
// encoding/json is safe on its own: it validates a document in a loop before
// decoding it and refuses more than 10000 levels. Other parsers are not:
// gjson recurses once per level with no limit, and 10 MiB of "[" (within the
// paying client's default body limit) overflows a goroutine's 1 GB stack,
// which is a fatal error that no recover catches. A deep document is also
// costly for code that walks the decoded value, and for the MCP host that
// receives it as structured content.
//
// So every JSON document x402-mcp reads from someone else (an upstream's
// answer, a 402 challenge, a receipt header, a facilitator's or an RPC
// node's answer, a discovery listing, a remote MCP server's challenge, a
// keystore file) goes through Check or Unmarshal first. They scan the bytes
// in one loop with a depth counter and refuse more than MaxDepth levels, so
// the memory they use does not grow with the nesting, and neither does the
// stack of anything that decodes the document after them. Unmarshal's
// error is short too, however long a value in the document (Short).
package jsonlimit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MaxDepth is how deeply a JSON document from someone else may nest: arrays
// and objects inside each other, counting the outermost as 1. Real answers
// nest a few dozen levels at most; 512 also stays within what hosts written
// in languages with small recursion limits (Python's is 1000) can decode.
const MaxDepth = 512

// DepthError is a document nested deeper than MaxDepth.
type DepthError struct {
	// Max is the limit that was passed (MaxDepth).
	Max int
	// Offset is the byte at which the document went one level too deep.
	Offset int
}

func (e *DepthError) Error() string {
	return fmt.Sprintf("JSON nested deeper than %d levels (at byte %d)", e.Max, e.Offset)
}

// CheckDepth returns a *DepthError when b nests arrays and objects deeper
// than MaxDepth, and nil otherwise. It does not check the rest of the
// syntax: Check does. It reads b once, with no recursion and no allocation.
func CheckDepth(b []byte) error {
	depth := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped byte cannot end the string
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth > MaxDepth {
				return &DepthError{Max: MaxDepth, Offset: i}
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}

// Check returns nil when b is exactly one JSON value (with optional
// surrounding space) nested at most MaxDepth levels; a *DepthError when it
// nests deeper; and encoding/json's *json.SyntaxError when it is not JSON.
func Check(b []byte) error {
	if err := CheckDepth(b); err != nil {
		return err
	}
	if json.Valid(b) {
		return nil
	}
	// Unmarshal validates before it decodes anything, so this only
	// fetches the syntax error, with its offset, that json.Valid saw.
	return json.Unmarshal(b, &struct{}{})
}

// Valid reports whether Check(b) is nil.
func Valid(b []byte) bool { return Check(b) == nil }

// Unmarshal is json.Unmarshal for a document someone else wrote: it refuses
// nesting deeper than MaxDepth (a *DepthError) before decoding, and its
// error stays short whatever the document holds (Short).
func Unmarshal(b []byte, v any) error {
	if err := CheckDepth(b); err != nil {
		return err
	}
	return Short(json.Unmarshal(b, v))
}

// MaxQuoted is how many bytes of a value from the document an error of
// Unmarshal quotes.
const MaxQuoted = 40

// MaxErrorBytes bounds the message of an error of Unmarshal.
const MaxErrorBytes = 300

// Short bounds the text of an error of encoding/json. Its
// *json.UnmarshalTypeError quotes a number it cannot store whole, however
// long ("cannot unmarshal number 1000…000 into Go struct field …": a
// number of 5,000 digits made an error of 5 KB for the model and the
// logs): Short cuts that value, in place, to MaxQuoted bytes and "…",
// keeping the error's type and the field it names. An error still over
// MaxErrorBytes (a decoder's own, quoting what it read) is cut to that
// many bytes, and unwraps to the original.
func Short(err error) error {
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && len(te.Value) > MaxQuoted {
		// Value is "number " and the literal, or a kind ("string",
		// "array"): ASCII, so any byte is a boundary.
		te.Value = te.Value[:MaxQuoted] + "…"
	}
	if msg := err.Error(); len(msg) > MaxErrorBytes {
		return &cutError{msg: strings.ToValidUTF8(msg[:MaxErrorBytes], "") + "…", err: err}
	}
	return err
}

// cutError is an error whose text Short cut.
type cutError struct {
	msg string
	err error
}

func (e *cutError) Error() string { return e.msg }
func (e *cutError) Unwrap() error { return e.err }
