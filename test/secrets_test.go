package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
)

// TestRPCURLFromEnv: an rpc: URL takes ${ENV} references, as hosted nodes
// want an API key in the path or the query. Reconciliation reaches the node
// with the key; when the node refuses (a wrong key) or quotes the request,
// neither the report, the logs nor the ledger show the key.
func TestRPCURLFromEnv(t *testing.T) {
	const (
		pathKey  = "rpcpathkey4e8a21"
		queryKey = "rpcquerykey9b3c07"
		wrongKey = "rpcwrongkey1d6f55"
	)
	sim, seller, _ := simSeller(t, 300)
	node, err := url.Parse(sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(node)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/"+pathKey || r.URL.Query().Get("apikey") != queryKey {
			http.Error(w, "unknown api key in "+r.URL.String(), http.StatusUnauthorized)
			return
		}
		r.URL.Path, r.URL.RawPath, r.URL.RawQuery = "/", "", ""
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close)
	cat := catalog(`
version: 1
defaults:
  networks: [eip155:1337]
  max_per_call: "0.01"
  timeout: 20s
rpc:
  eip155:1337: ${RPC_BASE}/v2/${RPC_KEY}?apikey=${RPC_QUERY_KEY}
assets:
  # The simulated chain's test token; its decimals are checked on chain at
  # start, through the rpc URL above.
  - symbol: TUSD
    network: eip155:1337
    address: "` + sim.Token().Hex() + `"
    decimals: 6
    budget: {total: "1.00"}
tools:
  - name: weather_drop
    description: The seller settles, then drops the connection.
    url: "{{URL}}/v2/misbehave/drop_after_settle"
    max_price: "0.001"
    network: eip155:1337
    asset: TUSD
`)
	book := filepath.Join(t.TempDir(), "ledger.db")
	env := []string{"X402_LEDGER=" + book, "RPC_BASE=" + gate.URL, "RPC_QUERY_KEY=" + queryKey}
	// Served with a key the node refuses: the call cannot ask the chain
	// (with the right key it would, and answer charged: below), so the
	// lost answer stays unknown for `ledger reconcile`.
	s := startWith(t, seller, cat, append(env, "RPC_KEY="+wrongKey)...)
	if res := s.call("weather_drop", nil); !res.IsError || res.Meta.AdditionalFields["x402/charged"] != "unknown" {
		t.Fatalf("drop after settle: %s", text(res))
	}
	s.close()
	shown := []string{"serve's log with a wrong key: " + s.stderr.String()}

	reg := writeCatalog(t, cat, seller.URL)
	out, stderr, err := run(t, append(env, "X402_REGISTRY="+reg, "RPC_KEY="+wrongKey), "ledger", "reconcile")
	shown = append(shown, "reconcile with a wrong key: "+out+stderr)
	if err != nil || !strings.Contains(out, `"settled": 0`) || !strings.Contains(out, "401") {
		t.Fatalf("reconcile with a wrong key (%v): the node's refusal is not reported:\n%s\n%s", err, out, stderr)
	}
	out, stderr, err = run(t, append(env, "X402_REGISTRY="+reg, "RPC_KEY="+pathKey), "ledger", "reconcile")
	shown = append(shown, "reconcile: "+out+stderr)
	if err != nil || !strings.Contains(out, `"settled": 1`) {
		t.Fatalf("reconcile through the keyed rpc URL (%v):\n%s\n%s", err, out, stderr)
	}
	for _, r := range readLedger(t, book) {
		if r.State != payments.StateSettled {
			t.Errorf("row %s is %s after reconciliation", r.ID, r.State)
		}
		shown = append(shown, "ledger: "+r.Reason+" "+r.Resource)
	}
	// Served with the right key: the assets' decimals are checked on chain
	// at start, and a lost answer is asked about on chain within the call,
	// through the keyed rpc URL.
	s = startWith(t, seller, cat, append(env, "RPC_KEY="+pathKey)...)
	res := s.call("weather_drop", nil)
	s.close()
	shown = append(shown, "serve's log: "+s.stderr.String(), "result: "+text(res))
	if !res.IsError || res.Meta.AdditionalFields["x402/charged"] != "charged" || !strings.Contains(text(res), "settled on chain (transaction 0x") {
		t.Fatalf("drop after settle, served with the right key: %s", text(res))
	}
	if strings.Contains(s.stderr.String(), "not checked against the chain") {
		t.Errorf("the asset's decimals were not checked through the keyed rpc URL:\n%s", s.stderr.String())
	}
	rows := readLedger(t, book)
	if len(rows) != 2 {
		t.Errorf("%d rows, want 2", len(rows))
	}
	for _, r := range rows {
		if r.State != payments.StateSettled || r.Transaction == "" {
			t.Errorf("row %s is %s (tx %q), want settled with its transaction", r.ID, r.State, r.Transaction)
		}
	}
	out, stderr, err = run(t, append(env, "RPC_KEY="+pathKey), "check", reg)
	shown = append(shown, "check: "+out+stderr)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, stderr)
	}
	for _, sh := range shown {
		for _, secret := range []string{pathKey, queryKey, wrongKey} {
			if strings.Contains(sh, secret) {
				t.Errorf("%s is shown:\n%s", secret, sh)
			}
		}
	}
}
