package server_test

import (
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/server"
)

// TestCountsReadNaturally: the counts the built-ins say in words agree in
// number with the thing counted ("1 payment", "2 payments").
func TestCountsReadNaturally(t *testing.T) {
	f := newFixture(t, outputRegistry, 10_000_000, localseller.Config{}, server.Config{})
	cli := f.inProcess(t)
	says := func(tool string, args map[string]any, want string) {
		t.Helper()
		res := call(t, cli, tool, args)
		if text := mcp.GetTextFromContent(res.Content[0]); res.IsError || !strings.Contains(text, want) {
			t.Errorf("%s %v says %q, want it to say %q", tool, args, text, want)
		}
	}
	says(server.ToolSpendHistory, nil, "0 payments, newest first.")
	says(server.ToolWallet, nil, "(0 payments).")
	for i, want := range []string{"1 payment", "2 payments"} {
		if res := call(t, cli, "weather", map[string]any{"city": "oslo"}); res.IsError {
			t.Fatalf("payment %d: %s", i+1, mcp.GetTextFromContent(res.Content[0]))
		}
		says(server.ToolSpendHistory, nil, want+", newest first.")
		says(server.ToolSpendHistory, map[string]any{"tool": "weather"}, want+" matching the filter, newest first.")
		says(server.ToolWallet, nil, "("+want+").")
	}

	s := newFixture(t, searchRegistry, 1_000_000, localseller.Config{}, server.Config{})
	cli = s.inProcess(t)
	for _, tt := range []struct {
		query, want string
	}{
		{"horoscope", "0 paid tools match."},
		{"cheap", "1 paid tool matches."},
		{"weather", "2 paid tools match."},
	} {
		says(server.ToolFind, map[string]any{"query": tt.query}, tt.want)
	}
}
