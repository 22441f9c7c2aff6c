package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	x402mcp "github.com/x402-mcp/x402-mcp"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// The README's generated tool list sits between these markers.
const (
	toolsStart = "<!-- START AUTOMATED TOOLS -->"
	toolsEnd   = "<!-- END AUTOMATED TOOLS -->"
)

// docsTipping is the tipping section of registry.yaml's comments, turned on
// so that x402_tip is listed with the example's limits.
const docsTipping = `
tipping:
  network: eip155:84532
  facilitator_url: ${X402_SELLER_URL:-http://127.0.0.1:4021}/facilitator
  per_day: "0.20"
  max_tip: "0.10"
  recipients:
    author: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
`

// docsSearch is a catalog with expose: search, for x402_find_tools and
// x402_call.
const docsSearch = "version: 1\ndefaults:\n  expose: search\n"

// cmdDocs rewrites the tool list of README.md (between toolsStart and
// toolsEnd) from the tools x402-mcp really lists.
func cmdDocs(e env, args []string) error {
	fs := newFlags("docs", e)
	readme := fs.String("readme", "README.md", "the README to rewrite")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"docs takes no arguments, only --readme FILE"}
	}
	src, err := os.ReadFile(*readme)
	if err != nil {
		return fmt.Errorf("docs: %w (run it from the repository root, or give --readme)", err)
	}
	list, err := toolDocs()
	if err != nil {
		return err
	}
	out, err := replaceToolList(src, list)
	if err != nil {
		return fmt.Errorf("docs: %s: %w", *readme, err)
	}
	if bytes.Equal(out, src) {
		fmt.Fprintf(e.stdout, "%s: the tool list is up to date\n", *readme)
		return nil
	}
	st, err := os.Stat(*readme)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*readme, out, st.Mode().Perm()); err != nil {
		return fmt.Errorf("docs: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s: tool list rewritten\n", *readme)
	return nil
}

// replaceToolList puts list between the markers of src.
func replaceToolList(src, list []byte) ([]byte, error) {
	start := bytes.Index(src, []byte(toolsStart))
	end := bytes.Index(src, []byte(toolsEnd))
	if start < 0 || end < start {
		return nil, fmt.Errorf("no %s … %s section", toolsStart, toolsEnd)
	}
	var b bytes.Buffer
	b.Write(src[:start+len(toolsStart)])
	b.WriteString("\n")
	b.Write(list)
	b.Write(src[end:])
	return b.Bytes(), nil
}

// noHistory stands in for the ledger: listing tools reads none.
type noHistory struct{}

func (noHistory) List(context.Context, ledger.Filter) ([]ledger.Row, error) { return nil, nil }

// listedTools is the tools/list of a server for the catalog src, by name.
func listedTools(name string, src []byte) (map[string]mcp.Tool, error) {
	reg, err := tools.Parse(name, src, families)
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Config{Registry: reg, Client: &payments.Client{Policy: reg.Policy()}, History: noHistory{},
		Getenv: func(string) string { return "" }})
	if err != nil {
		return nil, err
	}
	out := map[string]mcp.Tool{}
	for n, t := range srv.MCP().ListTools() {
		out[n] = t.Tool
	}
	return out, nil
}

// toolDocs renders the list of tools x402-mcp lists: the built-ins (with when
// each is listed) and the example catalog's entries, from the definitions a
// host receives in tools/list.
func toolDocs() ([]byte, error) {
	plain, err := listedTools("registry.yaml", x402mcp.DefaultRegistry)
	if err != nil {
		return nil, err
	}
	tipping, err := listedTools("registry.yaml with tipping", append(slices.Clone(x402mcp.DefaultRegistry), docsTipping...))
	if err != nil {
		return nil, err
	}
	search, err := listedTools("expose: search", []byte(docsSearch))
	if err != nil {
		return nil, err
	}
	var builtins, entries []string
	for _, set := range []map[string]mcp.Tool{plain, tipping, search} {
		for n := range set {
			switch {
			case strings.HasPrefix(n, tools.ReservedPrefix) && !slices.Contains(builtins, n):
				builtins = append(builtins, n)
			case !strings.HasPrefix(n, tools.ReservedPrefix) && !slices.Contains(entries, n):
				entries = append(entries, n)
			}
		}
	}
	slices.Sort(builtins)
	// The catalog's entries in the file's order.
	reg, err := tools.Parse("registry.yaml", x402mcp.DefaultRegistry, families)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("<!-- Generated from the tool definitions by `go run ./cmd/x402-mcp docs`; edit the code, not this list. -->\n\n")
	b.WriteString("Built-in tools (the prefix `x402_` is theirs: catalog entries cannot use it):\n\n")
	for _, n := range builtins {
		_, inPlain := plain[n]
		_, inTipping := tipping[n]
		_, inSearch := search[n]
		when := "always listed"
		switch {
		case inPlain && inSearch:
		case inTipping && !inPlain:
			when = "listed when the catalog has a `tipping:` section"
		case inSearch && !inPlain:
			when = "listed with `defaults.expose: search`, instead of the catalog's entries"
		}
		t := tipping[n]
		if !inTipping {
			t = search[n]
		}
		if err := writeTool(&b, t, when); err != nil {
			return nil, err
		}
	}
	b.WriteString("\nThe example catalog (this repository's `registry.yaml`, built into the binary) adds one tool per entry:\n\n")
	for _, e := range reg.Tools {
		t, ok := plain[e.Name]
		if !ok {
			continue
		}
		if err := writeTool(&b, t, "a catalog entry"); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// writeTool writes one tool as a list item: name, title, what it may do,
// when it is listed, its description and its arguments.
func writeTool(w io.Writer, t mcp.Tool, when string) error {
	title := t.Annotations.Title
	if title == "" {
		title = t.Title
	}
	does := "May spend money"
	if ro := t.Annotations.ReadOnlyHint; ro != nil && *ro {
		does = "Read-only"
	}
	fmt.Fprintf(w, "- **`%s`** (*%s*): %s\n  %s; %s.", t.Name, title, oneLine(t.Description), does, when)
	raw := t.RawInputSchema
	if raw == nil {
		b, err := json.Marshal(t.InputSchema)
		if err != nil {
			return err
		}
		raw = b
	}
	args, err := argumentDocs(raw)
	if err != nil {
		return fmt.Errorf("docs: %s: %w", t.Name, err)
	}
	if len(args) == 0 {
		fmt.Fprintf(w, " Arguments: none.")
	} else {
		fmt.Fprintf(w, " Arguments: %s.", strings.Join(args, "; "))
	}
	if t.RawOutputSchema != nil || t.OutputSchema.Type != "" {
		fmt.Fprint(w, " Its structured answer is described by an `outputSchema`.")
	}
	fmt.Fprintln(w)
	return nil
}

// argumentDocs describes each property of an input schema, in the schema's
// order: `name` (type, required, one of …, default …): description.
func argumentDocs(schema json.RawMessage) ([]string, error) {
	var s struct {
		Properties json.RawMessage `json:"properties"`
		Required   []string        `json:"required"`
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		return nil, err
	}
	names, props, err := orderedObject(s.Properties)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		var p struct {
			Type        string `json:"type"`
			Description string `json:"description"`
			Enum        []any  `json:"enum"`
			Default     any    `json:"default"`
			Pattern     string `json:"pattern"`
		}
		if err := json.Unmarshal(props[n], &p); err != nil {
			return nil, err
		}
		facts := []string{p.Type}
		if slices.Contains(s.Required, n) {
			facts = append(facts, "required")
		}
		if len(p.Enum) > 0 {
			vals := make([]string, len(p.Enum))
			for i, v := range p.Enum {
				vals[i] = fmt.Sprint(v)
			}
			facts = append(facts, "one of "+strings.Join(vals, ", "))
		}
		if p.Default != nil {
			facts = append(facts, fmt.Sprintf("default %v", p.Default))
		}
		if p.Pattern != "" {
			facts = append(facts, "pattern `"+p.Pattern+"`")
		}
		a := fmt.Sprintf("`%s` (%s)", n, strings.Join(facts, ", "))
		if p.Description != "" {
			a += ": " + strings.TrimSuffix(oneLine(p.Description), ".")
		}
		out = append(out, a)
	}
	return out, nil
}

// orderedObject reads a JSON object's keys in order, with their values.
func orderedObject(raw json.RawMessage) ([]string, map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return nil, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("properties is not an object")
	}
	var names []string
	vals := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		names = append(names, k)
		vals[k] = v
	}
	return names, vals, nil
}

// oneLine joins a description's lines (markdown list items are one line).
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
