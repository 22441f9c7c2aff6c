package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	x402mcp "github.com/x402-mcp/x402-mcp"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

func cmdServe(ctx context.Context, e env, args []string) error {
	fs := newFlags("serve", e)
	regPath := fs.String("registry", "", "catalog file (default $X402_REGISTRY, else the built-in example)")
	ledgerFlag := fs.String("ledger", "", "ledger: a SQLite file, or a postgres:// URL shared by replicas (default $X402_LEDGER, else ledger.db in the state directory; keep a password out of the URL: docs/ledger.md)")
	_ = fs.Bool("stdio", true, "serve over stdio (the default)")
	warm := fs.Bool("warm-path", true, "pay a warm call in one round trip with the terms the seller last accepted (docs/warm-path.md)")
	every := fs.Duration("reconcile-every", ledger.DefaultReconcileEvery, "how often to reconcile open payments against the chain (rpc: in the catalog) while serving, besides soon after a payment is refused or of unknown outcome and once its authorization expires; 0 reconciles at start only (docs/ledger.md)")
	httpFlags := addHTTPFlags(fs)
	requireProtected := fs.Bool("require-protected-key", false, "refuse to start when the catalog allows a network where money is real and the wallet's key is in the clear (X402_PRIVATE_KEY or X402_KEY_FILE) instead of warning (docs/keys.md)")
	pprofAddr := fs.String("pprof", "", "serve Go's pprof profiles on this loopback address, e.g. 127.0.0.1:6060 (for benchmarking; off by default)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *every < 0 {
		return usageError{fmt.Sprintf("--reconcile-every %s: give a positive duration such as 5m, or 0 to reconcile at start only", *every)}
	}
	httpOpts, gw, err := httpFlags.options(e)
	if err != nil {
		return err
	}
	log := newLogger(e)
	if *pprofAddr != "" {
		if err := startPprof(ctx, *pprofAddr, log); err != nil {
			return err
		}
	}
	// Start-up is on the host's clock (it waits for tools/list): see
	// startUp. The wallet (key derivation, or a keystore's KDF) and the
	// ledger (SQLite, its migrations) load on the other core while the
	// catalog is parsed; the ledger gets the catalog's budgets before it
	// takes any payment.
	done := startUp()
	path, pathErr := ledgerPath(*ledgerFlag, e)
	type loaded[T any] struct {
		v   T
		err error
	}
	walletCh, ledgerCh := make(chan loaded[*wallet.Wallet], 1), make(chan loaded[*ledger.Ledger], 1)
	go func() {
		w, err := wallet.Load(ctx, e.getenv)
		walletCh <- loaded[*wallet.Wallet]{w, err}
	}()
	go func() {
		if pathErr != nil {
			ledgerCh <- loaded[*ledger.Ledger]{nil, pathErr}
			return
		}
		l, err := ledger.Open(ctx, path, payments.Budget{})
		if err != nil {
			err = fmt.Errorf("open the ledger: %w", err) // names it, password redacted
		}
		ledgerCh <- loaded[*ledger.Ledger]{l, err}
	}()
	reg, err := loadRegistry(*regPath, e)
	if err == nil && httpFlags.addr != "" {
		// Who may call over HTTP: the principals file, else the catalog's
		// sections, else the single token.
		gw, err = httpFlags.auth(&httpOpts, gw, reg, e)
	}
	// One chain client for the catalog's rpc endpoints (${ENV} expanded):
	// the assets' decimals at start, reconciliation, and the check of an
	// unknown outcome within its call.
	checker := noChains()
	if err == nil {
		var rpcErr error
		if checker, rpcErr = chainsOf(reg, e.getenv); rpcErr != nil {
			log.Warn("rpc endpoints left out: payments on their networks stay counted until an rpc endpoint reconciles them", "err", rpcErr)
		}
		reg, err = resolveAssets(ctx, reg, checker, log)
	}
	defer checker.Close()
	lw, ll := <-walletCh, <-ledgerCh
	if ll.err == nil {
		defer func() {
			if err := ll.v.Close(); err != nil {
				log.Error("close the ledger", "ledger", ledger.Redact(path), "err", err)
			}
		}()
	}
	for _, err := range []error{err, lw.err, ll.err} {
		if err != nil {
			return err
		}
	}
	keys, l := lw.v, ll.v
	warnings, err := keyGuard(reg, keys, *requireProtected)
	for _, w := range warnings {
		log.Warn("the wallet's key is in the clear", "problem", w)
	}
	if err != nil {
		return err
	}
	// The principals' own budgets apply over HTTP (over stdio every call is
	// the implicit principal's).
	budget := reg.Policy().Budget
	budget.Principals = gw.Budgets()
	l.SetBudget(budget)
	// Reconcile beside serving, so a slow or unreachable chain never delays
	// the host's start: what an earlier run left open (a crash, a lost
	// answer) at once, then in the background (ledger.Reconciler). Until a
	// payment is resolved it simply stays counted.
	reconciled := make(chan struct{})
	rctx, stopReconcile := context.WithCancel(ctx)
	schemes := newSchemes(checker)
	rec := &ledger.Reconciler{Ledger: l, Prover: schemes, Logger: log, Every: *every, NoRPC: withoutRPC(reg, checker)}
	go func() {
		defer close(reconciled)
		if *every > 0 {
			rec.Run(rctx)
			return
		}
		if rep, err := reconcile(rctx, l, schemes); err != nil {
			log.Warn("ledger reconcile at start", "err", err)
		} else {
			logReconcile(log, rep)
		}
	}()
	defer func() { <-reconciled }() // before the checker and the ledger close…
	defer stopReconcile()           // …and after it is told to stop
	// A payment of unknown outcome is asked about on chain within its call,
	// through its scheme (the same rpc endpoints).
	payer := newClient(reg, schemes, keys.Signers(), l, log)
	payer.Policy.Budget = budget
	if !*warm {
		payer.Warm = nil
	}
	// Over stdio a session is this process; over HTTP each request names
	// its session and its principal: the authenticated one, during this run.
	payer.Session = newSessionID("stdio")
	payer.Principal = server.DefaultPrincipal
	srv, err := server.New(server.Config{
		Registry: reg, Client: payer, History: l, Books: l, ReconcileEvery: *every, Version: version, Getenv: e.getenv, Logger: log, ProtectedEnv: gw.Env(),
		KeySources: keys.Sources(),
	})
	if err != nil {
		return err
	}
	done()
	// A catalog file is watched: edits apply without a restart (the
	// built-in example never changes).
	if file := registryFile(*regPath, e); file != "" {
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go srv.WatchRegistry(wctx, file, server.WatchOptions{})
	}
	if httpFlags.addr != "" {
		log.Info("x402-mcp serving MCP over HTTP", "version", version, "registry", reg.Path, "tools", len(reg.Tools),
			"wallet", keys, "ledger", ledger.Redact(path), "budget", reg.Budget.Total.USDC(), "perCall", reg.Defaults.MaxPerCall.USDC())
		return srv.ListenAndServe(ctx, httpFlags.addr, httpOpts)
	}
	log.Info("x402-mcp serving MCP over stdio", "version", version, "registry", reg.Path, "tools", len(reg.Tools),
		"wallet", keys, "ledger", ledger.Redact(path), "budget", reg.Budget.Total.USDC(), "perCall", reg.Defaults.MaxPerCall.USDC())
	if err := srv.ServeStdio(ctx, e.stdin, e.stdout); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("stdio: %w", err)
	}
	return nil
}

// withoutRPC lists the networks the policy allows that have no rpc
// endpoint: refused and unknown payments there cannot be reconciled.
func withoutRPC(reg *tools.Registry, c *chains) []string {
	var out []string
	for _, n := range reg.Policy().Networks {
		if !c.Has(n) {
			out = append(out, string(n))
		}
	}
	return out
}

// assetsTimeout bounds reading the declared assets' decimals at start.
const assetsTimeout = 15 * time.Second

// resolveAssets reads from the chain (the catalog's rpc: endpoints, through
// checker) the decimals of the declared assets that leave them to it, and
// checks the declared ones: a mismatch is an error, and so is an asset whose
// decimals can be neither read nor found. A declared value that could not be
// checked stands, with a warning. A catalog without such assets reads
// nothing.
func resolveAssets(ctx context.Context, reg *tools.Registry, checker *chains, log *slog.Logger) (*tools.Registry, error) {
	need := false
	for _, a := range reg.Assets {
		if _, ok := reg.RPC[a.Network]; ok {
			need = true
		}
	}
	if !need {
		return reg, nil
	}
	ctx, cancel := context.WithTimeout(ctx, assetsTimeout)
	defer cancel()
	out, notes, err := reg.ResolveAssets(ctx, checker)
	for _, n := range notes {
		log.Warn("asset decimals not checked against the chain", "note", n)
	}
	return out, err
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
		return tools.Parse("registry.yaml (built-in example)", x402mcp.DefaultRegistry, families)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("registry file not found: %s (give --registry FILE or X402_REGISTRY; `x402-mcp check` validates one)", path)
	}
	return tools.Load(path, families)
}

// newClient builds the paying client for a catalog, its schemes, the
// wallet's keys and a ledger.
func newClient(reg *tools.Registry, s *payments.Schemes, w payments.Signers, l payments.Ledger, log *slog.Logger) *payments.Client {
	return &payments.Client{
		HTTP:    payments.NewHTTPClient(),
		Schemes: s,
		Signers: w,
		Policy:  reg.Policy(),
		Ledger:  l,
		Logger:  log,
		Warm:    &payments.Warm{},
	}
}

// newSessionID names one session for the per-session budget: over stdio a
// session is this process.
func newSessionID(kind string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return kind + "-" + hex.EncodeToString(b[:])
}

// startUp holds the garbage collector while x402-mcp starts: parsing the
// catalog allocates a tree that dies at once (about 12 MB for 1,000
// entries), and collecting it while it is still live is wasted work on the
// host's clock. The collector still runs if the heap passes 256 MiB. The
// returned func restores the collector and, a moment later (off the path of
// the host's first requests), returns the start-up garbage to the OS so
// that an idle server stays small.
func startUp() (done func()) {
	gc := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(256 << 20)
	return func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
		time.AfterFunc(2*time.Second, debug.FreeOSMemory)
	}
}
