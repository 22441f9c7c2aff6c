package svm

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProveNeedsTheWholeWindow: a node whose ledger starts after the slot
// the payment was signed at cannot show that it never landed, so Prove
// keeps it open even past its last valid block height; a node that keeps
// the window proves it expired. The node here is a stand-in JSON-RPC
// server: Surfnet cannot prune its ledger, so the real chain cannot show
// the first case (TestExpiredBlockhash shows the second on it).
func TestProveNeedsTheWholeWindow(t *testing.T) {
	for _, tc := range []struct {
		name          string
		minLedgerSlot uint64
		height        uint64
		want          FateState
	}{
		{"ledger keeps the window, height passed", 900, 2_000, Expired},
		{"ledger starts after signing", 1_001, 2_000, Open},
		{"height not yet passed", 900, 1_500, Open},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var req struct {
					ID     int    `json:"id"`
					Method string `json:"method"`
				}
				b, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(b, &req); err != nil {
					t.Error(err)
				}
				var result any
				switch req.Method {
				case "getEpochInfo":
					result = map[string]any{"blockHeight": tc.height, "absoluteSlot": tc.height + 30}
				case "getSignaturesForAddress":
					result = []any{}
				case "minimumLedgerSlot":
					result = tc.minLedgerSlot
				default:
					t.Errorf("unexpected %s", req.Method)
				}
				_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
			}))
			defer node.Close()
			c := &Client{RPC: map[Network]*RPC{Devnet: NewRPC(node.URL, nil)}}
			k, _ := NewKey(testSeed())
			sig, _ := k.SignMessage(t.Context(), []byte("m"))
			f, err := c.Prove(t.Context(), Proof{Network: Devnet, PayerSignature: sig.String(), Memo: "m", SourceTokenAccount: payee, LastValidBlockHeight: 1_600, MinSlot: 1_000})
			if err != nil {
				t.Fatal(err)
			}
			if f.State != tc.want {
				t.Errorf("Prove = %s, want %s", f.State, tc.want)
			}
		})
	}
}

// TestRPCErrorsHideTheURL: a node that cannot be reached, answers an HTTP
// error or a JSON-RPC error: no error shows the URL's path, query or user
// info, where providers keep API keys.
func TestRPCErrorsHideTheURL(t *testing.T) {
	secrets := []string{"pathsecret", "querysecret", "usersecret", "passsecret"}
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusBadGateway)
	}))
	defer failing.Close()
	withSecrets := func(base string) string {
		return strings.Replace(base, "http://", "http://usersecret:passsecret@", 1) + "/v1/pathsecret?api-key=querysecret"
	}
	for _, base := range []string{deadURL, failing.URL} {
		r := NewRPC(withSecrets(base), nil)
		_, _, err := r.latestBlockhash(t.Context())
		if err == nil {
			t.Fatalf("%s: no error", base)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error shows %q: %v", s, err)
			}
		}
		if !strings.Contains(err.Error(), "getLatestBlockhash") {
			t.Errorf("error does not name the method: %v", err)
		}
	}
}

// TestRPCErrorsQuoteLittleOfALongNumber: a node that answers a number too
// long for its field (a block height, an error code) gets an error that
// names the method and the field and quotes only the start of the number;
// before, encoding/json quoted all 5,000 digits.
func TestRPCErrorsQuoteLittleOfALongNumber(t *testing.T) {
	digits := "1" + strings.Repeat("0", 5000)
	tests := []struct {
		name   string
		answer string
		call   func(r *RPC) error
		want   string
	}{
		{"a result's field", `{"jsonrpc":"2.0","id":1,"result":{"value":{"blockhash":"x","lastValidBlockHeight":` + digits + `}}}`,
			func(r *RPC) error { _, _, err := r.latestBlockhash(t.Context()); return err }, "solana rpc getLatestBlockhash: unexpected result"},
		{"a result", `{"jsonrpc":"2.0","id":1,"result":-` + digits + `}`,
			func(r *RPC) error { _, err := r.minimumLedgerSlot(t.Context()); return err }, "of type uint64"},
		{"an error's code", `{"jsonrpc":"2.0","id":1,"error":{"code":` + digits + `,"message":"no"}}`,
			func(r *RPC) error { _, err := r.finalizedBlockHeight(t.Context()); return err }, "solana rpc getEpochInfo: the answer is not JSON-RPC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(tt.answer))
			}))
			defer srv.Close()
			err := tt.call(NewRPC(srv.URL, nil))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if len(msg) > 400 || !strings.Contains(msg, tt.want) || strings.Contains(msg, digits[:100]) {
				t.Fatalf("error of %d bytes, want one naming %q: %.300s", len(msg), tt.want, msg)
			}
		})
	}
}
