package evm

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/ethereum/go-ethereum/common"
	"github.com/x402-mcp/x402-mcp/payments/httplimit"
	"github.com/x402-mcp/x402-mcp/payments/jsonlimit"
	"golang.org/x/net/websocket"
)

// Limits of one JSON-RPC exchange.
const (
	// DefaultTimeout bounds a request whose context has no earlier deadline.
	DefaultTimeout = 30 * time.Second
	// MaxResponseBytes caps a response: the largest answer asked for is a
	// block header with its transaction hashes, far below it.
	MaxResponseBytes = 4 << 20
)

// Client is a small Ethereum JSON-RPC 2.0 client: the read-only methods
// reconciliation needs (eth_chainId, eth_call at the latest block or at a
// block number, eth_getBlockByNumber by tag or number, eth_getLogs), over
// HTTP(S) or WebSocket. Its errors never
// contain the URL's path, query or password, where node providers put API
// keys. It is safe for concurrent use.
type Client struct {
	raw string
	t   transport
	id  atomic.Uint64
	// Timeout bounds each request whose context has no earlier deadline;
	// zero means DefaultTimeout.
	Timeout time.Duration
}

// transport sends one JSON-RPC request and returns the response with its id.
type transport interface {
	roundTrip(ctx context.Context, id uint64, req []byte) ([]byte, error)
	close()
}

// Dial returns a client of the node at rawURL (http, https, ws or wss). It
// connects nothing yet: the first request does.
func Dial(rawURL string) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("rpc url %s is not a URL: write https://… (or http:// for a local node)", RedactURL(rawURL))
	}
	c := &Client{raw: rawURL}
	switch u.Scheme {
	case "http", "https":
		c.t = newHTTPTransport(rawURL)
	case "ws", "wss":
		c.t, err = newWSTransport(u)
		if err != nil {
			return nil, redact(err, rawURL)
		}
	default:
		return nil, fmt.Errorf("rpc url %s: scheme %q is not supported: use https:// (or http://, ws://, wss://)", RedactURL(rawURL), u.Scheme)
	}
	return c, nil
}

// Close releases the client's connections. The client can still be used:
// it connects anew.
func (c *Client) Close() { c.t.close() }

// ChainID asks eth_chainId.
func (c *Client) ChainID(ctx context.Context) (*big.Int, error) {
	var s string
	if err := c.request(ctx, "eth_chainId", []any{}, &s); err != nil {
		return nil, err
	}
	id, err := parseQuantity(s)
	if err != nil {
		return nil, redact(fmt.Errorf("eth_chainId: %w", err), c.raw)
	}
	return id, nil
}

// Call runs a read-only call of the contract at to with data on the latest
// block (eth_call) and returns what it returned. A call to an address
// without code succeeds with no data. A call the EVM reverted fails with an
// error that wraps ErrReverted.
func (c *Client) Call(ctx context.Context, to common.Address, data []byte) ([]byte, error) {
	msg := map[string]string{"to": to.Hex(), "data": "0x" + hex.EncodeToString(data)}
	var s string
	if err := c.request(ctx, "eth_call", []any{msg, "latest"}, &s); err != nil {
		return nil, err
	}
	out, err := parseData(s)
	if err != nil {
		return nil, redact(fmt.Errorf("eth_call: %w", err), c.raw)
	}
	return out, nil
}

// CallAt is Call on block number n (eth_call at that block): what the
// contract returned in the state after block n. A node that does not have
// block n yet (it lags) fails.
func (c *Client) CallAt(ctx context.Context, to common.Address, data []byte, n uint64) ([]byte, error) {
	msg := map[string]string{"to": to.Hex(), "data": "0x" + hex.EncodeToString(data)}
	var s string
	if err := c.request(ctx, "eth_call", []any{msg, quantity(n)}, &s); err != nil {
		return nil, err
	}
	out, err := parseData(s)
	if err != nil {
		return nil, redact(fmt.Errorf("eth_call: %w", err), c.raw)
	}
	return out, nil
}

// Block is a block's number and timestamp.
type Block struct {
	Number uint64
	Time   time.Time
}

// ErrNoBlock is wrapped by the error of a block the node does not have (it
// answered null): a tag it does not support, or a number it has not reached.
var ErrNoBlock = errors.New("the node has no such block")

// BlockByTag returns the block a tag names: "latest", "safe" or "finalized"
// (eth_getBlockByNumber(tag, false)).
func (c *Client) BlockByTag(ctx context.Context, tag string) (Block, error) {
	return c.block(ctx, tag)
}

// BlockByNumber returns block n.
func (c *Client) BlockByNumber(ctx context.Context, n uint64) (Block, error) {
	return c.block(ctx, quantity(n))
}

func (c *Client) block(ctx context.Context, which string) (Block, error) {
	var b *struct {
		Number    *string `json:"number"`
		Timestamp *string `json:"timestamp"`
	}
	if err := c.request(ctx, "eth_getBlockByNumber", []any{which, false}, &b); err != nil {
		return Block{}, err
	}
	if b == nil {
		return Block{}, fmt.Errorf("eth_getBlockByNumber(%s): %w", which, ErrNoBlock)
	}
	if b.Number == nil || b.Timestamp == nil {
		return Block{}, fmt.Errorf("eth_getBlockByNumber(%s): the block has no number or timestamp", which)
	}
	n, err := parseQuantity(*b.Number)
	if err != nil || !n.IsUint64() {
		return Block{}, fmt.Errorf("eth_getBlockByNumber(%s): number %q is not a block number", which, clip(*b.Number))
	}
	ts, err := parseQuantity(*b.Timestamp)
	if err != nil || !ts.IsInt64() {
		return Block{}, fmt.Errorf("eth_getBlockByNumber(%s): timestamp %q is not a time", which, clip(*b.Timestamp))
	}
	return Block{Number: n.Uint64(), Time: time.Unix(ts.Int64(), 0)}, nil
}

// LatestBlockTime returns the timestamp of the latest block
// (eth_getBlockByNumber("latest", false)).
func (c *Client) LatestBlockTime(ctx context.Context) (time.Time, error) {
	b, err := c.BlockByTag(ctx, "latest")
	if err != nil {
		return time.Time{}, err
	}
	return b.Time, nil
}

// Log is one log entry eth_getLogs returned.
type Log struct {
	TxHash      common.Hash
	BlockNumber uint64
	// Removed is set for a log of a block that a reorganisation dropped.
	Removed bool
	// Data is the log's non-indexed data (an ERC-20 Transfer's amount).
	Data []byte
}

// Logs returns the logs of the contract at address whose topics are topics
// (each one exact, in order), in blocks from to to inclusive (eth_getLogs).
// Nodes cap the range they accept; callers ask for windows of LogWindow
// blocks.
func (c *Client) Logs(ctx context.Context, address common.Address, topics []common.Hash, from, to uint64) ([]Log, error) {
	filter := map[string]any{"address": address.Hex(), "topics": topics, "fromBlock": quantity(from), "toBlock": quantity(to)}
	var raw []struct {
		TxHash      *common.Hash `json:"transactionHash"`
		BlockNumber *string      `json:"blockNumber"`
		Removed     bool         `json:"removed"`
		Data        string       `json:"data"`
	}
	if err := c.request(ctx, "eth_getLogs", []any{filter}, &raw); err != nil {
		return nil, err
	}
	out := make([]Log, 0, len(raw))
	for _, l := range raw {
		if l.TxHash == nil || l.BlockNumber == nil {
			continue // a pending log: not in a block yet
		}
		n, err := parseQuantity(*l.BlockNumber)
		if err != nil || !n.IsUint64() {
			return nil, redact(fmt.Errorf("eth_getLogs: block number %q is not a number", clip(*l.BlockNumber)), c.raw)
		}
		var data []byte
		if l.Data != "" {
			if data, err = parseData(l.Data); err != nil {
				return nil, redact(fmt.Errorf("eth_getLogs: %w", err), c.raw)
			}
		}
		out = append(out, Log{TxHash: *l.TxHash, BlockNumber: n.Uint64(), Removed: l.Removed, Data: data})
	}
	return out, nil
}

// TransactionInput returns the input (calldata) of the transaction with
// hash h (eth_getTransactionByHash). A transaction the node does not know
// fails with an error wrapping ErrNoBlock.
func (c *Client) TransactionInput(ctx context.Context, h common.Hash) ([]byte, error) {
	var tx *struct {
		Input *string `json:"input"`
	}
	if err := c.request(ctx, "eth_getTransactionByHash", []any{h}, &tx); err != nil {
		return nil, err
	}
	if tx == nil || tx.Input == nil {
		return nil, fmt.Errorf("eth_getTransactionByHash(%s): %w", h.Hex(), ErrNoBlock)
	}
	in, err := parseData(*tx.Input)
	if err != nil {
		return nil, redact(fmt.Errorf("eth_getTransactionByHash: %w", err), c.raw)
	}
	return in, nil
}

// Send submits a signed raw transaction (eth_sendRawTransaction) and
// returns its hash.
func (c *Client) Send(ctx context.Context, raw []byte) (common.Hash, error) {
	var h common.Hash
	if err := c.request(ctx, "eth_sendRawTransaction", []any{"0x" + hex.EncodeToString(raw)}, &h); err != nil {
		return common.Hash{}, err
	}
	return h, nil
}

// Receipt is what a mined transaction's receipt says.
type Receipt struct {
	Status      uint64
	BlockNumber uint64
	GasUsed     uint64
}

// TransactionReceipt returns the receipt of the transaction with hash h;
// ok is false while it is not mined (eth_getTransactionReceipt answers
// null).
func (c *Client) TransactionReceipt(ctx context.Context, h common.Hash) (Receipt, bool, error) {
	var rc *struct {
		Status      *string `json:"status"`
		BlockNumber *string `json:"blockNumber"`
		GasUsed     *string `json:"gasUsed"`
	}
	if err := c.request(ctx, "eth_getTransactionReceipt", []any{h}, &rc); err != nil {
		return Receipt{}, false, err
	}
	if rc == nil || rc.BlockNumber == nil {
		return Receipt{}, false, nil
	}
	var out Receipt
	for _, f := range []struct {
		s   *string
		dst *uint64
	}{{rc.Status, &out.Status}, {rc.BlockNumber, &out.BlockNumber}, {rc.GasUsed, &out.GasUsed}} {
		if f.s == nil {
			continue
		}
		v, err := parseQuantity(*f.s)
		if err != nil || !v.IsUint64() {
			return Receipt{}, false, redact(fmt.Errorf("eth_getTransactionReceipt: %q is not a quantity", clip(*f.s)), c.raw)
		}
		*f.dst = v.Uint64()
	}
	return out, true, nil
}

// Quantity asks a method whose result is one quantity (eth_gasPrice,
// eth_maxPriorityFeePerGas, eth_getTransactionCount, eth_estimateGas).
func (c *Client) Quantity(ctx context.Context, method string, params ...any) (*big.Int, error) {
	if params == nil {
		params = []any{}
	}
	var s string
	if err := c.request(ctx, method, params, &s); err != nil {
		return nil, err
	}
	v, err := parseQuantity(s)
	if err != nil {
		return nil, redact(fmt.Errorf("%s: %w", method, err), c.raw)
	}
	return v, nil
}

// BaseFee returns the latest block's base fee per gas (zero before
// London).
func (c *Client) BaseFee(ctx context.Context) (*big.Int, error) {
	var b *struct {
		BaseFee *string `json:"baseFeePerGas"`
	}
	if err := c.request(ctx, "eth_getBlockByNumber", []any{"latest", false}, &b); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("eth_getBlockByNumber(latest): %w", ErrNoBlock)
	}
	if b.BaseFee == nil {
		return new(big.Int), nil
	}
	v, err := parseQuantity(*b.BaseFee)
	if err != nil {
		return nil, redact(fmt.Errorf("baseFeePerGas: %w", err), c.raw)
	}
	return v, nil
}

// quantity is n as a JSON-RPC quantity.
func quantity(n uint64) string { return "0x" + strconv.FormatUint(n, 16) }

// RPCError is an error a node answered a request with.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("%s (json-rpc error %d)", clip(e.Message), e.Code)
}

// Is makes an "execution reverted" error match ErrReverted.
func (e *RPCError) Is(target error) bool {
	return target == ErrReverted && (e.Code == 3 || strings.HasPrefix(e.Message, "execution reverted"))
}

// RPCRequest is a JSON-RPC 2.0 request, as the chain client and clef's
// client (payments/wallet) send it.
type RPCRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

// RPCResponse is a JSON-RPC 2.0 answer: a result, or an error.
type RPCResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *RPCError       `json:"error"`
}

// request sends method(params) and decodes the result into out. Its errors
// are redacted.
func (c *Client) request(ctx context.Context, method string, params []any, out any) error {
	err := c.do(ctx, method, params, out)
	if err != nil {
		return redact(fmt.Errorf("%s: %w", method, err), c.raw)
	}
	return nil
}

func (c *Client) do(ctx context.Context, method string, params []any, out any) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	id := c.id.Add(1)
	body, err := json.Marshal(RPCRequest{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	raw, err := c.t.roundTrip(ctx, id, body)
	if err != nil {
		return err
	}
	var res RPCResponse
	if err := jsonlimit.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("the node's answer is not a JSON-RPC response: %s", snippet(raw))
	}
	if got, ok := parseID(res.ID); !ok || got != id {
		return fmt.Errorf("the node answered request %s, not %d", clip(string(res.ID)), id)
	}
	if res.Error != nil {
		return res.Error
	}
	if len(res.Result) == 0 {
		return errors.New("the node's answer has neither a result nor an error")
	}
	if err := json.Unmarshal(res.Result, out); err != nil {
		return fmt.Errorf("unexpected result %s: %w", snippet(res.Result), err)
	}
	return nil
}

// parseID reads a response id, which this client always sends as a number.
func parseID(raw json.RawMessage) (uint64, bool) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, false
	}
	id, err := strconv.ParseUint(n.String(), 10, 64)
	return id, err == nil
}

// httpTransport posts each request.
type httpTransport struct {
	url    string
	client *http.Client
}

func newHTTPTransport(raw string) *httpTransport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxResponseHeaderBytes = 64 << 10
	tr.ResponseHeaderTimeout = DefaultTimeout
	return &httpTransport{url: raw, client: &http.Client{Transport: httplimit.Transport(tr)}}
}

func (h *httpTransport) roundTrip(ctx context.Context, _ uint64, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if len(b) > MaxResponseBytes {
		return nil, fmt.Errorf("the node's answer is larger than %d bytes", MaxResponseBytes)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s: %s", res.Status, snippet(b))
	}
	return b, nil
}

func (h *httpTransport) close() { h.client.CloseIdleConnections() }

// wsTransport keeps one WebSocket connection and sends one request at a
// time on it. A failed exchange drops the connection; the next dials anew.
type wsTransport struct {
	config *websocket.Config

	mu   sync.Mutex
	conn *websocket.Conn
}

func newWSTransport(u *url.URL) (*wsTransport, error) {
	loc := *u
	loc.User = nil
	// Nodes that check the Origin of browsers (geth) accept localhost.
	cfg, err := websocket.NewConfig(loc.String(), "http://localhost")
	if err != nil {
		return nil, fmt.Errorf("rpc url %s: %w", RedactURL(u.String()), err)
	}
	if u.User != nil {
		// As go-ethereum does: user info becomes basic authentication.
		pw, _ := u.User.Password()
		cfg.Header = http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw))}}
	}
	return &wsTransport{config: cfg}, nil
}

func (w *wsTransport) roundTrip(ctx context.Context, id uint64, body []byte) (_ []byte, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		conn, err := dialWS(ctx, w.config)
		if err != nil {
			return nil, err
		}
		conn.MaxPayloadBytes = MaxResponseBytes
		w.conn = conn
	}
	conn := w.conn
	defer func() {
		if err != nil {
			_ = conn.Close() // dropped after err, which is the one to report
			w.conn = nil
		}
	}()
	if d, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(d); err != nil {
			return nil, err
		}
	}
	// A canceled context ends a read or write at once. Its error is not
	// kept: SetDeadline fails only on a connection already closed, where
	// the read or write in flight fails by itself, with the context's
	// error named by ctxErr.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := websocket.Message.Send(conn, string(body)); err != nil {
		return nil, ctxErr(ctx, err)
	}
	for {
		var msg []byte
		if err := websocket.Message.Receive(conn, &msg); err != nil {
			if errors.Is(err, websocket.ErrFrameTooLarge) {
				return nil, fmt.Errorf("the node's answer is larger than %d bytes", MaxResponseBytes)
			}
			return nil, ctxErr(ctx, err)
		}
		var head struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(msg, &head) == nil && len(head.ID) == 0 {
			continue // a notification, not an answer
		}
		return msg, nil
	}
}

// maxHandshake is how many bytes of the node's answer to the WebSocket
// handshake are read: its status line and headers, as the HTTP transport's
// MaxResponseHeaderBytes.
const maxHandshake = 64 << 10

// errHandshakeTooLarge ends a handshake whose answer runs past maxHandshake.
var errHandshakeTooLarge = fmt.Errorf("the node's answer to the WebSocket handshake is larger than %d bytes", maxHandshake)

// dialWS opens the WebSocket of cfg as websocket.Config.DialContext does,
// but reads at most maxHandshake bytes of the handshake's answer
// (websocket.NewClient reads its headers with no limit) and cuts the text
// of its error (httplimit.Clip: it may quote a header line whole).
func dialWS(ctx context.Context, cfg *websocket.Config) (*websocket.Conn, error) {
	shown := RedactURL(cfg.Location.String())
	host, port := cfg.Location.Hostname(), cfg.Location.Port()
	d := &net.Dialer{}
	var raw net.Conn
	var err error
	switch cfg.Location.Scheme {
	case "ws":
		if port == "" {
			port = "80"
		}
		raw, err = d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	case "wss":
		if port == "" {
			port = "443"
		}
		raw, err = (&tls.Dialer{NetDialer: d, Config: cfg.TlsConfig}).DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	default:
		return nil, fmt.Errorf("rpc url %s: a WebSocket url is ws:// or wss://", shown)
	}
	if err != nil {
		return nil, fmt.Errorf("websocket %s: %w", shown, httplimit.Clip(err))
	}
	lc := &handshakeConn{Conn: raw, left: maxHandshake}
	// The handshake ends with ctx, as DialContext's does. SetDeadline's
	// error is not kept: it fails only on a closed socket, where the
	// handshake fails by itself.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	conn, err := websocket.NewClient(cfg, lc)
	if !stop() && err == nil {
		err = errors.New("the handshake ended with the call")
	}
	if err != nil {
		_ = raw.Close() // the handshake's error is the one to report
		return nil, ctxErr(ctx, fmt.Errorf("websocket %s: handshake: %w", shown, httplimit.Clip(err)))
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		_ = raw.Close() // the deadline's error is the one to report
		return nil, fmt.Errorf("websocket %s: %w", shown, err)
	}
	lc.left = -1 // the handshake is over
	return conn, nil
}

// handshakeConn reads at most left bytes of its connection until done.
// Only the goroutine that dials reads it, so it needs no lock.
type handshakeConn struct {
	net.Conn
	left int // -1 once done
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	switch {
	case c.left == 0:
		return 0, errHandshakeTooLarge
	case c.left > 0 && len(p) > c.left:
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	if c.left > 0 {
		c.left -= n
	}
	return n, err
}

func (w *wsTransport) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn != nil {
		_ = w.conn.Close() // closing the client: a socket that fails to close is gone too
		w.conn = nil
	}
}

// ctxErr prefers the context's error to the I/O error its end caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// parseQuantity reads a JSON-RPC quantity: 0x and 1 to 64 hex digits.
func parseQuantity(s string) (*big.Int, error) {
	digits, ok := strings.CutPrefix(s, "0x")
	if !ok || digits == "" || len(digits) > 64 {
		return nil, fmt.Errorf("%q is not a hex quantity", clip(s))
	}
	n, ok := new(big.Int).SetString(digits, 16)
	if !ok {
		return nil, fmt.Errorf("%q is not a hex quantity", clip(s))
	}
	return n, nil
}

// parseData reads JSON-RPC data: 0x and an even number of hex digits.
func parseData(s string) ([]byte, error) {
	digits, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return nil, fmt.Errorf("%q is not hex data", clip(s))
	}
	b, err := hex.DecodeString(digits)
	if err != nil {
		return nil, fmt.Errorf("%q is not hex data", clip(s))
	}
	return b, nil
}

// snippet shows the start of a node's answer in an error.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "(empty answer)"
	}
	return clip(s)
}

// clip shortens s to 200 characters and replaces control characters, so a
// node's text cannot flood or garble a log line.
func clip(s string) string {
	const max = 200
	r := []rune(s)
	cut := len(r) > max
	if cut {
		r = r[:max]
	}
	for i, c := range r {
		if unicode.IsControl(c) {
			r[i] = ' '
		}
	}
	if cut {
		return string(r) + "…"
	}
	return string(r)
}
