package localseller

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/x402-mcp/x402-mcp/payments"
)

// The bazaar extensions (x402-protocol.md §7) of the routes that describe
// their input and output in their 402s.
var (
	weatherBazaar   = json.RawMessage(`{"info":{"input":{"type":"http","method":"GET","queryParams":{"units":{"type":"string","description":"metric or imperial (default metric)","enum":["metric","imperial"]}}},"output":{"type":"json","example":{"city":"Paris","units":"metric","current":{"tempC":12,"conditions":"clear","humidity":50}}}},"schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"}}`)
	summarizeBazaar = json.RawMessage(`{"info":{"input":{"type":"http","method":"POST","bodyType":"json","body":{"type":"object","properties":{"text":{"type":"string","description":"the text to summarize"}},"required":["text"]}},"output":{"type":"json","example":{"summary":"First sentence.","words":12}}},"schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"}}`)
)

// DiscoveryItem is one resource of GET /discovery/resources.
type DiscoveryItem struct {
	Resource    string                     `json:"resource"`
	Type        string                     `json:"type"`
	X402Version int                        `json:"x402Version"`
	Accepts     []json.RawMessage          `json:"accepts"`
	LastUpdated string                     `json:"lastUpdated"`
	Metadata    map[string]any             `json:"metadata,omitempty"`
	Extensions  map[string]json.RawMessage `json:"extensions,omitempty"`
}

// discoveryItems lists the seller's paid, well-behaved routes as a bazaar
// facilitator would (absolute URLs on the request's host).
func (s *Seller) discoveryItems(r *http.Request) []DiscoveryItem {
	base := "http://" + r.Host
	if r.TLS != nil {
		base = "https://" + r.Host
	}
	p := s.Prices()
	routes := []struct {
		path, desc, mime string
		version          int
		price            payments.Amount
		bazaar           json.RawMessage
		outputSchema     json.RawMessage
	}{
		{"/v2/weather/{city}", "Current weather for a city", "application/json", 2, p.Weather, weatherBazaar, nil},
		{"/v2/summarize", "Summarize a text", "application/json", 2, p.Summarize, summarizeBazaar, nil},
		{"/v1/quote", "Stock quote", "application/json", 1, p.Quote, nil, quoteOutputSchema},
		{"/v2/text", "A paid text resource", "text/plain; charset=utf-8", 2, p.Text, nil, nil},
		{"/v2/image", "A paid 16x16 PNG", "image/png", 2, p.Image, nil, nil},
	}
	items := make([]DiscoveryItem, 0, len(routes))
	for _, rt := range routes {
		o := &offer{version: rt.version, resource: resource{URL: base + rt.path, Description: rt.desc, MimeType: rt.mime}, sol: s.sol}
		rq := s.requirement(o, rt.price)
		if rt.outputSchema != nil {
			rq.OutputSchema = rt.outputSchema
		}
		o.add(rq)
		accepts := make([]json.RawMessage, len(o.accepts))
		for i, a := range o.accepts {
			accepts[i] = a.Raw
		}
		it := DiscoveryItem{
			Resource: o.resource.URL, Type: "http", X402Version: rt.version, Accepts: accepts,
			LastUpdated: "2026-01-01T00:00:00Z",
			Metadata:    map[string]any{"description": rt.desc, "mimeType": rt.mime},
		}
		if rt.bazaar != nil {
			it.Extensions = map[string]json.RawMessage{x402.ExtBazaar: rt.bazaar}
		}
		items = append(items, it)
	}
	return items
}

// handleDiscoveryResources serves GET /discovery/resources?type=&limit=&offset=
// (limit at most 100, default 20).
func (s *Seller) handleDiscoveryResources(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	items := s.discoveryItems(r)
	if t := q.Get("type"); t != "" && t != "http" {
		items = nil
	}
	limit, offset := 20, 0
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 {
		limit = min(v, 100)
	}
	if v, err := strconv.Atoi(q.Get("offset")); err == nil && v > 0 {
		offset = v
	}
	total := len(items)
	page := items[min(offset, total):min(offset+limit, total)]
	writeJSON(w, http.StatusOK, map[string]any{
		"x402Version": 2, "items": page,
		"pagination": map[string]int{"limit": limit, "offset": offset, "total": total},
	})
}

// handleDiscoverySearch serves GET /discovery/search?query=&cursor=: the
// resources whose URL or description contains the query (case ignored),
// two a page, the cursor being the next index. A cursor it cannot have
// given (not a number, negative) is refused with 400.
func (s *Seller) handleDiscoverySearch(w http.ResponseWriter, r *http.Request) {
	const pageSize = 2
	q := strings.ToLower(r.URL.Query().Get("query"))
	var found []DiscoveryItem
	for _, it := range s.discoveryItems(r) {
		d, _ := it.Metadata["description"].(string)
		if strings.Contains(strings.ToLower(it.Resource), q) || strings.Contains(strings.ToLower(d), q) {
			found = append(found, it)
		}
	}
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			badRequest(w, fmt.Sprintf("cursor %.40q is not a cursor this search gave: leave it out for the first page, or pass the previous page's pagination.cursor", c))
			return
		}
		start = min(n, len(found))
	}
	end := min(start+pageSize, len(found))
	pg := map[string]any{"limit": pageSize}
	if end < len(found) {
		pg["cursor"] = strconv.Itoa(end)
	}
	writeJSON(w, http.StatusOK, map[string]any{"x402Version": 2, "resources": found[start:end], "pagination": pg})
}
