package facilitator

// Fuzz tests of what this package reads that someone else wrote: a
// facilitator's answers. Run one with
//
//	go test -run='^$' -fuzz='^FuzzFacilitatorAnswer$' -fuzztime=60s ./payments/facilitator
//
// Inputs that once failed are kept in testdata/fuzz/<name>/ and run with
// the ordinary tests.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// fuzzFacilitator serves the answers of FuzzFacilitatorAnswer: the request
// path names which.
var fuzzFacilitator struct {
	once    sync.Once
	url     string
	answers sync.Map // path → cannedAnswer
	next    atomic.Int64
}

type cannedAnswer struct {
	status int
	body   []byte
}

// FuzzFacilitatorAnswer: whatever a facilitator answers to /settle,
// /verify and /supported, over real HTTP, the client returns a response or a
// *Error whose detail is short and free of control characters;
// it never panics.
func FuzzFacilitatorAnswer(f *testing.F) {
	f.Add(200, []byte(`{"success":true,"transaction":"0xabc","network":"eip155:84532","payer":"0x1"}`))
	f.Add(200, []byte(`{"isValid":false,"invalidReason":"insufficient_funds","invalidMessage":"no money","payer":"0x1"}`))
	f.Add(400, []byte(`{"error":"bad request"}`))
	f.Add(200, []byte("<html>\x1b[31m</html>"))
	f.Add(502, []byte(nil))
	f.Add(200, []byte(`{"kinds":[{"x402Version":2,"scheme":"exact","network":"solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1","extra":{"feePayer":"2wKupLR9q6wXYppw8Gr2NvWxKBUqm4PPJKkQfoxHDBg4"}}],"extensions":[],"signers":{}}`))
	fuzzFacilitator.once.Do(func() {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
			v, ok := fuzzFacilitator.answers.Load(key)
			if !ok {
				http.Error(w, "unknown answer", http.StatusTeapot)
				return
			}
			a := v.(cannedAnswer)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(a.status)
			_, _ = w.Write(a.body)
		}))
		// The server lives as long as the fuzzing process.
		fuzzFacilitator.url = srv.URL
	})
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 200 || status > 599 {
			status = 200 + (status%400+400)%400
		}
		key := strconv.FormatInt(fuzzFacilitator.next.Add(1), 36)
		fuzzFacilitator.answers.Store(key, cannedAnswer{status, body})
		defer fuzzFacilitator.answers.Delete(key)
		// The server answers at once: a timeout is a hang.
		fc := &Client{URL: fuzzFacilitator.url + "/" + key, Timeout: 5 * time.Second}
		req := &x402.Requirement{Raw: []byte(`{"scheme":"exact"}`)}
		p := &x402.PaymentPayload{X402Version: 2}
		for _, op := range []string{"settle", "verify", "supported"} {
			var err error
			switch op {
			case "settle":
				_, err = fc.Settle(context.Background(), p, req)
			case "verify":
				_, err = fc.Verify(context.Background(), p, req)
			default:
				_, err = fc.Supported(context.Background())
			}
			if err == nil {
				continue
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("%s: error %T %v, want a *Error", op, err, err)
			}
			if len(fe.Detail) > 310 || !utf8.ValidString(fe.Detail) || strings.ContainsFunc(fe.Detail, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("%s: detail %q", op, fe.Detail)
			}
			if fe.Timeout() {
				t.Fatalf("%s: no answer within 5s from a server that answers at once: %v", op, err)
			}
			if !fe.Sent && fe.Status != 0 {
				t.Fatalf("%s: the facilitator answered %d but Sent is false", op, fe.Status)
			}
			if !fe.Sent {
				// A connection to the local server that could not be made
				// (ports used up by a long run) says nothing of the parser.
				t.Skipf("%s: %v", op, err)
			}
		}
	})
}
