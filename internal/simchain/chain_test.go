package simchain

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
)

// Sim is a localseller.Chain, and a reconciliation checker like evm.RPCChecker.
var (
	_ localseller.Chain = (*Sim)(nil)
	_ interface {
		AuthorizationUsed(ctx context.Context, network payments.Network, asset, payer common.Address, nonce [32]byte) (bool, error)
	} = (*evm.RPCChecker)(nil)
)

// Anvil's well-known development keys #0 and #1.
const (
	anvilKey0 = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
	anvilKey1 = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
)

var payee = common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")

func startSim(t testing.TB) *Sim {
	t.Helper()
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close sim: %v", err)
		}
	})
	return s
}

// dial connects to the sim's JSON-RPC over HTTP, as any other program would.
func dial(t testing.TB, s *Sim) *ethclient.Client {
	t.Helper()
	c, err := ethclient.Dial(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func key(t testing.TB, hexKey string) *wallet.EVMKey {
	t.Helper()
	w, err := wallet.ParseHexKey(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func nonce(t testing.TB) [32]byte {
	t.Helper()
	var n [32]byte
	if _, err := rand.Read(n[:]); err != nil {
		t.Fatal(err)
	}
	return n
}

// auth is an authorization of value from w to payee valid for five minutes.
func auth(t testing.TB, w *wallet.EVMKey, value int64) evm.Authorization {
	t.Helper()
	return evm.Authorization{
		From: w.Address(), To: payee, Value: big.NewInt(value),
		ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(time.Now().Unix() + 300), Nonce: nonce(t),
	}
}

func sign(t testing.TB, w *wallet.EVMKey, d evm.Domain, a evm.Authorization) []byte {
	t.Helper()
	sig, err := w.Sign(d, a)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func balance(t testing.TB, s *Sim, addr common.Address) payments.Amount {
	t.Helper()
	b, err := s.Balance(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSimServesHTTPAndDomainMatches(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	c := dial(t, s)
	id, err := c.ChainID(ctx)
	if err != nil || id.Int64() != ChainID {
		t.Fatalf("chain id over HTTP = %v, %v", id, err)
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || s.Network() != "eip155:1337" {
		t.Fatalf("url %s network %s", s.URL(), s.Network())
	}
	code, err := c.CodeAt(ctx, s.Token(), nil)
	if err != nil || len(code) == 0 {
		t.Fatalf("no code at the token %s: %v", s.Token().Hex(), err)
	}
	got, err := evm.DomainSeparator(ctx, Caller(c), s.Token())
	if err != nil {
		t.Fatal(err)
	}
	want := evm.Domain{Name: "USDC", Version: "2", ChainID: big.NewInt(1337), VerifyingContract: s.Token()}.Separator()
	if got != want || s.Domain().Separator() != want {
		t.Fatalf("on-chain DOMAIN_SEPARATOR %s, evm.Domain %s", got.Hex(), want.Hex())
	}
	// A second chain runs beside the first, on its own port.
	s2 := startSim(t)
	if s2.URL() == s.URL() {
		t.Fatal("two sims share a URL")
	}
}

func TestTransferWithAuthorizationOnChain(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	w := key(t, anvilKey0)
	if err := s.Mint(ctx, w.Address(), 1_000_000); err != nil {
		t.Fatal(err)
	}
	a := auth(t, w, 10_000)
	sig := sign(t, w, s.Domain(), a)

	used, err := s.AuthorizationUsed(ctx, s.Network(), s.Token(), w.Address(), a.Nonce)
	if err != nil || used {
		t.Fatalf("before: used %v, %v", used, err)
	}
	h, err := s.TransferWithAuthorization(ctx, a, sig)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := dial(t, s).TransactionReceipt(ctx, h)
	if err != nil || rc.Status != 1 || len(rc.Logs) != 2 {
		t.Fatalf("receipt %+v, %v; want success with AuthorizationUsed and Transfer logs", rc, err)
	}
	if got := balance(t, s, w.Address()); got != 990_000 {
		t.Fatalf("payer holds %d, want 990000", got)
	}
	if got := balance(t, s, payee); got != 10_000 {
		t.Fatalf("payee holds %d, want 10000", got)
	}
	if used, err := s.AuthorizationUsed(ctx, s.Network(), s.Token(), w.Address(), a.Nonce); err != nil || !used {
		t.Fatalf("after: used %v, %v", used, err)
	}

	// The replay reverts before anything is sent, and moves nothing.
	h2, err := s.TransferWithAuthorization(ctx, a, sig)
	if !errors.Is(err, evm.ErrReverted) || !strings.Contains(err.Error(), "authorization is used") || h2 != (common.Hash{}) {
		t.Fatalf("replay: %v, hash %s", err, h2.Hex())
	}
	if balance(t, s, w.Address()) != 990_000 || balance(t, s, payee) != 10_000 {
		t.Fatal("the replay moved money")
	}

	// v = 0/1 is accepted as 27/28.
	a2 := auth(t, w, 1)
	sig2 := sign(t, w, s.Domain(), a2)
	sig2[64] -= 27
	if _, err := s.TransferWithAuthorization(ctx, a2, sig2); err != nil {
		t.Fatalf("v as 0/1: %v", err)
	}
}

func TestTransferBytesOverload(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	w := key(t, anvilKey0)
	if err := s.Mint(ctx, w.Address(), 100); err != nil {
		t.Fatal(err)
	}
	a := auth(t, w, 100)
	sig := sign(t, w, s.Domain(), a)
	data, err := transferBytes.Inputs.Pack(a.From, a.To, a.Value, a.ValidAfter, a.ValidBefore, a.Nonce, sig)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	_, err = s.sendLocked(ctx, &s.token.addr, append(append([]byte{}, transferBytes.ID...), data...))
	s.mu.Unlock()
	if err != nil {
		t.Fatalf("bytes overload: %v", err)
	}
	if balance(t, s, payee) != 100 {
		t.Fatal("bytes overload moved nothing")
	}
	// Through TransferWithAuthorization, a signature that is not 65 bytes
	// takes the bytes overload, which accepts only 65.
	_, err = s.TransferWithAuthorization(ctx, auth(t, w, 1), append(sig, 0))
	if !errors.Is(err, evm.ErrReverted) || !strings.Contains(err.Error(), "invalid signature length") {
		t.Fatalf("66-byte signature: %v", err)
	}
}

func TestTokenRefuses(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	w, other := key(t, anvilKey0), key(t, anvilKey1)
	if err := s.Mint(ctx, w.Address(), 1_000); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	tests := []struct {
		name   string
		mod    func(a *evm.Authorization)
		sign   func(a evm.Authorization) []byte
		reason string
	}{
		{name: "expired", mod: func(a *evm.Authorization) { a.ValidBefore = big.NewInt(now - 1) }, reason: "authorization is expired"},
		{name: "not yet valid", mod: func(a *evm.Authorization) { a.ValidAfter = big.NewInt(now + 3600) }, reason: "authorization is not yet valid"},
		{name: "over balance", mod: func(a *evm.Authorization) { a.Value = big.NewInt(1_001) }, reason: "exceeds balance"},
		{name: "signed by another key", sign: func(a evm.Authorization) []byte {
			sig, _ := other.SignDigest(context.Background(), evm.Digest(s.Domain().Separator(), a.StructHash()))
			return sig
		}, reason: "invalid signature"},
		{name: "other domain", sign: func(a evm.Authorization) []byte {
			d := s.Domain()
			d.Name = "USD Coin"
			return sign(t, w, d, a)
		}, reason: "invalid signature"},
		{name: "high s", sign: func(a evm.Authorization) []byte {
			// (r, n-s, v^1) is the same signature, malleated.
			sig := sign(t, w, s.Domain(), a)
			n, _ := new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)
			hs := new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:64]))
			copy(sig[32:64], common.LeftPadBytes(hs.Bytes(), 32))
			sig[64] = 55 - sig[64] // 27 ↔ 28
			return sig
		}, reason: "invalid signature 's' value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := auth(t, w, 10)
			if tt.mod != nil {
				tt.mod(&a)
			}
			sig := sign(t, w, s.Domain(), a)
			if tt.sign != nil {
				sig = tt.sign(a)
			}
			h, err := s.TransferWithAuthorization(ctx, a, sig)
			if !errors.Is(err, evm.ErrReverted) || !strings.Contains(err.Error(), tt.reason) || h != (common.Hash{}) {
				t.Fatalf("err %v, hash %s; want a revert for %q and no transaction", err, h.Hex(), tt.reason)
			}
			if used, _ := s.AuthorizationUsed(ctx, s.Network(), s.Token(), w.Address(), a.Nonce); used {
				t.Fatal("nonce used by a refused transfer")
			}
		})
	}
	if balance(t, s, w.Address()) != 1_000 {
		t.Fatal("a refused transfer moved money")
	}
	// Only the deployer (the relayer) mints.
	data, _ := TokenABI.Pack("mint", other.Address(), big.NewInt(1))
	_, err := s.Client().EstimateGas(ctx, ethereum.CallMsg{From: other.Address(), To: &s.token.addr, Data: data})
	if err == nil || !strings.Contains(err.Error(), "caller is not the minter") {
		t.Fatalf("mint by another account: %v", err)
	}
}

// TestExpiredOnChain: an authorization that expires on chain unused stays
// unused, which is what lets reconciliation release it.
func TestExpiredOnChain(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	w := key(t, anvilKey0)
	if err := s.Mint(ctx, w.Address(), 1_000); err != nil {
		t.Fatal(err)
	}
	a := auth(t, w, 10)
	a.ValidBefore = big.NewInt(time.Now().Unix() + 60)
	if err := s.AdjustTime(2 * time.Hour); err != nil {
		t.Fatal(err)
	}
	ct, err := s.Time(ctx)
	if err != nil || ct.Unix() <= a.ValidBefore.Int64() {
		t.Fatalf("chain time %v (%v), want past validBefore %s", ct, err, a.ValidBefore)
	}
	if _, err := s.TransferWithAuthorization(ctx, a, sign(t, w, s.Domain(), a)); !errors.Is(err, evm.ErrReverted) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("transfer after expiry: %v", err)
	}
	// Later blocks keep the adjusted time: a fresh authorization valid for
	// five minutes of wall-clock time is expired too.
	b := auth(t, w, 10)
	if _, err := s.TransferWithAuthorization(ctx, b, sign(t, w, s.Domain(), b)); !errors.Is(err, evm.ErrReverted) {
		t.Fatalf("transfer in the adjusted future: %v", err)
	}
	used, err := evm.NewRPCChecker(map[payments.Network]string{s.Network(): s.URL()}).AuthorizationUsed(ctx, s.Network(), s.Token(), w.Address(), a.Nonce)
	if err != nil || used {
		t.Fatalf("expired authorization: used %v, %v", used, err)
	}
}

func TestRPCChecker(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	w := key(t, anvilKey0)
	if err := s.Mint(ctx, w.Address(), 50_000); err != nil {
		t.Fatal(err)
	}
	c := evm.NewRPCChecker(map[payments.Network]string{s.Network(): s.URL()})
	defer c.Close()
	a := auth(t, w, 20_000)
	used, err := c.AuthorizationUsed(ctx, s.Network(), s.Token(), w.Address(), a.Nonce)
	if err != nil || used {
		t.Fatalf("before settlement: used %v, %v", used, err)
	}
	if _, err := s.TransferWithAuthorization(ctx, a, sign(t, w, s.Domain(), a)); err != nil {
		t.Fatal(err)
	}
	used, err = c.AuthorizationUsed(ctx, s.Network(), s.Token(), w.Address(), a.Nonce)
	if err != nil || !used {
		t.Fatalf("after settlement: used %v, %v", used, err)
	}
	if b, err := c.Balance(ctx, "eip155:1337", s.Token(), w.Address()); err != nil || b != 30_000 {
		t.Fatalf("balance %d, %v", b, err)
	}
	// Another payer's nonce, the same bytes: unused.
	if used, _ := c.AuthorizationUsed(ctx, s.Network(), s.Token(), payee, a.Nonce); used {
		t.Fatal("nonce of another payer reported used")
	}
}

// TestRPCCheckerOverHTTPAndWebSocket: chain's own JSON-RPC client reads the
// real node's chain id, token and clock over both transports.
func TestRPCCheckerOverHTTPAndWebSocket(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	w := key(t, anvilKey0)
	if err := s.Mint(ctx, w.Address(), 7_000); err != nil {
		t.Fatal(err)
	}
	a := auth(t, w, 2_000)
	if _, err := s.TransferWithAuthorization(ctx, a, sign(t, w, s.Domain(), a)); err != nil {
		t.Fatal(err)
	}
	simTime, err := s.Time(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{s.URL(), s.WSURL()} {
		t.Run(strings.SplitN(u, ":", 2)[0], func(t *testing.T) {
			c := evm.NewRPCChecker(map[payments.Network]string{s.Network(): u})
			defer c.Close()
			if used, err := c.AuthorizationUsed(ctx, s.Network(), s.Token(), w.Address(), a.Nonce); err != nil || !used {
				t.Fatalf("settled authorization: used %v, %v", used, err)
			}
			if used, err := c.AuthorizationUsed(ctx, s.Network(), s.Token(), w.Address(), nonce(t)); err != nil || used {
				t.Fatalf("fresh nonce: used %v, %v", used, err)
			}
			if b, err := c.Balance(ctx, s.Network(), s.Token(), w.Address()); err != nil || b != 5_000 {
				t.Fatalf("balance %d, %v", b, err)
			}
			if ct, err := c.ChainTime(ctx, s.Network()); err != nil || !ct.Equal(simTime) {
				t.Fatalf("chain time %v, %v; the sim says %v", ct, err, simTime)
			}
			cl, err := evm.Dial(u)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if id, err := cl.ChainID(ctx); err != nil || id.Int64() != ChainID {
				t.Fatalf("chain id %v, %v", id, err)
			}
			if ds, err := evm.DomainSeparator(ctx, cl, s.Token()); err != nil || ds != s.Domain().Separator() {
				t.Fatalf("DOMAIN_SEPARATOR %s, %v", ds.Hex(), err)
			}
			// A call the EVM reverts (mint by someone else than the minter
			// is not a view, but eth_call runs it) is ErrReverted.
			data, _ := TokenABI.Pack("mint", w.Address(), big.NewInt(1))
			if _, err := cl.Call(ctx, s.Token(), data); !errors.Is(err, evm.ErrReverted) || !strings.Contains(err.Error(), "caller is not the minter") {
				t.Fatalf("reverting call: %v", err)
			}
		})
	}
}

func TestRPCCheckerErrors(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	w := key(t, anvilKey0)
	const secret = "sk_live_0123456789"
	c := evm.NewRPCChecker(map[payments.Network]string{
		"eip155:1337": s.URL(),
		"base":        s.URL(),                                                                   // a v1 name, and a node on the wrong chain
		"eip155:1":    "https://user:" + secret + "@127.0.0.1:1/v2/" + secret + "?key=" + secret, // nobody listens there
	})
	defer c.Close()
	tests := []struct {
		name    string
		network payments.Network
		asset   common.Address
		want    string
	}{
		{"no rpc_url", "eip155:84532", s.Token(), "no rpc_url configured for eip155:84532: add rpc: {eip155:84532: https://…} to registry.yaml"},
		{"not a network", "solana:mainnet", s.Token(), "not an EVM network"},
		{"wrong chain", "eip155:8453", s.Token(), "serves chain 1337, not 8453"},
		{"unreachable", "eip155:1", s.Token(), "https://127.0.0.1:1/…"},
		{"no contract", "eip155:1337", payee, "no answer (is a token contract deployed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used, err := c.AuthorizationUsed(ctx, tt.network, tt.asset, w.Address(), nonce(t))
			if err == nil || used || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the URL's secret: %v", err)
			}
		})
	}
	if got := evm.RedactURL("https://user:pw@base.example/v2/" + secret); got != "https://base.example/…" {
		t.Fatalf("evm.RedactURL = %q", got)
	}
}

// TestTokenDecimals: the RPC checker reads each token's decimals() over
// JSON-RPC, as serve does for an asset whose decimals registry.yaml leaves
// out or declares (a mismatch refuses to start); tokens of 18, 6 and 2
// decimals on one chain, and an address with no token, which is an error
// rather than a guess.
func TestTokenDecimals(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	c := evm.NewRPCChecker(map[payments.Network]string{s.Network(): s.URL()})
	defer c.Close()
	for _, tc := range []struct {
		symbol   string
		decimals uint8
	}{{"WETH", 18}, {"JPYX", 2}, {"ZERO", 0}} {
		tok, err := s.DeployToken(ctx, TokenOptions{Name: tc.symbol + " Token", Version: "1", Symbol: tc.symbol, Decimals: tc.decimals})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decimals(ctx, s.Network(), tok.Address().Hex())
		if err != nil || got != int(tc.decimals) {
			t.Fatalf("%s: decimals %d, %v; want %d", tc.symbol, got, err, tc.decimals)
		}
		if tok.Address() == s.Token() {
			t.Fatalf("%s was deployed at the default token's address", tc.symbol)
		}
	}
	if got, err := c.Decimals(ctx, s.Network(), s.Token().Hex()); err != nil || got != 6 {
		t.Fatalf("default token: decimals %d, %v; want 6", got, err)
	}
	if _, err := c.Decimals(ctx, s.Network(), payee.Hex()); err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("decimals of an address without a token: %v", err)
	}
	if _, err := c.Decimals(ctx, "eip155:8453", s.Token().Hex()); err == nil || !strings.Contains(err.Error(), "no rpc_url") {
		t.Fatalf("decimals on a network without rpc: %v", err)
	}
}
