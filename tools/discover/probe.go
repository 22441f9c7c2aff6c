package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/httplimit"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// maxProbeBody bounds what Probe reads of an answer.
const maxProbeBody = 256 << 10

// ProbeOptions is one probe: the request and the entry's name.
type ProbeOptions struct {
	URL    string
	Method string // default GET
	Body   string // a JSON body to send (some sellers refuse bad input before asking to pay)
	Name   string // default: derived from the URL path
	Client *http.Client
	// Families read the 402's networks and addresses.
	Families payments.Families
}

// Probe requests opts.URL without paying, reads its 402 and proposes a
// registry entry. It never signs or sends a payment.
func Probe(ctx context.Context, opts ProbeOptions) (Draft, []string, error) {
	method := strings.ToUpper(opts.Method)
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if opts.Body != "" {
		if !json.Valid([]byte(opts.Body)) {
			return Draft{}, nil, fmt.Errorf("--body is not JSON")
		}
		body = strings.NewReader(opts.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, opts.URL, body)
	if err != nil {
		return Draft{}, nil, fmt.Errorf("probe %s: %w", opts.URL, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "x402-mcp")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := opts.Client
	if c == nil {
		c = httplimit.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return Draft{}, nil, fmt.Errorf("probe %s %s: %w", method, opts.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	if err != nil {
		return Draft{}, nil, fmt.Errorf("probe %s %s: read the answer: %w", method, opts.URL, err)
	}
	if resp.StatusCode != http.StatusPaymentRequired {
		// The status by its code: the seller's reason phrase may run to
		// megabytes.
		status := strconv.Itoa(resp.StatusCode)
		if t := http.StatusText(resp.StatusCode); t != "" {
			status += " " + t
		}
		msg := fmt.Sprintf("%s %s answered %s, not 402 Payment Required: it is not an x402-priced endpoint (or not with this method and input)", method, opts.URL, status)
		if t := SellerText(string(b), 200); resp.StatusCode >= 400 && t != "" {
			msg += "; it said: " + t
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			msg += "; it redirects to " + SellerText(loc, 200) + ", which is not followed: probe that URL if it is the endpoint"
		}
		return Draft{}, nil, fmt.Errorf("%s", msg)
	}
	pr, err := x402.ParseChallenge(resp.Header, bytes.TrimSpace(b))
	if err != nil {
		return Draft{}, nil, fmt.Errorf("%s %s answered 402 but not a usable x402 challenge: %w", method, opts.URL, err)
	}
	o := offerInfo{url: opts.URL, method: method, accepts: pr.Accepts}
	var notes []string
	if pr.X402Version >= 2 {
		var res struct {
			Description string `json:"description"`
		}
		if len(pr.Resource) > 0 {
			if err := json.Unmarshal(pr.Resource, &res); err != nil {
				notes = append(notes, "the 402's resource is not an object with a text description: the seller's description is not used")
			}
		}
		o.description = res.Description
		o.info = inputOf(pr.Extensions[x402.ExtBazaar], true)
	} else {
		o.description = pr.Accepts[0].Description
		for _, a := range pr.Accepts {
			if o.info = inputOf(a.OutputSchema, false); o.info != nil {
				break
			}
		}
	}
	d, warn, err := draft(o, opts.Name, Filter{}, opts.Families)
	return d, capNotes(append(notes, warn...)), err
}
