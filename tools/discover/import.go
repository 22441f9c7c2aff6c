package discover

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/jsonlimit"
)

// Import limits.
const (
	DefaultImportLimit = 20
	maxPageSize        = 100
	maxPages           = 50
	maxDiscoveryBody   = 4 << 20
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
}

// discoveryItem is one resource of a discovery listing (x402-protocol.md §7).
type discoveryItem struct {
	Resource resourceRef `json:"resource"`
	// Description is read where a listing puts it: metadata.description,
	// description, resource.description, or (v1) accepts[].description.
	Description string                     `json:"description"`
	Type        string                     `json:"type"`
	X402Version int                        `json:"x402Version"`
	Accepts     []json.RawMessage          `json:"accepts"`
	Metadata    map[string]any             `json:"metadata"`
	Extensions  map[string]json.RawMessage `json:"extensions"`
}

// resourceRef is an item's resource: its URL, or (as in a v2
// PaymentRequired) an object with the URL and a description.
type resourceRef struct {
	URL         string `json:"url"`
	Description string `json:"description"`
}

// UnmarshalJSON reads a URL string or a resource object.
func (r *resourceRef) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &r.URL); err == nil {
		return nil
	}
	type plain resourceRef
	return json.Unmarshal(b, (*plain)(r))
}

type discoveryPage struct {
	Items      []discoveryItem `json:"items"`
	Resources  []discoveryItem `json:"resources"`
	Pagination struct {
		Limit  int             `json:"limit"`
		Offset int             `json:"offset"`
		Total  int             `json:"total"`
		Cursor json.RawMessage `json:"cursor"`
	} `json:"pagination"`
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
		c = http.DefaultClient
	}
	var (
		out   []Draft
		warn  []string
		names = map[string]int{}
		seen  = map[string]bool{}
	)
	offset, cursor := 0, ""
	for page := 0; page < maxPages && len(out) < limit; page++ {
		// The facilitator's own query (an API key, say) goes on every
		// request, beside the paging.
		q := base.Query()
		u := *base
		u.Path, u.RawPath, u.Fragment = strings.TrimRight(base.Path, "/"), "", ""
		if opts.Query != "" {
			u.Path += "/discovery/search"
			q.Set("query", opts.Query)
			if cursor != "" {
				q.Set("cursor", cursor)
			}
		} else {
			u.Path += "/discovery/resources"
			q.Set("type", "http")
			q.Set("limit", strconv.Itoa(min(maxPageSize, limit)))
			q.Set("offset", strconv.Itoa(offset))
		}
		u.RawQuery = q.Encode()
		pg, err := getPage(ctx, c, u.String(), opts.Header)
		if err != nil {
			return nil, warn, err
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
			d, w, err := fromItem(it, opts.Filter)
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
	return out, warn, nil
}

func getPage(ctx context.Context, c *http.Client, u string, h http.Header) (*discoveryPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range h {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "x402-mcp")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBody+1))
	if err != nil {
		return nil, fmt.Errorf("discovery: read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discovery: GET %s answered %s: %s", u, resp.Status, SellerText(string(b), 200))
	}
	if len(b) > maxDiscoveryBody {
		return nil, fmt.Errorf("discovery: GET %s answered over %d bytes", u, maxDiscoveryBody)
	}
	var pg discoveryPage
	if err := jsonlimit.Unmarshal(b, &pg); err != nil {
		return nil, fmt.Errorf("discovery: GET %s did not answer a discovery listing: %v", u, err)
	}
	return &pg, nil
}

// fromItem drafts one discovery item.
func fromItem(it discoveryItem, f Filter) (Draft, []string, error) {
	if it.Type != "" && it.Type != "http" {
		return Draft{}, nil, fmt.Errorf("type %q is not http", SellerText(it.Type, 20))
	}
	o := offerInfo{url: it.Resource.URL}
	for i, raw := range it.Accepts {
		var r payments.Requirement
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
	o.info = inputOf(it.Extensions[payments.ExtBazaar], true)
	for _, a := range o.accepts {
		if o.description == "" {
			o.description = a.Description
		}
		if o.info == nil {
			o.info = inputOf(a.OutputSchema, false)
		}
	}
	return draft(o, "", f)
}
