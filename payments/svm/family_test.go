package svm_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gagliardetto/solana-go"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// TestFamily: the Solana family as the core and the catalog read it.
func TestFamily(t *testing.T) {
	f := svm.Family{}
	for _, tc := range []struct {
		in      string
		want    payments.Network
		ours    bool
		errWord string
	}{
		{"solana-devnet", payments.Network(svm.Devnet), true, ""},
		{"solana", payments.Network(svm.Mainnet), true, ""},
		{string(svm.Testnet), payments.Network(svm.Testnet), true, ""},
		{"solana:abc", "", true, "not a Solana network x402-mcp knows"},
		{"eip155:8453", "", false, "is not a Solana network"},
	} {
		n, ours, err := f.ParseNetwork(tc.in)
		if n != tc.want || ours != tc.ours || (err == nil) != (tc.errWord == "") || err != nil && !strings.Contains(err.Error(), tc.errWord) {
			t.Errorf("ParseNetwork(%q) = %q, %v, %v", tc.in, n, ours, err)
		}
	}
	if got := f.NetworkName(payments.Network(svm.Devnet)); got != "Solana devnet" {
		t.Errorf("NetworkName = %q", got)
	}
	usdc := svm.USDCDevnet.String()
	for _, tc := range []struct {
		in, want string
		notAddr  bool
	}{
		{usdc, usdc, false},
		{"0x036CbD53842c5426634e7929541eC2318f3dCF7e", "", true},
		{"WETH", "", true},
		{strings.Repeat("1", 40), "", false}, // base58, but 40 bytes
	} {
		got, err := f.ParseAddress(tc.in)
		if got != tc.want || (tc.want == "") != (err != nil) || errors.Is(err, payments.ErrNotAddress) != tc.notAddr {
			t.Errorf("ParseAddress(%q) = %q, %v (not an address: %v)", tc.in, got, err, errors.Is(err, payments.ErrNotAddress))
		}
	}
	for _, burn := range []string{"11111111111111111111111111111111", "1nc1nerator11111111111111111111111111111111"} {
		if _, err := f.CheckAddress(burn); err == nil || !strings.Contains(err.Error(), "burns") {
			t.Errorf("CheckAddress(%s) = %v, want a refusal", burn, err)
		}
	}
	a, ok := f.KnownUSDC(payments.Network(svm.Devnet))
	if !ok || a.Address != usdc || a.Decimals != 6 || !a.USDC || a.Currency() != payments.USDC {
		t.Errorf("KnownUSDC = %+v, %v", a, ok)
	}
	sig := strings.Repeat("5", 87) + "j"
	if _, err := solana.SignatureFromBase58(sig); err != nil {
		sig = "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW"
	}
	if got := f.ExplorerURL(payments.Network(svm.Devnet), sig); got != "https://explorer.solana.com/tx/"+sig+"?cluster=devnet" {
		t.Errorf("ExplorerURL = %q", got)
	}
	if got := f.ExplorerURL(payments.Network(svm.Devnet), "0x"+strings.Repeat("ab", 32)); got != "" {
		t.Errorf("ExplorerURL of an EVM hash = %q", got)
	}
	// Beside the EVM family, each reads its own.
	fams := payments.Families{evm.Family{}, f}
	if n, err := fams.ParseNetwork("solana-devnet"); err != nil || fams.Family(n) != (svm.Family{}) {
		t.Errorf("Families.ParseNetwork(solana-devnet) = %q, %v", n, err)
	}
	if _, err := fams.ParseAddress("", "0xnothex"); err == nil || !strings.Contains(err.Error(), "0x and 40 hex digits") {
		t.Errorf("a bad 0x address gets the EVM family's error, got %v", err)
	}
	if got, err := fams.ParseAddress("", usdc); got != usdc || err != nil {
		t.Errorf("Families.ParseAddress(%s) = %q, %v", usdc, got, err)
	}
}

// TestExactJudge: the scheme's judgement of an option, before any chain
// is read: pins compared as base58, the asset (the known USDC or a
// declared one), extra, a transfer method pinned (EVM's), and a network
// without an rpc endpoint refused so that another option may be paid.
func TestExactJudge(t *testing.T) {
	const (
		payee    = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
		feePayer = "2wKupLR9q6wXYppw8Gr2NvWxKBUqm4PPJKkQfoxHDBg4"
		other    = "5B38Da6a701c568545dCfcB03FcB875f56beddC4"
	)
	usdc := svm.USDCDevnet.String()
	rpc, err := svm.NewClient(map[payments.Network]string{"solana-devnet": "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	e := svm.NewExact(rpc)
	req := func(mut func(*x402.Requirement)) *x402.Requirement {
		r := &x402.Requirement{Scheme: "exact", Network: string(svm.Devnet), Amount: "1000", Asset: usdc, PayTo: payee, MaxTimeoutSeconds: 60,
			Extra: json.RawMessage(`{"feePayer":"` + feePayer + `","memo":"order-7"}`)}
		if mut != nil {
			mut(r)
		}
		return r
	}
	n := payments.Network(svm.Devnet)
	for _, tc := range []struct {
		name  string
		r     *x402.Requirement
		n     payments.Network
		want  payments.Want
		code  payments.Code
		words string
	}{
		{"payable", req(nil), n, payments.Want{Tool: "w", PayTo: payee, Asset: usdc}, "", ""},
		{"other payee", req(nil), n, payments.Want{Tool: "w", PayTo: feePayer}, payments.CodeNotAllowed, "is not the payee pinned for w"},
		{"other mint", req(func(r *x402.Requirement) { r.Asset = feePayer }), n, payments.Want{Tool: "w"}, payments.CodeNotAllowed, "is not USDC on " + string(n)},
		{"0x payee", req(func(r *x402.Requirement) { r.PayTo = "0x" + other }), n, payments.Want{Tool: "w"}, payments.CodeBadChallenge, "EVM address"},
		{"no fee payer", req(func(r *x402.Requirement) { r.Extra = json.RawMessage(`{}`) }), n, payments.Want{Tool: "w"}, payments.CodeBadChallenge, "extra.feePayer"},
		{"no rpc", req(func(r *x402.Requirement) { r.Network, r.Asset = "solana", svm.USDCMainnet.String() }), payments.Network(svm.Mainnet), payments.Want{Tool: "w"}, payments.CodeNotAllowed, "Solana has no rpc endpoint"},
		// An entry pinned to an EVM transfer method (transfer_method:) is
		// not paid by an SPL transfer instead.
		{"transfer method pinned", req(nil), n, payments.Want{Tool: "w", Method: "permit2"}, payments.CodeNotAllowed, "w pins transfer_method permit2, an EVM transfer method: a Solana payment is an SPL token transfer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			terms, ref := e.Judge(tc.r, tc.n, tc.want)
			if tc.code == "" {
				if ref != nil {
					t.Fatalf("refused: %v", ref)
				}
				if terms.PayTo != payee || terms.Asset != usdc || terms.Currency != payments.USDC || terms.Data == nil {
					t.Errorf("terms %+v", terms)
				}
				return
			}
			if ref == nil || ref.Code != tc.code || !strings.Contains(ref.Message, tc.words) {
				t.Errorf("refusal %v, want %s with %q", ref, tc.code, tc.words)
			}
		})
	}
}

// TestIsTestnet: devnet and testnet are test networks (the mainnet guard
// lets a key in the clear pay there); mainnet, an unknown Solana network
// and another family's are not.
func TestIsTestnet(t *testing.T) {
	for n, want := range map[payments.Network]bool{
		payments.Network(svm.Devnet): true, payments.Network(svm.Testnet): true,
		payments.Network(svm.Mainnet): false, "solana:11111111111111111111111111111111": false, "eip155:84532": false,
	} {
		if got := (svm.Family{}).IsTestnet(n); got != want {
			t.Errorf("IsTestnet(%s) = %v, want %v", n, got, want)
		}
	}
}
