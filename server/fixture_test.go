package server_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// fixture is a server for the catalog src (whose urls use ${SELLER}) over a
// fresh local seller, a throwaway wallet funded there, and a SQLite ledger
// in a temp dir that is also the spend history.
type fixture struct {
	srv    *server.Server
	seller *localseller.Running
	book   *ledger.Ledger
	wallet *wallet.EVMKey
}

// newFixture builds it; cfg may preset server.Config fields (Registry,
// Client, History and Getenv are filled in).
func newFixture(t testing.TB, src string, funds payments.Amount, sc localseller.Config, cfg server.Config) *fixture {
	t.Helper()
	seller, err := localseller.Start(sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	w, err := wallet.GenerateEVMKey()
	if err != nil {
		t.Fatal(err)
	}
	seller.Facilitator.Fund(w.Address(), funds)
	reg, err := tools.Parse("registry.yaml", []byte(src), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	pol := reg.Policy()
	book, err := ledger.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), pol.Budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { book.Close() })
	cfg.Registry, cfg.History, cfg.Books = reg, book, book
	// As serve wires it: the warm path on. A preset Client's signers join
	// the EVM key.
	signers := payments.Signers{w}
	if cfg.Client != nil {
		signers = append(signers, cfg.Client.Signers...)
	}
	cfg.Client = &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: signers, Policy: pol, Ledger: book, Session: "test-session", Warm: &payments.Warm{}}
	cfg.Getenv = func(k string) string {
		if k == "SELLER" {
			return seller.URL
		}
		return ""
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, seller: seller, book: book, wallet: w}
}

// inProcess connects an initialized mcp-go client to the server in process.
// The protocol version is the client's: the newest unless pinned with
// client.WithProtocolVersion.
func (f *fixture) inProcess(t testing.TB, opts ...client.ClientOption) *client.Client {
	t.Helper()
	cli, err := client.NewInProcessClientWithOptions(f.srv.MCP(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx := context.Background()
	if err := cli.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "1"}
	if _, err := cli.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return cli
}
