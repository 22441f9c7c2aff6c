package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	ledgerFlag := fs.String("ledger", "", "ledger file (default $X402_LEDGER, else ledger.db in the state directory)")
	_ = fs.Bool("stdio", true, "serve over stdio (the default)")
	httpFlags := addHTTPFlags(fs)
	pprofAddr := fs.String("pprof", "", "serve Go's pprof profiles on this loopback address, e.g. 127.0.0.1:6060 (for benchmarking; off by default)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	httpOpts, err := httpFlags.options(e)
	if err != nil {
		return err
	}
	log := newLogger(e)
	if *pprofAddr != "" {
		if err := startPprof(ctx, *pprofAddr, log); err != nil {
			return err
		}
	}
	reg, err := loadRegistry(*regPath, e)
	if err != nil {
		return err
	}
	wallet, err := payments.LoadWallet(e.getenv)
	if err != nil {
		return err
	}
	path, err := ledgerPath(*ledgerFlag, e)
	if err != nil {
		return err
	}
	l, err := openLedger(ctx, path, reg)
	if err != nil {
		return err
	}
	defer l.Close()
	// Resolve what an earlier run left open (a crash, a lost answer). It runs
	// beside serving, so a slow or unreachable chain never delays the host's
	// start: until it is resolved, an open payment simply stays counted.
	reconciled := make(chan struct{})
	rctx, stopReconcile := context.WithCancel(ctx)
	go func() {
		defer close(reconciled)
		if rep, err := reconcile(rctx, l, reg); err != nil {
			log.Warn("ledger reconcile at start", "err", err)
		} else {
			logReconcile(log, rep)
		}
	}()
	defer func() { <-reconciled }() // before the ledger closes…
	defer stopReconcile()           // …and after it is told to stop
	payer := newClient(reg, wallet, l, log)
	payer.Session = newSessionID("stdio")
	if httpFlags.addr != "" {
		// Over HTTP each request names its session: the authenticated principal.
		payer.Session = server.Principal(httpOpts.Token)
	}
	srv, err := server.New(server.Config{
		Registry: reg, Client: payer, History: l, Version: version, Getenv: e.getenv, Logger: log,
	})
	if err != nil {
		return err
	}
	// A catalog file is watched: edits apply without a restart (the
	// built-in example never changes).
	if file := registryFile(*regPath, e); file != "" {
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go srv.WatchRegistry(wctx, file, server.WatchOptions{})
	}
	if httpFlags.addr != "" {
		log.Info("x402-mcp serving MCP over HTTP", "version", version, "registry", reg.Path, "tools", len(reg.Tools),
			"wallet", wallet, "ledger", path, "budget", reg.Budget.Total.USDC(), "perCall", reg.Defaults.MaxPerCall.USDC())
		return srv.ListenAndServe(ctx, httpFlags.addr, httpOpts)
	}
	log.Info("x402-mcp serving MCP over stdio", "version", version, "registry", reg.Path, "tools", len(reg.Tools),
		"wallet", wallet, "ledger", path, "budget", reg.Budget.Total.USDC(), "perCall", reg.Defaults.MaxPerCall.USDC())
	if err := srv.ServeStdio(ctx, e.stdin, e.stdout); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("stdio: %w", err)
	}
	return nil
}

// registryFile is the catalog file serve reads, or "" for the built-in example.
func registryFile(path string, e env) string {
	if path == "" {
		path = e.getenv("X402_REGISTRY")
	}
	return path
}

// loadRegistry reads the catalog from path, $X402_REGISTRY, or the built-in example.
func loadRegistry(path string, e env) (*tools.Registry, error) {
	path = registryFile(path, e)
	if path == "" {
		return tools.Parse("registry.yaml (built-in example)", x402mcp.DefaultRegistry)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("registry file not found: %s (give --registry FILE or X402_REGISTRY; `x402-mcp check` validates one)", path)
	}
	return tools.Load(path)
}

// newClient builds the paying client for a catalog, wallet and ledger.
func newClient(reg *tools.Registry, w *payments.Wallet, l payments.Ledger, log *slog.Logger) *payments.Client {
	return &payments.Client{
		HTTP:   payments.NewHTTPClient(),
		Wallet: w,
		Policy: reg.Policy(),
		Ledger: l,
		Logger: log,
	}
}

// newSessionID names one session for the per-session budget: over stdio a
// session is this process.
func newSessionID(kind string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return kind + "-" + hex.EncodeToString(b[:])
}
