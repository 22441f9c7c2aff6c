package wallet

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/internal/keytest"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// TestClefSignsWithinItsRules runs a real clef, headless, with the rules
// file of docs/clef/rules.js: over IPC (listing its one account) and over
// HTTP (with the account named), it signs an EIP-3009 transfer within its
// lists (the signature recovers to its account) and refuses, as a
// *payments.SignerError with Refused set, every transfer outside them: a
// payee, a token or a chain not listed, an amount one unit above the most.
func TestClefSignsWithinItsRules(t *testing.T) {
	token := common.HexToAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3")
	payee := common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
	clef := keytest.StartClef(t, keytest.ClefRules{ChainIDs: []int64{1337}, Tokens: []common.Address{token}, Payees: []common.Address{payee}, MaxAmount: 2000})
	ctx := context.Background()

	overIPC, err := DialClef(ctx, clef.IPC, "")
	if err != nil {
		t.Fatalf("dial clef over IPC: %v\n%s", err, clef.Log())
	}
	overHTTP, err := DialClef(ctx, clef.HTTP, clef.Address.Hex())
	if err != nil {
		t.Fatalf("dial clef over HTTP: %v\n%s", err, clef.Log())
	}
	if overIPC.Source() != (Source{Kind: SourceClef, Where: clef.IPC}) || !overIPC.Source().Remote() || overIPC.Source().Plain() {
		t.Errorf("source %+v", overIPC.Source())
	}
	transfer := func(chain int64, token, to common.Address, value int64) evm.TypedData {
		return evm.TypedData{
			Domain: evm.Domain{Name: "USDC", Version: "2", ChainID: big.NewInt(chain), VerifyingContract: token},
			Message: evm.Authorization{From: clef.Address, To: to, Value: big.NewInt(value), ValidAfter: big.NewInt(0),
				ValidBefore: big.NewInt(time.Now().Add(time.Minute).Unix()), Nonce: [32]byte{7, 31: 1}},
		}
	}
	stranger := common.HexToAddress("0x000000000000000000000000000000000000dEaD")
	for _, c := range []*Clef{overIPC, overHTTP} {
		if c.Address() != clef.Address || c.Payer() != clef.Address.Hex() {
			t.Fatalf("%s pays from %s, want %s", c, c.Address().Hex(), clef.Address.Hex())
		}
		td := transfer(1337, token, payee, 2000)
		sig, err := c.SignTypedData(ctx, td)
		if err != nil {
			t.Fatalf("%s: a transfer within its rules: %v\n%s", c, err, clef.Log())
		}
		if got, err := evm.RecoverSigner(td.Digest(), sig); err != nil || got != clef.Address {
			t.Fatalf("%s: the signature recovers to %s (%v), want %s", c, got.Hex(), err, clef.Address.Hex())
		}
		for name, td := range map[string]evm.TypedData{
			"payee not listed":  transfer(1337, token, stranger, 1),
			"token not listed":  transfer(1337, stranger, payee, 1),
			"chain not listed":  transfer(8453, token, payee, 1),
			"one unit too many": transfer(1337, token, payee, 2001),
		} {
			_, err := c.SignTypedData(ctx, td)
			var se *payments.SignerError
			if !errors.As(err, &se) || !se.Refused || !strings.Contains(se.Signer, "clef at") {
				t.Errorf("%s: %s: err = %v, want a refusal by clef", c, name, err)
			}
		}
	}

	// A clef that is not running is named, with what to check.
	_, err = DialClef(ctx, clef.IPC+".gone", "")
	var se *payments.SignerError
	if !errors.As(err, &se) || se.Refused || !strings.Contains(err.Error(), "is clef running?") {
		t.Errorf("dial a clef that is not there: %v", err)
	}
}

// TestClefURLSecretsHidden: user info and a query in clef's HTTP URL (a
// proxy's credentials) are sent, never shown: not in errors, not in where
// the key lives (which is the endpoint as the error shows it).
func TestClefURLSecretsHidden(t *testing.T) {
	_, err := DialClef(context.Background(), "http://x402:pa55w0rd-9c1e@127.0.0.1:1/clef?token=tok3n-77ab", "")
	if err == nil {
		t.Fatal("dialled a clef that is not there")
	}
	for _, secret := range []string{"pa55w0rd-9c1e", "tok3n-77ab"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows %s: %v", secret, err)
		}
	}
	if !strings.Contains(err.Error(), "clef at http://127.0.0.1:1/clef") {
		t.Errorf("the error does not name clef's endpoint as shown: %v", err)
	}
}
