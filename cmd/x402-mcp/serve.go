package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	x402mcp "github.com/x402-mcp/x402-mcp"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

func cmdServe(ctx context.Context, e env, args []string) error {
	fs := newFlags("serve", e)
	regPath := fs.String("registry", "", "catalog file (default $X402_REGISTRY, else the built-in example)")
	_ = fs.Bool("stdio", true, "serve over stdio (the only transport in this version)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log := newLogger(e)
	reg, err := loadRegistry(*regPath, e)
	if err != nil {
		return err
	}
	wallet, err := payments.LoadWallet(e.getenv)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{
		Registry: reg, Client: newClient(reg, wallet, log), Version: version, Getenv: e.getenv, Logger: log,
	})
	if err != nil {
		return err
	}
	log.Info("x402-mcp serving MCP over stdio", "version", version, "registry", reg.Path, "tools", len(reg.Tools),
		"wallet", wallet, "budget", reg.Budget.Total.USDC(), "perCall", reg.Defaults.MaxPerCall.USDC())
	if err := srv.ServeStdio(ctx, e.stdin, e.stdout); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("stdio: %w", err)
	}
	return nil
}

// loadRegistry reads the catalog from path, $X402_REGISTRY, or the built-in example.
func loadRegistry(path string, e env) (*tools.Registry, error) {
	if path == "" {
		path = e.getenv("X402_REGISTRY")
	}
	if path == "" {
		return tools.Parse("registry.yaml (built-in example)", x402mcp.DefaultRegistry)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("registry file not found: %s (give --registry FILE or X402_REGISTRY; `x402-mcp check` validates one)", path)
	}
	return tools.Load(path)
}

// newClient builds the paying client for a catalog and wallet.
func newClient(reg *tools.Registry, w *payments.Wallet, log *slog.Logger) *payments.Client {
	pol := reg.Policy()
	return &payments.Client{
		HTTP:   payments.NewHTTPClient(),
		Wallet: w,
		Policy: pol,
		Ledger: payments.NewMemoryLedger(pol.Budget, nil),
		Logger: log,
	}
}
