package wallet

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/httplimit"
)

// Clef is an EVM signer that never holds the key: go-ethereum's clef keeps
// it in its own encrypted keystore and signs each payment's EIP-712 typed
// data (account_signTypedData) and the approval of Permit2
// (account_signTransaction) under its own rules, a second line of defence
// behind x402-mcp's budgets (docs/keys.md shows a rules file that limits
// tokens, payees, amounts and the allowance). It speaks JSON-RPC to clef over its
// IPC socket or over HTTP. A request clef's rules or its user deny is a
// *payments.SignerError with Refused set: "not charged".
type Clef struct {
	endpoint string // a socket path, or an http(s) URL
	shown    string // endpoint as shown: no user info, no query
	isHTTP   bool
	address  common.Address
	hex      string
	http     *http.Client
	id       atomic.Uint64
	// Timeout bounds one request to clef: a human may be deciding in its
	// UI. The caller's context bounds it too.
	Timeout time.Duration
}

// DefaultClefTimeout is how long x402-mcp waits for clef to answer one
// request, a human deciding in clef's UI included.
const DefaultClefTimeout = 2 * time.Minute

// maxClefAnswer bounds an answer from clef (a signature, an account list).
const maxClefAnswer = 1 << 20

var (
	_ evm.Signer      = (*Clef)(nil)
	_ payments.Signer = (*Clef)(nil)
)

// DialClef connects to clef at endpoint (the path of its IPC socket, such
// as ~/.clef/clef.ipc, or the URL of its HTTP endpoint) and settles the
// account to pay from: account when given (and clef answers), else the one
// account clef lists (its rules must approve listing). Errors name the
// endpoint as shown, never its user info or query.
func DialClef(ctx context.Context, endpoint, account string) (*Clef, error) {
	c := &Clef{endpoint: endpoint, shown: endpoint, Timeout: DefaultClefTimeout}
	if strings.HasPrefix(endpoint, "http://") || strings.HasPrefix(endpoint, "https://") {
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" {
			return nil, errors.New("clef's endpoint is neither the path of its IPC socket nor an http(s) URL with a host")
		}
		c.isHTTP = true
		c.shown = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
		c.http = &http.Client{Transport: httplimit.Transport(&http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext})}
	} else if strings.Contains(endpoint, "://") {
		return nil, errors.New("clef's endpoint is neither the path of its IPC socket nor an http(s) URL")
	}
	if account != "" {
		a, err := evm.ParseAddress(account)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", payments.EnvClefAccount, err)
		}
		var v string
		if err := c.call(ctx, "account_version", nil, &v); err != nil {
			return nil, err
		}
		c.setAddress(a)
		return c, nil
	}
	var list []common.Address
	if err := c.call(ctx, "account_list", nil, &list); err != nil {
		var se *payments.SignerError
		if errors.As(err, &se) && se.Refused {
			return nil, fmt.Errorf("clef at %s refused to list its accounts: set %s to the address to pay from, or let its rules approve listing (ApproveListing)", c.shown, payments.EnvClefAccount)
		}
		return nil, err
	}
	switch len(list) {
	case 0:
		return nil, fmt.Errorf("clef at %s holds no account: import one (clef importraw, or a keystore in its --keystore folder)", c.shown)
	case 1:
		c.setAddress(list[0])
		return c, nil
	}
	return nil, fmt.Errorf("clef at %s holds %d accounts: set %s to the one to pay from", c.shown, len(list), payments.EnvClefAccount)
}

func (c *Clef) setAddress(a common.Address) { c.address, c.hex = a, a.Hex() }

// Address implements evm.Signer.
func (c *Clef) Address() common.Address { return c.address }

// Family implements payments.Signer: "evm".
func (c *Clef) Family() string { return evm.Name }

// Payer implements payments.Signer: the checksummed address.
func (c *Clef) Payer() string { return c.hex }

// Source says where the key lives: clef, at its endpoint as shown.
func (c *Clef) Source() Source { return Source{Kind: SourceClef, Where: c.shown} }

func (c *Clef) String() string { return "clef at " + c.shown }

// SignTypedData implements evm.Signer: clef's account_signTypedData with
// the whole message, so that its rules judge the token, the payee and the
// amount. A denial is a *payments.SignerError with Refused set.
func (c *Clef) SignTypedData(ctx context.Context, td evm.TypedData) ([]byte, error) {
	var sig hexBytes
	if err := c.call(ctx, "account_signTypedData", []any{c.hex, td}, &sig); err != nil {
		return nil, err
	}
	if len(sig) != 65 {
		return nil, c.failed(fmt.Sprintf("it answered a signature of %d bytes, not 65", len(sig)), nil)
	}
	if sig[64] < 27 {
		sig[64] += 27
	}
	return sig, nil
}

// clefTxArgs is a transaction as clef's account_signTransaction takes it
// (go-ethereum's SendTxArgs): quantities in 0x-hex, addresses checksummed
// (clef warns of, and so refuses, a recipient that is not).
type clefTxArgs struct {
	From                 string `json:"from"`
	To                   string `json:"to"`
	Gas                  string `json:"gas"`
	MaxFeePerGas         string `json:"maxFeePerGas"`
	MaxPriorityFeePerGas string `json:"maxPriorityFeePerGas"`
	Value                string `json:"value"`
	Nonce                string `json:"nonce"`
	Data                 string `json:"data"`
	ChainID              string `json:"chainId"`
}

// clefSignedTx is clef's answer to account_signTransaction: the signed
// transaction as sent to a node, and its fields with the signature.
type clefSignedTx struct {
	Raw hexBytes `json:"raw"`
	Tx  struct {
		V string `json:"v"`
		R string `json:"r"`
		S string `json:"s"`
	} `json:"tx"`
}

// SignTransaction implements evm.Signer: clef's account_signTransaction
// with the whole transaction, so that its rules judge it (the rules file of
// docs/clef/rules.js approves only approve(Permit2, amount) on a listed
// token, up to its MAX_ALLOWANCE). clef's signed transaction must be tx as
// asked: one that differs (its UI may change a transaction) is refused,
// nothing sent. A denial is a *payments.SignerError with Refused set.
func (c *Clef) SignTransaction(ctx context.Context, tx evm.DynamicFeeTx) ([]byte, error) {
	value := tx.Value
	if value == nil {
		value = new(big.Int)
	}
	if tx.ChainID == nil || tx.Tip == nil || tx.FeeCap == nil {
		return nil, c.failed("the transaction lacks its chain id or fees", nil)
	}
	args := clefTxArgs{
		From: c.hex, To: tx.To.Hex(), Gas: hexutil.EncodeUint64(tx.Gas),
		MaxFeePerGas: hexutil.EncodeBig(tx.FeeCap), MaxPriorityFeePerGas: hexutil.EncodeBig(tx.Tip),
		Value: hexutil.EncodeBig(value), Nonce: hexutil.EncodeUint64(tx.Nonce), Data: hexutil.Encode(tx.Data),
		ChainID: hexutil.EncodeBig(tx.ChainID),
	}
	var res clefSignedTx
	if err := c.call(ctx, "account_signTransaction", []any{args}, &res); err != nil {
		return nil, err
	}
	sig := make([]byte, 65)
	for i, f := range []string{res.Tx.R, res.Tx.S} {
		v, err := hexutil.DecodeBig(f)
		if err != nil || v.BitLen() > 256 {
			return nil, c.failed("its signed transaction's r or s is not a 256-bit quantity", err)
		}
		v.FillBytes(sig[32*i : 32*i+32])
	}
	v, err := hexutil.DecodeUint64(res.Tx.V)
	if err != nil || v > 1 {
		return nil, c.failed("its signed transaction's v is not 0 or 1", err)
	}
	sig[64] = 27 + byte(v)
	want, err := tx.Encode(sig)
	if err != nil {
		return nil, c.failed("its signature does not fit the transaction", err)
	}
	if !bytes.Equal(want, res.Raw) {
		return nil, c.failed("it signed another transaction than the one asked (its UI may have changed it)", nil)
	}
	return sig, nil
}

// hexBytes is a 0x-hex JSON string.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	out, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || !strings.HasPrefix(s, "0x") {
		return errors.New("not 0x-hex")
	}
	*h = out
	return nil
}

// call makes one JSON-RPC request to clef. Every error is a
// *payments.SignerError: nothing was signed.
func (c *Clef) call(ctx context.Context, method string, params []any, result any) error {
	if params == nil {
		params = []any{}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultClefTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := json.Marshal(evm.RPCRequest{JSONRPC: "2.0", ID: c.id.Add(1), Method: method, Params: params})
	if err != nil {
		return c.failed("the request could not be encoded", err)
	}
	var raw []byte
	if c.isHTTP {
		raw, err = c.postHTTP(ctx, body)
	} else {
		raw, err = c.postIPC(ctx, body)
	}
	if err != nil {
		if ctx.Err() != nil {
			return c.failed(fmt.Sprintf("no answer within %s (%v)", timeout, ctx.Err()), err)
		}
		return c.failed(err.Error(), err)
	}
	var resp evm.RPCResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return c.failed("its answer is not JSON-RPC", err)
	}
	if resp.Error != nil {
		msg := payments.Sanitize(resp.Error.Message, 200)
		if strings.EqualFold(strings.TrimSpace(resp.Error.Message), "request denied") {
			return &payments.SignerError{Signer: c.String(), Refused: true,
				Reason: "request denied: its rules, or its user, refused " + method}
		}
		if strings.HasPrefix(resp.Error.Message, "validation failed") {
			// clef found the request suspicious (without --advanced, a
			// warning is a refusal): it decided, as its rules would.
			return &payments.SignerError{Signer: c.String(), Refused: true, Reason: method + ": " + msg}
		}
		return c.failed(fmt.Sprintf("%s: %s (code %d)", method, msg, resp.Error.Code), nil)
	}
	if result != nil {
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return c.failed(fmt.Sprintf("its answer to %s is not what was asked", method), err)
		}
	}
	return nil
}

// failed is the SignerError of a clef that could not be asked.
func (c *Clef) failed(reason string, err error) error {
	return &payments.SignerError{Signer: c.String(), Reason: reason, Err: err}
}

// postIPC sends one request over clef's IPC socket and reads one answer.
func (c *Clef) postIPC(ctx context.Context, body []byte) ([]byte, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "unix", c.endpoint)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to its IPC socket (is clef running? %s)", netReason(err))
	}
	defer conn.Close()
	// A canceled context ends the write or read at once. SetDeadline fails
	// only on a closed connection, where they fail by themselves.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(body); err != nil {
		return nil, fmt.Errorf("write to its IPC socket: %s", netReason(err))
	}
	var raw json.RawMessage
	if err := json.NewDecoder(io.LimitReader(conn, maxClefAnswer)).Decode(&raw); err != nil {
		return nil, fmt.Errorf("read its answer: %s", netReason(err))
	}
	return raw, nil
}

// postHTTP sends one request to clef's HTTP endpoint. Its errors never
// quote the URL (it may carry credentials).
func (c *Clef) postHTTP(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("the request could not be made")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach its HTTP endpoint (is clef running with --http? %s)", netReason(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxClefAnswer))
	if err != nil {
		return nil, fmt.Errorf("read its answer: %s", netReason(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("its HTTP endpoint answered %s", resp.Status)
	}
	return raw, nil
}

// netReason is a network error's reason without any address in it.
func netReason(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
	}
	return payments.Sanitize(err.Error(), 200)
}
