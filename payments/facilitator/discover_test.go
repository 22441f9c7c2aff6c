package facilitator

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDiscover: a page of the discovery API is asked where the protocol
// says (the listing of http resources by offset and limit, or a search by
// query and cursor), with the facilitator's credentials; a refusal is a
// *DiscoveryError carrying the answer for the caller to quote; an answer
// that is not a listing is an error naming the page.
func TestDiscover(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path+"?"+r.URL.RawQuery+" "+r.Header.Get("X-Api-Key"))
		switch r.URL.Query().Get("query") {
		case "refuse":
			http.Error(w, "<b>rate limited</b>", http.StatusTooManyRequests)
		case "junk":
			_, _ = w.Write([]byte("<html>"))
		default:
			_, _ = w.Write([]byte(`{"items":[{"resource":"https://a.example/x","accepts":[{}]}],"resources":[{"resource":{"url":"https://b.example/y","description":"b"}}],"pagination":{"total":7,"cursor":"c2"}}`))
		}
	}))
	defer srv.Close()
	f := &Client{URL: srv.URL + "/fac/", Header: http.Header{"X-Api-Key": {"k1"}}}
	ctx := context.Background()
	pg, err := f.Discover(ctx, DiscoveryQuery{Offset: 20, Limit: 10})
	if err != nil || len(pg.Items) != 1 || pg.Items[0].Resource.URL != "https://a.example/x" || pg.Pagination.Total != 7 {
		t.Fatalf("listing: %+v %v", pg, err)
	}
	pg, err = f.Discover(ctx, DiscoveryQuery{Search: "weather", Cursor: "c1"})
	if err != nil || len(pg.Resources) != 1 || pg.Resources[0].Resource.URL != "https://b.example/y" || pg.Resources[0].Resource.Description != "b" || string(pg.Pagination.Cursor) != `"c2"` {
		t.Fatalf("search: %+v %v", pg, err)
	}
	want := []string{"/fac/discovery/resources?limit=10&offset=20&type=http k1", "/fac/discovery/search?cursor=c1&query=weather k1"}
	if strings.Join(asked, "\n") != strings.Join(want, "\n") {
		t.Fatalf("asked\n%s\nwant\n%s", strings.Join(asked, "\n"), strings.Join(want, "\n"))
	}
	_, err = f.Discover(ctx, DiscoveryQuery{Search: "refuse"})
	var de *DiscoveryError
	if !errors.As(err, &de) || de.Status != "429 Too Many Requests" || !strings.Contains(string(de.Body), "rate limited") || !strings.Contains(de.URL, "/fac/discovery/search?query=refuse") {
		t.Fatalf("refusal: %v", err)
	}
	if _, err = f.Discover(ctx, DiscoveryQuery{Search: "junk"}); err == nil || !strings.Contains(err.Error(), "did not answer a discovery listing") || errors.As(err, &de) {
		t.Fatalf("junk: %v", err)
	}
}
