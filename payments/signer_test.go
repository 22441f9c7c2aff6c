package payments_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
)

// remoteSigner stands in for a signer that holds the key elsewhere (clef,
// a KMS): it is not an InProcessSigner, so the core asks it with the
// payment only reserved. sign decides what it answers; by default it signs
// with key, as the remote signer would. (The real remote signers are
// tested against real clef and a real KMS emulator in package wallet and
// test/; this one lets the core's handling be tested on its own.)
type remoteSigner struct {
	key  *wallet.EVMKey
	sign func(ctx context.Context, td evm.TypedData) ([]byte, error)
}

func (r *remoteSigner) Family() string { return evm.Name }
func (r *remoteSigner) Payer() string  { return r.key.Payer() }
func (r *remoteSigner) Address() common.Address {
	return r.key.Address()
}
func (r *remoteSigner) String() string { return "test signer" }
func (r *remoteSigner) SignTransaction(ctx context.Context, tx evm.DynamicFeeTx) ([]byte, error) {
	return r.key.SignTransaction(ctx, tx)
}
func (r *remoteSigner) SignTypedData(ctx context.Context, td evm.TypedData) ([]byte, error) {
	if r.sign != nil {
		return r.sign(ctx, td)
	}
	return r.key.SignTypedData(ctx, td)
}

// TestSignerRefusalIsNotCharged: a signer that refuses (its own rules, a
// human, a key policy) or cannot be asked is a refusal the model can read:
// its own code, "not charged", the signer named with its reason and the
// price, no payment sent, the reservation released. An unusable signature
// (one that does not recover to the signer's address) is caught before
// anything is sent.
func TestSignerRefusalIsNotCharged(t *testing.T) {
	other, err := wallet.GenerateEVMKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		sign  func(ctx context.Context, td evm.TypedData) ([]byte, error)
		code  payments.Code
		words []string
	}{
		{"refused", func(context.Context, evm.TypedData) ([]byte, error) {
			return nil, &payments.SignerError{Signer: "clef at /run/clef.ipc", Refused: true, Reason: "request denied: its rules refused"}
		}, payments.CodeSignerRefused, []string{"clef at /run/clef.ipc", "refused", "request denied: its rules refused", "0.001 USDC", "not charged"}},
		{"unreachable", func(context.Context, evm.TypedData) ([]byte, error) {
			return nil, &payments.SignerError{Signer: "AWS KMS key alias/x402", Reason: "cannot reach KMS (connection refused)"}
		}, payments.CodeSignerFailed, []string{"AWS KMS key alias/x402", "could not sign", "cannot reach KMS (connection refused)", "0.001 USDC", "not charged"}},
		{"wrong key", func(ctx context.Context, td evm.TypedData) ([]byte, error) {
			return other.SignTypedData(ctx, td)
		}, payments.CodeSignerFailed, []string{"test signer", "does not recover to", "not charged"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 1_000_000)
			f.client.Signers = payments.Signers{&remoteSigner{key: f.wallet, sign: tt.sign}}
			_, err := f.client.Do(context.Background(), get(t, f.url+"/v2/weather/lima"), payments.Limit{MaxPrice: 10_000, Tool: "weather"})
			pe, ok := payments.AsError(err)
			if !ok {
				t.Fatalf("err = %v, want a *payments.Error", err)
			}
			if pe.Code != tt.code || pe.Charged != payments.NotCharged {
				t.Fatalf("code %s charged %s, want %s not charged: %s", pe.Code, pe.Charged, tt.code, pe.Message)
			}
			for _, w := range tt.words {
				if !strings.Contains(pe.Message+" "+string(pe.Charged), w) {
					t.Errorf("the message does not say %q:\n%s", w, pe.Message)
				}
			}
			if n := f.seller.PaymentHeadersSeen(); n != 0 {
				t.Errorf("the seller saw %d payments", n)
			}
			sum, err := f.client.Ledger.Summary(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Pending != 0 || sum.Settled != 0 {
				t.Errorf("the ledger still counts %s pending, %s settled", sum.Pending.USDC(), sum.Settled.USDC())
			}
		})
	}
}

// TestRemoteSignerSignsOutsideTheLedgerLock: a signer outside the process
// (a human deciding in clef's UI, a slow KMS) is asked with the payment
// reserved, not inside the ledger's write transaction: while it decides,
// the ledger takes other payments. It still pays, and the row is signed.
func TestRemoteSignerSignsOutsideTheLedgerLock(t *testing.T) {
	f := newFixture(t, 1_000_000)
	ctx := context.Background()
	book, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), f.client.Policy.Budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { book.Close() })
	f.client.Ledger = book
	asked, release := make(chan struct{}), make(chan struct{})
	f.client.Signers = payments.Signers{&remoteSigner{key: f.wallet, sign: func(ctx context.Context, td evm.TypedData) ([]byte, error) {
		close(asked)
		<-release
		return f.wallet.SignTypedData(ctx, td)
	}}}
	done := make(chan error, 1)
	go func() {
		res, err := f.client.Do(ctx, get(t, f.url+"/v2/weather/lima"), payments.Limit{MaxPrice: 10_000, Tool: "weather"})
		if err == nil && res.Charged != payments.Charged {
			err = errors.New("not charged: " + string(res.Charged))
		}
		done <- err
	}()
	<-asked
	// While the signer decides, another payment reserves at once.
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	id, err := book.Reserve(rctx, payments.Reservation{Tool: "other", Amount: 1, Network: "eip155:84532", PayTo: f.seller.PayTo().Hex(), Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e"})
	close(release)
	if err != nil {
		t.Fatalf("the ledger was held while the signer decided: %v", err)
	}
	if err := book.Release(ctx, id, "test"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the paid call: %v", err)
	}
	if n := f.seller.Facilitator().SettledCount(); n != 1 {
		t.Fatalf("the seller settled %d payments, want 1", n)
	}
}
