package mustjson

import (
	"math"
	"strings"
	"testing"
)

func TestMarshal(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want string
	}{
		{map[string]string{"a": "<b>"}, `{"a":"\u003cb\u003e"}`},
		{struct {
			N int    `json:"n"`
			S string `json:"s"`
		}{1, "x"}, `{"n":1,"s":"x"}`},
		{"pay_1", `"pay_1"`},
	} {
		if got := string(Marshal(tt.v)); got != tt.want {
			t.Errorf("Marshal(%#v) = %s, want %s", tt.v, got, tt.want)
		}
	}
}

// TestMarshalPanics: a value that cannot be marshaled is a programming
// error, and the panic names its type.
func TestMarshalPanics(t *testing.T) {
	for _, v := range []any{math.NaN(), map[string]any{"f": func() {}}, make(chan int)} {
		func() {
			defer func() {
				r := recover()
				s, _ := r.(string)
				if !strings.HasPrefix(s, "mustjson: a ") || !strings.Contains(s, "programming error") {
					t.Errorf("Marshal(%T): panic %v, want one naming the type", v, r)
				}
			}()
			Marshal(v)
		}()
	}
}
