package tools

import (
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

// resultText joins the text contents of a result.
func resultText(r *mcp.CallToolResult) string {
	var parts []string
	for _, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// meta returns a result's _meta fields.
func meta(r *mcp.CallToolResult) map[string]any {
	if r.Meta == nil {
		return nil
	}
	return r.Meta.AdditionalFields
}
