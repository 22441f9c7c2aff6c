package httplimit

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/x402-mcp/x402-mcp/internal/rawhttp"
)

func TestTransportBoundsHeadersAndErrors(t *testing.T) {
	long := strings.Repeat("K", 100<<10)
	tests := []struct {
		name   string
		answer string
		ok     bool   // the answer is read
		want   string // in the error
	}{
		{"a short answer", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true, ""},
		{"headers of 200 KB", "HTTP/1.1 402 Payment Required\r\nPayment-Required: " + strings.Repeat("e", 200<<10) + "\r\nContent-Length: 0\r\n\r\n", true, ""},
		{"a header line of 100 KB without a colon", "HTTP/1.1 402 Payment Required\r\n" + long + "\r\n\r\n", false, "malformed MIME header"},
		{"headers of 300 KB", "HTTP/1.1 402 Payment Required\r\nPayment-Required: " + strings.Repeat("e", 300<<10) + "\r\n\r\n", false, "headers exceeded"},
		{"a status line of 100 KB", "HTTP/1.1 200 " + long + "\r\n\r\n", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := rawhttp.Serve(t, tt.answer)
			res, err := Client().Get(u)
			if tt.ok {
				if err != nil {
					t.Fatalf("error %.200s", err)
				}
				if err := res.Body.Close(); err != nil {
					t.Log(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("status %d, want an error", res.StatusCode)
			}
			if len(err.Error()) > MaxErrorText+200 {
				t.Fatalf("error of %d bytes: %.300s…", len(err.Error()), err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// The default client reads the same long answers whole and quotes them
// whole: what Transport is for.
func TestDefaultClientQuotesWhole(t *testing.T) {
	u := rawhttp.Serve(t, "HTTP/1.1 402 Payment Required\r\n"+strings.Repeat("K", 100<<10)+"\r\n\r\n")
	_, err := http.Get(u)
	if err == nil || len(err.Error()) < 100<<10 {
		t.Fatalf("net/http's error is %d bytes; this package's reason to exist has gone: %.200v", len(err.Error()), err)
	}
}

func TestClipKeepsTheCauses(t *testing.T) {
	inner := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	long := errors.Join(errors.New(strings.Repeat("é ", 2000)), inner, context.DeadlineExceeded)
	err := Clip(long)
	if len(err.Error()) > MaxErrorText+50 || !strings.Contains(err.Error(), "more bytes not shown") {
		t.Fatalf("clipped to %d bytes: %.100q", len(err.Error()), err)
	}
	if !strings.HasPrefix(err.Error(), strings.Repeat("é ", MaxErrorText/3-1)) || !utf8.ValidString(err.Error()) {
		t.Fatalf("not cut on a rune boundary: %.100q", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the causes are lost: %T", err)
	}
	short := errors.New("short")
	if Clip(short) != short || Clip(nil) != nil {
		t.Fatal("a short error is not returned as it is")
	}
}

// A transport that is not an *http.Transport is wrapped as it is, and a
// smaller header limit is kept.
func TestTransportKeepsSmallerLimits(t *testing.T) {
	small := &http.Transport{MaxResponseHeaderBytes: 1 << 10}
	if Unwrap(Transport(small)) != small || Unwrap(small) != small {
		t.Fatal("a smaller limit was replaced")
	}
	big := &http.Transport{}
	if got := Transport(big).(*transport).base.(*http.Transport); got == big || got.MaxResponseHeaderBytes != MaxHeaderBytes || big.MaxResponseHeaderBytes != 0 {
		t.Fatalf("limit %d on a clone %v; the original changed to %d", got.MaxResponseHeaderBytes, got != big, big.MaxResponseHeaderBytes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a deadline is not seen through: %v", err)
	}
}

// TestClipCutsNoSecretInTwo: a secret that a server echoes back across the
// cut is dropped whole, not shown in part (a redaction after Clip replaces
// whole secrets only).
func TestClipCutsNoSecretInTwo(t *testing.T) {
	const secret = "sk_live_0123456789abcdef"
	for pad := MaxErrorText - len(secret); pad <= MaxErrorText; pad++ {
		msg := `malformed MIME header line: "` + strings.Repeat("x", pad-29) + secret + strings.Repeat("y", 1000) + `"`
		got := Clip(errors.New(msg)).Error()
		for n := 4; n <= len(secret); n++ {
			if strings.Contains(got, secret[:n]) {
				t.Fatalf("pad %d: %d bytes of the secret shown: %q", pad, n, got)
			}
		}
		if !strings.HasPrefix(got, `malformed MIME header line: "…`) {
			t.Fatalf("pad %d: cut elsewhere than after the quote: %.80q", pad, got)
		}
	}
}
