package localseller

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDiscoverySearchCursor: /discovery/search pages by the cursor it gave;
// a cursor it cannot have given (not a number, negative) is refused with
// 400 naming the parameter, instead of being read as the first page.
func TestDiscoverySearchCursor(t *testing.T) {
	run := start(t, Config{})
	for _, tt := range []struct {
		cursor  string
		status  int
		first   string // the first resource's path, on 200
		wantErr string // in the error, on 400
	}{
		{"", http.StatusOK, "/v2/weather/", ""},
		{"0", http.StatusOK, "/v2/weather/", ""},
		{"2", http.StatusOK, "/v1/quote", ""},
		{"99", http.StatusOK, "", ""},
		{"abc", http.StatusBadRequest, "", `cursor "abc"`},
		{"-1", http.StatusBadRequest, "", `cursor "-1"`},
		{"1e3", http.StatusBadRequest, "", `cursor "1e3"`},
	} {
		t.Run("cursor="+tt.cursor, func(t *testing.T) {
			res, err := http.Get(run.URL + "/discovery/search?query=&cursor=" + tt.cursor)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status {
				t.Fatalf("status %d (%.200s), want %d", res.StatusCode, b, tt.status)
			}
			if tt.status != http.StatusOK {
				var e struct{ Error string }
				if err := json.Unmarshal(b, &e); err != nil || !strings.Contains(e.Error, tt.wantErr) {
					t.Fatalf("error %q (%v), want one naming %s", b, err, tt.wantErr)
				}
				return
			}
			var page struct {
				Resources []DiscoveryItem
			}
			if err := json.Unmarshal(b, &page); err != nil {
				t.Fatal(err)
			}
			if tt.first == "" {
				if len(page.Resources) != 0 {
					t.Fatalf("%d resources past the end", len(page.Resources))
				}
				return
			}
			if len(page.Resources) == 0 || !strings.Contains(page.Resources[0].Resource, tt.first) {
				t.Fatalf("page %s, want it to start with %s", b, tt.first)
			}
		})
	}
}
