package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/plural"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/httplimit"
	"github.com/x402-mcp/x402-mcp/tools"
	"github.com/x402-mcp/x402-mcp/tools/discover"
)

// registryTimeout bounds each probe or discovery request.
const registryTimeout = 30 * time.Second

// cmdRegistry proposes catalog entries: `registry add URL` probes one
// endpoint's 402 without paying; `registry import --from FAC` drafts entries
// from a facilitator's discovery API.
func cmdRegistry(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usageError{"registry needs a subcommand: add or import"}
	}
	// Never follow a redirect: --header's credentials (a custom header such
	// as X-Api-Key goes along to any host) would reach wherever the
	// facilitator or endpoint points; the 3xx is reported instead.
	client := &http.Client{Timeout: registryTimeout, Transport: httplimit.DefaultTransport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	switch args[0] {
	case "add":
		return cmdRegistryAdd(ctx, e, client, args[1:])
	case "import":
		return cmdRegistryImport(ctx, e, client, args[1:])
	default:
		return usageError{fmt.Sprintf("unknown registry subcommand %q: use add or import", args[0])}
	}
}

// parseInterspersed parses flags before and after the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func cmdRegistryAdd(ctx context.Context, e env, client *http.Client, args []string) error {
	fs := newFlags("registry add", e)
	method := fs.String("method", "GET", "HTTP method to probe with")
	name := fs.String("name", "", "tool name (default: derived from the URL path)")
	body := fs.String("body", "", "JSON body to send with the probe (for sellers that check input before asking to pay)")
	write := fs.String("write", "", "append the entry to this registry file's tools")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"registry add takes one URL: x402-mcp registry add URL [--method M] [--name N] [--body JSON] [--write FILE]"}
	}
	d, warn, err := discover.Probe(ctx, discover.ProbeOptions{URL: pos[0], Method: *method, Body: *body, Name: *name, Client: client, Families: families})
	if err != nil {
		return err
	}
	for _, w := range warn {
		fmt.Fprintln(e.stderr, "note:", w)
	}
	y, err := discover.YAML([]discover.Draft{d})
	if err != nil {
		return err
	}
	if *write == "" {
		fmt.Fprint(e.stdout, "# Proposed by x402-mcp registry add (nothing was paid). The description is the seller's, unverified.\n", string(y))
		return nil
	}
	if err := discover.AppendEntry(*write, d, families); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "added %s to %s (%s, pinned to %s on %s)\n", d.Name, *write, draftPrice(d), d.PayTo, d.Network)
	return nil
}

func cmdRegistryImport(ctx context.Context, e env, client *http.Client, args []string) error {
	fs := newFlags("registry import", e)
	from := fs.String("from", "", "the facilitator's base URL (its /discovery/resources is read); ${NAME} reads an API key from the environment")
	var headers stringList
	fs.Var(&headers, "header", "a header sent to the facilitator, such as 'Authorization: Bearer ${TOKEN}' (repeatable; ${NAME} reads the environment)")
	query := fs.String("query", "", "search /discovery/search for this text instead of listing")
	network := fs.String("network", "", "keep only resources payable on this network (CAIP-2 or v1 name)")
	maxPrice := fs.String("max-price", "", "keep only resources costing at most this, in USDC (such as 0.05)")
	limit := fs.Int("limit", discover.DefaultImportLimit, "at most this many drafts")
	out := fs.String("out", "registry.drafts.yaml", "the drafts file to write")
	force := fs.Bool("force", false, "replace --out if it exists")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"registry import takes no arguments, only flags"}
	}
	if *from == "" {
		return usageError{"registry import needs --from FACILITATOR_URL"}
	}
	if *limit <= 0 {
		return usageError{"--limit must be positive"}
	}
	var f discover.Filter
	if *network != "" {
		n, err := families.ParseNetwork(*network)
		if err != nil {
			return usageError{"--network: " + err.Error()}
		}
		f.Network = n
	}
	if *maxPrice != "" {
		a, err := payments.ParseAmount(*maxPrice)
		if err != nil || a == 0 {
			return usageError{fmt.Sprintf("--max-price %q is not a positive USDC amount such as 0.05", *maxPrice)}
		}
		f.MaxPrice = a
	}
	// --from and --header take ${NAME} references, as the catalog does: a
	// secret stays out of the command line (which every user of the
	// machine can read) and out of every message.
	fromURL, red, err := tools.ExpandURL(*from, e.getenv)
	if err != nil {
		return usageError{"--from: " + err.Error()}
	}
	hdr := http.Header{}
	for _, h := range headers {
		name, value, err := tools.ExpandHeader(h, e.getenv, red)
		if err != nil {
			return usageError{"--header: " + err.Error()}
		}
		hdr.Add(name, value)
	}
	ds, warn, err := discover.Import(ctx, discover.ImportOptions{From: fromURL, Header: hdr, Query: *query, Filter: f, Limit: *limit, Client: client, Families: families})
	for _, w := range warn {
		fmt.Fprintln(e.stderr, "note:", red.Text(w))
	}
	if err != nil {
		return red.Err(err)
	}
	if len(ds) == 0 {
		return errors.New("no resource matched: nothing written")
	}
	header := strings.Join([]string{
		"Drafts imported by `x402-mcp registry import` from " + *from + ".",
		"Every entry is disabled (enabled: false) and listed as no tool. Descriptions are",
		"the sellers' own words, unverified. Review each entry (url, params, max_price, pins),",
		"copy it into your registry and set enabled: true (or remove the line) to offer it.",
	}, "\n")
	if err := discover.WriteDrafts(*out, header, ds, *force, families); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s to %s (all disabled):\n", plural.Count(len(ds), "draft", "drafts"), *out)
	for _, d := range ds {
		fmt.Fprintf(e.stdout, "  %s\t%s\t%s %s\n", d.Name, draftPrice(d), d.Method, d.URL)
	}
	return nil
}

// draftPrice says what a draft pays: its max_price, the maximum of an upto
// entry, and the transfer method it pins.
func draftPrice(d discover.Draft) string {
	s := "max_price " + d.MaxPrice.USDC()
	if d.Scheme == tools.SchemeUpto {
		s = "upto, maximum " + d.MaxPrice.USDC()
	}
	if d.TransferMethod != "" {
		s += ", " + d.TransferMethod
	}
	return s
}
