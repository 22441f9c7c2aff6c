package svm

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/gagliardetto/solana-go"
)

// FuzzJudge feeds Judge a seller's option fields: no panic; a refusal with
// a code and a short message, or terms whose addresses re-encode to what
// was written.
func FuzzJudge(f *testing.F) {
	f.Add("solana-devnet", payee, USDCDevnet.String(), `{"feePayer":"`+feePayer+`"}`)
	f.Add(string(Devnet), payee, USDCDevnet.String(), `{"feePayer":"`+feePayer+`","memo":"m","recentBlockhash":"`+blockhsh+`","lastValidBlockHeight":"5"}`)
	f.Add("solana", "0xabc", "x", `{"feePayer":7}`)
	f.Add("solana-devnet", payee, USDCDevnet.String(), `{"memo":"\u0000"}`)
	f.Fuzz(func(t *testing.T, network, payTo, asset, extra string) {
		terms, ref := Judge(Requirement{Scheme: "exact", Network: network, Amount: 1, PayTo: payTo, Asset: asset, Extra: json.RawMessage(extra)}, Want{Networks: Networks()})
		if ref != nil {
			if ref.Code == "" || ref.Message == "" || len(ref.Message) > 1024 {
				t.Fatalf("refusal %q: %q (%d bytes)", ref.Code, ref.Message, len(ref.Message))
			}
			return
		}
		if terms.PayTo.String() != payTo || terms.Asset.String() != asset {
			t.Fatalf("accepted %q, %q as %s, %s", payTo, asset, terms.PayTo, terms.Asset)
		}
		if len(terms.Memo) > MaxMemoBytes || !utf8.ValidString(terms.Memo) {
			t.Fatalf("accepted memo %q", terms.Memo)
		}
	})
}

// FuzzDecryptSolanaKeystore feeds the keystore reader any file: no panic;
// a short error that never holds the passphrase.
func FuzzDecryptSolanaKeystore(f *testing.F) {
	k, _ := NewKey(testSeed())
	good, _ := EncryptKeystore(k, "fuzz-passphrase", 16, 1)
	f.Add(good)
	f.Add([]byte(`{"version":3,"curve":"ed25519","crypto":{"kdf":"scrypt","kdfparams":{"n":1073741824,"r":8,"p":1,"dklen":32}}}`))
	f.Add([]byte(`{"version":3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := DecryptKeystore(b, "fuzz-passphrase")
		if err != nil && (strings.Contains(err.Error(), "fuzz-passphrase") || len(err.Error()) > 1024) {
			t.Fatalf("error: %v", err)
		}
	})
}

// FuzzSolanaRPCAnswer serves any answer to each JSON-RPC read: no panic;
// a value or a short error that never shows the URL.
func FuzzSolanaRPCAnswer(f *testing.F) {
	f.Add(200, `{"jsonrpc":"2.0","id":1,"result":{"value":{"amount":"5"}}}`)
	f.Add(200, `{"jsonrpc":"2.0","id":1,"result":[{"signature":"x","slot":1,"memo":"[2] ab"}]}`)
	f.Add(200, `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"could not find account"}}`)
	f.Add(500, `oops`)
	var mu sync.Mutex
	var answer struct {
		status int
		body   string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		status, body := answer.status, answer.body
		mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	r := NewRPC(srv.URL+"/secret-key-in-path", nil)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 200 || status > 599 {
			status = 200
		}
		mu.Lock()
		answer.status, answer.body = status, body
		mu.Unlock()
		ctx := t.Context()
		var errs []error
		_, _, _, err := r.accountInfo(ctx, payee)
		errs = append(errs, err)
		_, _, err = r.tokenBalance(ctx, payee)
		errs = append(errs, err)
		_, _, err = r.latestBlockhash(ctx)
		errs = append(errs, err)
		_, err = r.finalizedBlockHeight(ctx)
		errs = append(errs, err)
		_, err = r.signatures(ctx, payee, "", 10)
		errs = append(errs, err)
		_, _, err = r.transaction(ctx, blockhsh)
		errs = append(errs, err)
		_, _ = parseMint(payee, []byte(body))
		for _, err := range errs {
			if err != nil && (strings.Contains(err.Error(), "secret-key-in-path") || len(err.Error()) > 2048) {
				t.Fatalf("error: %v", err)
			}
		}
	})
}

// FuzzVerify feeds Verify any transaction bytes, as a local facilitator
// gets them from a client: no panic; a *VerifyError with a reason, or a
// transfer of exactly the option's amount to payTo's token account.
func FuzzVerify(f *testing.F) {
	k, _ := NewKey(testSeed())
	terms, mint, life := offlineTerms(f, "")
	payload, _, err := (&Client{}).assemble(f.Context(), terms, k, mint, life, "seed-memo")
	if err != nil {
		f.Fatal(err)
	}
	var p struct {
		Transaction string `json:"transaction"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		f.Fatal(err)
	}
	good, _ := base64.StdEncoding.DecodeString(p.Transaction)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	fps := []solana.PublicKey{terms.FeePayer}
	dest, _, _ := solana.FindAssociatedTokenAddressWithProgram(terms.PayTo, terms.Asset, solana.TokenProgramID)
	dest22, _, _ := solana.FindAssociatedTokenAddressWithProgram(terms.PayTo, terms.Asset, solana.Token2022ProgramID)
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := Verify(base64.StdEncoding.EncodeToString(b), terms, fps, -1)
		if err != nil {
			if ve, ok := err.(*VerifyError); !ok || ve.Reason == "" {
				t.Fatalf("error %v", err)
			}
			return
		}
		if tr.Amount != uint64(terms.Amount) || tr.Mint != terms.Asset || tr.Destination != dest && tr.Destination != dest22 || tr.Payer == terms.FeePayer {
			t.Fatalf("accepted %+v", tr)
		}
	})
}
