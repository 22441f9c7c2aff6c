package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"

	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// cmdDashboard: x402-mcp dashboard [--ledger FILE|URL] [--registry FILE]
// [--principals FILE] [--addr 127.0.0.1:0]. It serves the spend dashboard of a ledger (a SQLite
// file, or a PostgreSQL database whose every transaction is then
// read-only), opened read-only, on loopback, until interrupted; its URL,
// which carries a key made for this run, goes to stderr.
func cmdDashboard(ctx context.Context, e env, args []string) error {
	fs := newFlags("dashboard", e)
	path := fs.String("ledger", "", "ledger: a SQLite file or a postgres:// URL (default $X402_LEDGER, else the state directory's ledger.db)")
	regPath := fs.String("registry", "", "catalog file, for the budgets and rpc endpoints (default $X402_REGISTRY, else the built-in example)")
	principals := fs.String("principals", "", "the gateway's principals file (serve's --principals), for each principal's own budgets; else the catalog's principals:")
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to serve on (port 0 picks a free one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("dashboard takes no arguments (got %q): give the ledger with --ledger FILE", fs.Arg(0))}
	}
	if !server.IsLoopback(*addr) {
		return usageError{fmt.Sprintf("--addr %s: the dashboard serves loopback only (e.g. 127.0.0.1:8403); "+
			"a dashboard for others is serve --http's /dashboard, behind its token", *addr)}
	}
	p, err := ledgerPath(*path, e)
	if err != nil {
		return err
	}
	reg, err := loadRegistry(*regPath, e)
	if err != nil {
		return err
	}
	log := newLogger(e)
	checker, rpcErr := chainsOf(reg, e.getenv)
	defer checker.Close()
	if rpcErr != nil {
		log.Warn("rpc endpoints left out", "err", rpcErr)
	}
	// The declared assets' budgets need their decimals, as `ledger list`
	// does; every row reads in its own asset whatever happens here.
	if r, err := resolveAssets(ctx, reg, checker, log); err != nil {
		log.Warn("the budgets of assets whose decimals could not be read are left out", "err", err)
	} else {
		reg = r
	}
	// Each principal's own budgets, as serve gives them to the ledger: from
	// its principals file or the catalog (its tokens are not needed here).
	gw := reg.Gateway
	if *principals != "" {
		if gw != nil {
			return usageError{fmt.Sprintf("--principals %s: the catalog lists principals too; give them in one place, as serve takes them", *principals)}
		}
		if gw, err = tools.LoadGateway(*principals); err != nil {
			return err
		}
	}
	budget := reg.Policy().Budget
	budget.Principals = gw.Budgets()
	l, err := ledger.OpenReadOnly(ctx, p, budget)
	if err != nil {
		return fmt.Errorf("open the ledger read-only: %w", err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			log.Error("close the ledger", "ledger", ledger.Redact(p), "err", err)
		}
	}()
	var k [16]byte
	if _, err := rand.Read(k[:]); err != nil {
		return fmt.Errorf("dashboard key: %w", err)
	}
	key := hex.EncodeToString(k[:])
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	fmt.Fprintf(e.stderr, "x402-mcp dashboard of %s (read-only): open http://%s%s?key=%s\n(the key in the URL is this run's; Ctrl-C stops)\n",
		ledger.Redact(p), ln.Addr(), server.PathDashboard, key)
	return server.ServeDashboard(ctx, ln, server.DashboardOptions{Books: l, Registry: reg, Key: key, Logger: log})
}
