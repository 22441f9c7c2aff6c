package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

var (
	alice = common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
	bob   = common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
)

// facRequest is one request the facilitator proxy saw.
type facRequest struct {
	op    string // verify or settle
	nonce string
	to    string
	value string
	body  string
}

// tipFixture is a real facilitator (ecrecover, balances in memory) behind a
// proxy that records every request and can misbehave, a funded wallet, a
// SQLite ledger and a tipping section for them.
type tipFixture struct {
	fac    *localseller.Facilitator
	srv    *httptest.Server
	client *payments.Client
	book   *ledger.Ledger
	tips   *payments.Tipping

	mu   sync.Mutex
	seen []facRequest
	// misbehave, when set, may answer instead of the facilitator; it
	// returns true when it did.
	misbehave func(op string, w http.ResponseWriter, r *http.Request, forward func() *httptest.ResponseRecorder) bool
}

func newTipFixture(t *testing.T, budget payments.Budget, funds payments.Amount) *tipFixture {
	t.Helper()
	f := &tipFixture{fac: localseller.NewFacilitator(localseller.FacilitatorConfig{})}
	h := f.fac.Handler()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		op := strings.TrimPrefix(r.URL.Path, "/")
		var req struct {
			PaymentPayload x402.PaymentPayload `json:"paymentPayload"`
		}
		_ = json.Unmarshal(body, &req)
		a := evm.MustPayload(req.PaymentPayload.Payload).Authorization
		f.mu.Lock()
		f.seen = append(f.seen, facRequest{op: op, nonce: a.Nonce, to: a.To, value: a.Value, body: string(body)})
		mis := f.misbehave
		f.mu.Unlock()
		forward := func() *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			r2 := r.Clone(r.Context())
			r2.Body = io.NopCloser(bytes.NewReader(body))
			h.ServeHTTP(rec, r2)
			return rec
		}
		if mis != nil && mis(op, w, r, forward) {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	w, err := wallet.ParseHexKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	f.fac.Fund(w.Address(), funds)
	book, err := ledger.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { book.Close() })
	f.book = book
	pol := payments.Policy{Networks: []payments.Network{"eip155:84532"}, PerCall: 10_000, Budget: budget}
	f.client = &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: book, Session: "s"}
	usdc, _ := evm.KnownUSDC("eip155:84532")
	f.tips = &payments.Tipping{
		Network: "eip155:84532", Family: evm.Family{}, Asset: usdc,
		Facilitator: f.srv.URL, PerDay: budget.TipPerDay, MaxTip: 2_000_000, AllowAddresses: true, Timeout: 2 * time.Second,
		Recipients: []payments.Recipient{{Name: "alice", Address: alice.Hex()}},
	}
	return f
}

func (f *tipFixture) requests() []facRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]facRequest(nil), f.seen...)
}

func (f *tipFixture) rows(t *testing.T) []ledger.Row {
	t.Helper()
	rows, err := f.book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// approveAll approves every question and counts them.
func approveAll(n *atomic.Int32) payments.Approver {
	return func(_ context.Context, r payments.ApprovalRequest) error {
		n.Add(1)
		return nil
	}
}

func tipErr(t *testing.T, err error, code payments.Code, charged payments.Charge) *payments.Error {
	t.Helper()
	pe, ok := payments.AsError(err)
	if !ok || pe.Code != code || pe.Charged != charged {
		t.Fatalf("error = %v, want %s (%s)", err, code, charged)
	}
	return pe
}

// TestTipSettles: a tip to an address-book name moves exactly its amount
// to the recipient through the facilitator (/verify then /settle, one
// signature), asks the human first, and is booked as a settled tip row with
// its note, which never leaves x402-mcp.
func TestTipSettles(t *testing.T) {
	f := newTipFixture(t, payments.Budget{Total: 10_000_000, TipPerDay: 5_000_000}, 10_000_000)
	var asked atomic.Int32
	var question payments.ApprovalRequest
	f.client.Approve = func(_ context.Context, r payments.ApprovalRequest) error {
		asked.Add(1)
		question = r
		return nil
	}
	res, err := f.client.Tip(context.Background(), f.tips, payments.TipRequest{Tool: "x402_tip", To: "  Alice ", Amount: 1_500_000, Note: "great\narticle, thanks"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Charged != payments.Charged || res.Receipt.State != "settled" || res.Receipt.Transaction == "" || res.Recipient.Address != alice.Hex() || res.Note != "great article, thanks" {
		t.Fatalf("result %+v receipt %+v", res, res.Receipt)
	}
	if got := f.fac.Balance(alice); got != 1_500_000 {
		t.Fatalf("alice holds %s, want exactly 1.5", got)
	}
	if got := f.fac.Balance(f.client.Signers[0].(*wallet.EVMKey).Address()); got != 8_500_000 {
		t.Fatalf("the wallet holds %s", got)
	}
	if asked.Load() != 1 || question.Tip == nil || question.Tip.Name != "alice" || question.Tip.Note != "great article, thanks" || question.Amount != 1_500_000 || question.PayTo != alice.Hex() {
		t.Fatalf("asked %d: %+v", asked.Load(), question)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0].op != "verify" || reqs[1].op != "settle" || reqs[0].nonce != reqs[1].nonce || reqs[0].to != alice.Hex() || reqs[0].value != "1500000" {
		t.Fatalf("facilitator saw %+v", reqs)
	}
	for _, r := range reqs {
		if strings.Contains(r.body, "great") || strings.Contains(r.body, "article") {
			t.Fatalf("the note was sent to the facilitator: %s", r.body)
		}
	}
	rows := f.rows(t)
	if len(rows) != 1 || rows[0].Kind != "tip" || rows[0].State != payments.StateSettled || rows[0].Note != "great article, thanks" ||
		rows[0].Tool != "x402_tip" || rows[0].PayTo != alice.Hex() || rows[0].Transaction != res.Receipt.Transaction || rows[0].Nonce != reqs[0].nonce {
		t.Fatalf("rows %+v", rows)
	}
	if !strings.Contains(res.Line(), "Tipped 1.5 USDC") || !strings.Contains(res.Line(), "alice ("+alice.Hex()+")") {
		t.Fatalf("line %q", res.Line())
	}
}

// TestTipRefusals: every refusal before signing asks nobody, sends nothing
// to the facilitator and leaves no counted row.
func TestTipRefusals(t *testing.T) {
	tests := []struct {
		name    string
		req     payments.TipRequest
		setup   func(*tipFixture)
		code    payments.Code
		says    []string
		decline bool
	}{
		{name: "unknown name", req: payments.TipRequest{To: "carol", Amount: 100_000}, code: payments.CodeUnknownRecipient,
			says: []string{`"carol" is not a recipient`, "Known recipients: alice", "0x address"}},
		{name: "ens name", req: payments.TipRequest{To: "vitalik.eth", Amount: 100_000}, code: payments.CodeUnknownRecipient,
			says: []string{"no ENS"}},
		{name: "bad checksum", req: payments.TipRequest{To: "0x209693bC6afc0C5328bA36FaF03C514EF312287C", Amount: 100_000}, code: payments.CodeUnknownRecipient,
			says: []string{"EIP-55 checksum", alice.Hex()}},
		{name: "short address", req: payments.TipRequest{To: "0x2096", Amount: 100_000}, code: payments.CodeUnknownRecipient,
			says: []string{"is not an address"}},
		{name: "zero address", req: payments.TipRequest{To: "0x0000000000000000000000000000000000000000", Amount: 100_000}, code: payments.CodeUnknownRecipient,
			says: []string{"zero address"}},
		{name: "addresses off", req: payments.TipRequest{To: bob.Hex(), Amount: 100_000}, code: payments.CodeUnknownRecipient,
			setup: func(f *tipFixture) { f.tips.AllowAddresses = false }, says: []string{"tipping.allow_addresses: false"}},
		{name: "self", req: payments.TipRequest{To: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", Amount: 100_000}, code: payments.CodeNotAllowed,
			says: []string{"own wallet"}},
		{name: "token contract", req: payments.TipRequest{To: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", Amount: 100_000}, code: payments.CodeNotAllowed,
			says: []string{"token contract"}},
		{name: "zero", req: payments.TipRequest{To: "alice", Amount: 0}, code: payments.CodeInvalidTip, says: []string{"more than 0"}},
		{name: "long note", req: payments.TipRequest{To: "alice", Amount: 1, Note: strings.Repeat("é", 101)}, code: payments.CodeInvalidTip,
			says: []string{"at most 200 bytes"}},
		{name: "over max_tip", req: payments.TipRequest{To: "alice", Amount: 2_000_001}, code: payments.CodePriceAboveCap,
			says: []string{"2.000001 USDC", "tipping.max_tip", "2 USDC"}},
		{name: "over tip budget", req: payments.TipRequest{To: "alice", Amount: 1_000_001}, code: payments.CodeOverBudget,
			says: []string{"daily tip budget", "tipping.per_day", "1 USDC limit"}},
		{name: "over total", req: payments.TipRequest{To: "alice", Amount: 1_000_000}, code: payments.CodeOverBudget,
			says: []string{"the total budget"}},
		{name: "declined", req: payments.TipRequest{To: "alice", Amount: 100_000, Note: "hi"}, code: payments.CodeApprovalDeclined, decline: true,
			says: []string{"declined the tip of 0.1 USDC to alice (" + alice.Hex() + ")", "Nothing was signed"}},
		{name: "cannot ask", req: payments.TipRequest{To: "alice", Amount: 100_000}, code: payments.CodeApprovalRequired,
			setup: func(f *tipFixture) { f.client.Approve = nil }, says: []string{"no way to ask a human", "tipping.auto_approve_up_to is not set"}},
		{name: "bare address asks despite auto-approval", req: payments.TipRequest{To: bob.Hex(), Amount: 100_000}, code: payments.CodeApprovalRequired,
			setup: func(f *tipFixture) { f.client.Approve = nil; f.tips.AutoApproveUpTo = 1_000_000 }, says: []string{"outside the address book always asks"}},
		{name: "above auto-approval", req: payments.TipRequest{To: "alice", Amount: 500_001}, code: payments.CodeApprovalRequired,
			setup: func(f *tipFixture) { f.client.Approve = nil; f.tips.AutoApproveUpTo = 500_000 }, says: []string{"above tipping.auto_approve_up_to (0.5 USDC)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTipFixture(t, payments.Budget{Total: 1_500_000, TipPerDay: 1_000_000}, 10_000_000)
			// An earlier payment fills part of the total for "over total".
			if tt.name == "over total" {
				if _, err := f.book.Reserve(context.Background(), payments.Reservation{Tool: "weather", Amount: 600_000}); err != nil {
					t.Fatal(err)
				}
			}
			var asked atomic.Int32
			f.client.Approve = func(context.Context, payments.ApprovalRequest) error {
				asked.Add(1)
				if tt.decline {
					return payments.ErrDeclined
				}
				return nil
			}
			if tt.setup != nil {
				tt.setup(f)
			}
			before := len(f.rows(t))
			tt.req.Tool = "x402_tip"
			_, err := f.client.Tip(context.Background(), f.tips, tt.req)
			pe := tipErr(t, err, tt.code, payments.NotCharged)
			for _, s := range tt.says {
				if !strings.Contains(pe.Message, s) {
					t.Errorf("message does not say %q: %s", s, pe.Message)
				}
			}
			if len(f.requests()) != 0 {
				t.Fatalf("the facilitator was called: %+v", f.requests())
			}
			if tt.decline != (asked.Load() == 1) {
				t.Fatalf("asked %d times", asked.Load())
			}
			for _, r := range f.rows(t)[:len(f.rows(t))-before] {
				if r.State != payments.StateReleased || r.Nonce != "" {
					t.Fatalf("a refused tip left %+v", r)
				}
			}
		})
	}
}

// TestTipAutoApproved: a tip to an address-book name within
// auto_approve_up_to goes without asking.
func TestTipAutoApproved(t *testing.T) {
	f := newTipFixture(t, payments.Budget{TipPerDay: 1_000_000}, 10_000_000)
	f.tips.AutoApproveUpTo = 250_000
	f.client.Approve = func(context.Context, payments.ApprovalRequest) error { return errors.New("must not ask") }
	res, err := f.client.Tip(context.Background(), f.tips, payments.TipRequest{Tool: "x402_tip", To: alice.Hex(), Amount: 250_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Recipient.Name != "alice" || f.fac.Balance(alice) != 250_000 {
		t.Fatalf("%+v, alice holds %s", res.Recipient, f.fac.Balance(alice))
	}
}

// TestTipFacilitatorFailures: after signing, whatever the facilitator does,
// exactly one authorization was signed, the row records the outcome, and
// the model is told whether money moved.
func TestTipFacilitatorFailures(t *testing.T) {
	hangUp := func(w http.ResponseWriter) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	tests := []struct {
		name      string
		funds     payments.Amount
		closed    bool // the facilitator is not listening at all
		misbehave func(op string, w http.ResponseWriter, r *http.Request, forward func() *httptest.ResponseRecorder) bool
		code      payments.Code
		charged   payments.Charge
		state     payments.State
		moved     payments.Amount // what reached alice
		ops       string
		says      []string
	}{
		// A facilitator that refused a tip had its signature: not proven unused.
		{name: "verify refuses (no funds)", funds: 50_000, code: payments.CodePaymentRejected, charged: payments.ChargeUnknown,
			state: payments.StateRejected, ops: "verify", says: []string{"refused the tip of 0.1 USDC", "invalid_exact_evm_insufficient_balance", "did not sign again",
				"reported no settlement", "until reconciliation proves it unused"}},
		{name: "settle refuses", funds: 10_000_000, code: payments.CodePaymentRejected, charged: payments.ChargeUnknown, state: payments.StateRejected, ops: "verify settle",
			misbehave: func(op string, w http.ResponseWriter, _ *http.Request, _ func() *httptest.ResponseRecorder) bool {
				if op != "settle" {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"success":false,"errorReason":"invalid_exact_evm_transaction_failed","network":"eip155:84532"}`)
				return true
			}, says: []string{"at /settle", "invalid_exact_evm_transaction_failed"}},
		// The authorization provably never left: released at once.
		{name: "unreachable before sending", closed: true, funds: 10_000_000, code: payments.CodeUpstreamFailed, charged: payments.NotCharged,
			state: payments.StateReleased, ops: "", says: []string{"could not reach the facilitator", "never left x402-mcp", "released", "safe"}},
		{name: "verify answers 500", funds: 10_000_000, code: payments.CodePaymentRejected, charged: payments.ChargeUnknown, state: payments.StateRejected, ops: "verify",
			misbehave: func(op string, w http.ResponseWriter, _ *http.Request, _ func() *httptest.ResponseRecorder) bool {
				http.Error(w, "boom", http.StatusInternalServerError)
				return true
			}, says: []string{"HTTP 500"}},
		{name: "verify hangs", funds: 10_000_000, code: payments.CodeOutcomeUnknown, charged: payments.ChargeUnknown, state: payments.StateUnknown, ops: "verify",
			misbehave: func(op string, w http.ResponseWriter, r *http.Request, _ func() *httptest.ResponseRecorder) bool {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
				return true
			}, says: []string{"no answer within 2s", "Do not tip again blindly"}},
		{name: "drops the connection on settle before settling", funds: 10_000_000, code: payments.CodeOutcomeUnknown, charged: payments.ChargeUnknown,
			state: payments.StateUnknown, ops: "verify settle",
			misbehave: func(op string, w http.ResponseWriter, _ *http.Request, _ func() *httptest.ResponseRecorder) bool {
				if op != "settle" {
					return false
				}
				hangUp(w)
				return true
			}, says: []string{"/settle gave no usable answer", "may have settled", "did not sign again"}},
		{name: "settles then drops the connection", funds: 10_000_000, code: payments.CodeOutcomeUnknown, charged: payments.ChargeUnknown,
			state: payments.StateUnknown, moved: 100_000, ops: "verify settle",
			misbehave: func(op string, w http.ResponseWriter, _ *http.Request, forward func() *httptest.ResponseRecorder) bool {
				if op != "settle" {
					return false
				}
				if rec := forward(); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"success":true`) {
					panic("the facilitator did not settle: " + rec.Body.String())
				}
				hangUp(w)
				return true
			}, says: []string{"may have settled"}},
		{name: "settle answers 502", funds: 10_000_000, code: payments.CodeOutcomeUnknown, charged: payments.ChargeUnknown, state: payments.StateUnknown, ops: "verify settle",
			misbehave: func(op string, w http.ResponseWriter, _ *http.Request, _ func() *httptest.ResponseRecorder) bool {
				if op != "settle" {
					return false
				}
				http.Error(w, "bad gateway", http.StatusBadGateway)
				return true
			}, says: []string{"502"}},
		{name: "settle says nonce used", funds: 10_000_000, code: payments.CodeOutcomeUnknown, charged: payments.ChargeUnknown, state: payments.StateUnknown, ops: "verify settle",
			misbehave: func(op string, w http.ResponseWriter, _ *http.Request, _ func() *httptest.ResponseRecorder) bool {
				if op != "settle" {
					return false
				}
				_, _ = io.WriteString(w, `{"success":false,"errorReason":"invalid_exact_evm_nonce_already_used"}`)
				return true
			}, says: []string{"nonce_already_used"}},
		{name: "settle answers garbage", funds: 10_000_000, code: payments.CodeOutcomeUnknown, charged: payments.ChargeUnknown, state: payments.StateUnknown, ops: "verify settle",
			misbehave: func(op string, w http.ResponseWriter, _ *http.Request, _ func() *httptest.ResponseRecorder) bool {
				if op != "settle" {
					return false
				}
				_, _ = io.WriteString(w, strings.Repeat("x", 100<<10))
				return true
			}, says: []string{"over 65536 bytes"}},
		{name: "settle pending", funds: 10_000_000, code: "", charged: payments.Charged, state: payments.StateSettled, ops: "verify settle",
			misbehave: func(op string, w http.ResponseWriter, _ *http.Request, _ func() *httptest.ResponseRecorder) bool {
				if op != "settle" {
					return false
				}
				_, _ = io.WriteString(w, `{"success":false,"errorReason":"settlement_pending","transaction":"0xabc"}`)
				return true
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTipFixture(t, payments.Budget{TipPerDay: 1_000_000}, tt.funds)
			f.misbehave = tt.misbehave
			if tt.closed {
				f.tips.Facilitator = "http://" + f.srv.Listener.Addr().String()
				f.srv.Close()
			}
			var asked atomic.Int32
			f.client.Approve = approveAll(&asked)
			res, err := f.client.Tip(context.Background(), f.tips, payments.TipRequest{Tool: "x402_tip", To: "alice", Amount: 100_000})
			rows := f.rows(t)
			if len(rows) != 1 || rows[0].State != tt.state || rows[0].Nonce == "" || rows[0].Kind != "tip" {
				t.Fatalf("rows %+v", rows)
			}
			if tt.code == "" {
				if err != nil || res.Charged != tt.charged {
					t.Fatalf("tip: %v %+v", err, res)
				}
			} else {
				pe := tipErr(t, err, tt.code, tt.charged)
				for _, s := range tt.says {
					if !strings.Contains(pe.Message, s) {
						t.Errorf("message does not say %q: %s", s, pe.Message)
					}
				}
				if pe.Receipt == nil || pe.Receipt.LedgerID != rows[0].ID || !strings.Contains(pe.Message, "ledger "+rows[0].ID) {
					t.Errorf("receipt %+v", pe.Receipt)
				}
			}
			var ops []string
			for _, r := range f.requests() {
				ops = append(ops, r.op)
				if r.nonce != rows[0].Nonce {
					t.Fatalf("a second authorization was sent: %s, the ledger has %s", r.nonce, rows[0].Nonce)
				}
			}
			if got := strings.Join(ops, " "); got != tt.ops {
				t.Fatalf("the facilitator saw %q, want %q", got, tt.ops)
			}
			if got := f.fac.Balance(alice); got != tt.moved {
				t.Fatalf("alice holds %s, want %s", got, tt.moved)
			}
			// Whatever happened once the tip left, it counts against the tip
			// budget; a tip that never left does not, and no copy of its
			// authorization is kept.
			want := payments.Amount(100_000)
			if tt.state == payments.StateReleased {
				want = 0
				if rows[0].Payload != "" || rows[0].Header != "" {
					t.Fatalf("the released tip's authorization is still in the ledger: %q %q", rows[0].Header, rows[0].Payload)
				}
			}
			sp, err := f.book.Spent(context.Background(), payments.Reservation{Kind: payments.KindTip})
			if err != nil || sp.TipDay != want {
				t.Fatalf("tip budget counts %s (%v), want %s", sp.TipDay, err, want)
			}
		})
	}
}

// TestTipsUnderConcurrency: 12 tips of 0.3 racing for a tip budget of 1
// USDC: exactly 3 settle, and alice receives exactly 0.9.
func TestTipsUnderConcurrency(t *testing.T) {
	f := newTipFixture(t, payments.Budget{TipPerDay: 1_000_000}, 10_000_000)
	f.tips.AutoApproveUpTo = 1_000_000
	var paid, refused atomic.Int32
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.client.Tip(context.Background(), f.tips, payments.TipRequest{Tool: "x402_tip", To: "alice", Amount: 300_000})
			if pe, ok := payments.AsError(err); ok && pe.Code == payments.CodeOverBudget && pe.Over.Scope == payments.ScopeTipDay {
				refused.Add(1)
			} else if err == nil {
				paid.Add(1)
			} else {
				t.Errorf("tip: %v", err)
			}
		}()
	}
	wg.Wait()
	if paid.Load() != 3 || refused.Load() != 9 || f.fac.Balance(alice) != 900_000 {
		t.Fatalf("paid %d refused %d; alice holds %s", paid.Load(), refused.Load(), f.fac.Balance(alice))
	}
}

// TestTipFamilyFromTheNetwork: a tipping section built without its family
// (not by the catalog) tips through the family of its network, as the
// client's schemes know it; a network of no family is refused, nothing
// signed.
func TestTipFamilyFromTheNetwork(t *testing.T) {
	f := newTipFixture(t, payments.Budget{Total: 10_000_000, TipPerDay: 5_000_000}, 10_000_000)
	f.client.Approve = func(context.Context, payments.ApprovalRequest) error { return nil }
	f.tips.Family = nil
	res, err := f.client.Tip(context.Background(), f.tips, payments.TipRequest{Tool: "x402_tip", To: "alice", Amount: 100_000})
	if err != nil || res.Charged != payments.Charged || f.fac.Balance(alice) != 100_000 {
		t.Fatalf("tip without the family set: %+v %v", res, err)
	}
	f.tips.Network = "tst:1"
	_, err = f.client.Tip(context.Background(), f.tips, payments.TipRequest{Tool: "x402_tip", To: "alice", Amount: 100_000})
	if pe, ok := payments.AsError(err); !ok || pe.Code != payments.CodeNotAllowed || pe.Charged != payments.NotCharged || !strings.Contains(pe.Message, "tipping.network tst:1 is not a network x402-mcp pays on") {
		t.Fatalf("a network of no family: %v", err)
	}
	if n := len(f.requests()); n != 2 {
		t.Fatalf("the facilitator got %d requests, want the first tip's verify and settle", n)
	}
}

// TestTipRefusalHidesFacilitatorSecrets: a facilitator that refuses a tip
// and quotes its credentials (the catalog's ${ENV} values) in its reason
// gets them written ${NAME} in the error, the ledger and the logs.
func TestTipRefusalHidesFacilitatorSecrets(t *testing.T) {
	const token = "factoken61c0d9"
	f := newTipFixture(t, payments.Budget{Total: 5_000_000, TipPerDay: 3_000_000}, 10_000_000)
	f.misbehave = func(op string, w http.ResponseWriter, r *http.Request, _ func() *httptest.ResponseRecorder) bool {
		writeJSONAnswer(w, `{"isValid":false,"invalidReason":"bad_token_`+token+`","invalidMessage":"token `+token+` is not allowed"}`)
		return true
	}
	red := payments.NewRedaction("", "")
	red.AddSecret("FAC_TOKEN", token)
	f.tips.FacilitatorRedaction = red
	var logs bytes.Buffer
	f.client.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.client.Approve = approveAll(new(atomic.Int32))
	_, err := f.client.Tip(context.Background(), f.tips, payments.TipRequest{Tool: "x402_tip", To: "alice", Amount: 100_000})
	pe := tipErr(t, err, payments.CodePaymentRejected, payments.ChargeUnknown)
	rows := f.rows(t)
	if len(rows) != 1 || !strings.Contains(rows[0].Reason, "${FAC_TOKEN}") {
		t.Fatalf("rows %+v: want the facilitator's reason with its token as ${FAC_TOKEN}", rows)
	}
	for what, s := range map[string]string{"error": pe.Message + pe.Error(), "ledger reason": rows[0].Reason, "logs": logs.String()} {
		if strings.Contains(s, token) {
			t.Errorf("the %s shows the facilitator's token:\n%s", what, s)
		}
	}
}

func writeJSONAnswer(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}
