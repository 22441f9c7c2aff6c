package localseller_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// solanaLocal is a seller taking Solana through an in-memory
// SolanaFacilitator, and a client paying it through the core over the
// facilitator's own JSON-RPC.
type solanaLocal struct {
	fac    *localseller.SolanaFacilitator
	seller *localseller.Running
	payer  *svm.Key
	payee  string
	chain  *svm.Client
	client *payments.Client
	book   *ledger.Ledger
}

func newSolanaLocal(t *testing.T, slot time.Duration) *solanaLocal {
	t.Helper()
	fac := localseller.NewSolanaFacilitator(localseller.SolanaFacilitatorConfig{SlotTime: slot})
	payer, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	payee, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	fac.Fund(payer.Payer(), 10_000)
	seller, err := localseller.Start(localseller.Config{Solana: &localseller.SolanaConfig{PayTo: payee.Payer(), Facilitator: fac, Only: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	chain, err := svm.NewClient(map[payments.Network]string{"solana-devnet": seller.URL + "/solana/rpc"})
	if err != nil {
		t.Fatal(err)
	}
	book, err := ledger.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), payments.Budget{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { book.Close() })
	chain.SlotTime = slot
	c := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(svm.NewExact(chain)),
		Signers: payments.Signers{payer}, Policy: payments.Policy{Networks: []payments.Network{payments.Network(svm.Devnet)}}, Ledger: book}
	return &solanaLocal{fac: fac, seller: seller, payer: payer, payee: payee.Payer(), chain: chain, client: c, book: book}
}

// TestSolanaFacilitatorSettlesInMemory: the local Solana facilitator takes
// a payment the core built and signed from its chain's JSON-RPC (v2 and
// v1): the balances it keeps move by exactly the price, the receipt names
// the transaction it landed (its fee payer's signature), and the Solana
// scheme proves the payment settled from the same RPC.
func TestSolanaFacilitatorSettlesInMemory(t *testing.T) {
	w := newSolanaLocal(t, 400*time.Millisecond)
	paid := payments.Amount(0)
	for _, tc := range []struct {
		path  string
		price payments.Amount
	}{{"/v2/weather/oslo", 1_000}, {"/v1/quote?symbol=ABC", 2_000}} {
		req, _ := http.NewRequest(http.MethodGet, w.seller.URL+tc.path, nil)
		res, err := w.client.Do(context.Background(), req, payments.Limit{Tool: "t", MaxPrice: tc.price})
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		paid += tc.price
		if res.Charged != payments.Charged || res.Receipt.Amount != tc.price || res.Receipt.Payer != w.payer.Payer() {
			t.Fatalf("%s: %+v", tc.path, res.Receipt)
		}
		if got := w.fac.Balance(w.payer.Payer()); got != 10_000-paid {
			t.Errorf("payer holds %d, want %d", got, 10_000-paid)
		}
		if got := w.fac.Balance(w.payee); got != paid {
			t.Errorf("payee holds %d, want %d", got, paid)
		}
		row, err := w.book.Get(context.Background(), res.Receipt.LedgerID)
		if err != nil {
			t.Fatal(err)
		}
		fate, err := w.client.Schemes.Prove(context.Background(), row.Proof())
		if err != nil || fate.State != payments.FateSettled || fate.Transaction != res.Receipt.Transaction {
			t.Errorf("%s: Prove = %+v, %v; want settled with %s", tc.path, fate, err, res.Receipt.Transaction)
		}
	}
	if w.fac.SettledCount() != 2 || w.fac.SettledTotal() != paid {
		t.Errorf("settled %d for %d", w.fac.SettledCount(), w.fac.SettledTotal())
	}
}

// TestSolanaFacilitatorChecksForReal: the local facilitator refuses, with
// the reference facilitator's reasons, a payment whose payer signature is
// forged, whose fee payer is not its own, that moves another amount, pays
// another payee or carries another memo than the option asks, a payment
// the payer cannot cover, and one sent again after it landed.
func TestSolanaFacilitatorChecksForReal(t *testing.T) {
	w := newSolanaLocal(t, 400*time.Millisecond)
	ctx := context.Background()
	other, _ := svm.GenerateKey()
	w.fac.Fund(other.Payer(), 0)
	option := func(amount, payTo, feePayer, memo string) x402.Requirement {
		extra := map[string]string{"feePayer": feePayer}
		if memo != "" {
			extra["memo"] = memo
		}
		b, _ := json.Marshal(extra)
		return x402.Requirement{Scheme: "exact", Network: "solana-devnet", MaxAmountRequired: amount, Asset: w.fac.Mint(), PayTo: payTo,
			Resource: "https://seller.example/x", MaxTimeoutSeconds: 60, Extra: b}
	}
	// sign builds and signs the payment of r with the given key.
	sign := func(r x402.Requirement, key *svm.Key) *x402.PaymentPayload {
		t.Helper()
		amt, _ := payments.ParseAtomic(r.MaxAmountRequired)
		terms, ref := svm.Judge(svm.Requirement{Scheme: "exact", Network: r.Network, Amount: amt, PayTo: r.PayTo, Asset: r.Asset, Extra: r.Extra},
			svm.Want{Networks: []svm.Network{svm.Devnet}})
		if ref != nil {
			t.Fatal(ref)
		}
		payload, _, err := w.chain.Sign(ctx, terms, key)
		if err != nil {
			t.Fatal(err)
		}
		return &x402.PaymentPayload{X402Version: 1, Scheme: "exact", Network: r.Network, Payload: payload}
	}
	good := option("1000", w.payee, w.fac.FeePayer(), "order-7")
	forged := sign(good, w.payer)
	{
		var pl struct{ Transaction string }
		_ = json.Unmarshal(forged.Payload, &pl)
		raw, _ := base64.StdEncoding.DecodeString(pl.Transaction)
		tx, _ := solana.TransactionFromBytes(raw)
		tx.Signatures[1][3] ^= 0xff
		raw, _ = tx.MarshalBinary()
		forged.Payload, _ = json.Marshal(map[string]string{"transaction": base64.StdEncoding.EncodeToString(raw)})
	}
	// The poor payer signs with 1000 and spends 600 of it before its
	// payment is settled.
	poor, _ := svm.GenerateKey()
	w.fac.Fund(poor.Payer(), 1000)
	underfunded := sign(good, poor)
	if s := w.fac.Settle(ctx, sign(option("600", w.payee, w.fac.FeePayer(), "order-7"), poor), option("600", w.payee, w.fac.FeePayer(), "order-7")); !s.Success {
		t.Fatalf("the poor payer's first payment: %+v", s)
	}
	for _, tc := range []struct {
		name   string
		p      *x402.PaymentPayload
		r      x402.Requirement
		reason string
	}{
		{"forged signature", forged, good, svm.ReasonSignatureInvalid},
		{"another fee payer", sign(option("1000", w.payee, other.Payer(), ""), w.payer), option("1000", w.payee, other.Payer(), ""), svm.ReasonFeePayerNotManaged},
		{"another amount", sign(good, w.payer), option("1001", w.payee, w.fac.FeePayer(), "order-7"), svm.ReasonAmountMismatch},
		{"another payee", sign(good, w.payer), option("1000", other.Payer(), w.fac.FeePayer(), "order-7"), svm.ReasonRecipientMismatch},
		{"another memo", sign(good, w.payer), option("1000", w.payee, w.fac.FeePayer(), "order-8"), svm.ReasonMemoMismatch},
		{"underfunded", underfunded, good, svm.ReasonSimulationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v := w.fac.Verify(ctx, tc.p, tc.r); v.IsValid || v.InvalidReason != tc.reason {
				t.Errorf("verify = %+v, want %s", v, tc.reason)
			}
			if s := w.fac.Settle(ctx, tc.p, tc.r); s.Success || s.ErrorReason != tc.reason {
				t.Errorf("settle = %+v, want %s", s, tc.reason)
			}
		})
	}
	if got := w.fac.Balance(w.payee); got != 600 {
		t.Fatalf("the payee holds %d, want 600: refused payments moved money", got)
	}
	p := sign(good, w.payer)
	if s := w.fac.Settle(ctx, p, good); !s.Success {
		t.Fatalf("a good payment: %+v", s)
	}
	if s := w.fac.Settle(ctx, p, good); s.Success || s.ErrorReason != localseller.ReasonDuplicateSettlement {
		t.Errorf("the same payment again: %+v, want %s", s, localseller.ReasonDuplicateSettlement)
	}
	if got := w.fac.Balance(w.payee); got != 1600 {
		t.Errorf("the payee holds %d, want 1600: two payments", got)
	}
}

// TestSolanaFacilitatorExpiresUnsent: a payment signed and never sent is
// open while its blockhash lives on the local chain, and proven unusable
// once 150 blocks have passed, by the Solana scheme over the facilitator's
// RPC; reconciliation then releases it.
func TestSolanaFacilitatorExpiresUnsent(t *testing.T) {
	w := newSolanaLocal(t, 20*time.Millisecond)
	ctx := context.Background()
	resp, err := http.Get(w.seller.URL + "/v2/weather/lima")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr, err := x402.ParseChallenge(resp.Header, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.client.Authorize(ctx, pr, payments.Limit{Tool: "t", MaxPrice: 1_000}, "GET /v2/weather/lima", "seller:80")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := w.book.Reconcile(ctx, w.client.Schemes)
	if err != nil || rep.StillOpen != 1 {
		t.Fatalf("while the blockhash lives: %+v %v", rep, err)
	}
	time.Sleep(blockhashSlots * 20 * time.Millisecond)
	rep, err = w.book.Reconcile(ctx, w.client.Schemes)
	if err != nil || rep.Released != 1 {
		t.Fatalf("after 160 blocks: %+v %v", rep, err)
	}
	row, err := w.book.Get(ctx, p.Receipt.LedgerID)
	if err != nil || row.State != payments.StateReleased {
		t.Fatalf("row %+v %v", row, err)
	}
	if w.fac.Balance(w.payer.Payer()) != 10_000 {
		t.Errorf("the payer's balance moved")
	}
}

// blockhashSlots is a little over a blockhash's life in blocks.
const blockhashSlots = 160

// TestSolanaRPCRefusesMalformedParams: the local Solana's JSON-RPC answers a
// parameter of the wrong type with -32602 naming it, as a node does, instead
// of reading it as absent (an address read as "" once looked like an unknown
// account).
func TestSolanaRPCRefusesMalformedParams(t *testing.T) {
	l := newSolanaLocal(t, time.Second)
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":[123]}`,
		`{"jsonrpc":"2.0","id":1,"method":"getSignaturesForAddress","params":["` + l.payee + `",{"limit":"ten"}]}`,
		`{"jsonrpc":"2.0","id":1,"method":"getSignatureStatuses","params":["not-a-list"]}`,
	} {
		resp, err := http.Post(l.seller.URL+"/solana/rpc", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Error *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || out.Error == nil || out.Error.Code != -32602 || !strings.Contains(out.Error.Message, "Invalid params: parameter") {
			t.Errorf("%s: %+v, %v; want -32602 naming the parameter", body, out.Error, err)
		}
	}
}

// TestSolanaFacilitatorTotalNeverWraps: a payment that would carry the
// local Solana facilitator's settled total past the largest amount is
// refused and moves nothing, instead of wrapping the total around; one
// that reaches the largest amount exactly settles.
func TestSolanaFacilitatorTotalNeverWraps(t *testing.T) {
	for _, tt := range []struct {
		name    string
		total   payments.Amount // before the payment of 1,000
		settles bool
	}{
		{"one unit too many", math.MaxUint64 - 999, false},
		{"to the last unit", math.MaxUint64 - 1_000, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newSolanaLocal(t, 400*time.Millisecond)
			localseller.SetSettledTotal(w.fac, tt.total)
			req, err := http.NewRequest(http.MethodGet, w.seller.URL+"/v2/weather/oslo", nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.client.Do(context.Background(), req, payments.Limit{Tool: "t", MaxPrice: 1_000})
			if !tt.settles {
				if err == nil {
					t.Fatal("paid, want the settlement refused")
				}
				if got := w.fac.SettledTotal(); got != tt.total {
					t.Errorf("settled total %d, want %d unchanged", got, tt.total)
				}
				if w.fac.SettledCount() != 0 || w.fac.Balance(w.payer.Payer()) != 10_000 || w.fac.Balance(w.payee) != 0 {
					t.Errorf("money moved: %d settled, payer %d, payee %d", w.fac.SettledCount(), w.fac.Balance(w.payer.Payer()), w.fac.Balance(w.payee))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := w.fac.SettledTotal(); got != math.MaxUint64 {
				t.Errorf("settled total %d, want %d", got, uint64(math.MaxUint64))
			}
		})
	}
}
