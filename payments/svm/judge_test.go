package svm

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
)

func TestParseNetwork(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   Network
		ok     bool
		errHas string
	}{
		{"solana", Mainnet, true, ""},
		{"solana-devnet", Devnet, true, ""},
		{"solana-testnet", Testnet, true, ""},
		{"solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", Mainnet, true, ""},
		{"solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1", Devnet, true, ""},
		{"solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z", Testnet, true, ""},
		{"solana:abc", "", true, "not a Solana network x402-mcp knows"},
		{"solana-mainnet", "", true, "solana-devnet"},
		{"eip155:8453", "", false, ""},
		{"base-sepolia", "", false, ""},
		{"", "", false, ""},
	} {
		n, ok, err := ParseNetwork(tc.in)
		if n != tc.want || ok != tc.ok || (err == nil) != (tc.errHas == "") || err != nil && !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("ParseNetwork(%q) = %q, %v, %v; want %q, %v, error with %q", tc.in, n, ok, err, tc.want, tc.ok, tc.errHas)
		}
	}
	for n, name := range map[Network]string{Mainnet: "Solana", Devnet: "Solana devnet", Testnet: "Solana testnet"} {
		if n.Name() != name {
			t.Errorf("%s.Name() = %q, want %q", n, n.Name(), name)
		}
		back, _, _ := ParseNetwork(n.V1Name())
		if back != n {
			t.Errorf("%s: v1 name %q reads back as %q", n, n.V1Name(), back)
		}
	}
	if u, ok := KnownUSDC(Mainnet); !ok || u.String() != "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v" {
		t.Errorf("mainnet USDC = %s", u)
	}
	if u, ok := KnownUSDC(Devnet); !ok || u.String() != "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU" {
		t.Errorf("devnet USDC = %s", u)
	}
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct{ in, errHas string }{
		{"4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU", ""},
		{"11111111111111111111111111111111", ""},
		{"", "empty"},
		{"0x036CbD53842c5426634e7929541eC2318f3dCF7e", "EVM address"},
		{"4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncD0", `'0' is not a base58 character`},
		{"4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDl", `'l' is not a base58 character`},
		{"4zMMC9srt5Ri5X14", "32 to 44 base58 characters, this is 16"},
		{strings.Repeat("z", 44), "does not decode to 32 bytes"},
		{"4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJD√", "not a base58 character"},
	} {
		_, err := ParseAddress("payTo", tc.in)
		if (err == nil) != (tc.errHas == "") || err != nil && (!strings.Contains(err.Error(), tc.errHas) || !strings.HasPrefix(err.Error(), "payTo")) {
			t.Errorf("ParseAddress(%q) = %v, want error with %q", tc.in, err, tc.errHas)
		}
	}
}

const (
	payee    = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
	feePayer = "2cTynVXxUeradumY9pQvSiR26JskNj4NcuMABQgsbsTQ"
	otherKey = "J3o5wmNrpWWaaLaytkYTjCyEodgkLspG2KJv1RyAkW1X"
	blockhsh = "GHtXQBsoZHVnNFa9YevAzFr17DJjgHXk3ycTKD5xD3Zi"
)

func TestJudge(t *testing.T) {
	usdc := USDCDevnet.String()
	base := func() Requirement {
		return Requirement{Scheme: "exact", Network: "solana-devnet", Amount: 1000, PayTo: payee, Asset: usdc, MaxTimeoutSeconds: 60, Extra: json.RawMessage(`{"feePayer":"` + feePayer + `"}`)}
	}
	want := Want{Networks: []Network{Devnet}}
	for _, tc := range []struct {
		name   string
		edit   func(*Requirement, *Want)
		code   payments.Code
		errHas string
	}{
		{"ok v1 name", func(*Requirement, *Want) {}, "", ""},
		{"ok CAIP-2", func(r *Requirement, _ *Want) { r.Network = string(Devnet) }, "", ""},
		{"ok memo and blockhash", func(r *Requirement, _ *Want) {
			r.Extra = json.RawMessage(`{"feePayer":"` + feePayer + `","memo":"order 42 – ünïcode","recentBlockhash":"` + blockhsh + `","lastValidBlockHeight":"123456","extraKey":1}`)
		}, "", ""},
		{"ok pinned payee", func(_ *Requirement, w *Want) { w.PayTo = payee }, "", ""},
		{"ok declared asset", func(r *Requirement, w *Want) {
			r.Asset = otherKey
			w.Assets = map[string]payments.Currency{otherKey: {Symbol: "PYUSD", Decimals: 6, Budget: "x"}}
		}, "", ""},
		{"scheme", func(r *Requirement, _ *Want) { r.Scheme = "upto" }, payments.CodeUnsupported, `scheme "upto"`},
		{"evm network", func(r *Requirement, _ *Want) { r.Network = "base" }, payments.CodeUnsupported, "not a Solana network"},
		{"unknown solana", func(r *Requirement, _ *Want) { r.Network = "solana:xyz" }, payments.CodeUnsupported, "x402-mcp knows"},
		{"network not allowed", func(r *Requirement, _ *Want) { r.Network = "solana" }, payments.CodeNotAllowed, "Solana (solana:5eykt"},
		{"zero amount", func(r *Requirement, _ *Want) { r.Amount = 0 }, payments.CodeBadChallenge, "0 atomic units"},
		{"evm payTo", func(r *Requirement, _ *Want) { r.PayTo = "0x036CbD53842c5426634e7929541eC2318f3dCF7e" }, payments.CodeBadChallenge, "payTo"},
		{"bad asset", func(r *Requirement, _ *Want) { r.Asset = "USDC" }, payments.CodeBadChallenge, "asset"},
		{"undeclared asset", func(r *Requirement, _ *Want) { r.Asset = otherKey }, payments.CodeUnsupported, "does not declare it"},
		{"payee pin", func(_ *Requirement, w *Want) { w.PayTo = otherKey }, payments.CodeNotAllowed, "pins " + otherKey},
		{"bad pin", func(_ *Requirement, w *Want) { w.PayTo = "0xabc" }, payments.CodeNotAllowed, "fix the pin"},
		{"asset pin", func(_ *Requirement, w *Want) { w.Asset = otherKey }, payments.CodeNotAllowed, "pins " + otherKey},
		{"no extra", func(r *Requirement, _ *Want) { r.Extra = nil }, payments.CodeBadChallenge, "extra.feePayer"},
		{"extra not object", func(r *Requirement, _ *Want) { r.Extra = json.RawMessage(`[1]`) }, payments.CodeBadChallenge, "not a JSON object"},
		{"no fee payer", func(r *Requirement, _ *Want) { r.Extra = json.RawMessage(`{"memo":"x"}`) }, payments.CodeBadChallenge, "extra.feePayer"},
		{"fee payer number", func(r *Requirement, _ *Want) { r.Extra = json.RawMessage(`{"feePayer":5}`) }, payments.CodeBadChallenge, "extra.feePayer"},
		{"bad fee payer", func(r *Requirement, _ *Want) { r.Extra = json.RawMessage(`{"feePayer":"nope"}`) }, payments.CodeBadChallenge, "extra.feePayer"},
		{"memo too long", func(r *Requirement, _ *Want) {
			r.Extra = json.RawMessage(`{"feePayer":"` + feePayer + `","memo":"` + strings.Repeat("m", MaxMemoBytes+1) + `"}`)
		}, payments.CodeBadChallenge, "257 bytes"},
		{"memo control", func(r *Requirement, _ *Want) {
			r.Extra = json.RawMessage(`{"feePayer":"` + feePayer + `","memo":"a\u0007b"}`)
		}, payments.CodeBadChallenge, "U+0007"},
		{"memo number", func(r *Requirement, _ *Want) { r.Extra = json.RawMessage(`{"feePayer":"` + feePayer + `","memo":7}`) }, payments.CodeBadChallenge, "extra.memo is not a string"},
		{"bad blockhash", func(r *Requirement, _ *Want) {
			r.Extra = json.RawMessage(`{"feePayer":"` + feePayer + `","recentBlockhash":"0xdead"}`)
		}, payments.CodeBadChallenge, "not a blockhash"},
		{"bad height", func(r *Requirement, _ *Want) {
			r.Extra = json.RawMessage(`{"feePayer":"` + feePayer + `","lastValidBlockHeight":-1}`)
		}, payments.CodeBadChallenge, "lastValidBlockHeight"},
		{"bad token program", func(r *Requirement, _ *Want) {
			r.Extra = json.RawMessage(`{"feePayer":"` + feePayer + `","tokenProgram":"` + otherKey + `"}`)
		}, payments.CodeBadChallenge, "Token-2022"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w := base(), want
			tc.edit(&r, &w)
			terms, ref := Judge(r, w)
			if tc.code == "" {
				if ref != nil {
					t.Fatalf("refused: %v", ref)
				}
				if terms.Network != Devnet || terms.Amount != 1000 || terms.PayTo.String() != payee || terms.FeePayer.String() != feePayer {
					t.Errorf("terms = %+v", terms)
				}
				return
			}
			if ref == nil || ref.Code != tc.code || !strings.Contains(ref.Message, tc.errHas) {
				t.Errorf("Judge = %v, want %s with %q", ref, tc.code, tc.errHas)
			}
		})
	}

	r := base()
	r.Extra = json.RawMessage(`{"feePayer":"` + feePayer + `","memo":"order-7","recentBlockhash":"` + blockhsh + `","lastValidBlockHeight":99}`)
	terms, ref := Judge(r, want)
	if ref != nil {
		t.Fatal(ref)
	}
	if terms.Memo != "order-7" || terms.RecentBlockhash == nil || terms.RecentBlockhash.String() != blockhsh || terms.LastValidBlockHeight != 99 || !terms.Currency.IsUSDC() {
		t.Errorf("extra read as %+v", terms)
	}
}
