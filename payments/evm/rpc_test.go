package evm

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/net/websocket"

	"github.com/x402-mcp/x402-mcp/internal/rawhttp"
	"github.com/x402-mcp/x402-mcp/payments"
)

// node is a JSON-RPC node for tests: answer gives the raw "result" or
// "error" member of the response to each request (or, with whole set, the
// whole response body). It is served over HTTP and WebSocket.
type node struct {
	t      *testing.T
	mu     sync.Mutex
	seen   []request
	answer func(r request) (member string, whole bool)
}

type request struct {
	ID     uint64            `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

func (n *node) reply(body []byte) []byte {
	var r request
	if err := json.Unmarshal(body, &r); err != nil {
		n.t.Errorf("node: bad request %s: %v", body, err)
		return nil
	}
	n.mu.Lock()
	n.seen = append(n.seen, r)
	n.mu.Unlock()
	m, whole := n.answer(r)
	if whole {
		return []byte(m)
	}
	return []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,%s}`, r.ID, m))
}

func (n *node) requests() []request {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]request(nil), n.seen...)
}

// serve starts the node on HTTP (/rpc/…) and WebSocket (/ws/…) and
// returns its base URL (http://127.0.0.1:port).
func (n *node) serve(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("/rpc/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusUnsupportedMediaType)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(n.reply(b))
	})
	mux.Handle("/ws/", websocket.Handler(func(c *websocket.Conn) {
		for {
			var b []byte
			if err := websocket.Message.Receive(c, &b); err != nil {
				return
			}
			// A subscription notification first: the client must skip it.
			websocket.Message.Send(c, `{"jsonrpc":"2.0","method":"eth_subscription","params":{}}`)
			if err := websocket.Message.Send(c, string(n.reply(b))); err != nil {
				return
			}
		}
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// baseNode answers like a Base mainnet node with one token that has used
// every nonce starting with 0xff and gives everyone 1.5 USDC.
func baseNode(t *testing.T) *node {
	return &node{t: t, answer: func(r request) (string, bool) {
		switch r.Method {
		case "eth_chainId":
			return `"result":"0x2105"`, false
		case "eth_getBlockByNumber":
			return `"result":{"number":"0x10","timestamp":"0x6553f100","transactions":["0x01"]}`, false
		case "eth_call":
			var msg struct{ To, Data string }
			json.Unmarshal(r.Params[0], &msg)
			data, _ := hex.DecodeString(strings.TrimPrefix(msg.Data, "0x"))
			word := strings.Repeat("0", 64)
			switch {
			case len(data) == 68 && [4]byte(data) == selAuthorizationState && data[36] == 0xff:
				word = strings.Repeat("0", 63) + "1"
			case len(data) == 36 && [4]byte(data) == selBalanceOf:
				word = fmt.Sprintf("%064x", 1_500_000)
			case len(data) == 4 && [4]byte(data) == selDomainSeparator:
				word = strings.Repeat("ab", 32)
			}
			return `"result":"0x` + word + `"`, false
		}
		return `"error":{"code":-32601,"message":"the method does not exist"}`, false
	}}
}

func TestClientOverHTTPAndWebSocket(t *testing.T) {
	n := baseNode(t)
	base := n.serve(t)
	token := common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")
	payer := common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
	for _, u := range []string{base + "/rpc/key", "ws" + strings.TrimPrefix(base, "http") + "/ws/key"} {
		t.Run(strings.SplitN(u, ":", 2)[0], func(t *testing.T) {
			ctx := context.Background()
			c := NewRPCChecker(map[payments.Network]string{"base": u})
			defer c.Close()
			var used, unused [32]byte
			used[0] = 0xff
			if got, err := c.AuthorizationUsed(ctx, "eip155:8453", token, payer, used); err != nil || !got {
				t.Fatalf("used nonce: %v, %v", got, err)
			}
			if got, err := c.AuthorizationUsed(ctx, "eip155:8453", token, payer, unused); err != nil || got {
				t.Fatalf("unused nonce: %v, %v", got, err)
			}
			if b, err := c.Balance(ctx, "base", token, payer); err != nil || b != 1_500_000 {
				t.Fatalf("balance %d, %v", b, err)
			}
			if ct, err := c.ChainTime(ctx, "base"); err != nil || ct.Unix() != 0x6553f100 {
				t.Fatalf("chain time %v, %v", ct, err)
			}
			cl, err := Dial(u)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if ds, err := DomainSeparator(ctx, cl, token); err != nil || ds != common.HexToHash(strings.Repeat("ab", 32)) {
				t.Fatalf("DOMAIN_SEPARATOR %s, %v", ds.Hex(), err)
			}
		})
	}
	// The chain id is asked once per URL, and the calls are what the ABI
	// says: authorizationState(payer, nonce) with the payer left-padded.
	var chainIDs, calls int
	for _, r := range n.requests() {
		switch r.Method {
		case "eth_chainId":
			chainIDs++
		case "eth_call":
			calls++
			if calls == 1 {
				want := `{"data":"0x` + hex.EncodeToString(selAuthorizationState[:]) + "000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266ff" + strings.Repeat("0", 62) +
					`","to":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"}`
				if got := string(r.Params[0]); got != want {
					t.Errorf("first eth_call params %s, want %s", got, want)
				}
				if string(r.Params[1]) != `"latest"` {
					t.Errorf("eth_call block %s, want latest", r.Params[1])
				}
			}
		case "eth_getBlockByNumber":
			if string(r.Params[0]) != `"latest"` || string(r.Params[1]) != "false" {
				t.Errorf("eth_getBlockByNumber params %s", r.Params)
			}
		}
	}
	if chainIDs != 2 {
		t.Errorf("eth_chainId asked %d times, want once per URL (2)", chainIDs)
	}
}

func TestClientErrors(t *testing.T) {
	const secret = "sk_live_0123456789"
	token := common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")
	tests := []struct {
		name   string
		answer func(r request) (string, bool)
		status int
		want   string
		is     error
	}{
		{name: "reverted", answer: func(request) (string, bool) {
			return `"error":{"code":3,"message":"execution reverted: FiatToken: blacklisted","data":"0x08c379a0"}`, false
		}, want: "execution reverted: FiatToken: blacklisted (json-rpc error 3)", is: ErrReverted},
		{name: "rate limited", status: http.StatusTooManyRequests, answer: func(request) (string, bool) {
			return `{"error":"slow down"}`, true
		}, want: `HTTP 429 Too Many Requests: {"error":"slow down"}`},
		{name: "not json", answer: func(request) (string, bool) { return "<html>gateway</html>", true },
			want: "not a JSON-RPC response: <html>gateway</html>"},
		{name: "nested too deep", answer: func(request) (string, bool) {
			return `"result":"0x01","x":` + strings.Repeat("[", 600) + strings.Repeat("]", 600), false
		}, want: "not a JSON-RPC response: {"},
		{name: "wrong id", answer: func(request) (string, bool) { return `{"jsonrpc":"2.0","id":999,"result":"0x1"}`, true },
			want: "the node answered request 999"},
		{name: "no result", answer: func(r request) (string, bool) { return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d}`, r.ID), true },
			want: "neither a result nor an error"},
		{name: "odd hex", answer: func(request) (string, bool) { return `"result":"0x123"`, false },
			want: `"0x123" is not hex data`},
		{name: "no code", answer: func(request) (string, bool) { return `"result":"0x"`, false },
			want: "no answer (is a token contract deployed"},
		{name: "short word", answer: func(request) (string, bool) { return `"result":"0x01"`, false },
			want: "1 bytes returned, want one 32-byte word"},
		{name: "two words", answer: func(request) (string, bool) { return `"result":"0x` + strings.Repeat("00", 64) + `"`, false },
			want: "64 bytes returned"},
		{name: "bool 2", answer: func(request) (string, bool) { return `"result":"0x` + strings.Repeat("0", 63) + `2"`, false },
			want: "is not an ABI bool"},
		{name: "bool high bytes", answer: func(request) (string, bool) { return `"result":"0x1` + strings.Repeat("0", 62) + `1"`, false },
			want: "is not an ABI bool"},
		{name: "control characters", answer: func(request) (string, bool) {
			return `"error":{"code":-32000,"message":"bad\u001b[31m thing\nhappened"}`, false
		}, want: "bad [31m thing happened (json-rpc error -32000)"},
		{name: "huge answer", answer: func(r request) (string, bool) {
			return `"result":"0x` + strings.Repeat("00", MaxResponseBytes/2+1) + `"`, false
		}, want: fmt.Sprintf("larger than %d bytes", MaxResponseBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &node{t: t, answer: tt.answer}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if tt.status != 0 {
					w.WriteHeader(tt.status)
				}
				w.Write(n.reply(b))
			}))
			defer srv.Close()
			urls := []string{srv.URL + "/v2/" + secret + "?key=" + secret}
			if tt.status == 0 {
				// The same answer over WebSocket.
				urls = append(urls, "ws"+strings.TrimPrefix(n.serve(t), "http")+"/ws/"+secret+"?key="+secret)
			}
			for _, u := range urls {
				c, err := Dial(u)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_, err = AuthorizationState(context.Background(), c, token, token, [32]byte{})
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("%s: err = %v, want one containing %q", u[:4], err, tt.want)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Fatalf("%s: err = %v, want errors.Is %v", u[:4], err, tt.is)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error leaks the URL's secret: %v", err)
				}
			}
		})
	}
}

// TestUnreachableRedacted: the errors of a node that does not answer name
// its host, never its key.
func TestUnreachableRedacted(t *testing.T) {
	const secret = "sk_live_0123456789"
	ln := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(ln.URL, "http://")
	ln.Close() // nobody listens there now
	for _, scheme := range []string{"http", "ws"} {
		c, err := Dial(scheme + "://user:" + secret + "@" + host + "/v2/" + secret + "?key=" + secret)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ChainID(context.Background())
		if err == nil || !strings.Contains(err.Error(), scheme+"://"+host+"/…") || strings.Contains(err.Error(), secret) {
			t.Fatalf("%s: err = %v, want the host and no secret", scheme, err)
		}
		t.Logf("%s: %v", scheme, err)
	}
}

func TestBalanceTooLarge(t *testing.T) {
	n := &node{t: t, answer: func(request) (string, bool) {
		return `"result":"0x` + strings.Repeat("0", 47) + `10000000000000000"`, false
	}}
	c, err := Dial(n.serve(t) + "/rpc/")
	if err != nil {
		t.Fatal(err)
	}
	_, err = BalanceOf(context.Background(), c, common.Address{1}, common.Address{2})
	if err == nil || !strings.Contains(err.Error(), "is 18446744073709551616 atomic units, too large to count") {
		t.Fatalf("err = %v", err)
	}
}

func TestClientTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := Dial(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 100 * time.Millisecond
	start := time.Now()
	_, err = c.ChainID(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("slow node: %v after %v, want a deadline error after 100ms", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	c.Timeout = time.Minute
	if _, err := c.ChainID(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestDialRejects(t *testing.T) {
	for _, u := range []string{"ftp://node.example/key", "not a url", "/var/run/geth.ipc"} {
		if _, err := Dial(u); err == nil || !strings.Contains(err.Error(), "https://") {
			t.Errorf("Dial(%q) = %v, want an error suggesting https://", u, err)
		}
	}
}

func TestWebSocketBasicAuth(t *testing.T) {
	var auth string
	srv := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) {
		auth = c.Request().Header.Get("Authorization")
		var b []byte
		websocket.Message.Receive(c, &b)
		var r request
		json.Unmarshal(b, &r)
		websocket.Message.Send(c, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":"0x1"}`, r.ID))
	}))
	defer srv.Close()
	c, err := Dial("ws://alice:s%40cret@" + strings.TrimPrefix(srv.URL, "http://") + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if id, err := c.ChainID(context.Background()); err != nil || id.Int64() != 1 {
		t.Fatalf("chain id %v, %v", id, err)
	}
	if auth != "Basic YWxpY2U6c0BjcmV0" { // alice:s@cret
		t.Fatalf("Authorization %q", auth)
	}
}

// TestWebSocketHandshakeBounded: a node whose answer to the WebSocket
// handshake has a megabyte of headers, or a header line of 30 KB that is
// not one, gets a short error; golang.org/x/net/websocket reads the
// headers with no limit and quotes such a line whole.
func TestWebSocketHandshakeBounded(t *testing.T) {
	tests := []struct {
		name, answer, want string
	}{
		{"1 MB of headers", "HTTP/1.1 101 Switching Protocols\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("x", 1000)+"\r\n", 1000) + "\r\n", "larger than 65536 bytes"},
		{"a malformed line", "HTTP/1.1 101 Switching Protocols\r\n" + strings.Repeat("x", 30<<10) + "\r\n\r\n", "handshake: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := rawhttp.Serve(t, tt.answer)
			c, err := Dial("ws" + strings.TrimPrefix(u, "http"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = c.ChainID(ctx)
			if err == nil || len(err.Error()) > 1<<10 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error of %d bytes: %.300v; want %q in a short error", len(fmt.Sprint(err)), err, tt.want)
			}
		})
	}
}
