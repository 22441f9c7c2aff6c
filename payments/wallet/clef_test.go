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
// HTTP (with the account named), it signs within its lists each message
// x402-mcp sends it (an EIP-3009 transfer, a Permit2 transfer through the
// exact and the upto proxy, an EIP-2612 permit of Permit2) and the approval
// of Permit2 (the signature recovers to its account), and refuses, as a
// *payments.SignerError with Refused set, every one outside them: a payee,
// a token or a chain not listed, an amount or allowance one unit above the
// most, a permit or approval of another spender, ether sent along, another
// call than approve.
func TestClefSignsWithinItsRules(t *testing.T) {
	token := common.HexToAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3")
	payee := common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
	clef := keytest.StartClef(t, keytest.ClefRules{ChainIDs: []int64{1337}, Tokens: []common.Address{token}, Payees: []common.Address{payee}, MaxAmount: 2000, MaxAllowance: 50_000})
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
	permit2 := func(chain int64, token, to common.Address, amount int64, upto bool) evm.TypedData {
		a := evm.Permit2Authorization{From: clef.Address, Token: token, Amount: big.NewInt(amount), Spender: evm.ExactPermit2ProxyAddress,
			Nonce: big.NewInt(99), Deadline: big.NewInt(time.Now().Add(time.Minute).Unix()), To: to, ValidAfter: big.NewInt(0)}
		if upto {
			fac := common.HexToAddress("0x1111111111111111111111111111111111111111")
			a.Spender, a.Facilitator = evm.UptoPermit2ProxyAddress, &fac
		}
		return evm.TypedData{Domain: evm.Permit2Domain(big.NewInt(chain)), Message: a}
	}
	permit := func(token, spender common.Address, value int64) evm.TypedData {
		p := evm.EIP2612Permit{Domain: evm.Domain{Name: "Permit Dollar", Version: "1", ChainID: big.NewInt(1337), VerifyingContract: token},
			Owner: clef.Address, Spender: spender, Value: big.NewInt(value), Nonce: big.NewInt(0), Deadline: big.NewInt(time.Now().Add(time.Minute).Unix())}
		return evm.TypedData{Domain: p.Domain, Message: p}
	}
	approve := func(chain int64, token, spender common.Address, amount int64) evm.DynamicFeeTx {
		data := append(common.FromHex("0x095ea7b3"), common.LeftPadBytes(spender[:], 32)...)
		data = append(data, common.LeftPadBytes(big.NewInt(amount).Bytes(), 32)...)
		return evm.DynamicFeeTx{ChainID: big.NewInt(chain), Nonce: 4, Tip: big.NewInt(1e9), FeeCap: big.NewInt(3e9), Gas: 60_000, To: token, Data: data}
	}
	stranger := common.HexToAddress("0x000000000000000000000000000000000000dEaD")
	for _, c := range []*Clef{overIPC, overHTTP} {
		if c.Address() != clef.Address || c.Payer() != clef.Address.Hex() {
			t.Fatalf("%s pays from %s, want %s", c, c.Address().Hex(), clef.Address.Hex())
		}
		for name, td := range map[string]evm.TypedData{
			"EIP-3009 transfer":          transfer(1337, token, payee, 2000),
			"Permit2 exact":              permit2(1337, token, payee, 2000, false),
			"Permit2 upto":               permit2(1337, token, payee, 2000, true),
			"EIP-2612 permit of Permit2": permit(token, evm.Permit2Address, 2000),
		} {
			sig, err := c.SignTypedData(ctx, td)
			if err != nil {
				t.Fatalf("%s: %s within its rules: %v\n%s", c, name, err, clef.Log())
			}
			if got, err := evm.RecoverSigner(td.Digest(), sig); err != nil || got != clef.Address {
				t.Fatalf("%s: %s: the signature recovers to %s (%v), want %s", c, name, got.Hex(), err, clef.Address.Hex())
			}
		}
		tx := approve(1337, token, evm.Permit2Address, 50_000)
		sig, err := c.SignTransaction(ctx, tx)
		if err != nil {
			t.Fatalf("%s: approve(Permit2) within its rules: %v\n%s", c, err, clef.Log())
		}
		h, err := tx.SigningHash()
		if err != nil {
			t.Fatal(err)
		}
		if got, err := evm.RecoverSigner(h, sig); err != nil || got != clef.Address {
			t.Fatalf("%s: the transaction's signature recovers to %s (%v), want %s", c, got.Hex(), err, clef.Address.Hex())
		}
		var se *payments.SignerError
		for name, td := range map[string]evm.TypedData{
			"payee not listed":            transfer(1337, token, stranger, 1),
			"token not listed":            transfer(1337, stranger, payee, 1),
			"chain not listed":            transfer(8453, token, payee, 1),
			"one unit too many":           transfer(1337, token, payee, 2001),
			"Permit2: payee not listed":   permit2(1337, token, stranger, 1, false),
			"Permit2: token not listed":   permit2(1337, stranger, payee, 1, true),
			"Permit2: chain not listed":   permit2(8453, token, payee, 1, false),
			"Permit2: one unit too many":  permit2(1337, token, payee, 2001, true),
			"permit: spender not Permit2": permit(token, stranger, 1),
			"permit: token not listed":    permit(stranger, evm.Permit2Address, 1),
			"permit: one unit too many":   permit(token, evm.Permit2Address, 2001),
		} {
			_, err := c.SignTypedData(ctx, td)
			if !errors.As(err, &se) || !se.Refused || !strings.Contains(se.Signer, "clef at") {
				t.Errorf("%s: %s: err = %v, want a refusal by clef", c, name, err)
			}
		}
		for name, tx := range map[string]evm.DynamicFeeTx{
			"approve: one unit too many":   approve(1337, token, evm.Permit2Address, 50_001),
			"approve: spender not Permit2": approve(1337, token, stranger, 1),
			"approve: token not listed":    approve(1337, stranger, evm.Permit2Address, 1),
			"approve with ether": func() evm.DynamicFeeTx {
				tx := approve(1337, token, evm.Permit2Address, 1)
				tx.Value = big.NewInt(1)
				return tx
			}(),
			"transfer, not approve": func() evm.DynamicFeeTx {
				tx := approve(1337, token, evm.Permit2Address, 1)
				copy(tx.Data, common.FromHex("0xa9059cbb"))
				return tx
			}(),
			// clef itself refuses call data it cannot read (without
			// --advanced, a warning is a refusal).
			"an unknown call": func() evm.DynamicFeeTx {
				tx := approve(1337, token, evm.Permit2Address, 1)
				tx.Data[0] = 0xa9
				return tx
			}(),
		} {
			_, err := c.SignTransaction(ctx, tx)
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
