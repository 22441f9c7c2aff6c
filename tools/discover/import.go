package discover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/facilitator"
	"github.com/x402-mcp/x402-mcp/payments/httplimit"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Import limits.
const (
	DefaultImportLimit = 20
	maxPageSize        = 100
	maxPages           = 50
)

// ImportOptions is one import from a facilitator's discovery API.
type ImportOptions struct {
	From string // the facilitator's base URL
	// Header is sent with every request: the facilitator's credentials,
	// when it requires them.
	Header http.Header
	Query  string // search with /discovery/search instead of listing
	Filter Filter
	Limit  int // at most this many drafts (default DefaultImportLimit)
	Client *http.Client
	// Families read the resources' networks and addresses.
	Families payments.Families
}

// Import pages through the facilitator's discovery API and returns drafts
// for the resources that pass the filter, with unique names. Warnings say
// which resources were skipped and why.
func Import(ctx context.Context, opts ImportOptions) ([]Draft, []string, error) {
	base, err := url.Parse(strings.TrimRight(opts.From, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, nil, fmt.Errorf("--from %q is not an http(s) URL", opts.From)
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultImportLimit
	}
	c := opts.Client
	if c == nil {
		c = httplimit.DefaultClient
	}
	var (
		out   []Draft
		warn  []string
		names = map[string]int{}
		seen  = map[string]bool{}
	)
	fc := &facilitator.Client{URL: base.String(), Header: opts.Header, HTTP: c}
	offset, cursor := 0, ""
	for page := 0; page < maxPages && len(out) < limit; page++ {
		pg, err := fc.Discover(ctx, facilitator.DiscoveryQuery{Search: opts.Query, Cursor: cursor, Offset: offset, Limit: min(maxPageSize, limit)})
		var de *facilitator.DiscoveryError
		if errors.As(err, &de) {
			return nil, capNotes(warn), fmt.Errorf("discovery: GET %s answered %s: %s", de.URL, de.Status, SellerText(string(de.Body), 200))
		}
		if err != nil {
			return nil, capNotes(warn), err
		}
		items := pg.Items
		if opts.Query != "" {
			items = pg.Resources
		}
		for _, it := range items {
			if len(out) >= limit {
				break
			}
			if seen[it.Resource.URL] {
				continue
			}
			seen[it.Resource.URL] = true
			d, w, err := fromItem(it, opts.Filter, opts.Families)
			for _, s := range w {
				warn = append(warn, SellerText(it.Resource.URL, 200)+": "+s)
			}
			if err != nil {
				warn = append(warn, "skipped "+SellerText(it.Resource.URL, 200)+": "+err.Error())
				continue
			}
			if n := names[d.Name]; n > 0 {
				names[d.Name] = n + 1
				d.Name = fmt.Sprintf("%s_%d", strings.TrimRight(d.Name[:min(len(d.Name), 60)], "_"), n+1)
			} else {
				names[d.Name] = 1
			}
			out = append(out, d)
		}
		if opts.Query != "" {
			var next string
			if len(pg.Pagination.Cursor) > 0 && string(pg.Pagination.Cursor) != "null" {
				if json.Unmarshal(pg.Pagination.Cursor, &next) != nil {
					next = string(pg.Pagination.Cursor) // a number
				}
			}
			if next == "" || next == cursor || len(items) == 0 {
				break
			}
			cursor = next
		} else {
			offset += len(items)
			if len(items) == 0 || (pg.Pagination.Total > 0 && offset >= pg.Pagination.Total) {
				break
			}
		}
	}
	return out, capNotes(warn), nil
}

// fromItem drafts one discovery item.
func fromItem(it x402.DiscoveryItem, f Filter, fams payments.Families) (Draft, []string, error) {
	if it.Type != "" && it.Type != "http" {
		return Draft{}, nil, fmt.Errorf("type %q is not http", SellerText(it.Type, 20))
	}
	o := offerInfo{url: it.Resource.URL}
	for i, raw := range it.Accepts {
		var r x402.Requirement
		if err := json.Unmarshal(raw, &r); err != nil {
			return Draft{}, nil, fmt.Errorf("accepts[%d] is not a payment requirement", i)
		}
		o.accepts = append(o.accepts, r)
	}
	if d, ok := it.Metadata["description"].(string); ok {
		o.description = d
	}
	for _, d := range []string{it.Description, it.Resource.Description} {
		if o.description == "" {
			o.description = d
		}
	}
	o.info = inputOf(it.Extensions[x402.ExtBazaar], true)
	for _, a := range o.accepts {
		if o.description == "" {
			o.description = a.Description
		}
		if o.info == nil {
			o.info = inputOf(a.OutputSchema, false)
		}
	}
	return draft(o, "", f, fams)
}
