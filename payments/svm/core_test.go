package svm_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/solanatest"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// These tests pay through the paying core (payments.Client and the SQLite
// ledger) with the Solana family wired in as the command wires it, on a
// real Solana (Surfnet) whose payments the reference @x402/svm facilitator
// verifies and settles, behind the local seller.

// coreWorld is a funded wallet, a seller taking Solana only, and a client
// paying it through the core.
type coreWorld struct {
	env    *solanatest.Env
	payer  *svm.Key
	payee  *svm.Key
	seller *localseller.Running
	scheme *svm.Exact
	book   *ledger.Ledger
	client *payments.Client
}

func newCoreWorld(t *testing.T, env *solanatest.Env, mint string, funds uint64, policy payments.Policy) *coreWorld {
	return newCoreWorldWith(t, env, mint, funds, policy, worldOptions{})
}

// worldOptions vary a coreWorld's seller.
type worldOptions struct {
	// noPayeeAccount leaves the payee without a token account of the mint.
	noPayeeAccount bool
	// extra adds to the seller's Solana extra.
	extra func() map[string]any
}

func newCoreWorldWith(t *testing.T, env *solanatest.Env, mint string, funds uint64, policy payments.Policy, o worldOptions) *coreWorld {
	t.Helper()
	payer, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	payee, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	env.Fund(t, payer.Address().String(), 0, mint, funds)
	if !o.noPayeeAccount {
		env.Fund(t, payee.Address().String(), 0, mint, 0)
	}
	seller, err := localseller.Start(localseller.Config{Solana: &localseller.SolanaConfig{
		Network: payments.Network(env.Network), Mint: mint, PayTo: payee.Address().String(), FeePayer: env.FeePayer,
		Facilitator: localseller.NewRemote(env.FacilitatorURL), Only: true, Extra: o.extra,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	chain, err := svm.NewClient(map[payments.Network]string{"solana-devnet": env.RPCURL})
	if err != nil {
		t.Fatal(err)
	}
	chain.SlotTime = time.Duration(env.SlotMs) * time.Millisecond
	scheme := svm.NewExact(chain)
	book, err := ledger.Open(t.Context(), filepath.Join(t.TempDir(), "ledger.db"), policy.Budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { book.Close() })
	if policy.Networks == nil {
		policy.Networks = []payments.Network{payments.Network(svm.Devnet)}
	}
	c := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(scheme), Signers: payments.Signers{payer}, Policy: policy, Ledger: book}
	return &coreWorld{env: env, payer: payer, payee: payee, seller: seller, scheme: scheme, book: book, client: c}
}

func (w *coreWorld) get(t *testing.T, path string, lim payments.Limit) (*payments.Result, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, w.seller.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w.client.Do(t.Context(), req, lim)
}

// TestExactPaysThroughTheCore: the core pays a Solana-priced endpoint over
// v2 and v1, in USDC (Token) and in a declared Token-2022 asset: the
// seller's facilitator settles on chain, the balances move by exactly the
// price, the receipt names the landed transaction (the fee payer's
// signature) and the payer, and the ledger row keeps the proof (family
// svm, the payer's signature as its id, the last valid block height as its
// expiry, and the family's record: memo, blockhash, token account, the
// exact signed transaction). The scheme proves the row settled with the
// receipt's transaction.
func TestExactPaysThroughTheCore(t *testing.T) {
	env := solanatest.Start(t, solanatest.Options{})
	t2022 := payments.Asset{Network: payments.Network(svm.Devnet), Address: env.Token2022Mint, Symbol: "T22", Decimals: 6}
	for _, tc := range []struct {
		name, mint, path string
		version          int
		lim              payments.Limit
		policy           payments.Policy
	}{
		{"usdc v2", env.USDCMint, "/v2/weather/kyiv", 2, payments.Limit{Tool: "weather", MaxPrice: 1_000}, payments.Policy{}},
		{"usdc v1", env.USDCMint, "/v1/quote?symbol=ABC", 1, payments.Limit{Tool: "quote", MaxPrice: 2_000}, payments.Policy{}},
		{"token-2022 v2", env.Token2022Mint, "/v2/weather/oslo", 2,
			payments.Limit{Tool: "weather", MaxPrice: 1_000, Asset: env.Token2022Mint, Currency: t2022.Currency()},
			payments.Policy{Assets: []payments.AssetPolicy{{Asset: t2022}}, Budget: payments.Budget{Assets: map[string]payments.AssetBudget{
				t2022.Currency().Budget: {Currency: t2022.Currency(), Total: 1_000_000}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newCoreWorld(t, env, tc.mint, 10_000, tc.policy)
			res, err := w.get(t, tc.path, tc.lim)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			price := tc.lim.MaxPrice
			if res.Status != http.StatusOK || res.Charged != payments.Charged || res.Receipt == nil {
				t.Fatalf("status %d, charged %v, receipt %+v: %s", res.Status, res.Charged, res.Receipt, res.Body)
			}
			rc := res.Receipt
			if rc.Payer != w.payer.Address().String() || rc.Network != string(svm.Devnet) || rc.PayTo != w.payee.Address().String() || rc.Amount != price || rc.X402Version != tc.version {
				t.Errorf("receipt %+v", rc)
			}
			if _, err := solana.SignatureFromBase58(rc.Transaction); err != nil {
				t.Errorf("receipt transaction %q is not a Solana signature: %v", rc.Transaction, err)
			}
			if got := env.Balance(t, w.payer.Address().String(), tc.mint); got != 10_000-uint64(price) {
				t.Errorf("payer holds %d on chain, want %d", got, 10_000-uint64(price))
			}
			if got := env.Balance(t, w.payee.Address().String(), tc.mint); got != uint64(price) {
				t.Errorf("payee holds %d on chain, want %d", got, price)
			}
			row, err := w.book.Get(t.Context(), rc.LedgerID)
			if err != nil {
				t.Fatal(err)
			}
			if row.State != payments.StateSettled || row.Family != svm.Name || row.Scheme != "exact" || row.Transaction != rc.Transaction || row.Payer != rc.Payer {
				t.Errorf("row %+v", row)
			}
			var p svm.Proof
			if err := json.Unmarshal(row.ProofData, &p); err != nil {
				t.Fatalf("the row's proof is not a Solana proof: %v: %s", err, row.ProofData)
			}
			if p.PayerSignature != row.Nonce || p.LastValidBlockHeight != row.Expiry || p.LastValidBlockHeight == 0 || p.Memo == "" || p.Blockhash == "" || p.Transaction == "" ||
				p.SourceTokenAccount != env.ATA(t, w.payer.Address().String(), tc.mint) || p.Mint != tc.mint {
				t.Errorf("proof %+v, row nonce %s, expiry %d", p, row.Nonce, row.Expiry)
			}
			// The exact signed transaction is in the payment the seller got.
			var sent struct {
				Transaction string `json:"transaction"`
			}
			got := w.seller.Seller.ReceivedPayments()
			if len(got) != 1 || json.Unmarshal(got[0].Payload.Payload, &sent) != nil || sent.Transaction != p.Transaction {
				t.Errorf("the seller got %d payments; the proof keeps a transaction other than the one sent", len(got))
			}
			fate, err := w.scheme.Prove(t.Context(), row.Proof())
			if err != nil || fate.State != payments.FateSettled || fate.Transaction != rc.Transaction {
				t.Errorf("Prove = %+v, %v; want settled with %s", fate, err, rc.Transaction)
			}
		})
	}
}

// TestExactReconcilesThroughTheLedger: payments signed and recorded, then
// lost (the process died before or after they reached the seller), are
// reconciled through the Solana scheme: one the facilitator settled is
// found in the payer's history and settled with its transaction; one that
// never left stays counted while its blockhash lives and is released only
// once the chain's finalized block height has passed its last valid block
// height.
func TestExactReconcilesThroughTheLedger(t *testing.T) {
	env := solanatest.Start(t, solanatest.Options{SlotMs: 20})
	w := newCoreWorld(t, env, env.USDCMint, 10_000, payments.Policy{})
	challenge := func() *x402.PaymentRequired {
		resp, err := http.Get(w.seller.URL + "/v2/weather/lima")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		pr, err := x402.ParseChallenge(resp.Header, nil)
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	lim := payments.Limit{Tool: "weather", MaxPrice: 1_000}
	lost, err := w.client.Authorize(t.Context(), challenge(), lim, "GET /v2/weather/lima", "seller:80")
	if err != nil {
		t.Fatal(err)
	}
	landed, err := w.client.Authorize(t.Context(), challenge(), lim, "GET /v2/weather/lima", "seller:80")
	if err != nil {
		t.Fatal(err)
	}
	// The second reaches the facilitator, which settles it; its answer is
	// lost with the process.
	acc := landed.Requirement
	if a := env.Settle(t, 2, landed.Payload, json.RawMessage(acc.Raw)); !a.Success {
		t.Fatalf("the facilitator did not settle: %+v", a)
	}
	rep, err := w.book.Reconcile(t.Context(), w.client.Schemes)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Settled != 1 || rep.Released != 0 || rep.StillOpen != 1 {
		t.Fatalf("first pass %+v: want the settled one settled and the unsent one open", rep)
	}
	row, err := w.book.Get(t.Context(), landed.Receipt.LedgerID)
	if err != nil {
		t.Fatal(err)
	}
	if row.State != payments.StateSettled || row.Transaction == "" || row.Reason != ledger.ReasonUsedOnChain {
		t.Errorf("settled row %+v", row)
	}
	// Nothing is released while the blockhash may still land the payment,
	// however often reconciliation asks.
	lostRow, err := w.book.Get(t.Context(), lost.Receipt.LedgerID)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rep, err = w.book.Reconcile(t.Context(), w.client.Schemes)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Released == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unsent payment was never released: %+v", rep)
		}
		time.Sleep(200 * time.Millisecond)
	}
	height := finalizedHeight(t, env)
	if height <= lostRow.Expiry {
		t.Fatalf("released at finalized height %d, not past the last valid block height %d", height, lostRow.Expiry)
	}
	lostRow, err = w.book.Get(t.Context(), lost.Receipt.LedgerID)
	if err != nil {
		t.Fatal(err)
	}
	if lostRow.State != payments.StateReleased || lostRow.Reason != ledger.ReasonUnusedExpired {
		t.Errorf("unsent row %+v", lostRow)
	}
	if got := env.Balance(t, w.payer.Address().String(), env.USDCMint); got != 9_000 {
		t.Errorf("payer holds %d, want 9000: one payment settled", got)
	}
}

// finalizedHeight reads the chain's finalized block height.
func finalizedHeight(t *testing.T, env *solanatest.Env) uint64 {
	t.Helper()
	var out struct {
		Result struct {
			BlockHeight uint64 `json:"blockHeight"`
		} `json:"result"`
	}
	rpc(t, env, "getEpochInfo", `[{"commitment":"finalized"}]`, &out)
	return out.Result.BlockHeight
}

// TestRefusedBeforeSigning: what the reference facilitator would answer
// only with a bare simulation failure is refused before anything is signed,
// through the core: not charged, nothing sent to the seller, nothing left
// counted, and a plain reason that names the amounts with their asset and
// decimals (insufficient funds), the payee's missing token account, or the
// seller's expired blockhash.
func TestRefusedBeforeSigning(t *testing.T) {
	env := solanatest.Start(t, solanatest.Options{SlotMs: 20})
	expired := expiredBlockhash(t, env)
	for _, tc := range []struct {
		name  string
		funds uint64
		o     worldOptions
		code  payments.Code
		words []string
	}{
		{"insufficient funds", 500, worldOptions{}, svm.CodeInsufficientFunds,
			[]string{"the wallet holds 0.0005 USDC on Solana devnet (mint " + env.USDCMint + ", 6 decimals); this costs 0.001 USDC"}},
		{"payee without a token account", 10_000, worldOptions{noPayeeAccount: true}, svm.CodePayeeAccountMissing,
			[]string{"has no token account for " + env.USDCMint + " on Solana devnet", "the seller must create it"}},
		{"expired blockhash", 10_000, worldOptions{extra: func() map[string]any { return map[string]any{"recentBlockhash": expired} }}, svm.CodeBlockhashExpired,
			[]string{"the seller's blockhash " + expired + " has expired on Solana devnet", "ask the seller for a fresh 402"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newCoreWorldWith(t, env, env.USDCMint, tc.funds, payments.Policy{}, tc.o)
			_, err := w.get(t, "/v2/weather/kyiv", payments.Limit{Tool: "weather", MaxPrice: 1_000})
			pe, ok := payments.AsError(err)
			if !ok || pe.Code != tc.code || pe.Charged != payments.NotCharged {
				t.Fatalf("Do = %v, want %s, not charged", err, tc.code)
			}
			for _, word := range append(tc.words, "Nothing was signed.") {
				if !strings.Contains(pe.Message, word) {
					t.Errorf("message %q lacks %q", pe.Message, word)
				}
			}
			if n := w.seller.Seller.PaymentHeadersSeen(); n != 0 {
				t.Errorf("the seller saw %d payments", n)
			}
			rows, err := w.book.List(t.Context(), ledger.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.Counted() || r.Nonce != "" {
					t.Errorf("row %s is %s with id %q: a refusal before signing must leave nothing counted or signed", r.ID, r.State, r.Nonce)
				}
			}
			if got := env.Balance(t, w.payer.Address().String(), env.USDCMint); got != tc.funds {
				t.Errorf("payer holds %d, want %d", got, tc.funds)
			}
		})
	}
}

// expiredBlockhash returns a blockhash of env's chain that is no longer
// valid, waiting for one to expire.
func expiredBlockhash(t *testing.T, env *solanatest.Env) string {
	t.Helper()
	var latest struct {
		Result struct {
			Value struct {
				Blockhash string `json:"blockhash"`
			} `json:"value"`
		} `json:"result"`
	}
	rpc(t, env, "getLatestBlockhash", `[{"commitment":"confirmed"}]`, &latest)
	hash := latest.Result.Value.Blockhash
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var valid struct {
			Result struct {
				Value bool `json:"value"`
			} `json:"result"`
		}
		rpc(t, env, "isBlockhashValid", `["`+hash+`",{"commitment":"confirmed"}]`, &valid)
		if !valid.Result.Value {
			return hash
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("blockhash %s did not expire within 30 s", hash)
	return ""
}

// rpc calls one JSON-RPC method of env's chain.
func rpc(t *testing.T, env *solanatest.Env, method, params string, out any) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"` + method + `","params":` + params + `}`
	resp, err := http.Post(env.RPCURL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// TestWarmPathOnlyWhileTheBlockhashLives: a seller that states its own
// recentBlockhash is paid warm (one round trip, the remembered terms)
// while that blockhash lives; once it has expired the remembered terms are
// not signed (a transaction on them could never land): the call asks the
// seller again and pays its fresh terms, charged once, and nothing signed
// on the expired blockhash reaches the seller.
func TestWarmPathOnlyWhileTheBlockhashLives(t *testing.T) {
	env := solanatest.Start(t, solanatest.Options{SlotMs: 20})
	// The seller states one blockhash until the test refreshes it, as a
	// seller that refreshes its own now and then.
	var stated atomic.Value
	refresh := func() {
		var latest struct {
			Result struct {
				Value struct {
					Blockhash string `json:"blockhash"`
				} `json:"value"`
			} `json:"result"`
		}
		rpc(t, env, "getLatestBlockhash", `[{"commitment":"confirmed"}]`, &latest)
		stated.Store(latest.Result.Value.Blockhash)
	}
	refresh()
	extra := func() map[string]any { return map[string]any{"recentBlockhash": stated.Load()} }
	w := newCoreWorldWith(t, env, env.USDCMint, 10_000, payments.Policy{}, worldOptions{extra: extra})
	w.client.Warm = &payments.Warm{}
	lim := payments.Limit{Tool: "weather", MaxPrice: 1_000, WarmKey: "weather"}
	call := func(what string) {
		t.Helper()
		lim.CallID = ""
		res, err := w.get(t, "/v2/weather/kyiv", lim)
		if err != nil || res.Charged != payments.Charged {
			t.Fatalf("%s: %v", what, err)
		}
	}
	call("cold")
	before := w.seller.Seller.Requests()
	call("warm")
	if n := w.seller.Seller.Requests() - before; n != 1 || w.client.Warm.Stats().Hits != 1 {
		t.Fatalf("the warm call took %d requests, %d warm hits: want one round trip", n, w.client.Warm.Stats().Hits)
	}
	// Let the blockhash of the remembered terms expire.
	var used struct {
		Transaction string `json:"transaction"`
	}
	got := w.seller.Seller.ReceivedPayments()
	if err := json.Unmarshal(got[len(got)-1].Payload.Payload, &used); err != nil {
		t.Fatal(err)
	}
	tx, err := solana.TransactionFromBase64(used.Transaction)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Message.RecentBlockhash.String() != stated.Load() {
		t.Fatalf("the warm payment is built on %s, not the seller's blockhash %s", tx.Message.RecentBlockhash, stated.Load())
	}
	waitExpired(t, env, tx.Message.RecentBlockhash.String())
	refresh()
	before = w.seller.Seller.Requests()
	call("after the blockhash expired")
	if n := w.seller.Seller.Requests() - before; n != 2 {
		t.Errorf("the call after expiry took %d requests, want 2 (ask, then pay the fresh terms)", n)
	}
	if n := w.seller.Seller.PaymentHeadersSeen(); n != 3 {
		t.Errorf("the seller saw %d payments, want 3", n)
	}
	if got := env.Balance(t, w.payer.Address().String(), env.USDCMint); got != 7_000 {
		t.Errorf("payer holds %d, want 7000: three payments", got)
	}
	rows, err := w.book.List(t.Context(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	settled := 0
	for _, r := range rows {
		if r.State == payments.StateSettled {
			settled++
		} else if r.Counted() {
			t.Errorf("row %s is %s", r.ID, r.State)
		}
	}
	if settled != 3 {
		t.Errorf("%d rows settled, want 3", settled)
	}
}

// waitExpired waits until hash is no longer a valid blockhash on env.
func waitExpired(t *testing.T, env *solanatest.Env, hash string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var valid struct {
			Result struct {
				Value bool `json:"value"`
			} `json:"result"`
		}
		rpc(t, env, "isBlockhashValid", `["`+hash+`",{"commitment":"confirmed"}]`, &valid)
		if !valid.Result.Value {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("blockhash %s did not expire within 30 s", hash)
}

// TestBlockhashReused: payments signed within BlockhashReuse of each other
// are built on one blockhash, read once (a blockhash lives 60 to 90 s, and
// each read is a round trip on every paid call); later ones read a fresh
// one. A seller's own recentBlockhash is never replaced.
func TestBlockhashReused(t *testing.T) {
	fac := localseller.NewSolanaFacilitator(localseller.SolanaFacilitatorConfig{})
	payer, _ := svm.GenerateKey()
	payee, _ := svm.GenerateKey()
	fac.Fund(payer.Payer(), 10_000)
	fac.Fund(payee.Payer(), 0)
	var reads atomic.Int64
	rpcSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "getLatestBlockhash") {
			reads.Add(1)
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		fac.RPC().ServeHTTP(w, r)
	}))
	defer rpcSrv.Close()
	chain, err := svm.NewClient(map[payments.Network]string{"solana-devnet": rpcSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	chain.Now = func() time.Time { return now }
	extra := json.RawMessage(`{"feePayer":"` + fac.FeePayer() + `"}`)
	terms, ref := svm.Judge(svm.Requirement{Scheme: "exact", Network: "solana-devnet", Amount: 1000, PayTo: payee.Payer(), Asset: fac.Mint(), Extra: extra}, svm.Want{Networks: []svm.Network{svm.Devnet}})
	if ref != nil {
		t.Fatal(ref)
	}
	var hashes []string
	for _, step := range []time.Duration{0, svm.BlockhashReuse - time.Second, 2 * time.Second} {
		now = now.Add(step)
		_, proof, err := chain.Sign(t.Context(), terms, payer)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, proof.Blockhash)
	}
	if hashes[0] != hashes[1] || reads.Load() != 2 {
		t.Errorf("blockhashes %v, %d reads: want the first two on one blockhash, read once, and a fresh read after BlockhashReuse", hashes, reads.Load())
	}
}
