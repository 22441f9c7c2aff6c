package tools

import (
	"slices"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments"
)

// How defaults.expose lists the catalog.
const (
	// ExposeTools lists one MCP tool per entry (the default).
	ExposeTools = "tools"
	// ExposeSearch lists only the built-ins, x402_find_tools and x402_call:
	// for catalogs too large to put in front of a model.
	ExposeSearch = "search"
)

func parseExpose(p *problems, s string) string {
	switch s {
	case "", ExposeTools, ExposeSearch:
		return s
	}
	p.add("defaults.expose", "%q is not a way to list the catalog: write tools (one MCP tool per entry, the default) or search (x402_find_tools and x402_call, for large catalogs)", s)
	return ""
}

// Networks returns where the entry may pay: its network pin, else
// defaults.networks.
func (e *Entry) Networks() []payments.Network { return slices.Clone(e.networks) }

// Matches reports whether the entry's name or description contains every
// word (case-insensitive; words are already lowercase).
func (e *Entry) Matches(words []string) bool {
	if len(words) == 0 {
		return true
	}
	hay := strings.ToLower(e.Name + " " + strings.ReplaceAll(e.Name, "_", " ") + " " + e.Description)
	for _, w := range words {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}
