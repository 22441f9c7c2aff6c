package jsonlimit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func nest(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		depth bool // want a *DepthError
		ok    bool
	}{
		{"scalar", `1`, false, true},
		{"object", `{"a":[1,{"b":null}]}`, false, true},
		{"space around", " \n[1]\t", false, true},
		{"at the limit", nest(MaxDepth), false, true},
		{"one too deep", nest(MaxDepth + 1), true, false},
		{"unclosed and deep", strings.Repeat("[", 10<<20), true, false},
		{"objects", strings.Repeat(`{"a":`, MaxDepth+1), true, false},
		{"brackets in strings do not count", `["` + strings.Repeat("[", 5000) + `"]`, false, true},
		{"escaped quote keeps the string open", `["\"` + strings.Repeat("[", 5000) + `"]`, false, true},
		{"escaped backslash closes the string", `["\\",` + nest(MaxDepth) + `]`, true, false},
		{"empty", ``, false, false},
		{"two values", `1 2`, false, false},
		{"not JSON", `<html>`, false, false},
		{"unbalanced closers", `]]]]`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.in))
			var de *DepthError
			if got := errors.As(err, &de); got != tt.depth {
				t.Fatalf("depth error = %v (%v), want %v", got, err, tt.depth)
			}
			if (err == nil) != tt.ok || Valid([]byte(tt.in)) != tt.ok {
				t.Fatalf("Check = %v, want ok %v", err, tt.ok)
			}
			if tt.depth && (de.Max != MaxDepth || !strings.Contains(err.Error(), "nested deeper than 512 levels")) {
				t.Fatalf("error = %v", err)
			}
			var se *json.SyntaxError
			if !tt.ok && !tt.depth && !errors.As(err, &se) && err.Error() != "unexpected end of JSON input" {
				t.Fatalf("a non-JSON input gave %T %v, want a syntax error", err, err)
			}
		})
	}
}

func TestUnmarshal(t *testing.T) {
	var v any
	if err := Unmarshal([]byte(nest(MaxDepth+1)), &v); err == nil || v != nil {
		t.Fatalf("too deep: err %v, decoded %v", err, v)
	}
	if err := Unmarshal([]byte(`{"a":[1]}`), &v); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(v); string(b) != `{"a":[1]}` {
		t.Fatalf("decoded %s", b)
	}
}

// longError is what a decoder of one's own might return: an error that
// quotes the whole of what it read.
type longError struct{}

func (*longError) UnmarshalJSON(b []byte) error { return fmt.Errorf("cannot read %s", b) }

// TestUnmarshalErrorStaysShort: encoding/json quotes in full a number it
// cannot store ("cannot unmarshal number 1000…000 into Go struct field"),
// so a seller's 5,000-digit number made a 5 KB error; Unmarshal's error
// quotes at most a few dozen bytes of any value, keeps its type and its
// field, and is short whatever a decoder below it says.
func TestUnmarshalErrorStaysShort(t *testing.T) {
	digits := strings.Repeat("9", 5000)
	type inner struct {
		N int `json:"n"`
	}
	tests := []struct {
		name  string
		doc   string
		v     any
		field string // the field a *json.UnmarshalTypeError names, or "" for another error
	}{
		{"int overflow", `{"n":` + digits + `}`, &inner{}, "n"},
		{"fraction into int", `{"n":1.` + digits + `}`, &inner{}, "n"},
		{"float overflow", digits, new(float64), ""},
		{"any overflows float64", `[1E` + digits + `]`, new(any), ""},
		{"nested", `{"a":[{"n":-` + digits + `}]}`, &struct {
			A []inner `json:"a"`
		}{}, "a.n"},
		{"a decoder that quotes everything", `"` + digits + `"`, new(longError), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Unmarshal([]byte(tt.doc), tt.v)
			if err == nil {
				t.Fatal("decoded")
			}
			msg := err.Error()
			if len(msg) > MaxErrorBytes+len("…") {
				t.Fatalf("error of %d bytes: %.200s…", len(msg), msg)
			}
			var te *json.UnmarshalTypeError
			if tt.field != "" && (!errors.As(err, &te) || te.Field != tt.field || !strings.Contains(msg, "999") || strings.Contains(msg, digits[:MaxQuoted])) {
				t.Fatalf("error %q (%T) does not name field %s and only the start of the number", msg, err, tt.field)
			}
		})
	}
}

func TestCheckDepthDoesNotAllocate(t *testing.T) {
	b := []byte("[" + strings.Repeat(`{"a":[1,"x\"y"]},`, 1000) + "1]")
	if err := CheckDepth(b); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(10, func() { _ = CheckDepth(b) }); n != 0 {
		t.Fatalf("CheckDepth allocates %v times per run", n)
	}
}

// FuzzCheck compares Check with encoding/json: both accept the same
// documents, except those nested deeper than MaxDepth, which Check refuses
// with a *DepthError.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"c\"]"}]}`, `[]`, `"x"`, nest(MaxDepth), nest(MaxDepth + 1), `{"a":`, `["\\"]`, `[1,]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Check(b)
		var de *DepthError
		switch {
		case errors.As(err, &de):
			if de.Offset < MaxDepth || de.Offset >= len(b) || (b[de.Offset] != '[' && b[de.Offset] != '{') {
				t.Fatalf("depth error at byte %d of %q", de.Offset, b)
			}
		case (err == nil) != json.Valid(b):
			t.Fatalf("Check = %v, json.Valid = %v for %q", err, json.Valid(b), b)
		}
		if err == nil {
			// Decode as far as JSON goes: a number like 1E1000 is valid
			// JSON but no float64.
			var v any
			var se *json.SyntaxError
			if uerr := Unmarshal(b, &v); errors.As(uerr, &se) || errors.As(uerr, &de) {
				t.Fatalf("Check accepted %q but Unmarshal says %v", b, uerr)
			}
		}
	})
}
