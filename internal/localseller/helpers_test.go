package localseller

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Anvil's well-known development keys #0 and #1.
const (
	anvilKey0 = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
	anvilKey1 = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
)

var anvilAddr0 = common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")

func mustWallet(t testing.TB, key string) *wallet.EVMKey {
	t.Helper()
	w, err := wallet.ParseHexKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func randomNonce(t testing.TB) [32]byte {
	t.Helper()
	var n [32]byte
	if _, err := rand.Read(n[:]); err != nil {
		t.Fatal(err)
	}
	return n
}

// domainOf returns the EIP-712 domain a requirement names.
func domainOf(t testing.TB, rq x402.Requirement) evm.Domain {
	t.Helper()
	var ex evm.Extra
	if err := json.Unmarshal(rq.Extra, &ex); err != nil {
		t.Fatal(err)
	}
	n, err := evm.ParseNetwork(rq.Network)
	if err != nil {
		t.Fatal(err)
	}
	return evm.Domain{Name: ex.Name, Version: ex.Version, ChainID: evm.ChainID(n), VerifyingContract: common.HexToAddress(rq.Asset)}
}

// authFor is the authorization an honest client signs for rq at now.
func authFor(t testing.TB, from common.Address, rq x402.Requirement, now time.Time) evm.Authorization {
	t.Helper()
	price, err := payments.ParseAtomic(rq.Price())
	if err != nil {
		t.Fatal(err)
	}
	return evm.Authorization{
		From: from, To: common.HexToAddress(rq.PayTo), Value: new(big.Int).SetUint64(uint64(price)),
		ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(now.Unix() + 300), Nonce: randomNonce(t),
	}
}

// signWith signs a under dom with signer's key, whatever a.From says.
func signWith(t testing.TB, signer *wallet.EVMKey, dom evm.Domain, a evm.Authorization) string {
	t.Helper()
	sig, err := signer.SignDigest(context.Background(), evm.Digest(dom.Separator(), a.StructHash()))
	if err != nil {
		t.Fatal(err)
	}
	return "0x" + hex.EncodeToString(sig)
}

// payloadFor builds the payment payload answering accept i of pr. mod, if
// set, changes the authorization before it is signed by w.
func payloadFor(t testing.TB, pr *x402.PaymentRequired, i int, w *wallet.EVMKey, mod func(*evm.Authorization)) *x402.PaymentPayload {
	t.Helper()
	rq := pr.Accepts[i]
	a := authFor(t, w.Address(), rq, time.Now())
	if pr.X402Version == 1 {
		a.ValidAfter = big.NewInt(time.Now().Unix() - 600)
	}
	if mod != nil {
		mod(&a)
	}
	p := &x402.PaymentPayload{
		X402Version: pr.X402Version,
		Payload:     evm.Payload{Signature: signWith(t, w, domainOf(t, rq), a), Authorization: a.JSON()}.Raw(),
	}
	if pr.X402Version == 1 {
		p.Scheme, p.Network = rq.Scheme, rq.Network
	} else {
		p.Accepted, p.Resource, p.Extensions = rq.Raw, pr.Resource, pr.Extensions
	}
	return p
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request, with the payment header of p when p is set.
func do(t testing.TB, method, url string, body []byte, p *x402.PaymentPayload) answer {
	t.Helper()
	var hName, hValue string
	if p != nil {
		var err error
		if hName, hValue, err = p.Encode(); err != nil {
			t.Fatal(err)
		}
	}
	return doHeader(t, method, url, body, hName, hValue)
}

func doHeader(t testing.TB, method, url string, body []byte, hName, hValue string) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if hName != "" {
		req.Header.Set(hName, hValue)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// challengeOf fetches url unpaid and parses its 402.
func challengeOf(t testing.TB, method, url string, body []byte) *x402.PaymentRequired {
	t.Helper()
	a := do(t, method, url, body, nil)
	if a.status != http.StatusPaymentRequired {
		t.Fatalf("%s %s: status %d, want 402 (body %s)", method, url, a.status, a.body)
	}
	pr, err := x402.ParseChallenge(a.header, a.body)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

func receiptOf(t testing.TB, h http.Header) *x402.SettlementResponse {
	t.Helper()
	sr, err := x402.ParseSettlement(h)
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// newClient returns the x402-mcp paying client with Anvil #0's key, paying
// on Base Sepolia up to 0.1 USDC a call and 1 USDC in all.
func newClient(t testing.TB) *payments.Client {
	t.Helper()
	return &payments.Client{
		HTTP:    payments.NewHTTPClient(),
		Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{mustWallet(t, anvilKey0)},
		Policy: payments.Policy{Networks: []payments.Network{"eip155:84532"}, PerCall: 100000},
		Ledger: payments.NewMemoryLedger(payments.Budget{Total: 1000000}, nil),
	}
}

// start runs a seller for one test, with Anvil #0 funded with 1 USDC.
func start(t testing.TB, cfg Config) *Running {
	t.Helper()
	run, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := run.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	run.Facilitator.Fund(anvilAddr0, 1_000_000)
	return run
}
