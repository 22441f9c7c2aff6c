package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/tools"
)

// catalog is the registry being served and the handlers of its entries. It
// is replaced whole on a reload (Server.cat), never changed in place, so a
// call holds a consistent view for its whole life.
type catalog struct {
	reg      *tools.Registry
	tools    []mcpserver.ServerTool // one per entry (tools.Build), then the remote ones
	remote   []mcpserver.ServerTool // the tools of kind: mcp entries, also in tools
	handlers map[string]mcpserver.ToolHandlerFunc
}

func (s *Server) newCatalog(reg *tools.Registry) *catalog {
	built := tools.Build(reg, s.cfg.Client, s.cfg.Getenv)
	c := &catalog{reg: reg, tools: built, handlers: make(map[string]mcpserver.ToolHandlerFunc, len(built))}
	for _, t := range built {
		c.handlers[t.Tool.Name] = t.Handler
	}
	// The tools of kind: mcp entries (remote MCP servers), under their
	// prefix; one whose name is taken is skipped.
	for _, t := range tools.BuildRemote(context.Background(), reg, s.cfg.Client, s.cfg.Getenv, s.cfg.Logger) {
		if _, taken := c.handlers[t.Tool.Name]; taken || strings.HasPrefix(t.Tool.Name, tools.ReservedPrefix) {
			s.cfg.Logger.Warn("remote tool skipped: its name is already listed", "tool", t.Tool.Name)
			continue
		}
		c.tools = append(c.tools, t)
		c.remote = append(c.remote, t)
		c.handlers[t.Tool.Name] = t.Handler
	}
	return c
}

// entry returns a served entry: one the registry has and Build listed. The
// tools of remote MCP servers (kind: mcp) are not entries.
func (c *catalog) entry(name string) (*tools.Entry, bool) {
	if _, ok := c.handlers[name]; !ok {
		return nil, false
	}
	e, ok := c.reg.Entry(name)
	if !ok || e.Kind == tools.KindMCP {
		return nil, false
	}
	return e, true
}

// names returns the served entries' names in catalog order: not the tools
// of remote MCP servers, which are no entries of the catalog.
func (c *catalog) names() []string {
	out := make([]string, 0, len(c.tools))
	for _, t := range c.tools {
		if _, ok := c.entry(t.Tool.Name); ok {
			out = append(out, t.Tool.Name)
		}
	}
	return out
}

// catalog returns the catalog being served now.
func (s *Server) catalog() *catalog { return s.cat.Load() }

// serverTools is every MCP tool the server lists for the catalog c: the
// entries (or, with expose: search, the two search tools) and the built-ins.
func (s *Server) serverTools(c *catalog) []mcpserver.ServerTool {
	var out []mcpserver.ServerTool
	if c.reg.Defaults.Expose == tools.ExposeSearch {
		// Remote MCP tools are not catalog entries (x402_find_tools and
		// x402_call search the entries): they stay listed in search mode.
		out = append(out, s.findTool(), s.callTool())
		out = append(out, c.remote...)
	} else {
		out = append(out, c.tools...)
	}
	out = append(out, s.walletTool(), s.quoteTool(c))
	if c.reg.Tipping != nil {
		out = append(out, s.tipTool(c.reg.Tipping))
	}
	if s.cfg.History != nil {
		out = append(out, s.historyTool())
	}
	return out
}

// ErrRestartNeeded is wrapped by Reload's error when the new registry
// changes what the payments client and the ledger were built with.
var ErrRestartNeeded = errors.New("restart x402-mcp to apply them")

// Reload serves reg instead of the current catalog: the MCP tools are
// replaced (clients are sent notifications/tools/list_changed) and
// x402_quote, x402_find_tools and x402_call see the new entries. Calls in
// flight finish with the entry they started with.
//
// Tools, prices, pins, timeouts, max_result_bytes and expose apply live, and
// so does the tipping section (x402_tip appears, changes or goes) except its
// per_day and its asset's currency. The payment policy and budgets
// (defaults.networks, max_per_call, approve_above, budget, assets,
// tipping.per_day, rpc) are the payments client's and the ledger's, and the
// principals and OAuth the HTTP transport's, fixed at start: a registry
// that changes them is refused whole (the old catalog stays) with an error
// wrapping ErrRestartNeeded. So is one that reads a principal's token
// variable (Config.ProtectedEnv).
func (s *Server) Reload(reg *tools.Registry) error {
	if reg == nil {
		return errors.New("reload: no registry")
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	old := s.catalog()
	if len(reg.Unresolved()) > 0 {
		// The decimals read from the chain at start hold for the same
		// assets; a new asset is a change of policy, refused below.
		r, err := reg.WithDecimals(old.reg.ChainDecimals())
		if err != nil {
			return err
		}
		reg = r
	}
	if errs := reg.CheckSecretEnv(s.cfg.ProtectedEnv, "principals"); len(errs) > 0 {
		return fmt.Errorf("nothing was reloaded: %w", errors.Join(errs...))
	}
	if diff := policyChanges(old.reg, reg); len(diff) > 0 {
		return fmt.Errorf("%s: %s changed: the payment policy and budgets are fixed while x402-mcp runs, so nothing was reloaded; %w",
			reg.Path, strings.Join(diff, ", "), ErrRestartNeeded)
	}
	c := s.newCatalog(reg)
	s.metrics.addPaid(reg)
	s.cat.Store(c)
	// Terms remembered for the warm path belong to the old entries: the
	// next call to each entry asks its seller first.
	s.cfg.Client.Warm.Reset()
	s.mcp.SetTools(s.serverTools(c)...)
	return nil
}

// policyChanges names the settings that differ between a and b among those
// the payments client and ledger hold.
func policyChanges(a, b *tools.Registry) []string {
	pa, pb := a.Policy(), b.Policy()
	var out []string
	if !slices.Equal(pa.Networks, pb.Networks) {
		out = append(out, "defaults.networks")
	}
	if pa.PerCall != pb.PerCall {
		out = append(out, "defaults.max_per_call")
	}
	if pa.ApproveAbove != pb.ApproveAbove {
		out = append(out, "defaults.approve_above")
	}
	ba, bb := pa.Budget, pb.Budget
	if ba.Total != bb.Total || ba.PerDay != bb.PerDay || ba.PerSession != bb.PerSession || ba.PerTool != bb.PerTool ||
		ba.PerHost != bb.PerHost || !maps.Equal(ba.PerNetwork, bb.PerNetwork) ||
		ba.Day.Calendar != bb.Day.Calendar || ba.Day.Location.String() != bb.Day.Location.String() {
		out = append(out, "budget")
	}
	if ba.TipPerDay != bb.TipPerDay {
		out = append(out, "tipping.per_day")
	}
	if ba.TipCurrency != bb.TipCurrency {
		out = append(out, "tipping.asset (the tip budget's currency)")
	}
	if !slices.Equal(pa.Assets, pb.Assets) || !maps.Equal(ba.Assets, bb.Assets) || len(a.Unresolved()) != len(b.Unresolved()) {
		out = append(out, "assets")
	}
	if !maps.Equal(a.RPC, b.RPC) {
		out = append(out, "rpc")
	}
	if !a.Gateway.Equal(b.Gateway) {
		out = append(out, "principals/oauth")
	}
	return out
}

// networksOf renders networks as CAIP-2 ids.
func networksOf(ns []payments.Network) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = string(n)
	}
	return out
}
