package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

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
		nets[i] = string(n) + " (" + n.Name() + ")"
	}
	fmt.Fprintf(e.stdout, "%s: OK, %d tools\nnetworks: %s\nper-call cap: %s\nbudget total: %s\n\n",
		reg.Path, len(reg.Tools), strings.Join(nets, ", "), reg.Defaults.MaxPerCall.USDC(), reg.Budget.Total.USDC())
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tMAX PRICE\tMETHOD\tURL\tPINS")
	for _, t := range reg.Tools {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.MaxPrice.USDC(), t.Method, t.URL, pins(t))
	}
	return tw.Flush()
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
	if len(p) == 0 {
		return "-"
	}
	return strings.Join(p, ",")
}
