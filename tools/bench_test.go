package tools_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/tools"
)

// bigCatalog is a registry of n entries: params (path and query), an
// input_schema, headers and pins in turn, as a large generated catalog
// would have.
func bigCatalog(n int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\ndefaults:\n  networks: [eip155:8453, eip155:84532]\n  max_per_call: \"0.10\"\nbudget:\n  total: \"10\"\ntools:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: tool_%05d\n    description: Generated tool number %d, which returns data about item %d.\n", i, i, i)
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "    url: \"https://api%d.example.com/v1/items/{id}\"\n    params:\n      - {name: id, in: path, type: string, required: true, description: The item}\n      - {name: lang, in: query, type: string, enum: [en, fr], default: en}\n", i%50)
		case 1:
			fmt.Fprintf(&b, "    method: POST\n    url: \"https://api%d.example.com/v1/search\"\n    input_schema:\n      type: object\n      properties:\n        q: {type: string, description: Query}\n        limit: {type: integer}\n      required: [q]\n", i%50)
		default:
			fmt.Fprintf(&b, "    url: \"https://api%d.example.com/v1/feed\"\n    headers:\n      X-Api-Key: \"${API_KEY}\"\n    network: eip155:8453\n    pay_to: \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"\n    result: data.items\n", i%50)
		}
		fmt.Fprintf(&b, "    max_price: \"0.00%d\"\n", i%9+1)
	}
	return []byte(b.String())
}

// BenchmarkLoad10000 reads and validates a 10,000-entry registry file.
func BenchmarkLoad10000(b *testing.B) {
	path := filepath.Join(b.TempDir(), "registry.yaml")
	src := bigCatalog(10_000)
	if err := os.WriteFile(path, src, 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		reg, err := tools.Load(path, benchFamilies)
		if err != nil {
			b.Fatal(err)
		}
		if len(reg.Tools) != 10_000 {
			b.Fatal(len(reg.Tools))
		}
	}
}

// BenchmarkBuild10000 turns a loaded 10,000-entry registry into MCP tools.
func BenchmarkBuild10000(b *testing.B) {
	reg, err := tools.Parse("registry.yaml", bigCatalog(10_000), benchFamilies)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if got := tools.Build(reg, nil, nil); len(got) != 10_000 {
			b.Fatal(len(got))
		}
	}
}

// BenchmarkWarmPaidCall is one warm paid tool call in process, without an
// MCP transport: arguments checked, the request built, the payment signed
// from remembered terms (one HTTP round trip to the local seller, which
// verifies and settles it), the answer shaped with its receipt, with the
// durable SQLite ledger (its default flush before the payment leaves). The
// seller's work (two ecrecovers) is included: it runs in this process.
func BenchmarkWarmPaidCall(b *testing.B) {
	s := localseller.New(localseller.Config{})
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	reg, err := tools.Parse("registry.yaml", []byte(`version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.01"
budget:
  total: "1000000"
tools:
  - name: weather
    description: Current weather for a city.
    url: "`+srv.URL+`/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
`), benchFamilies)
	if err != nil {
		b.Fatal(err)
	}
	w, err := wallet.ParseHexKey("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
	if err != nil {
		b.Fatal(err)
	}
	s.Facilitator().Fund(w.Address(), payments.MaxAmount/2)
	pol := reg.Policy()
	book, err := ledger.Open(context.Background(), filepath.Join(b.TempDir(), "ledger.db"), pol.Budget)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { book.Close() })
	c := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: book, Warm: &payments.Warm{}}
	h := tools.Build(reg, c, func(string) string { return "" })[0].Handler
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "weather", map[string]any{"city": "paris"}
	b.ReportAllocs()
	for b.Loop() {
		res, err := h(context.Background(), req)
		if err != nil || res.IsError {
			b.Fatalf("%v %v", err, res)
		}
	}
	if st := c.Warm.Stats(); st.Hits < int64(b.N)-1 {
		b.Fatalf("warm hits %d of %d calls", st.Hits, b.N)
	}
}

// benchFamilies are the network families the catalogs here are read with.
var benchFamilies = payments.Families{evm.Family{}}
