package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/solanatest"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// These tests drive the built binary, with a Solana key
// (X402_SOLANA_PRIVATE_KEY) beside its EVM key, against the local seller
// taking Solana payments that the reference @x402/svm facilitator verifies
// and settles on a real Solana (Surfnet, offline), both from test/solana
// (run (cd test/solana && npm ci) once; without it they skip, and under CI
// they fail). Balances are read from the chain.

// solanaFunding is what the binary's Solana wallet holds of each mint at
// the start of a test.
const solanaFunding = 1_000_000

// solanaWorld is a running Surfnet and facilitator, the binary's funded
// Solana wallet and a payee with token accounts of both mints.
type solanaWorld struct {
	env   *solanatest.Env
	payee string
}

func newSolanaWorld(t *testing.T, o solanatest.Options) *solanaWorld {
	t.Helper()
	env := solanatest.Start(t, o)
	payee, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	w := &solanaWorld{env: env, payee: payee.Address().String()}
	for _, mint := range []string{env.USDCMint, env.Token2022Mint} {
		env.Fund(t, solanaTestAddress, 0, mint, solanaFunding)
		env.Fund(t, w.payee, 0, mint, 0)
	}
	return w
}

// seller starts a local seller taking Solana payments in mint through the
// reference facilitator (Solana only unless withEVM; then its EVM
// facilitator holds walletFunding of the EVM payer).
func (w *solanaWorld) seller(t *testing.T, mint string, withEVM bool, change func(*localseller.SolanaConfig)) *localseller.Running {
	t.Helper()
	sc := &localseller.SolanaConfig{
		Network: payments.Network(w.env.Network), Mint: mint, PayTo: w.payee, FeePayer: w.env.FeePayer,
		Facilitator: localseller.NewRemote(w.env.FacilitatorURL), Only: !withEVM,
	}
	if change != nil {
		change(sc)
	}
	return fundedSeller(t, localseller.Config{Solana: sc})
}

// catalog fills a template's Solana placeholders: {{RPC}}, {{PAYEE}},
// {{T22}}.
func (w *solanaWorld) catalog(c catalog) catalog {
	return catalog(strings.NewReplacer("{{RPC}}", w.env.RPCURL, "{{PAYEE}}", w.payee, "{{T22}}", w.env.Token2022Mint).Replace(string(c)))
}

// balance reads owner's balance of mint on chain.
func (w *solanaWorld) balance(t *testing.T, owner, mint string) uint64 {
	t.Helper()
	return w.env.Balance(t, owner, mint)
}

// solanaEnv is the binary's Solana key.
var solanaEnv = "X402_SOLANA_PRIVATE_KEY=" + solanaTestKey

const solanaCatalog catalog = `version: 1
defaults:
  networks: [solana-devnet]
  max_per_call: "0.05"
  timeout: 30s
budget:
  total: "1.00"
rpc:
  solana-devnet: "{{RPC}}"
assets:
  - symbol: T22
    network: solana-devnet
    address: "{{T22}}"
    decimals: 6
    budget: {total: "1.00"}
tools:
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
    pay_to: "{{PAYEE}}"
  - name: stock_quote
    description: A stock quote (x402 v1).
    url: "{{URL}}/v1/quote"
    params:
      - {name: symbol, in: query, type: string, required: true, description: Ticker}
    max_price: "0.002"
  - name: t22_weather
    description: Current weather, paid in a Token-2022 token.
    url: "{{URL2}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
    asset: T22
`

// TestSolanaPaidCalls: the binary pays Solana-priced endpoints whose
// payments the reference facilitator settles on chain: over x402 v2 and
// v1, in USDC (Token program) and in a declared Token-2022 token. Each
// result carries a receipt naming the Solana network, the wallet's base58
// address as payer and the landed transaction; the SPL balances on chain
// move by exactly the price; the ledger keeps each row settled with its
// family's proof; x402_wallet counts it.
func TestSolanaPaidCalls(t *testing.T) {
	w := newSolanaWorld(t, solanatest.Options{})
	usdcSeller := w.seller(t, w.env.USDCMint, false, nil)
	t22Seller := w.seller(t, w.env.Token2022Mint, false, nil)
	book := t.TempDir() + "/ledger.db"
	cat := catalog(strings.ReplaceAll(string(w.catalog(solanaCatalog)), "{{URL2}}", t22Seller.URL))
	s := startWith(t, usdcSeller, cat, solanaEnv, "X402_LEDGER="+book)
	for _, tc := range []struct {
		tool     string
		args     map[string]any
		mint     string
		price    uint64
		symbol   string
		version  float64
		contains string
	}{
		{"weather", map[string]any{"city": "paris"}, w.env.USDCMint, 1000, "USDC", 2, `"city":"paris"`},
		{"stock_quote", map[string]any{"symbol": "ACME"}, w.env.USDCMint, 2000, "USDC", 1, "ACME"},
		{"t22_weather", map[string]any{"city": "oslo"}, w.env.Token2022Mint, 1000, "T22", 2, `"city":"oslo"`},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			payerBefore, payeeBefore := w.balance(t, solanaTestAddress, tc.mint), w.balance(t, w.payee, tc.mint)
			res := s.call(tc.tool, tc.args)
			if res.IsError || !strings.Contains(text(res), tc.contains) {
				t.Fatalf("result: %s", text(res))
			}
			rc := meta(res, "x402/payment-response")
			tx, _ := rc["transaction"].(string)
			if rc["network"] != w.env.Network || rc["payer"] != solanaTestAddress || rc["payTo"] != w.payee || rc["asset"] != tc.mint ||
				rc["amountAtomic"] != payments.Amount(tc.price).Atomic() || rc["symbol"] != tc.symbol || rc["x402Version"] != tc.version || len(tx) < 64 {
				t.Fatalf("receipt %v", rc)
			}
			if !strings.Contains(text(res), "Paid "+payments.Currency{Symbol: tc.symbol, Decimals: 6}.Format(payments.Amount(tc.price))) || !strings.Contains(text(res), tx) {
				t.Errorf("no receipt line in %q", text(res))
			}
			if d := payerBefore - w.balance(t, solanaTestAddress, tc.mint); d != tc.price {
				t.Errorf("the wallet's balance moved by %d on chain, want exactly %d", d, tc.price)
			}
			if d := w.balance(t, w.payee, tc.mint) - payeeBefore; d != tc.price {
				t.Errorf("the payee's balance moved by %d on chain, want exactly %d", d, tc.price)
			}
		})
	}
	res := s.call("x402_wallet", nil)
	var st struct {
		Keys []struct {
			Family, Address string
		} `json:"keys"`
		Budget struct {
			Settled string `json:"settled"`
		} `json:"budget"`
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Budget.Settled != "0.003" || len(st.Keys) != 2 || st.Keys[1].Family != "Solana" || st.Keys[1].Address != solanaTestAddress {
		t.Errorf("wallet %s", b)
	}
	hist := text(s.call("x402_spend_history", nil))
	if !strings.Contains(hist, "Solana devnet") && !strings.Contains(hist, w.env.Network) || !strings.Contains(hist, "0.001 T22") {
		t.Errorf("spend history:\n%s", hist)
	}
	s.close()
	csv, stderr, err := run(t, []string{"X402_LEDGER=" + book, "X402_REGISTRY=" + writeCatalog(t, cat, usdcSeller.URL)}, "ledger", "export", "--csv")
	if err != nil {
		t.Fatalf("ledger export: %v\n%s", err, stderr)
	}
	if n := strings.Count(csv, w.env.Network); n != 3 || !strings.Contains(csv, solanaTestAddress) || !strings.Contains(csv, "T22") {
		t.Errorf("the CSV names the Solana network %d times, want 3:\n%s", n, csv)
	}
	rows := readLedger(t, book)
	if len(rows) != 3 {
		t.Fatalf("%d ledger rows, want 3", len(rows))
	}
	for _, r := range rows {
		if r.State != payments.StateSettled || r.Family != svm.Name || r.Payer != solanaTestAddress || r.Transaction == "" || r.Expiry == 0 || len(r.ProofData) == 0 {
			t.Errorf("row %+v", r)
		}
	}
	s.stdoutIsJSONRPC(t)
}

// TestSolanaRefusals: a wrong payee, a wrong mint, a price over the cap
// and an expired blockhash are refused before anything is signed: a tool
// error that says not charged and why, no payment sent to the seller, no
// token moved on chain.
func TestSolanaRefusals(t *testing.T) {
	w := newSolanaWorld(t, solanatest.Options{SlotMs: 20})
	expired := expiredBlockhash(t, w.env)
	const cat catalog = `version: 1
defaults:
  networks: [solana-devnet]
  max_per_call: "0.05"
rpc:
  solana-devnet: "{{RPC}}"
tools:
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
    pay_to: "{{PAYEE}}"
  - name: pricey
    description: A resource priced above the cap.
    url: "{{URL}}/v2/misbehave/price_high"
    max_price: "0.01"
`
	for _, tc := range []struct {
		name   string
		mint   string
		change func(*localseller.SolanaConfig)
		tool   string
		args   map[string]any
		code   string
		words  string
	}{
		{"wrong payee", w.env.USDCMint, func(c *localseller.SolanaConfig) { c.PayTo = localseller.SwitchedSolanaPayTo }, "weather", map[string]any{"city": "rome"},
			"not_allowed", "payee " + localseller.SwitchedSolanaPayTo + " is not the payee pinned for weather"},
		{"wrong mint", w.env.Token2022Mint, nil, "weather", map[string]any{"city": "rome"}, "not_allowed", "asset " + w.env.Token2022Mint + " is not USDC on " + w.env.Network},
		{"over the cap", w.env.USDCMint, nil, "pricey", nil, "price_above_cap", "price 5 USDC is above the max_price of pricey (0.01 USDC)"},
		{"expired blockhash", w.env.USDCMint, func(c *localseller.SolanaConfig) {
			c.Extra = func() map[string]any { return map[string]any{"recentBlockhash": expired} }
		}, "weather", map[string]any{"city": "rome"}, "blockhash_expired", "the seller's blockhash " + expired + " has expired on Solana devnet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seller := w.seller(t, tc.mint, false, tc.change)
			s := startWith(t, seller, w.catalog(cat), solanaEnv)
			before := w.balance(t, solanaTestAddress, tc.mint)
			res := s.call(tc.tool, tc.args)
			xe := meta(res, "x402/error")
			if !res.IsError || xe["code"] != tc.code || xe["charged"] != "not charged" || !strings.Contains(text(res), tc.words) || !strings.Contains(text(res), "Nothing was signed") {
				t.Fatalf("want %s, not charged, saying %q: %s %v", tc.code, tc.words, text(res), xe)
			}
			if n := seller.Seller.PaymentHeadersSeen(); n != 0 {
				t.Errorf("the seller saw %d payments", n)
			}
			if after := w.balance(t, solanaTestAddress, tc.mint); after != before {
				t.Errorf("the wallet's balance moved from %d to %d", before, after)
			}
		})
	}
}

// expiredBlockhash returns a blockhash of env's chain that is no longer
// valid, waiting for one to expire.
func expiredBlockhash(t *testing.T, env *solanatest.Env) string {
	t.Helper()
	var latest struct {
		Value struct {
			Blockhash string `json:"blockhash"`
		} `json:"value"`
	}
	solanaRPC(t, env, "getLatestBlockhash", []any{map[string]string{"commitment": "confirmed"}}, &latest)
	waitBlockhashExpired(t, env, latest.Value.Blockhash)
	return latest.Value.Blockhash
}

// waitBlockhashExpired waits until hash is no longer a valid blockhash on
// env's chain.
func waitBlockhashExpired(t *testing.T, env *solanatest.Env, hash string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var valid struct {
			Value bool `json:"value"`
		}
		solanaRPC(t, env, "isBlockhashValid", []any{hash, map[string]string{"commitment": "confirmed"}}, &valid)
		if !valid.Value {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("blockhash %s did not expire within 30 s", hash)
}

// solanaRPC calls one JSON-RPC method of env's chain and decodes its
// result.
func solanaRPC(t *testing.T, env *solanatest.Env, method string, params []any, out any) {
	t.Helper()
	var answer struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(env.RPCURL, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	if answer.Error != nil {
		t.Fatalf("%s: %s", method, answer.Error.Message)
	}
	if err := json.Unmarshal(answer.Result, out); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}

// TestSolanaCrashAndReconcile: the binary is killed after signing, with
// its payment in the seller's hands. One the seller settles is found on
// chain by `ledger reconcile` and booked settled with the landed
// transaction; one the seller never settles stays counted while its
// blockhash may still land it, and is released only once the chain's
// finalized block height has passed its last valid block height. Then the
// books are exact: what is settled is what left the wallet on chain.
func TestSolanaCrashAndReconcile(t *testing.T) {
	w := newSolanaWorld(t, solanatest.Options{SlotMs: 50})
	const cat catalog = `version: 1
defaults:
  networks: [solana-devnet]
rpc:
  solana-devnet: "{{RPC}}"
tools:
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
  - name: held
    description: A seller that verifies and never settles.
    url: "{{URL}}/v2/misbehave/second_402"
    max_price: "0.001"
`
	book := t.TempDir() + "/ledger.db"
	start := w.balance(t, solanaTestAddress, w.env.USDCMint)
	// The one never settled first: a restart reconciles what an earlier
	// run left open, and this one must still be open when the test
	// reconciles.
	for _, tool := range []string{"held", "weather"} {
		var (
			mu   sync.Mutex
			sess *session
			once sync.Once
		)
		killed := make(chan struct{})
		// The binary dies as soon as its payment reaches the seller, before
		// any answer; the seller goes on (its facilitator settles what it
		// verified whether or not the buyer is still there).
		seller := w.sellerWithHook(t, func(localseller.Received) {
			once.Do(func() {
				mu.Lock()
				defer mu.Unlock()
				_ = sess.cmd.Process.Signal(syscall.SIGKILL)
				close(killed)
			})
		})
		mu.Lock()
		sess = startWith(t, seller, w.catalog(cat), solanaEnv, "X402_LEDGER="+book)
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		args := map[string]any{"city": "lima"}
		if tool == "held" {
			args = nil
		}
		_, _ = sess.callCtx(ctx, tool, args)
		cancel()
		<-killed
		sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := seller.Shutdown(sctx); err != nil {
			t.Fatal(err)
		}
		scancel()
	}
	rows := readLedger(t, book)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	for _, r := range rows {
		if r.State != payments.StateSigned {
			t.Fatalf("before reconciliation row %s (%s) is %s, want signed", r.ID, r.Tool, r.State)
		}
	}
	reconcile := func() string {
		out, stderr, err := run(t, []string{"X402_LEDGER=" + book, "X402_REGISTRY=" + writeCatalog(t, w.catalog(cat), "http://127.0.0.1:1")}, "ledger", "reconcile")
		if err != nil {
			t.Fatalf("ledger reconcile: %v\n%s", err, stderr)
		}
		return out
	}
	out := reconcile()
	byTool := func() map[string]ledgerRow {
		m := map[string]ledgerRow{}
		for _, r := range readLedger(t, book) {
			m[r.Tool] = ledgerRow{state: r.State, tx: r.Transaction, expiry: r.Expiry}
		}
		return m
	}
	got := byTool()
	if got["weather"].state != payments.StateSettled || got["weather"].tx == "" {
		t.Fatalf("the settled payment after reconciliation: %+v (%s)", got["weather"], out)
	}
	if got["held"].state != payments.StateSigned {
		t.Fatalf("the payment never settled was %s while its blockhash lives (%s)", got["held"].state, out)
	}
	// The chain's finalized height passes the held payment's last valid
	// block height: only then is it released.
	deadline := time.Now().Add(60 * time.Second)
	for byTool()["held"].state != payments.StateReleased {
		if time.Now().After(deadline) {
			t.Fatalf("the held payment was never released: %+v", byTool()["held"])
		}
		time.Sleep(500 * time.Millisecond)
		out = reconcile()
	}
	var height struct {
		BlockHeight uint64 `json:"blockHeight"`
	}
	solanaRPC(t, w.env, "getEpochInfo", []any{map[string]string{"commitment": "finalized"}}, &height)
	if held := byTool()["held"]; height.BlockHeight <= held.expiry {
		t.Fatalf("released at finalized height %d, not past its last valid block height %d", height.BlockHeight, held.expiry)
	}
	if left := start - w.balance(t, solanaTestAddress, w.env.USDCMint); left != 1000 {
		t.Fatalf("%d left the wallet, want 1000: the settled payment alone", left)
	}
}

type ledgerRow struct {
	state  payments.State
	tx     string
	expiry uint64
}

// sellerWithHook starts a seller taking USDC on Solana alone that calls
// hook on every payment it receives, before handling it.
func (w *solanaWorld) sellerWithHook(t *testing.T, hook func(localseller.Received)) *localseller.Running {
	t.Helper()
	s, err := localseller.Start(localseller.Config{OnPayment: hook, Solana: &localseller.SolanaConfig{
		Network: payments.Network(w.env.Network), Mint: w.env.USDCMint, PayTo: w.payee, FeePayer: w.env.FeePayer,
		Facilitator: localseller.NewRemote(w.env.FacilitatorURL), Only: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSolanaBesideEVM: a 402 that offers EVM (Base Sepolia) and Solana
// at the same price is paid on the network listed first in
// defaults.networks; an entry that pins a family (family:) or a network
// pays there whatever the order; budgets and the approval question name
// the Solana network plainly.
func TestSolanaBesideEVM(t *testing.T) {
	w := newSolanaWorld(t, solanatest.Options{})
	seller := w.seller(t, w.env.USDCMint, true, nil)
	tmpl := `version: 1
defaults:
  networks: [%s]
  approve_above: "%s"
budget:
  per_network:
    solana-devnet: "0.0015"
rpc:
  solana-devnet: "{{RPC}}"
tools:
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
  - name: sol_weather
    description: Current weather for a city, paid on Solana.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
    family: solana
  - name: base_weather
    description: Current weather for a city, paid on Base Sepolia.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
    network: base-sepolia
`
	paidOn := func(res *mcp.CallToolResult) string {
		t.Helper()
		if res.IsError {
			t.Fatalf("error: %s", text(res))
		}
		n, _ := meta(res, "x402/payment-response")["network"].(string)
		return n
	}
	t.Run("evm first", func(t *testing.T) {
		s := startWith(t, seller, w.catalog(catalog(fmt.Sprintf(tmpl, "eip155:84532, solana-devnet", "1"))), solanaEnv)
		if n := paidOn(s.call("weather", map[string]any{"city": "a"})); n != "eip155:84532" {
			t.Errorf("weather paid on %s, want Base Sepolia (listed first)", n)
		}
		if n := paidOn(s.call("sol_weather", map[string]any{"city": "b"})); n != w.env.Network {
			t.Errorf("sol_weather (family: solana) paid on %s", n)
		}
	})
	t.Run("solana first", func(t *testing.T) {
		s := startWith(t, seller, w.catalog(catalog(fmt.Sprintf(tmpl, "solana-devnet, eip155:84532", "1"))), solanaEnv)
		before := w.balance(t, solanaTestAddress, w.env.USDCMint)
		if n := paidOn(s.call("weather", map[string]any{"city": "c"})); n != w.env.Network {
			t.Errorf("weather paid on %s, want Solana devnet (listed first)", n)
		}
		if d := before - w.balance(t, solanaTestAddress, w.env.USDCMint); d != 1000 {
			t.Errorf("the Solana wallet paid %d on chain, want 1000", d)
		}
		if n := paidOn(s.call("base_weather", map[string]any{"city": "d"})); n != "eip155:84532" {
			t.Errorf("base_weather (network: base-sepolia) paid on %s", n)
		}
		// The Solana budget (0.0015) now has 0.0005 left: the refusal names
		// the network plainly.
		res := s.call("weather", map[string]any{"city": "e"})
		if xe := meta(res, "x402/error"); !res.IsError || xe["code"] != "over_budget" || !strings.Contains(text(res), "Solana devnet") {
			t.Errorf("over the Solana budget: %s %v", text(res), xe)
		}
	})
	t.Run("approval names the network", func(t *testing.T) {
		ans := &answer{action: mcp.ElicitationResponseActionAccept, approve: true}
		s := startSession(t, seller, w.catalog(catalog(fmt.Sprintf(tmpl, "solana-devnet, eip155:84532", "0.0005"))), sessionOptions{
			env: []string{solanaEnv}, client: []client.ClientOption{client.WithElicitationHandler(ans)}})
		if n := paidOn(s.call("sol_weather", map[string]any{"city": "f"})); n != w.env.Network {
			t.Errorf("paid on %s", n)
		}
		ans.mu.Lock()
		defer ans.mu.Unlock()
		if len(ans.asked) != 1 || !strings.Contains(ans.asked[0], "Solana devnet") || !strings.Contains(ans.asked[0], w.payee) || !strings.Contains(ans.asked[0], "0.001 USDC") {
			t.Errorf("the question: %q", ans.asked)
		}
	})
}

// TestSolanaTip: the binary tips on Solana through the reference
// facilitator with no seller in between: the fee payer comes from the
// facilitator's /supported answer, the recipient is written in base58 in
// the address book, exactly the tip moves on chain, and the ledger books
// it as a tip with its Solana proof.
func TestSolanaTip(t *testing.T) {
	w := newSolanaWorld(t, solanatest.Options{})
	seller := w.seller(t, w.env.USDCMint, false, nil)
	book := t.TempDir() + "/ledger.db"
	cat := catalog(`version: 1
defaults:
  networks: [solana-devnet]
budget:
  total: "1.00"
rpc:
  solana-devnet: "{{RPC}}"
tipping:
  network: solana-devnet
  facilitator_url: "` + w.env.FacilitatorURL + `"
  per_day: "0.50"
  max_tip: "0.30"
  auto_approve_up_to: "0.30"
  recipients:
    author: "{{PAYEE}}"
tools:
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
`)
	s := startWith(t, seller, w.catalog(cat), solanaEnv, "X402_LEDGER="+book)
	payerBefore, payeeBefore := w.balance(t, solanaTestAddress, w.env.USDCMint), w.balance(t, w.payee, w.env.USDCMint)
	res := s.call("x402_tip", map[string]any{"recipient": "author", "amount": "0.25", "note": "loved the post"})
	if res.IsError {
		t.Fatalf("tip: %s\n%s", text(res), s.stderr.String())
	}
	rc := meta(res, "x402/payment-response")
	if rc["network"] != w.env.Network || rc["payTo"] != w.payee || rc["payer"] != solanaTestAddress || rc["state"] != "settled" {
		t.Errorf("receipt %v", rc)
	}
	if d := payerBefore - w.balance(t, solanaTestAddress, w.env.USDCMint); d != 250_000 {
		t.Errorf("the wallet paid %d on chain, want 250000", d)
	}
	if d := w.balance(t, w.payee, w.env.USDCMint) - payeeBefore; d != 250_000 {
		t.Errorf("the author got %d on chain, want 250000", d)
	}
	s.close()
	rows := readLedger(t, book)
	if len(rows) != 1 || rows[0].Kind != "tip" || rows[0].State != payments.StateSettled || rows[0].Family != svm.Name || rows[0].Note != "loved the post" {
		t.Errorf("ledger %+v", rows)
	}
}

// TestSolanaRemoteMCPAndQuote: a remote MCP server that charges per tool
// in Solana USDC (x402 over MCP, settled by the reference facilitator) is
// paid by the binary like any seller: the exact price moves on chain and
// the receipt names Solana; x402_quote prices a Solana-priced catalog
// entry without paying.
func TestSolanaRemoteMCPAndQuote(t *testing.T) {
	w := newSolanaWorld(t, solanatest.Options{})
	extra, _ := json.Marshal(map[string]string{"feePayer": w.env.FeePayer})
	remote := startPaidMCPWith(t, localseller.NewRemote(w.env.FacilitatorURL), x402.Requirement{
		Scheme: "exact", Network: w.env.Network, Amount: paidMCPPrice.Atomic(), Asset: w.env.USDCMint, PayTo: w.payee, MaxTimeoutSeconds: 60, Extra: extra})
	seller := w.seller(t, w.env.USDCMint, false, nil)
	cat := w.catalog(catalog(`version: 1
defaults:
  networks: [solana-devnet]
  max_per_call: "0.05"
rpc:
  solana-devnet: "{{RPC}}"
tools:
  - name: remote
    kind: mcp
    url: "` + remote.url + `"
    prefix: acme_
    max_price: "0.005"
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
`))
	s := startWith(t, seller, cat, solanaEnv)
	before := w.balance(t, w.payee, w.env.USDCMint)
	res := s.call("acme_echo", map[string]any{"message": "hi"})
	if res.IsError || !strings.Contains(text(res), "echo: hi") {
		t.Fatalf("paid remote call: %s\n%s", text(res), s.stderr.String())
	}
	if rc := meta(res, "x402/payment-response"); rc["network"] != w.env.Network || rc["payer"] != solanaTestAddress {
		t.Errorf("receipt %v", rc)
	}
	if d := w.balance(t, w.payee, w.env.USDCMint) - before; d != uint64(paidMCPPrice) {
		t.Errorf("the payee got %d on chain, want %d", d, paidMCPPrice)
	}
	seen := seller.Seller.PaymentHeadersSeen()
	q := s.call("x402_quote", map[string]any{"tool": "weather", "arguments": map[string]any{"city": "rome"}})
	b, _ := json.Marshal(q.StructuredContent)
	if q.IsError || !strings.Contains(string(b), w.env.Network) || !strings.Contains(string(b), `"payable":true`) || !strings.Contains(text(q), "0.001 USDC") {
		t.Errorf("quote: %s\n%s", text(q), b)
	}
	if seller.Seller.PaymentHeadersSeen() != seen {
		t.Error("the quote paid")
	}
}
