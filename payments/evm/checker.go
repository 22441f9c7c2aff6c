// This file is the chain client of the EVM family: RPCChecker reads
// EIP-3009 authorizations, balances and decimals over JSON-RPC.

package evm

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

// RPCChecker reads EIP-3009 authorization state and balances over JSON-RPC,
// one URL per network (the rpc map of registry.yaml): Exact's Checker. It dials each URL on
// first use and keeps the client; before trusting a URL it checks that the
// node's chain id is the network's. It is safe for concurrent use.
type RPCChecker struct {
	urls map[payments.Network]string

	mu      sync.Mutex
	clients map[string]*Client // by URL, chain id checked
	tags    map[string]string  // by URL: the reference tag its node answers
}

var _ Checker = (*RPCChecker)(nil)

// NewRPCChecker returns a checker for the given networks. Keys may be CAIP-2
// ids or x402 v1 names ("base-sepolia"); nothing is dialed yet.
func NewRPCChecker(rpcURLs map[payments.Network]string) *RPCChecker {
	c := &RPCChecker{urls: make(map[payments.Network]string, len(rpcURLs)), clients: map[string]*Client{}, tags: map[string]string{}}
	for n, u := range rpcURLs {
		if p, err := ParseNetwork(string(n)); err == nil {
			n = p
		}
		c.urls[n] = u
	}
	return c
}

// Has says whether the checker has an rpc_url for network.
func (c *RPCChecker) Has(network payments.Network) bool {
	n, err := ParseNetwork(string(network))
	return err == nil && c.urls[n] != ""
}

// AuthorizationUsed reports whether payer's authorization nonce has been used
// on the token at asset on network, at the latest block. It fails, rather than answering false,
// when the network has no rpc_url, the node is unreachable or on another
// chain, or no token answers at asset.
func (c *RPCChecker) AuthorizationUsed(ctx context.Context, network payments.Network, asset, payer common.Address, nonce [32]byte) (bool, error) {
	cl, raw, err := c.client(ctx, network)
	if err != nil {
		return false, err
	}
	used, err := AuthorizationState(ctx, cl, asset, payer, nonce)
	if err != nil {
		return false, redact(fmt.Errorf("%s via %s: %w", network, raw, err), raw)
	}
	return used, nil
}

// ChainTime returns the timestamp of the network's latest block. An
// authorization whose validBefore is before it can never be used: every
// later block is at least as late. Reconciliation uses it to prove expiry
// by the chain's clock rather than ours.
func (c *RPCChecker) ChainTime(ctx context.Context, network payments.Network) (time.Time, error) {
	cl, raw, err := c.client(ctx, network)
	if err != nil {
		return time.Time{}, err
	}
	t, err := cl.LatestBlockTime(ctx)
	if err != nil {
		return time.Time{}, redact(fmt.Errorf("%s via %s: latest block: %w", network, raw, err), raw)
	}
	return t, nil
}

// Balance returns addr's balance of the token at asset on network.
func (c *RPCChecker) Balance(ctx context.Context, network payments.Network, asset, addr common.Address) (payments.Amount, error) {
	cl, raw, err := c.client(ctx, network)
	if err != nil {
		return 0, err
	}
	b, err := BalanceOf(ctx, cl, asset, addr)
	if err != nil {
		return 0, redact(fmt.Errorf("%s via %s: %w", network, raw, err), raw)
	}
	return b, nil
}

// Decimals returns the decimals() of the token at asset on network, for an
// asset of registry.yaml whose decimals are read from the chain (or checked
// against it) at start.
func (c *RPCChecker) Decimals(ctx context.Context, network payments.Network, asset string) (int, error) {
	if !common.IsHexAddress(asset) {
		return 0, fmt.Errorf("%q is not a token address", payments.Sanitize(asset, 80))
	}
	cl, raw, err := c.client(ctx, network)
	if err != nil {
		return 0, err
	}
	d, err := Decimals(ctx, cl, common.HexToAddress(asset))
	if err != nil {
		return 0, redact(fmt.Errorf("%s via %s: %w", network, raw, err), raw)
	}
	return d, nil
}

// Close closes every client the checker dialed. The checker can be used
// again afterwards: it dials anew.
func (c *RPCChecker) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for u, cl := range c.clients {
		cl.Close()
		delete(c.clients, u)
	}
}

// client returns the checked client for network and its URL.
func (c *RPCChecker) client(ctx context.Context, network payments.Network) (*Client, string, error) {
	n, err := ParseNetwork(string(network))
	if err != nil {
		return nil, "", err
	}
	raw, ok := c.urls[n]
	if !ok || raw == "" {
		return nil, "", noRPCError{n}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[raw]; ok {
		return cl, raw, nil
	}
	// Dialing connects nothing yet; asking the chain id does, and proves
	// the URL serves the chain the registry says it does.
	cl, err := Dial(raw)
	if err != nil {
		return nil, raw, redact(fmt.Errorf("%s: rpc_url: %w", n, err), raw)
	}
	id, err := cl.ChainID(ctx)
	if err != nil {
		cl.Close()
		return nil, raw, redact(fmt.Errorf("%s: rpc_url %s: eth_chainId: %w", n, raw, err), raw)
	}
	if want := ChainID(n); id.Cmp(want) != 0 {
		cl.Close()
		return nil, raw, redact(fmt.Errorf("%s: rpc_url %s serves chain %s, not %s: fix the rpc entry in registry.yaml", n, raw, id, want), raw)
	}
	c.clients[raw] = cl
	return cl, raw, nil
}

// noRPCError is the error for a network without an rpc_url; it wraps
// payments.ErrNoRPC.
type noRPCError struct{ network payments.Network }

func (e noRPCError) Error() string {
	return fmt.Sprintf("no rpc_url configured for %s: add rpc: {%s: https://…} to registry.yaml", e.network, e.network)
}

func (e noRPCError) Unwrap() error { return payments.ErrNoRPC }

// redactedError is an error whose text has an RPC URL's secrets removed; it
// still unwraps to the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact removes raw's secrets from err's text: node providers put API keys
// in the path, the query or the user info, and Go's HTTP errors quote the
// URL (in a form that can differ from raw). Every URL in the text on raw's
// host becomes scheme://host/…, and any remaining copy of raw's path, query
// or password becomes "…".
func redact(err error, raw string) error {
	if err == nil || raw == "" {
		return err
	}
	msg := err.Error()
	u, perr := url.Parse(raw)
	if perr != nil || u.Host == "" {
		return &redactedError{msg: strings.ReplaceAll(msg, raw, "(rpc url)"), err: err}
	}
	short := RedactURL(raw)
	msg = urlInText.ReplaceAllStringFunc(msg, func(m string) string {
		if !strings.Contains(m, u.Host) && !strings.Contains(m, u.Hostname()) {
			return m
		}
		// Keep the punctuation that follows the URL in the sentence.
		return short + m[len(strings.TrimRight(m, ".,:;)")):]
	})
	pieces := []string{raw, u.RawQuery, u.Fragment, u.EscapedPath(), u.Path}
	if pw, ok := u.User.Password(); ok {
		pieces = append(pieces, pw)
	}
	for _, p := range pieces {
		if len(p) >= 3 && p != short {
			msg = strings.ReplaceAll(msg, p, "…")
		}
	}
	return &redactedError{msg: msg, err: err}
}

// urlInText matches a URL in an error message, up to a space or a quote.
var urlInText = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// RedactURL returns an RPC URL as scheme://host, with "/…" when it had a
// path or a query: enough to tell which node, nothing of its credentials.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(rpc url)"
	}
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		s += "/…"
	}
	return s
}

// ErrReverted is wrapped by the errors of transactions and calls the EVM
// reverted.
var ErrReverted = errors.New("reverted")
