package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// catalogOf returns a registry of n weather-like entries; expose is "tools"
// or "search".
func catalogOf(n int, expose string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ndefaults:\n  networks: [eip155:84532]\n  max_per_call: \"0.05\"\n  expose: %s\ntools:\n", expose)
	for i := range n {
		fmt.Fprintf(&b, "  - name: weather_%04d\n    description: Weather now in a city, station %d.\n    url: \"${SELLER}/v2/weather/{city}\"\n    params:\n      - {name: city, in: path, type: string, required: true, description: City}\n      - {name: units, in: query, type: string, enum: [metric, imperial], default: metric}\n    max_price: \"0.001\"\n", i, i)
	}
	return b.String()
}

// BenchmarkToolsList1000 answers tools/list for a 1,000-tool catalog through
// an in-process mcp-go client (JSON encoding and decoding included).
func BenchmarkToolsList1000(b *testing.B) {
	f := newFixture(b, catalogOf(1000, tools.ExposeTools), 1_000_000, localseller.Config{}, server.Config{})
	cli := f.inProcess(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		list, err := cli.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			b.Fatal(err)
		}
		if len(list.Tools) < 1000 {
			b.Fatal(len(list.Tools))
		}
	}
}

// BenchmarkFindTools10000 answers one x402_find_tools search over 10,000
// entries (expose: search).
func BenchmarkFindTools10000(b *testing.B) {
	f := newFixture(b, catalogOf(10_000, tools.ExposeSearch), 1_000_000, localseller.Config{}, server.Config{})
	cli := f.inProcess(b)
	ctx := context.Background()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = server.ToolFind, map[string]any{"query": "station 9999", "max_price": "0.01"}
	b.ReportAllocs()
	for b.Loop() {
		res, err := cli.CallTool(ctx, req)
		if err != nil || res.IsError {
			b.Fatal(err, res)
		}
	}
}

// BenchmarkReload1000 swaps a 1,000-tool catalog (Build, SetTools and the
// list_changed notification), without parsing.
func BenchmarkReload1000(b *testing.B) {
	f := newFixture(b, catalogOf(1000, tools.ExposeTools), 1_000_000, localseller.Config{}, server.Config{})
	reg, err := tools.Parse("registry.yaml", []byte(catalogOf(1000, tools.ExposeTools)), testFamilies)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := f.srv.Reload(reg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkToolsList1000Server is the server's share of tools/list over
// 1,000 tools: the JSON-RPC request handled and the answer encoded, as
// the stdio transport writes it (no client decoding).
func BenchmarkToolsList1000Server(b *testing.B) {
	f := newFixture(b, catalogOf(1000, tools.ExposeTools), 1_000_000, localseller.Config{}, server.Config{})
	ctx := context.Background()
	msg := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	b.ReportAllocs()
	for b.Loop() {
		out, err := json.Marshal(f.srv.MCP().HandleMessage(ctx, msg))
		if err != nil {
			b.Fatal(err)
		}
		if len(out) < 100_000 {
			b.Fatalf("%d bytes: %.300s", len(out), out)
		}
	}
}
