package server

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	satomic "sync/atomic"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/tools"
)

// TestKeysThrottle: the issuer's keys are fetched at most once per every,
// however many tokens ask (go-oidc fetches them again for every token that
// fails to verify); requests in between get the last answer; a failed fetch
// is not kept. (The key server is an httptest server that counts requests:
// what is tested is how often x402-mcp asks, not what the keys are.)
func TestKeysThrottle(t *testing.T) {
	var hits satomic.Int64
	var fail satomic.Bool
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"keys":[]}`)
	}))
	defer keys.Close()
	hc := &http.Client{Transport: &keysThrottle{every: 200 * time.Millisecond}}
	get := func() (int, string, error) {
		res, err := hc.Get(keys.URL)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), nil
	}
	for i := range 50 {
		if code, body, err := get(); err != nil || code != 200 || body != `{"keys":[]}` {
			t.Fatalf("request %d: %d %q %v", i, code, body, err)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("50 requests within the interval fetched the keys %d times, want 1", n)
	}
	time.Sleep(250 * time.Millisecond)
	fail.Store(true)
	if _, _, err := get(); err == nil {
		t.Fatal("a failed fetch was answered")
	}
	if _, _, err := get(); err == nil || hits.Load() != 2 {
		t.Fatalf("right after a failed fetch: %v, %d fetches", err, hits.Load())
	}
	fail.Store(false)
	time.Sleep(250 * time.Millisecond)
	if code, _, err := get(); err != nil || code != 200 || hits.Load() != 3 {
		t.Fatalf("after the interval: %d %v, %d fetches", code, err, hits.Load())
	}
}

// TestMetadataErrorNamesTheStatusByCode: an authorization server whose
// status line carries a reason phrase of 100 KB (Go's client reads up to
// 10 MB of them) is logged by its status code, not with the phrase. The
// server is a plain TCP listener: no httptest server writes its own
// reason phrase.
func TestMetadataErrorNamesTheStatusByCode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = fmt.Fprintf(c, "HTTP/1.1 503 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", strings.Repeat("x", 100<<10))
			}()
		}
	}()
	issuer := "http://" + ln.Addr().String()
	v := newOAuthVerifier(OAuthOptions{OAuth: tools.OAuth{Issuer: issuer, Resource: "http://127.0.0.1/mcp"}}, nil, slog.New(slog.DiscardHandler))
	_, err = v.discover(t.Context())
	if err == nil {
		t.Fatal("no error")
	}
	if msg := err.Error(); len(msg) > 1<<10 || !strings.Contains(msg, "503 Service Unavailable") || strings.Contains(msg, "xxxxxxxxxx") {
		t.Fatalf("error of %d bytes: %.300s", len(msg), msg)
	}
}
