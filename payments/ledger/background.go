package ledger

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Defaults of a Reconciler.
const (
	// DefaultReconcileEvery is how often a running server reconciles when
	// nothing prompts it sooner.
	DefaultReconcileEvery = 5 * time.Minute
	// DefaultReconcileSoon is how soon after a payment becomes rejected or
	// unknown a pass runs: at once, give or take the debounce that lets a
	// burst of them share one pass.
	DefaultReconcileSoon = time.Second
	// DefaultRetryExpired is the first wait before another pass while a
	// payment whose validBefore has passed (by the ledger's clock) is still
	// open: the chain's reference block may not be past it yet, or the node
	// failed. The wait doubles each pass that resolves nothing, up to Every.
	DefaultRetryExpired = 15 * time.Second
	// DefaultPassTimeout bounds one pass.
	DefaultPassTimeout = 2 * time.Minute
	// afterExpiry is added to a validBefore before the pass that can prove
	// the authorization expired: the next block has to be sealed first.
	afterExpiry = 5 * time.Second
)

// Reconciler reconciles a ledger in the background while a server runs
// (on PostgreSQL, in one replica at a time: a pass that finds another
// replica's under way is skipped and tried again soon):
// once at start (what an earlier run left open), every Every, soon after a
// payment of this process becomes rejected or unknown (Ledger.Reject and
// MarkUnknown prompt it), and again once such a payment's authorization
// has expired, retrying while one stays open past its expiry. A payment
// stays counted until a pass proves it used or unused; a pass that fails is
// logged, never fatal, and the next one tries again.
//
// A network with open payments and no rpc endpoint is named once in the
// log: its payments stay counted until `x402-mcp ledger reconcile` can
// reach a chain for it.
type Reconciler struct {
	Ledger *Ledger
	// Prover proves a payment's fate through its scheme (payments.Schemes).
	Prover payments.Prover
	Logger *slog.Logger
	// Every is the period (DefaultReconcileEvery when zero).
	Every time.Duration
	// Soon is the delay after a prompt (DefaultReconcileSoon when zero).
	Soon time.Duration
	// RetryExpired is the first retry wait for an expired payment still
	// open (DefaultRetryExpired when zero).
	RetryExpired time.Duration
	// PassTimeout bounds one pass (DefaultPassTimeout when zero).
	PassTimeout time.Duration
	// NoRPC names networks known up front to have no rpc endpoint (those
	// the policy allows): they are named in the log at start.
	NoRPC []string
	// OnPass, when set, sees each pass's report (for tests and metrics).
	OnPass func(ReconcileReport, error)
}

func (r *Reconciler) every() time.Duration {
	return durOr(r.Every, DefaultReconcileEvery)
}

func durOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (r *Reconciler) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run reconciles until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	l := r.Ledger
	named := map[string]bool{}
	name := func(networks []string) {
		for _, n := range networks {
			if !named[n] {
				named[n] = true
				r.log().Warn("no rpc endpoint for a network: its payments refused by a seller or of unknown outcome stay counted until `x402-mcp ledger reconcile` can reach a chain (add it under rpc: in registry.yaml)", "network", n)
			}
		}
	}
	name(r.NoRPC)
	retry := durOr(r.RetryExpired, DefaultRetryExpired)
	busy := durOr(r.Soon, DefaultReconcileSoon) // the wait after a skipped pass, doubled each time
	timer := time.NewTimer(0)                   // a pass at once
	due := time.Now()                           // when the timer fires
	defer timer.Stop()
	var lastErrs []string
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.prompts():
			// A prompt only brings the next pass forward: prompts that keep
			// coming never put it off.
			soon := durOr(r.Soon, DefaultReconcileSoon)
			if at := time.Now().Add(soon); at.Before(due) {
				timer.Reset(soon)
				due = at
			}
			retry = durOr(r.RetryExpired, DefaultRetryExpired)
			continue
		case <-timer.C:
		}
		pctx, cancel := context.WithTimeout(ctx, durOr(r.PassTimeout, DefaultPassTimeout))
		rep, err := l.TryReconcile(pctx, r.Prover)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if r.OnPass != nil {
			r.OnPass(rep, err)
		}
		if rep.Skipped {
			// Another replica is reconciling this ledger (PostgreSQL): try
			// again soon, in case its pass began before our news.
			busy = min(2*busy, r.every())
			timer.Reset(busy)
			due = time.Now().Add(busy)
			continue
		}
		busy = durOr(r.Soon, DefaultReconcileSoon)
		switch {
		case err != nil:
			r.log().Warn("ledger reconcile", "err", err)
		case rep.Settled > 0 || rep.Released > 0:
			r.log().Info("ledger reconciled", "checked", rep.Checked, "settled", rep.Settled, "released", rep.Released, "stillOpen", rep.StillOpen)
		}
		name(rep.NoRPC)
		// The same failure pass after pass is logged once.
		if !slices.Equal(rep.Errors, lastErrs) {
			for _, e := range rep.Errors {
				if !slices.Contains(lastErrs, e) {
					r.log().Warn("ledger reconcile", "err", e)
				}
			}
			lastErrs = rep.Errors
		}
		if rep.Settled > 0 || rep.Released > 0 {
			retry = durOr(r.RetryExpired, DefaultRetryExpired)
		}
		wait, retrying := r.next(ctx, named, retry)
		if retrying {
			retry = min(2*retry, r.every())
		}
		timer.Reset(wait)
		due = time.Now().Add(wait)
	}
}

// next is the wait before the next pass: the period, or sooner the moment
// an open payment's authorization expires, or retry when one has expired
// and is still open (retrying then says so). Payments of networks without
// an rpc endpoint wait for the period.
func (r *Reconciler) next(ctx context.Context, noRPC map[string]bool, retry time.Duration) (wait time.Duration, retrying bool) {
	wait = r.every()
	rows, err := r.Ledger.Unresolved(ctx)
	if err != nil {
		r.log().Warn("ledger reconcile: read the open payments", "err", err)
		return wait, false
	}
	now := r.Ledger.now()
	for _, row := range rows {
		if noRPC[row.Network] || row.ValidBefore.IsZero() {
			continue
		}
		if d := row.ValidBefore.Add(afterExpiry).Sub(now); d > 0 {
			wait = min(wait, d)
		} else if retry < wait {
			wait, retrying = retry, true
		}
	}
	return wait, retrying
}

// prompts is the channel Reject and MarkUnknown prompt a Reconciler on.
func (l *Ledger) prompts() <-chan struct{} { return l.prompt }

// promptReconciler tells a Reconciler running on this ledger that a
// payment became rejected or unknown; it never blocks.
func (l *Ledger) promptReconciler() {
	select {
	case l.prompt <- struct{}{}:
	default:
	}
}
