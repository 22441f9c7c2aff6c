package payments_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/httplimit"
	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
)

// TestHTTPClientReusesConnections: NewHTTPClient keeps connections to a
// seller alive across paid calls (one TCP connection for a run of
// sequential calls over HTTP/1.1) and speaks HTTP/2 to a TLS seller that
// offers it.
func TestHTTPClientReusesConnections(t *testing.T) {
	for _, tt := range []struct {
		name  string
		tls   bool
		proto string
	}{{"http/1.1 keep-alive", false, "HTTP/1.1"}, {"h2 over TLS", true, "HTTP/2.0"}} {
		t.Run(tt.name, func(t *testing.T) {
			s := localseller.New(localseller.Config{})
			var mu sync.Mutex
			conns, protos := 0, map[string]int{}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				protos[r.Proto]++
				mu.Unlock()
				s.Handler().ServeHTTP(w, r)
			}))
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					mu.Lock()
					conns++
					mu.Unlock()
				}
			}
			hc := payments.NewHTTPClient()
			if tt.tls {
				srv.EnableHTTP2 = true
				srv.StartTLS()
				// Trust the test server's certificate, keeping every other
				// setting of the tuned transport.
				tr := httplimit.Unwrap(hc.Transport).(*http.Transport)
				tr.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			w, err := wallet.ParseHexKey(testKey)
			if err != nil {
				t.Fatal(err)
			}
			s.Facilitator().Fund(w.Address(), 100_000_000)
			pol := payments.Policy{Networks: []payments.Network{"eip155:84532"}, PerCall: 100_000}
			c := &payments.Client{HTTP: hc, Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: payments.NewMemoryLedger(pol.Budget, nil), Warm: &payments.Warm{}}
			for i := 0; i < 10; i++ {
				res, err := c.Do(context.Background(), get(t, srv.URL+"/v2/weather/paris"), weatherLim)
				if err != nil || res.Charged != payments.Charged {
					t.Fatalf("call %d: %v %v", i, res, err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if conns != 1 {
				t.Fatalf("%d connections for 10 sequential paid calls, want 1", conns)
			}
			if protos[tt.proto] != 11 || len(protos) != 1 {
				t.Fatalf("protocols %v, want 11 requests over %s", protos, tt.proto)
			}
		})
	}
}
