package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/plural"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// ledgerPath is --ledger, else $X402_LEDGER, else the state directory's.
func ledgerPath(flagValue string, e env) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if p := e.getenv("X402_LEDGER"); p != "" {
		return p, nil
	}
	return ledger.DefaultPath(e.getenv)
}

// openLedger opens the durable ledger with the catalog's budgets.
func openLedger(ctx context.Context, path string, reg *tools.Registry) (*ledger.Ledger, error) {
	l, err := ledger.Open(ctx, path, reg.Policy().Budget)
	if err != nil {
		return nil, fmt.Errorf("open the ledger: %w", err) // names it, password redacted
	}
	return l, nil
}

// reconcile resolves the ledger's open rows against the chain, through
// their schemes (the catalog's rpc endpoints), in one pass.
func reconcile(ctx context.Context, l *ledger.Ledger, p payments.Prover) (ledger.ReconcileReport, error) {
	ctx, cancel := context.WithTimeout(ctx, ledger.DefaultPassTimeout)
	defer cancel()
	return l.Reconcile(ctx, p)
}

func logReconcile(log *slog.Logger, rep ledger.ReconcileReport) {
	if rep.Checked == 0 && rep.Released == 0 && len(rep.Errors) == 0 {
		return
	}
	log.Info("ledger reconciled", "checked", rep.Checked, "settled", rep.Settled, "released", rep.Released, "stillOpen", rep.StillOpen)
	for _, e := range rep.Errors {
		log.Warn("ledger reconcile", "err", e)
	}
	for _, n := range rep.NoRPC {
		log.Warn("no rpc endpoint for a network: its payments refused by a seller or of unknown outcome stay counted until `x402-mcp ledger reconcile` can reach a chain (add it under rpc: in registry.yaml)", "network", n)
	}
}

// cmdLedger: x402-mcp ledger list | export --csv | reconcile.
func cmdLedger(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usageError{"ledger needs a subcommand: list, export or reconcile"}
	}
	sub, args := args[0], args[1:]
	fs := newFlags("ledger "+sub, e)
	path := fs.String("ledger", "", "ledger: a SQLite file or a postgres:// URL (default $X402_LEDGER, else the state directory's ledger.db)")
	regPath := fs.String("registry", "", "catalog file, for budgets and rpc endpoints (default $X402_REGISTRY, else the built-in example)")
	var f ledger.Filter
	var since string
	csv := false
	if sub == "list" || sub == "export" {
		fs.StringVar(&f.Tool, "tool", "", "only this tool")
		fs.StringVar(&f.Kind, "kind", "", "only this kind of row: payment (paid tool calls) or tip")
		fs.StringVar(&f.Principal, "principal", "", "only the payments of this principal (who made the call over HTTP; default over stdio)")
		fs.StringVar((*string)(&f.State), "state", "", "only this state (reserved, signed, settled, rejected, unknown, released)")
		fs.StringVar(&since, "since", "", "only payments since this long ago (e.g. 24h) or this RFC 3339 time")
		fs.IntVar(&f.Limit, "limit", 0, "at most this many rows (newest first; list defaults to 50)")
		fs.BoolVar(&csv, "csv", sub == "export", "write CSV")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if f.Kind != "" && f.Kind != ledger.KindPayment && f.Kind != ledger.KindTip {
		return usageError{fmt.Sprintf("--kind %q: write payment or tip", f.Kind)}
	}
	if since != "" {
		t, err := server.ParseSince(since, time.Now())
		if err != nil {
			return usageError{err.Error()}
		}
		f.Since = t
	}
	reg, err := loadRegistry(*regPath, e)
	if err != nil {
		return err
	}
	checker, rpcErr := chainsOf(reg, e.getenv)
	defer checker.Close()
	if sub != "reconcile" {
		// The assets' budgets, for the summary; rows read in their own
		// currency whatever happens here.
		if r, err := resolveAssets(ctx, reg, checker, newLogger(e)); err != nil {
			fmt.Fprintf(e.stderr, "x402-mcp: the budgets of assets whose decimals could not be read are left out: %v\n", err)
		} else {
			reg = r
		}
	}
	p, err := ledgerPath(*path, e)
	if err != nil {
		return err
	}
	l, err := openLedger(ctx, p, reg)
	if err != nil {
		return err
	}
	defer l.Close()
	switch sub {
	case "list", "export":
		if csv {
			return l.WriteCSV(ctx, e.stdout, f)
		}
		if f.Limit == 0 {
			f.Limit = 50
		}
		rows, err := l.List(ctx, f)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tKIND\tPRINCIPAL\tTOOL\tAMOUNT\tSTATE\tNETWORK\tPAY TO\tTRANSACTION\tNOTE")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.CreatedAt.UTC().Format(time.RFC3339), r.Kind, dash(r.Principal), r.Tool,
				r.Currency().Format(r.Amount), r.State, r.Network, r.PayTo, dash(r.Transaction), dash(noteCell(r.Note)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		sum, err := l.Summary(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\n%s shown. Ledger %s: %s settled, %s pending, %s left of %s total.\n",
			plural.Count(len(rows), "row", "rows"), ledger.Redact(p), sum.Settled.USDC(), sum.Pending.USDC(), leftText(sum), totalText(sum))
		for _, a := range sum.Assets {
			cur := a.Currency
			fmt.Fprintf(e.stdout, "%s (%s): %s settled, %s pending, %s left of %s total.\n",
				cur.Symbol, cur.Budget, cur.Format(a.Settled), cur.Format(a.Pending), cur.Format(a.Left()), cur.Format(a.Total))
		}
		return nil
	case "reconcile":
		if rpcErr != nil {
			return rpcErr
		}
		rep, err := reconcile(ctx, l, newSchemes(checker))
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
		return nil
	default:
		return usageError{fmt.Sprintf("unknown ledger subcommand %q: use list, export or reconcile", sub)}
	}
}

// noteCell shows a tip's note on one line of the table, quoted and cut.
func noteCell(note string) string {
	if note == "" {
		return ""
	}
	return strconv.Quote(payments.Sanitize(note, 60))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func leftText(s payments.Summary) string {
	if s.Total == 0 {
		return "unlimited"
	}
	return s.Left().USDC()
}

func totalText(s payments.Summary) string {
	if s.Total == 0 {
		return "no"
	}
	return s.Total.USDC()
}
