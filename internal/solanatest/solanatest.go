// Package solanatest starts a real Solana for tests: Surfnet, an offline
// Solana network with JSON-RPC on loopback (npm @solana/surfpool), with a
// USDC mint at the devnet address and a Token-2022 mint, and the reference
// x402 facilitator for Solana (npm @x402/svm's exact facilitator) over HTTP,
// pointed at it under the devnet id. Both run in one Node process,
// test/solana/harness.mjs, which stops when its stdin closes.
//
// It is for tests only. Its npm packages come from test/solana's lockfile:
// .ci/run installs them; locally run (cd test/solana && npm ci). Without
// them a test is skipped with a message naming that command, or fails under
// .ci/run (X402_REQUIRE_SOLANA, package component).
package solanatest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/component"
	"github.com/x402-mcp/x402-mcp/internal/mustjson"
)

// Env is a running Solana and facilitator.
type Env struct {
	// RPCURL is Surfnet's JSON-RPC endpoint.
	RPCURL string `json:"rpcUrl"`
	// FacilitatorURL serves POST /verify, POST /settle and GET /supported.
	FacilitatorURL string `json:"facilitatorUrl"`
	// FeePayer is the facilitator's fee payer (extra.feePayer).
	FeePayer string `json:"feePayer"`
	// USDCMint is the devnet USDC mint (Token program, 6 decimals).
	USDCMint string `json:"usdcMint"`
	// Token2022Mint is a mint owned by Token-2022 (6 decimals).
	Token2022Mint string `json:"token2022Mint"`
	// Network is the devnet CAIP-2 id the facilitator serves.
	Network string `json:"network"`
	// SlotMs is the slot time: a blockhash lives about 120 to 150 slots.
	SlotMs int `json:"slotMs"`
}

// Options configure Start.
type Options struct {
	// SlotMs is Surfnet's slot time in milliseconds (default 100).
	SlotMs int
}

// Dir is test/solana in this repository.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "test", "solana")
}

// Require returns when Node.js and test/solana's npm packages are here;
// otherwise a plain go test skips t, naming the command that installs them,
// and the README's test command (.ci/run, which sets X402_REQUIRE_SOLANA)
// fails it.
func Require(t testing.TB) {
	t.Helper()
	for _, p := range []string{"@solana/surfpool-linux-x64-gnu", "@x402/svm", "@x402/core", "@solana/kit"} {
		component.RequireNode(t, component.Node{
			Env:     component.EnvSolana,
			For:     "the real-Solana tests run Surfnet and the reference x402 Solana facilitator (test/solana)",
			Modules: "test/solana/node_modules/" + p,
			Check:   filepath.Join(Dir(), "node_modules", p, "package.json"),
			Install: "(cd test/solana && npm ci)",
			Run:     "go test ./payments/svm ./test",
		})
	}
}

// Start starts the harness and stops it when t ends.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	Require(t)
	if o.SlotMs == 0 {
		o.SlotMs = 100
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", filepath.Join(Dir(), "harness.mjs"), "--slot-ms", strconv.Itoa(o.SlotMs))
	cmd.Dir = Dir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start node harness.mjs: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		// Closing stdin ends the harness; its exit status says nothing more.
		_ = stdin.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		s.Buffer(make([]byte, 64<<10), 64<<10)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout) // drained only so the harness never blocks
	}()
	var env Env
	select {
	case l, ok := <-line:
		if !ok {
			t.Fatalf("harness.mjs printed nothing; stderr:\n%s", stderr.String())
		}
		if err := json.Unmarshal([]byte(l), &env); err != nil {
			t.Fatalf("harness.mjs printed %q: %v", l, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("harness.mjs did not start within 60 s; stderr:\n%s", stderr.String())
	}
	return &env
}

// post sends a JSON body to the harness and decodes the answer.
func (e *Env) post(t testing.TB, path string, body, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(e.FacilitatorURL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d: %s", path, resp.StatusCode, rb)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			t.Fatalf("POST %s: %v: %s", path, err, rb)
		}
	}
}

// Fund gives owner lamports of SOL (if > 0) and amount atomic units of mint
// (if mint is set) in its associated token account, created as needed.
func (e *Env) Fund(t testing.TB, owner string, lamports uint64, mint string, amount uint64) {
	t.Helper()
	body := map[string]any{"owner": owner}
	if lamports > 0 {
		body["sol"] = lamports
	}
	if mint != "" {
		body["mint"], body["amount"] = mint, amount
	}
	e.post(t, "/fund", body, nil)
}

// ATA names owner's associated token account of mint (under the mint's
// token program), as Surfnet derives it.
func (e *Env) ATA(t testing.TB, owner, mint string) string {
	t.Helper()
	resp, err := http.Get(e.FacilitatorURL + "/ata?owner=" + url.QueryEscape(owner) + "&mint=" + url.QueryEscape(mint))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ATA string `json:"ata"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.ATA
}

// Balance reads owner's balance of mint on chain in atomic units, 0 when it
// has no token account.
func (e *Env) Balance(t testing.TB, owner, mint string) uint64 {
	t.Helper()
	ata := e.ATA(t, owner, mint)
	b := mustjson.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "getTokenAccountBalance", "params": []any{ata, map[string]string{"commitment": "confirmed"}}})
	resp, err := http.Post(e.RPCURL, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Result *struct {
			Value struct {
				Amount string `json:"amount"`
			} `json:"value"`
		} `json:"result"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Result == nil {
		return 0
	}
	v, err := strconv.ParseUint(out.Result.Value.Amount, 10, 64)
	if err != nil {
		t.Fatalf("balance %q: %v", out.Result.Value.Amount, err)
	}
	return v
}

// Answer is the facilitator's answer to /verify or /settle.
type Answer struct {
	IsValid       bool   `json:"isValid"`
	InvalidReason string `json:"invalidReason"`
	// InvalidMessage is the detail of a refusal (a simulation's error).
	InvalidMessage string `json:"invalidMessage"`
	Success        bool   `json:"success"`
	ErrorReason    string `json:"errorReason"`
	ErrorMessage   string `json:"errorMessage"`
	Transaction    string `json:"transaction"`
	Payer          string `json:"payer"`
	Network        string `json:"network"`
}

// Reason is the refusal's reason, from verify or settle.
func (a Answer) Reason() string {
	if a.InvalidReason != "" {
		return a.InvalidReason
	}
	return a.ErrorReason
}

// Verify and Settle call the reference facilitator with a payment payload
// and the requirements it answers.
func (e *Env) Verify(t testing.TB, version int, payload, requirements any) Answer {
	t.Helper()
	var a Answer
	e.post(t, "/verify", map[string]any{"x402Version": version, "paymentPayload": payload, "paymentRequirements": requirements}, &a)
	return a
}

// Settle: see Verify.
func (e *Env) Settle(t testing.TB, version int, payload, requirements any) Answer {
	t.Helper()
	var a Answer
	e.post(t, "/settle", map[string]any{"x402Version": version, "paymentPayload": payload, "paymentRequirements": requirements}, &a)
	return a
}

// String names the environment for logs.
func (e *Env) String() string { return fmt.Sprintf("surfnet(%s, slot %d ms)", e.RPCURL, e.SlotMs) }
