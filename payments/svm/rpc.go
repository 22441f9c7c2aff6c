package svm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/httplimit"
	"github.com/x402-mcp/x402-mcp/payments/jsonlimit"
)

// maxRPCResponse bounds one JSON-RPC answer: a getTransaction of a payment
// is a few KiB, a page of 1,000 signatures about 250 KiB.
const maxRPCResponse = 4 << 20

// RPC is a Solana JSON-RPC endpoint: the few methods paying and proving
// need. Its errors name the method, never the URL, which may carry an API
// key.
type RPC struct {
	url    string
	client *http.Client
	id     atomic.Uint64
}

// NewRPC returns a client of the JSON-RPC endpoint at url. A nil client
// means one with a 30 s timeout, its headers and error texts bounded
// (httplimit).
func NewRPC(url string, client *http.Client) *RPC {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second, Transport: httplimit.DefaultTransport}
	}
	return &RPC{url: url, client: client}
}

// String shows no URL.
func (r *RPC) String() string { return "solana-rpc" }

// RPCError is an error object a node answered.
type RPCError struct {
	Method  string
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("solana rpc %s: error %d: %s", e.Method, e.Code, clip(e.Message))
}

// call runs one JSON-RPC method and decodes its result into out. A null
// result leaves out untouched and returns errNullResult.
func (r *RPC) call(ctx context.Context, method string, params []any, out any) error {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": r.id.Add(1), "method": method, "params": params})
	if err != nil {
		return fmt.Errorf("solana rpc %s: encode: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("solana rpc %s: the rpc URL is not usable: %v", method, redactURLError(err, r.url))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("solana rpc %s: %w", method, redactURLError(err, r.url))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxRPCResponse+1))
	if err != nil {
		return fmt.Errorf("solana rpc %s: read answer: %w", method, redactURLError(err, r.url))
	}
	if len(b) > maxRPCResponse {
		return fmt.Errorf("solana rpc %s: the answer is larger than %d MiB", method, maxRPCResponse>>20)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("solana rpc %s: HTTP %d", method, resp.StatusCode)
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	// jsonlimit: the node's answer is others' JSON, and its errors quote
	// only the start of a number too long for its field.
	if err := jsonlimit.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("solana rpc %s: the answer is not JSON-RPC (%v)", method, err)
	}
	if env.Error != nil {
		return &RPCError{Method: method, Code: env.Error.Code, Message: env.Error.Message}
	}
	if len(env.Result) == 0 || string(env.Result) == "null" {
		return errNullResult
	}
	if err := jsonlimit.Unmarshal(env.Result, out); err != nil {
		return fmt.Errorf("solana rpc %s: unexpected result (%v)", method, err)
	}
	return nil
}

var errNullResult = errors.New("null result")

// redactURLError takes the RPC URL's secrets out of a transport error's
// text: node providers put API keys in the path, the query or the user
// info, and Go's HTTP errors quote the URL. The URL error's quoted URL is
// dropped, and any remaining copy of the URL, its path, query, fragment or
// user info becomes "…". The host stays, to tell which node failed.
func redactURLError(err error, raw string) error {
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Op + ": " + ue.Err.Error()
	}
	pieces := []string{raw}
	if u, perr := url.Parse(raw); perr == nil {
		pieces = append(pieces, u.RawQuery, u.Fragment, u.EscapedPath(), u.Path, u.User.Username())
		if pw, ok := u.User.Password(); ok {
			pieces = append(pieces, pw)
		}
	}
	for _, p := range pieces {
		if len(p) >= 3 {
			msg = strings.ReplaceAll(msg, p, "…")
		}
	}
	return &redacted{msg: msg, err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// accountInfo is getAccountInfo's value with base64 data.
type accountInfo struct {
	Owner string    `json:"owner"`
	Data  [2]string `json:"data"`
}

// AccountInfo reads an account's owner program and data; ok is false when
// the account does not exist.
func (r *RPC) accountInfo(ctx context.Context, addr string) (owner string, data []byte, ok bool, err error) {
	var res struct {
		Value *accountInfo `json:"value"`
	}
	if err := r.call(ctx, "getAccountInfo", []any{addr, map[string]any{"encoding": "base64", "commitment": "confirmed"}}, &res); err != nil {
		return "", nil, false, err
	}
	if res.Value == nil {
		return "", nil, false, nil
	}
	data, err = decodeB64(res.Value.Data[0])
	if err != nil {
		return "", nil, false, fmt.Errorf("solana rpc getAccountInfo: account data is not base64: %w", err)
	}
	return res.Value.Owner, data, true, nil
}

// tokenBalance reads a token account's balance in atomic units; a missing
// account holds 0.
func (r *RPC) tokenBalance(ctx context.Context, account string) (amount, slot uint64, err error) {
	var res struct {
		Context struct {
			Slot uint64 `json:"slot"`
		} `json:"context"`
		Value struct {
			Amount string `json:"amount"`
		} `json:"value"`
	}
	err = r.call(ctx, "getTokenAccountBalance", []any{account, map[string]any{"commitment": "confirmed"}}, &res)
	var rerr *RPCError
	if errors.As(err, &rerr) && (rerr.Code == -32602 || strings.Contains(strings.ToLower(rerr.Message), "could not find account")) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	v, perr := strconv.ParseUint(res.Value.Amount, 10, 64)
	if perr != nil || !allDigits(res.Value.Amount) {
		return 0, 0, fmt.Errorf("solana rpc getTokenAccountBalance: amount %q is not a whole number", clip(res.Value.Amount))
	}
	return v, res.Context.Slot, nil
}

// minimumLedgerSlot is the oldest slot the node still has: history older
// than it cannot be searched there.
func (r *RPC) minimumLedgerSlot(ctx context.Context) (uint64, error) {
	var slot uint64
	if err := r.call(ctx, "minimumLedgerSlot", []any{}, &slot); err != nil {
		return 0, err
	}
	return slot, nil
}

// latestBlockhash returns a blockhash and its last valid block height.
func (r *RPC) latestBlockhash(ctx context.Context) (string, uint64, error) {
	var res struct {
		Value struct {
			Blockhash            string `json:"blockhash"`
			LastValidBlockHeight uint64 `json:"lastValidBlockHeight"`
		} `json:"value"`
	}
	if err := r.call(ctx, "getLatestBlockhash", []any{map[string]any{"commitment": "confirmed"}}, &res); err != nil {
		return "", 0, err
	}
	return res.Value.Blockhash, res.Value.LastValidBlockHeight, nil
}

// blockhashValid asks whether a blockhash can still be used.
func (r *RPC) blockhashValid(ctx context.Context, hash string) (bool, error) {
	var res struct {
		Value bool `json:"value"`
	}
	if err := r.call(ctx, "isBlockhashValid", []any{hash, map[string]any{"commitment": "confirmed"}}, &res); err != nil {
		return false, err
	}
	return res.Value, nil
}

// finalizedBlockHeight is the block height of the newest finalized block,
// read from getEpochInfo (the blockHeight field every node reports; some
// local validators answer getBlockHeight with 0).
func (r *RPC) finalizedBlockHeight(ctx context.Context) (uint64, error) {
	var res struct {
		BlockHeight *uint64 `json:"blockHeight"`
	}
	if err := r.call(ctx, "getEpochInfo", []any{map[string]any{"commitment": "finalized"}}, &res); err != nil {
		return 0, err
	}
	if res.BlockHeight == nil {
		return 0, errors.New("solana rpc getEpochInfo: no blockHeight in the answer")
	}
	return *res.BlockHeight, nil
}

// sigInfo is one entry of getSignaturesForAddress.
type sigInfo struct {
	Signature          string          `json:"signature"`
	Slot               uint64          `json:"slot"`
	Err                json.RawMessage `json:"err"`
	Memo               *string         `json:"memo"`
	ConfirmationStatus string          `json:"confirmationStatus"`
}

// signatures pages backwards through an address's history.
func (r *RPC) signatures(ctx context.Context, addr, before string, limit int) ([]sigInfo, error) {
	opts := map[string]any{"limit": limit, "commitment": "confirmed"}
	if before != "" {
		opts["before"] = before
	}
	var res []sigInfo
	if err := r.call(ctx, "getSignaturesForAddress", []any{addr, opts}, &res); err != nil && !errors.Is(err, errNullResult) {
		return nil, err
	}
	return res, nil
}

// landedTx is getTransaction's answer in base64.
type landedTx struct {
	Slot        uint64    `json:"slot"`
	Transaction [2]string `json:"transaction"`
	Meta        *struct {
		Err json.RawMessage `json:"err"`
	} `json:"meta"`
}

// transaction fetches a landed transaction by its id; ok is false when the
// node does not have it.
func (r *RPC) transaction(ctx context.Context, sig string) (*landedTx, bool, error) {
	var res landedTx
	err := r.call(ctx, "getTransaction", []any{sig, map[string]any{"encoding": "base64", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}}, &res)
	if errors.Is(err, errNullResult) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return &res, true, nil
}

// signatureStatus asks whether a transaction landed, searching the node's
// whole history (searchTransactionHistory): a payment may be older than
// the node's recent status cache. ok is false when the node knows no such
// transaction.
func (r *RPC) signatureStatus(ctx context.Context, sig string) (ok bool, err error) {
	var res struct {
		Value []*struct {
			ConfirmationStatus string `json:"confirmationStatus"`
		} `json:"value"`
	}
	if err := r.call(ctx, "getSignatureStatuses", []any{[]string{sig}, map[string]any{"searchTransactionHistory": true}}, &res); err != nil {
		return false, err
	}
	return len(res.Value) == 1 && res.Value[0] != nil, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// NewClient returns a Client of the Solana networks among urls (a
// catalog's rpc: endpoints by network, CAIP-2 or v1 names; other families'
// are skipped). An endpoint that is not http or https is left out and named
// in the error, which never shows the URL.
func NewClient(urls map[payments.Network]string) (*Client, error) {
	c := &Client{RPC: map[Network]*RPC{}}
	var errs []error
	for n, u := range urls {
		sn, ok, err := ParseNetwork(string(n))
		if !ok || err != nil {
			continue
		}
		p, perr := url.Parse(u)
		if perr != nil || p.Scheme != "http" && p.Scheme != "https" {
			errs = append(errs, fmt.Errorf("rpc %s: x402-mcp reads Solana over JSON-RPC on http or https: give the node's http(s) URL", n))
			continue
		}
		c.RPC[sn] = NewRPC(u, nil)
	}
	return c, errors.Join(errs...)
}

// Has says whether c has an rpc endpoint for n.
func (c *Client) Has(n payments.Network) bool {
	return c != nil && c.RPC[Network(n)] != nil
}

// Decimals reads a mint's decimals on n: for the assets of registry.yaml
// whose decimals are read from the chain (or checked against it) at start.
func (c *Client) Decimals(ctx context.Context, n payments.Network, asset string) (int, error) {
	mint, err := ParseAddress("asset", asset)
	if err != nil {
		return 0, err
	}
	m, err := c.Mint(ctx, Network(n), mint)
	if err != nil {
		return 0, err
	}
	return int(m.Decimals), nil
}

// Close closes the idle connections of every endpoint.
func (c *Client) Close() {
	if c == nil {
		return
	}
	for _, r := range c.RPC {
		r.client.CloseIdleConnections()
	}
}
