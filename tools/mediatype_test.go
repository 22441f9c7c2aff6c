package tools

import (
	"strings"
	"testing"
)

// TestShapeHostileContentType: the seller's Content-Type header reaches the
// model's text only as a well-formed media type; anything else (long,
// binary, with control characters) is "an unknown type". Found by FuzzShape
// (testdata/fuzz/FuzzShape/dcc6515aaf8876f5): 11 KB of a header in a
// result capped at 2 KB.
func TestShapeHostileContentType(t *testing.T) {
	garbage := strings.Repeat("\xd3", 10<<10)
	cases := []struct {
		name, ct string
		status   int
		body     string
		says     string
	}{
		{"binary header, error status", garbage, 502, "\xff\xfe", "(2 bytes of an unknown type)"},
		{"binary header, 2xx", garbage, 200, "\xff\xfe", "The upstream returned 2 bytes of an unknown type; not shown"},
		{"control characters", "application/x\x1b[31mred", 200, "\xff\xfe", "of an unknown type"},
		{"very long", "application/" + strings.Repeat("a", 300), 200, "\xff\xfe", "of an unknown type"},
		{"bad parameters keep the type", "text/plain; charset", 200, "hello", "hello"},
		{"plain binary type", "application/octet-stream", 200, "\xff\xfe", "2 bytes of application/octet-stream"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Shape(&Entry{Name: "t"}, result(tc.status, tc.ct, tc.body), MinResultBytes)
			text := resultText(r)
			if !strings.Contains(text, tc.says) {
				t.Fatalf("text lacks %q: %.300q", tc.says, text)
			}
			if len(text) > MinResultBytes || strings.Contains(text, "\xd3") || strings.Contains(text, "\x1b") {
				t.Fatalf("text of %d bytes shows the header: %.300q", len(text), text)
			}
		})
	}
}
