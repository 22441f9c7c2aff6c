package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/x402-mcp/x402-mcp/internal/plural"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/tools"
)

// cmdCheck validates a catalog offline and prints its tools with their prices.
func cmdCheck(e env, args []string) error {
	fs := newFlags("check", e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usageError{"check takes at most one file"}
	}
	reg, err := loadRegistry(fs.Arg(0), e)
	if err != nil {
		return err
	}
	nets := make([]string, len(reg.Defaults.Networks))
	for i, n := range reg.Defaults.Networks {
		nets[i] = string(n) + " (" + reg.Families().NetworkName(n) + ")"
	}
	fmt.Fprintf(e.stdout, "%s: OK, %s\nnetworks: %s\nper-call cap: %s\nbudgets: %s\n",
		reg.Path, plural.Count(len(reg.Tools), "tool", "tools"), strings.Join(nets, ", "), reg.Defaults.MaxPerCall.USDC(), budgets(reg.Budget))
	if g := reg.Defaults.GaslessApproval; g != 0 {
		fmt.Fprintf(e.stdout, "gasless Permit2 approval (USDC): up to %s\n", g.USDC())
	}
	for _, n := range slices.Sorted(maps.Keys(reg.RPC)) {
		fmt.Fprintf(e.stdout, "rpc %s: %s\n", n, evm.RedactURL(reg.RPC[n]))
	}
	for _, a := range reg.Assets {
		fmt.Fprintf(e.stdout, "asset %s\n", assetLine(a))
	}
	if t := reg.Tipping; t != nil {
		cur := t.Currency
		ask := "every tip asks the user"
		if t.AutoApproveUpTo != 0 {
			ask = "tips to address-book names up to " + money(cur, t.AutoApproveUpTo) + " go without asking"
		}
		who := strings.Join(t.Names(), ", ")
		if who == "" {
			who = "empty address book"
		}
		if t.AllowAddresses {
			who += "; any 0x address too"
		}
		fmt.Fprintf(e.stdout, "tipping (x402_tip): on %s through %s; at most %s per tip, %s per day; %s; recipients: %s\n",
			t.Network, t.Facilitator, money(cur, t.MaxTip), money(cur, t.PerDay), ask, who)
	}
	fmt.Fprintln(e.stdout)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tMAX PRICE\tSCHEME\tBUDGET\tMETHOD\tURL\tPINS")
	for _, t := range reg.Tools {
		budget := "-"
		if t.Budget != 0 {
			budget = money(t.Currency, t.Budget)
		}
		name := t.Name
		if !t.Enabled {
			name += " (disabled)"
		}
		method := t.Method
		if t.Kind == tools.KindMCP {
			method = "MCP " + t.Prefix + "*"
		}
		price := money(t.Currency, t.MaxPrice)
		if t.AmountFrom != "" {
			price = "arg " + t.AmountFrom + " ≤ " + price
		}
		if t.Scheme == tools.SchemeUpto {
			price = "maximum " + price
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, price, scheme(reg, t), budget, method, t.URL, pins(t))
	}
	return tw.Flush()
}

// budgets lists the operator's budgets in one line.
func budgets(b tools.Budget) string {
	parts := []string{"total " + b.Total.USDC()}
	if b.PerDay != 0 {
		parts = append(parts, "per day "+b.PerDay.USDC()+" ("+b.Day.String()+")")
	}
	for _, l := range []struct {
		name string
		a    payments.Amount
	}{{"per session", b.PerSession}, {"per tool", b.PerTool}, {"per host", b.PerHost}} {
		if l.a != 0 {
			parts = append(parts, l.name+" "+l.a.USDC())
		}
	}
	for _, n := range slices.Sorted(maps.Keys(b.PerNetwork)) {
		parts = append(parts, "on "+string(n)+" "+b.PerNetwork[n].USDC())
	}
	return strings.Join(parts, ", ")
}

// money formats an amount of cur, or says it is read once the decimals are
// known (an asset whose decimals come from the chain at start).
func money(cur payments.Currency, a payments.Amount) string {
	if cur == (payments.Currency{}) {
		cur = payments.USDC
	}
	if cur.Decimals < 0 {
		return cur.Symbol + " (decimals read at start)"
	}
	return cur.Format(a)
}

// assetLine describes a declared asset: the token, where its decimals come
// from, its caps and its budget.
func assetLine(a *tools.Asset) string {
	cur := a.Currency()
	dec := fmt.Sprintf("%d decimals (declared", a.Decimals)
	if a.DecimalsDeclared {
		dec += "; checked against the chain at start when rpc has " + string(a.Network) + ")"
	} else {
		dec = "decimals read from the chain at start (rpc " + string(a.Network) + ")"
	}
	if !a.DecimalsDeclared && a.Resolved {
		dec = fmt.Sprintf("%d decimals (read from the chain)", a.Decimals)
	}
	parts := []string{fmt.Sprintf("%s: %s on %s (%s), %s", a.Setting, cur.Symbol, a.Network, a.Address, dec)}
	if a.PerCall != 0 {
		parts = append(parts, "per-call cap "+money(cur, a.PerCall))
	}
	if a.ApproveAbove != 0 {
		parts = append(parts, "asks above "+money(cur, a.ApproveAbove))
	}
	if a.Transfer != "" {
		parts = append(parts, "transfer "+a.Transfer)
	}
	if a.GaslessApproval != 0 {
		parts = append(parts, "gasless Permit2 approval up to "+money(cur, a.GaslessApproval))
	}
	b := "budget total " + money(cur, a.Total)
	if a.PerDay != 0 {
		b += ", per day " + money(cur, a.PerDay)
	}
	return strings.Join(append(parts, b), "; ")
}

// scheme names how an entry pays: its x402 scheme and the transfer
// method, pinned (transfer_method:), or the one its asset declares
// (transfer:), or upto's Permit2; "exact" alone lets the seller choose
// (EIP-3009 unless it asks for Permit2).
func scheme(reg *tools.Registry, t *tools.Entry) string {
	s := t.Scheme
	if s == "" {
		s = tools.SchemeExact
	}
	m := t.TransferMethod
	if m == "" {
		for _, a := range reg.Assets {
			if a.Address == t.Asset && a.Network == t.Network && a.Transfer != "" {
				m = a.Transfer + " (asset)"
			}
		}
	}
	if m == "" && s == tools.SchemeUpto {
		m = "permit2"
	}
	if m == "" {
		return s
	}
	return s + "/" + m
}

func pins(t *tools.Entry) string {
	var p []string
	if t.PayTo != "" {
		p = append(p, "pay_to")
	}
	if t.Network != "" {
		p = append(p, "network")
	}
	if t.Asset != "" {
		p = append(p, "asset")
	}
	if t.TransferMethod != "" {
		p = append(p, "transfer_method")
	}
	if len(p) == 0 {
		return "-"
	}
	return strings.Join(p, ",")
}
