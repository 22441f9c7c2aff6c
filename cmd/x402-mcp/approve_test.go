package main

import (
	"context"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/internal/simchain"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// TestApprovePermit2: `wallet approve-permit2` shows the approval it would
// send (token, owner, spender Permit2, the allowance now and after, the
// most the gas may cost), sends nothing unless told to, and then sends
// approve(Permit2, amount) from the wallet through the registry's rpc:
// endpoint, on a real chain: the allowance is exactly the amount given.
func TestApprovePermit2(t *testing.T) {
	ctx := context.Background()
	sim, err := simchain.Start(ctx, simchain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	tok, err := sim.DeployERC20(ctx, "Plain Dollar", "PUSD", 6)
	if err != nil {
		t.Fatal(err)
	}
	const anvil0 = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
	owner := common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
	cat := writeFile(t, `version: 1
defaults:
  networks: [eip155:1337]
rpc:
  eip155:1337: `+sim.URL()+`
assets:
  - {symbol: PUSD, network: eip155:1337, address: "`+tok.Address().Hex()+`", decimals: 6, transfer: permit2, budget: {total: "5"}}
tools:
  - {name: page, description: d, url: "https://a.example/p", max_price: "0.01", asset: PUSD}
`)
	env := map[string]string{"X402_PRIVATE_KEY": anvil0}
	args := []string{"wallet", "approve-permit2", "--network", "eip155:1337", "--asset", "PUSD", "--amount", "1.5", "--registry", cat}
	allowance := func() *big.Int {
		a, err := tok.Allowance(ctx, owner, evm.Permit2Address)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	// No gas money: refused before anything is sent.
	_, _, err = runCmd(t, env, append(args, "--yes")...)
	if err == nil || !strings.Contains(err.Error(), "fund it with the network's native currency first") {
		t.Fatalf("without ETH: %v", err)
	}
	if err := sim.FundETH(ctx, owner, big.NewInt(1e17)); err != nil {
		t.Fatal(err)
	}

	// Asked, and not answered y (no answer at all is no): nothing sent. A
	// failure to read the answer says so.
	for _, tt := range []struct {
		name    string
		stdin   io.Reader
		errLike string
	}{
		{"no answer", strings.NewReader(""), "answer y to send it"},
		{"n", strings.NewReader("n\n"), "answer y to send it"},
		{"yes, then no newline", strings.NewReader("maybe"), "answer y to send it"},
		{"stdin fails", iotest.ErrReader(errors.New("input/output error")), "cannot read the answer: input/output error"},
	} {
		var stdout, stderr strings.Builder
		err := run(ctx, args, func(k string) string { return env[k] }, tt.stdin, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.errLike) || allowance().Sign() != 0 {
			t.Fatalf("%s: %v, want %q and nothing sent\n%s", tt.name, err, tt.errLike, stdout.String())
		}
	}
	out, _, err := runCmd(t, env, args...)
	if err == nil || !strings.Contains(out, "nothing sent") || allowance().Sign() != 0 {
		t.Fatalf("unanswered: %v\n%s", err, out)
	}
	for _, want := range []string{
		"approve-permit2 on eip155:1337", "token:     PUSD " + tok.Address().Hex(), "owner:     " + owner.Hex(),
		"spender:   Permit2 0x000000000022D473030F116dDEE9F6B43aC78BA3", "allowance: 0 PUSD now, 1.5 PUSD after (1500000 atomic units)",
		"gas:       at most ", "Send it? [y/N]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}

	// Answered y: sent, mined, and the allowance is exactly the amount.
	stop := sim.MineEvery(50 * time.Millisecond)
	defer stop()
	var stdout, stderr strings.Builder
	err = run(ctx, args, func(k string) string { return env[k] }, strings.NewReader("y\n"), &stdout, &stderr)
	if err != nil {
		t.Fatalf("approve: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if got := allowance(); got.Int64() != 1_500_000 {
		t.Fatalf("allowance after approving 1.5: %s, want 1500000", got)
	}
	if !strings.Contains(stdout.String(), "approved: transaction 0x") {
		t.Fatalf("output:\n%s", stdout.String())
	}
	// The same again: nothing to send.
	out, _, err = runCmd(t, env, append(args, "--yes")...)
	if err != nil || !strings.Contains(out, "already that: nothing to send") {
		t.Fatalf("again: %v\n%s", err, out)
	}
	// Bad input: a clear usage error.
	for _, bad := range [][]string{
		{"wallet", "approve-permit2", "--network", "eip155:1337", "--asset", "PUSD"},
		{"wallet", "approve-permit2", "--network", "eip155:1337", "--asset", "PUSD", "--amount", "0", "--registry", cat},
		{"wallet", "approve-permit2", "--network", "eip155:1337", "--asset", "WETH", "--amount", "1", "--registry", cat},
	} {
		if _, _, err := runCmd(t, env, bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	// A Solana network: Permit2 is an EVM contract, and nothing is sent.
	_, _, err = runCmd(t, env, "wallet", "approve-permit2", "--network", "solana-devnet", "--asset", "USDC", "--amount", "1", "--registry", cat)
	if err == nil || !strings.Contains(err.Error(), "solana-devnet is a Solana network") || !strings.Contains(err.Error(), "need no approval") {
		t.Errorf("approve-permit2 on Solana devnet: %v", err)
	}
}
