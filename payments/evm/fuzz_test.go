package evm

// A fuzz test of what an RPC node answers (hosted RPC providers are someone
// else). Run it with
//
//	go test -run='^$' -fuzz='^FuzzRPCAnswer$' -fuzztime=60s ./payments/evm
//
// Inputs that once failed are kept in testdata/fuzz/FuzzRPCAnswer/ and run
// with the ordinary tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
)

var fuzzNode struct {
	once   sync.Once
	url    string
	mu     sync.Mutex
	answer []byte
}

// FuzzRPCAnswer: whatever the node answers ("$ID" in it stands for the
// request's id, so answers can get past the id check), reading the chain
// returns a value or a short, printable error; it never panics.
func FuzzRPCAnswer(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":$ID,"result":"0x` + strings.Repeat("0", 63) + `1"}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":$ID,"result":{"number":"0x10","timestamp":"0x65f0c0de"}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":$ID,"error":{"code":3,"message":"execution reverted","data":"0x08c379a0"}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":"$ID","result":null}`))
	f.Add([]byte(`<html>gateway</html>`))
	fuzzNode.once.Do(func() {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				ID uint64 `json:"id"`
			}
			_ = json.NewDecoder(r.Body).Decode(&req)
			fuzzNode.mu.Lock()
			a := bytes.ReplaceAll(fuzzNode.answer, []byte("$ID"), []byte(strconv.FormatUint(req.ID, 10)))
			fuzzNode.mu.Unlock()
			_, _ = w.Write(a)
		}))
		fuzzNode.url = srv.URL // lives as long as the fuzzing process
	})
	token := common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e")
	f.Fuzz(func(t *testing.T, answer []byte) {
		fuzzNode.mu.Lock()
		fuzzNode.answer = answer
		fuzzNode.mu.Unlock()
		c, err := Dial(fuzzNode.url)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		errs := []error{}
		_, err = AuthorizationState(ctx, c, token, token, [32]byte{})
		errs = append(errs, err)
		_, err = c.LatestBlockTime(ctx)
		errs = append(errs, err)
		_, err = BalanceOf(ctx, c, token, token)
		errs = append(errs, err)
		for _, err := range errs {
			if err == nil {
				continue
			}
			msg := err.Error()
			if len(msg) > 2<<10 || !utf8.ValidString(msg) || strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("error %.300q", msg)
			}
		}
	})
}
