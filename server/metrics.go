package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/tools"
)

// upstreamBuckets are the upper bounds (seconds) of x402_upstream_request_seconds.
var upstreamBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// otherTool labels a call to a name that is not a tool (bounds cardinality).
const otherTool = "other"

// metrics holds the Prometheus counters, written by hand in the text format.
// Every label value comes from a bounded set: tool names from the catalog
// (anything else is "other"), networks from the policy, outcomes from three,
// principals from the configured ones (their names, never their tokens).
type metrics struct {
	mu sync.Mutex
	// paidTools are the catalog tools, every one served since the start:
	// their duration is an upstream request.
	paidTools map[string]bool
	payments  map[[4]string]uint64 // tool, network, outcome, principal
	paid      map[[4]string]uint64 // tool, network, asset symbol, principal: atomic units
	calls     map[[3]string]uint64 // tool, error, principal
	durations map[string]*histogram
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	count  uint64
	sum    float64
}

func newMetrics(reg *tools.Registry) *metrics {
	m := &metrics{paidTools: map[string]bool{}, payments: map[[4]string]uint64{}, paid: map[[4]string]uint64{},
		calls: map[[3]string]uint64{}, durations: map[string]*histogram{}}
	for _, e := range reg.Tools {
		m.paidTools[e.Name] = true
	}
	return m
}

// observe is the tool-handler middleware that counts calls for /metrics and
// for graceful shutdown, which waits for the calls in flight and refuses new ones.
func (s *Server) observe(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if !s.calls.enter() {
			return mcp.NewToolResultError("x402-mcp is shutting down, so this call was not made (not charged). Call again once it is back."), nil
		}
		defer s.calls.leave()
		start := time.Now()
		res, err := next(ctx, req)
		s.metrics.record(s.toolLabel(s.paidName(req)), caller(ctx).Name, time.Since(start), res, err)
		return res, err
	}
}

func (s *Server) toolLabel(name string) string {
	// Only registered tools get their own label: the set is the catalog's
	// and the built-ins', so a client cannot grow it.
	if s.metrics.isPaid(name) || s.mcp.GetTool(name) != nil {
		return name
	}
	return otherTool
}

// addPaid adds a reloaded catalog's tools to the paid ones.
func (m *metrics) addPaid(reg *tools.Registry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range reg.Tools {
		m.paidTools[e.Name] = true
	}
}

func (m *metrics) isPaid(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.paidTools[name]
}

func (m *metrics) record(tool, principal string, d time.Duration, res *mcp.CallToolResult, err error) {
	isErr := err != nil || res != nil && res.IsError
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[[3]string{tool, strconv.FormatBool(isErr), principal}]++
	if !m.paidTools[tool] {
		return
	}
	h := m.durations[tool]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(upstreamBuckets))}
		m.durations[tool] = h
	}
	sec := d.Seconds()
	for i, b := range upstreamBuckets {
		if sec <= b {
			h.counts[i]++
			break
		}
	}
	h.count++
	h.sum += sec
	if res == nil || res.Meta == nil {
		return
	}
	charged, _ := res.Meta.AdditionalFields[tools.MetaCharged].(string)
	receipt, _ := res.Meta.AdditionalFields[tools.MetaPaymentResponse].(map[string]any)
	_, refused := res.Meta.AdditionalFields[tools.MetaError]
	if receipt == nil && !refused {
		return // a free answer: no payment was attempted
	}
	network, _ := receipt["network"].(string)
	outcome := strings.ReplaceAll(charged, " ", "_")
	switch outcome {
	case "charged", "not_charged", "unknown":
	default:
		outcome = "unknown"
	}
	m.payments[[4]string{tool, network, outcome, principal}]++
	if outcome == "charged" {
		if amt, ok := atomic(receipt["amountAtomic"]); ok {
			symbol, _ := receipt["symbol"].(string)
			m.paid[[4]string{tool, network, symbol, principal}] += amt
		}
	}
}

func atomic(v any) (uint64, bool) {
	switch a := v.(type) {
	case string:
		n, err := strconv.ParseUint(a, 10, 64)
		return n, err == nil
	case fmt.Stringer:
		n, err := strconv.ParseUint(a.String(), 10, 64)
		return n, err == nil
	case int64:
		return uint64(a), a >= 0
	case uint64:
		return a, true
	case float64:
		return uint64(a), a >= 0 && a <= math.MaxUint64
	}
	return 0, false
}

// serveMetrics writes the Prometheus text exposition format (version 0.0.4).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	s.metrics.write(&b)
	if sum, err := s.cfg.Client.Ledger.Summary(r.Context()); err != nil {
		s.cfg.Logger.Warn("metrics: ledger summary", "err", err)
	} else {
		// Each asset's budget.total (USDC's, and each declared asset's),
		// omitted when unlimited; amounts of two assets never share a series.
		b.WriteString("# HELP x402_budget_left_atomic What budget.total still allows, by asset (its symbol, and its budget unit: USDC or network/address), in that asset's atomic units.\n# TYPE x402_budget_left_atomic gauge\n")
		if sum.Total != 0 {
			fmt.Fprintf(&b, "x402_budget_left_atomic{asset=%s,unit=%s} %s\n", lv("USDC"), lv(payments.BudgetUSDC), sum.Left().Atomic())
		}
		for _, a := range sum.Assets {
			if a.Total != 0 {
				fmt.Fprintf(&b, "x402_budget_left_atomic{asset=%s,unit=%s} %s\n", lv(a.Currency.Symbol), lv(a.Currency.Budget), a.Left().Atomic())
			}
		}
	}
	s.principalMetrics(r.Context(), &b)
	if wm := s.cfg.Client.Warm; wm != nil {
		st := wm.Stats()
		b.WriteString("# HELP x402_warm_payments_total Warm-path payments (terms the seller last accepted, one round trip) by outcome: sent, fallback (refused with new terms, then paid on the normal path), refused (refused with the same terms).\n# TYPE x402_warm_payments_total counter\n")
		fmt.Fprintf(&b, "x402_warm_payments_total{outcome=\"sent\"} %d\nx402_warm_payments_total{outcome=\"fallback\"} %d\nx402_warm_payments_total{outcome=\"refused\"} %d\n",
			st.Hits, st.Fallbacks, st.Refusals)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String())) // a scraper gone away: nothing to be done
}

// principalMetrics writes, for each principal with a total budget of its
// own, what that budget still allows.
func (s *Server) principalMetrics(ctx context.Context, b *strings.Builder) {
	books, ok := s.cfg.Client.Ledger.(interface {
		PrincipalSummary(context.Context, string) (payments.PrincipalSummary, error)
	})
	if !ok {
		return
	}
	head := false
	for _, p := range s.httpPrincipals() {
		sum, err := books.PrincipalSummary(ctx, p.Name)
		if err != nil {
			s.cfg.Logger.Warn("metrics: books of a principal", "principal", p.Name, "err", err)
			continue
		}
		if sum.Budget.Total == 0 {
			continue
		}
		if !head {
			b.WriteString("# HELP x402_principal_budget_left_atomic What a principal's own total budget still allows, in USDC's atomic units (a principal's budgets count USDC only).\n# TYPE x402_principal_budget_left_atomic gauge\n")
			head = true
		}
		left := payments.Amount(0)
		if c := sum.Counted(); c < sum.Budget.Total {
			left = sum.Budget.Total - c
		}
		fmt.Fprintf(b, "x402_principal_budget_left_atomic{principal=%s,asset=%s} %s\n", lv(p.Name), lv("USDC"), left.Atomic())
	}
}

func (m *metrics) write(b *strings.Builder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b.WriteString("# HELP x402_payments_total Payments attempted by tool, network, outcome (charged, not_charged, unknown) and principal.\n# TYPE x402_payments_total counter\n")
	for _, k := range sortedKeys(m.payments) {
		fmt.Fprintf(b, "x402_payments_total{tool=%s,network=%s,outcome=%s,principal=%s} %d\n", lv(k[0]), lv(k[1]), lv(k[2]), lv(k[3]), m.payments[k])
	}
	b.WriteString("# HELP x402_paid_amount_atomic_total Amount charged, in the atomic units of the asset its symbol names, by tool, network, asset and principal.\n# TYPE x402_paid_amount_atomic_total counter\n")
	for _, k := range sortedKeys(m.paid) {
		fmt.Fprintf(b, "x402_paid_amount_atomic_total{tool=%s,network=%s,asset=%s,principal=%s} %d\n", lv(k[0]), lv(k[1]), lv(k[2]), lv(k[3]), m.paid[k])
	}
	b.WriteString("# HELP x402_upstream_request_seconds Duration of paid-tool calls, upstream request and payment included.\n# TYPE x402_upstream_request_seconds histogram\n")
	names := make([]string, 0, len(m.durations))
	for t := range m.durations {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		h := m.durations[t]
		var cum uint64
		for i, le := range upstreamBuckets {
			cum += h.counts[i]
			fmt.Fprintf(b, "x402_upstream_request_seconds_bucket{tool=%s,le=%s} %d\n", lv(t), lv(strconv.FormatFloat(le, 'g', -1, 64)), cum)
		}
		fmt.Fprintf(b, "x402_upstream_request_seconds_bucket{tool=%s,le=\"+Inf\"} %d\n", lv(t), h.count)
		fmt.Fprintf(b, "x402_upstream_request_seconds_sum{tool=%s} %s\n", lv(t), strconv.FormatFloat(h.sum, 'g', -1, 64))
		fmt.Fprintf(b, "x402_upstream_request_seconds_count{tool=%s} %d\n", lv(t), h.count)
	}
	b.WriteString("# HELP x402_tool_calls_total Tool calls by tool, whether the result was an error, and principal.\n# TYPE x402_tool_calls_total counter\n")
	for _, k := range sortedKeys(m.calls) {
		fmt.Fprintf(b, "x402_tool_calls_total{tool=%s,error=%s,principal=%s} %d\n", lv(k[0]), lv(k[1]), lv(k[2]), m.calls[k])
	}
}

func sortedKeys[K [2]string | [3]string | [4]string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		for n := range len(a) {
			if a[n] != b[n] {
				return a[n] < b[n]
			}
		}
		return false
	})
	return keys
}

// lv quotes a Prometheus label value.
func lv(s string) string {
	return `"` + labelEscaper.Replace(s) + `"`
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
