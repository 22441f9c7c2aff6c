package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"testing"
)

// TestPprofRefusesBrowsers: the profiles are for the operator's tools on
// the same machine. A browser page (a request with an Origin) and a DNS
// rebinding (a Host that is not loopback) get 403; curl and go tool pprof
// get the profiles.
func TestPprofRefusesBrowsers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	if err := startPprof(ctx, "127.0.0.1:0", slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`url=(http://\S+/debug/pprof/)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no url logged: %s", logs.String())
	}
	for _, tt := range []struct {
		name, origin, host string
		want               int
	}{
		{"a local tool", "", "", http.StatusOK},
		{"localhost by name", "", "localhost", http.StatusOK},
		{"a browser page", "https://evil.example", "", http.StatusForbidden},
		{"a page on localhost", "http://localhost:3000", "", http.StatusForbidden},
		{"DNS rebinding", "", "evil.example", http.StatusForbidden},
	} {
		req, err := http.NewRequest(http.MethodGet, m[1]+"cmdline", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		if tt.host != "" {
			req.Host = tt.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
}
