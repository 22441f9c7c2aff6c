package tools

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

const bombHead = `version: 1
tools:
  - name: bomb
    description: A catalog entry whose aliases expand without bound.
    url: https://example.com/x
    max_price: "0.01"
`

// laughs returns levels lines "prefix &lN [*lN-1 × 10]" under an anchor
// &l0 of ten 10-byte strings: level N expands to 10^(N+1) strings.
func laughs(prefix string, levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s&l0 [%s]\n", prefix, strings.TrimSuffix(strings.Repeat("aaaaaaaaaa,", 10), ","))
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "%s&l%d [%s]\n", prefix, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), 10), ","))
	}
	return b.String()
}

// schemaBomb hides the laughs in input_schema, whose YAML x402-mcp walks
// itself (nodeJSON) to keep the properties in file order.
func schemaBomb(levels int) string {
	return bombHead + "    input_schema:\n      type: object\n      properties:\n        a: {type: string}\n      examples:\n" +
		laughs("        - ", levels)
}

// enumBomb hides them in a param's enum, which the YAML library decodes.
func enumBomb(levels int) string {
	return bombHead + "    params:\n      - name: a\n        type: array\n        enum:\n" + laughs("          - ", levels)
}

// TestParseRefusesAliasBombs: a registry file whose aliases expand to far
// more than it holds ("billion laughs") is refused quickly, in bounded
// memory, with an error that names the file, the line and the fix. Before,
// schemaBomb(5), 600 bytes, allocated over 400 MB and was accepted; with 9
// levels it would have needed terabytes.
func TestParseRefusesAliasBombs(t *testing.T) {
	long := strings.Repeat("x", 60<<10)
	cases := []struct {
		name string
		src  string
		line string // the "file:line:" the error starts with
	}{
		{"input_schema, 10^6 strings", schemaBomb(5), "registry.yaml:"},
		{"input_schema, 10^10 strings", schemaBomb(9), "registry.yaml:"},
		{"enum, 10^9 strings", enumBomb(8), "registry.yaml:"},
		// Few enough aliases to pass the YAML library's own alias ratio
		// check, each of a long string: 100 × 60 KiB.
		{"a long string 100 times", bombHead + "    params:\n      - name: a\n        default: &s " + long + "\n        enum: [" +
			strings.TrimSuffix(strings.Repeat("*s, ", 100), ", ") + "]\n", "registry.yaml:"},
	}
	for _, tc := range cases {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := Parse("registry.yaml", []byte(tc.src), testFamilies)
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			// Stop the run rather than let the parse eat the machine.
			panic(fmt.Sprintf("%s: Parse did not return within 20s", tc.name))
		}
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc
		if err == nil {
			t.Fatalf("%s: a %d-byte file that expands without bound was accepted (%d MB allocated, %s)", tc.name, len(tc.src), allocated>>20, elapsed)
		}
		msg := err.Error()
		for _, want := range []string{tc.line, "aliases", "expand", "more than the 1 MiB", "write the repeated values out"} {
			if !strings.Contains(msg, want) {
				t.Fatalf("%s: error lacks %q: %v", tc.name, want, err)
			}
		}
		if allocated > 16<<20+uint64(20*len(tc.src)) {
			t.Fatalf("%s: refusing a %d-byte file allocated %d MB", tc.name, len(tc.src), allocated>>20)
		}
		if elapsed > 2*time.Second {
			t.Fatalf("%s: refusing took %s", tc.name, elapsed)
		}
	}
}

// TestParseKeepsModestAliases: aliases that share a header map or a schema
// fragment between entries, as catalogs do, still parse, in order.
func TestParseKeepsModestAliases(t *testing.T) {
	r := mustParse(t, `version: 1
tools:
  - name: one
    description: First.
    url: https://example.com/one
    headers: &auth
      X-Api-Key: ${API_KEY}
    input_schema:
      type: object
      properties:
        city: &city {type: string, description: City name, enum: [paris, tokyo]}
        days: {type: integer}
    max_price: "0.01"
  - name: two
    description: Second.
    url: https://example.com/two
    headers: *auth
    input_schema:
      type: object
      properties:
        town: *city
    max_price: "0.01"
`)
	two, _ := r.Entry("two")
	if two.Headers["X-Api-Key"] != "${API_KEY}" || !strings.Contains(string(two.schema), `"town":{"type":"string","description":"City name","enum":["paris","tokyo"]}`) {
		t.Fatalf("entry two: headers %v, schema %s", two.Headers, two.schema)
	}
}
