package payments_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/x402-mcp/x402-mcp/internal/testfamily"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// twoFamilySeller offers each resource in EVM USDC on Base Sepolia (2000
// atomic units) and in the test family's USDC on tst:1 (1000), and checks
// what it is paid with: an EVM payment's signer by ecrecover, a test
// family payment's signature with the test key. /lost settles (the test
// scheme's chain says so) and then answers 500 with no receipt; /refuse
// answers the paid request with a fresh 402.
type twoFamilySeller struct {
	t      *testing.T
	tst    *testfamily.Exact
	tstKey *testfamily.Key
	evm    string // the EVM payer it expects

	mu   sync.Mutex
	paid []string // the network of each payment it accepted
}

const (
	tstPayee = "T0000BEEF"
	evmPayee = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
)

func (s *twoFamilySeller) challenge(r *http.Request) string {
	res, _ := json.Marshal(map[string]string{"url": "http://" + r.Host + r.URL.Path})
	return `{"x402Version":2,"resource":` + string(res) + `,"accepts":[` +
		`{"scheme":"exact","network":"eip155:84532","amount":"2000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"` + evmPayee + `","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}},` +
		`{"scheme":"exact","network":"tst:1","amount":"1000","asset":"t0000usdc","payTo":"` + strings.ToLower(tstPayee) + `","maxTimeoutSeconds":60,"extra":{"ok":true}}]}`
}

func (s *twoFamilySeller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := r.Header.Get(x402.HeaderPaymentSignature)
	if v == "" || r.URL.Path == "/refuse" {
		h, _ := x402.EncodeHeaderJSON(json.RawMessage(s.challenge(r)))
		w.Header().Set(x402.HeaderPaymentRequired, h)
		w.WriteHeader(http.StatusPaymentRequired)
		return
	}
	p, err := x402.DecodePaymentHeader(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var acc x402.Requirement
	if err := json.Unmarshal(p.Accepted, &acc); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var tx, payer string
	switch acc.Network {
	case "tst:1":
		tp, ok := testfamily.Verify(s.tstKey, p.Payload)
		if !ok || tp.PayTo != tstPayee || tp.Amount != "1000" {
			http.Error(w, "bad test payment", http.StatusBadRequest)
			return
		}
		tx, payer = "tst-"+tp.ID, tp.Payer
		if r.URL.Path == "/lost" {
			// It settled; the answer is lost.
			s.tst.SetFate(tp.ID, payments.Fate{State: payments.FateSettled, Transaction: "tstLanded"})
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
	case "eip155:84532":
		ep, err := evm.ParsePayload(p.Payload)
		a, aerr := evm.ParseAuthorization(ep.Authorization)
		if err != nil || aerr != nil {
			http.Error(w, "bad EVM payment", http.StatusBadRequest)
			return
		}
		d := evm.Domain{Name: "USDC", Version: "2", ChainID: evm.ChainID("eip155:84532"), VerifyingContract: common.HexToAddress(acc.Asset)}
		sig, _ := hex.DecodeString(strings.TrimPrefix(ep.Signature, "0x"))
		signer, err := evm.RecoverSigner(evm.Digest(d.Separator(), a.StructHash()), sig)
		if err != nil || signer.Hex() != s.evm || a.Value.Int64() != 2000 {
			http.Error(w, "bad EVM signature", http.StatusBadRequest)
			return
		}
		tx, payer = "0x"+strings.Repeat("ab", 32), signer.Hex()
	default:
		http.Error(w, "unknown network", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.paid = append(s.paid, acc.Network)
	s.mu.Unlock()
	h, _ := x402.EncodeHeaderJSON(x402.SettlementResponse{Success: true, Transaction: tx, Network: acc.Network, Payer: payer})
	w.Header().Set(x402.HeaderPaymentResponse, h)
	_, _ = w.Write([]byte(`{"ok":true}`))
}

// TestAnotherFamilyPlugsIn: a family the core was never told about (the
// test family, a stand-in for Solana, which this tree does not have yet)
// pays through the same flow as EVM once the command wires it in: the
// cheaper option of a 402 that offers both is paid in its family, with its
// family's key, recorded in the SQLite ledger with its family's proof,
// named by its family in messages, proven by its family within the call
// and by reconciliation; without a key of the family its option is not
// payable and the EVM one is paid.
func TestAnotherFamilyPlugsIn(t *testing.T) {
	ctx := context.Background()
	evmKey, err := wallet.ParseHexKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	tstKey := testfamily.NewKey("T0000A11C")
	tst := &testfamily.Exact{}
	seller := &twoFamilySeller{t: t, tst: tst, tstKey: tstKey, evm: evmKey.Address().Hex()}
	srv := httptest.NewServer(seller)
	defer srv.Close()
	schemes := payments.NewSchemes(evm.NewExact(nil), tst)
	book, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), payments.Budget{Total: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer book.Close()
	pol := payments.Policy{Networks: []payments.Network{"eip155:84532", "tst:1"}, PerCall: 100_000}
	c := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: schemes, Signers: payments.Signers{evmKey, tstKey}, Policy: pol, Ledger: book}

	// Both keys: the cheaper option, the test family's, is paid.
	res, err := c.Do(ctx, get(t, srv.URL+"/buy"), payments.Limit{Tool: "buy"})
	if err != nil {
		t.Fatal(err)
	}
	rc := res.Receipt
	if res.Charged != payments.Charged || rc.Network != "tst:1" || rc.Payer != "T0000A11C" || rc.PayTo != tstPayee || rc.Asset != testfamily.USDC ||
		rc.Amount != 1000 || rc.Symbol != "USDC" || !strings.HasPrefix(rc.Transaction, "tst-") {
		t.Fatalf("paid %s: %+v", res.Charged, rc)
	}
	row, err := book.Get(ctx, rc.LedgerID)
	if err != nil {
		t.Fatal(err)
	}
	signed := tst.Signed()
	if len(signed) != 1 || row.Family != "tst" || row.Scheme != "exact" || row.Nonce != signed[0].ID || row.Expiry != signed[0].Expiry ||
		string(row.ProofData) != string(signed[0].Data) || row.PayTo != tstPayee || row.Payer != "T0000A11C" || row.State != payments.StateSettled {
		t.Fatalf("ledger row %+v, signed %+v", row, signed)
	}

	// A lost answer: the test family's chain shows the payment used, and
	// the call says so, within the call.
	proved := tst.Proved()
	res, err = c.Do(ctx, get(t, srv.URL+"/lost"), payments.Limit{Tool: "buy"})
	if err != nil || res.Charged != payments.Charged || res.Receipt.Transaction != "tstLanded" || tst.Proved() == proved {
		t.Fatalf("lost answer: %v, %+v (proved %d times)", err, res, tst.Proved()-proved)
	}
	if row, _ := book.Get(ctx, res.Receipt.LedgerID); row.State != payments.StateSettled || row.Transaction != "tstLanded" {
		t.Fatalf("lost answer's row %s %q", row.State, row.Transaction)
	}

	// A refused payment stays counted until its family's chain proves it
	// unusable; reconciliation asks that family with the proof it kept.
	_, err = c.Do(ctx, get(t, srv.URL+"/refuse"), payments.Limit{Tool: "buy"})
	pe, ok := payments.AsError(err)
	if !ok || pe.Code != payments.CodePaymentRejected || pe.Receipt == nil {
		t.Fatalf("refused: %v", err)
	}
	refused := tst.Signed()[2]
	rep, err := book.Reconcile(ctx, schemes)
	if err != nil || rep.StillOpen != 1 || rep.Released != 0 {
		t.Fatalf("before the chain proves anything: %+v %v", rep, err)
	}
	tst.SetFate(refused.ID, payments.Fate{State: payments.FateUnusable})
	rep, err = book.Reconcile(ctx, schemes)
	if err != nil || rep.Released != 1 {
		t.Fatalf("once the chain proves it unusable: %+v %v", rep, err)
	}
	if row, _ := book.Get(ctx, pe.Receipt.LedgerID); row.State != payments.StateReleased {
		t.Fatalf("refused row %s", row.State)
	}

	// Over the test network's budget: the refusal names the network as its
	// family does.
	c.Ledger = payments.NewMemoryLedger(payments.Budget{PerNetwork: map[payments.Network]payments.Amount{"tst:1": 500}}, nil)
	_, err = c.Do(ctx, get(t, srv.URL+"/buy"), payments.Limit{Tool: "buy"})
	if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodeOverBudget || !strings.Contains(pe.Message, "the budget for network tst:1 (Test One)") {
		t.Fatalf("over the network budget: %v", err)
	}

	// No key of the test family: its option is not payable, the EVM one is
	// paid.
	c.Ledger, c.Signers = payments.NewMemoryLedger(payments.Budget{Total: 1_000_000}, nil), payments.Signers{evmKey}
	q, err := c.Quote(ctx, get(t, srv.URL+"/buy"), payments.Limit{Tool: "buy"})
	if err != nil || q.Chosen == nil || q.Chosen.Network != "eip155:84532" || q.Options[1].Payable ||
		!strings.Contains(q.Options[1].Reason, "network tst:1 (Test One) is a Test network and the wallet holds no Test key") {
		t.Fatalf("quote without a test key: %+v %v", q, err)
	}
	res, err = c.Do(ctx, get(t, srv.URL+"/buy"), payments.Limit{Tool: "buy"})
	if err != nil || res.Charged != payments.Charged || res.Receipt.Network != "eip155:84532" || res.Receipt.Payer != evmKey.Address().Hex() || res.Receipt.Amount != 2000 {
		t.Fatalf("EVM paid instead: %v %+v", err, res)
	}
	seller.mu.Lock()
	defer seller.mu.Unlock()
	if strings.Join(seller.paid, ",") != "tst:1,eip155:84532" {
		t.Fatalf("the seller accepted %v", seller.paid)
	}
}

// TestFamiliesPaying: Of finds the families of networks, each once, in
// the families' order (a network of no family adds none); Paying keeps the
// families that pay a scheme and, when one is named, let a call pin a
// transfer method, as each family says (Family.Schemes,
// Family.TransferMethods).
func TestFamiliesPaying(t *testing.T) {
	fs := payments.Families{evm.Family{}, testfamily.Family{}}
	names := func(fs payments.Families) string {
		var s []string
		for _, f := range fs {
			s = append(s, f.Name())
		}
		return strings.Join(s, ",")
	}
	for _, tt := range []struct {
		networks       []payments.Network
		scheme, method string
		of, paying     string
	}{
		{[]payments.Network{"tst:1", "eip155:84532", "tst:2"}, "exact", "", "evm,tst", "evm,tst"},
		{[]payments.Network{"tst:1", "eip155:84532"}, "upto", "", "evm,tst", "evm"},
		{[]payments.Network{"tst:1", "tst:2"}, "upto", "", "tst", ""},
		{[]payments.Network{"tst:1"}, "exact", "permit2", "tst", ""},
		{[]payments.Network{"eip155:8453"}, "exact", "eip3009", "evm", "evm"},
		{[]payments.Network{"eip155:8453"}, "upto", "permit2", "evm", "evm"},
		{[]payments.Network{"eip155:8453"}, "exact", "erc7710", "evm", ""},
		{[]payments.Network{"solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"}, "exact", "", "", ""},
		{nil, "exact", "", "", ""},
	} {
		of := fs.Of(tt.networks)
		if got := names(of); got != tt.of {
			t.Errorf("Of(%v) = %s, want %s", tt.networks, got, tt.of)
		}
		if got := names(of.Paying(tt.scheme, tt.method)); got != tt.paying {
			t.Errorf("Of(%v).Paying(%q, %q) = %s, want %s", tt.networks, tt.scheme, tt.method, got, tt.paying)
		}
	}
}
