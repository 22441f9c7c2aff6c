package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
)

// BenchmarkPaidToolCall measures one paid tools/call round trip: the MCP
// client writes the call to the binary's stdin, x402-mcp sends the request,
// gets the 402, signs, retries with the payment, the local seller verifies
// (ecrecover) and settles, and the result with its receipt comes back on
// stdout. Everything is on loopback. "warm" is the default (after the first
// call, the 402 round trip is skipped: see docs/warm-path.md); "cold" runs
// with --warm-path=false, every call asking the seller first.
func BenchmarkPaidToolCall(b *testing.B) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"warm", nil}, {"cold", []string{"--warm-path=false"}}} {
		b.Run(mode.name, func(b *testing.B) { benchPaidToolCall(b, mode.args) })
	}
}

func benchPaidToolCall(b *testing.B, args []string) {
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer seller.Close()
	seller.Facilitator.Fund(payer, 1_000_000_000_000)
	cat := catalog(strings.Replace(string(mainCatalog), `total: "1.00"`, `total: "1000000"`, 1))
	s := startSession(b, seller, cat, sessionOptions{env: []string{"X402_LOG_LEVEL=error"}, args: args})
	callArgs := map[string]any{"city": "paris"}
	b.ResetTimer()
	for b.Loop() {
		res := s.call("weather", callArgs)
		if res.IsError {
			b.Fatal(text(res))
		}
	}
	b.StopTimer()
	if got := seller.Facilitator.SettledCount(); got < b.N {
		b.Fatalf("%d settlements for %d calls", got, b.N)
	}
}

// BenchmarkPaidToolCallFamilies measures a warm paid tools/call over stdio
// on each family, against the local seller: EVM (Base Sepolia, EIP-3009,
// the in-memory facilitator's ecrecover) and Solana (devnet, a v0
// transaction the in-memory Solana facilitator verifies, its balances and
// blockhashes read from the seller's Solana JSON-RPC before each payment).
// Besides ns/op it reports the x402-mcp process's own CPU time per call
// (user + system, from /proc), which the Solana family should keep within
// 1.3× of EVM's.
func BenchmarkPaidToolCallFamilies(b *testing.B) {
	b.Run("evm", func(b *testing.B) {
		seller, err := localseller.Start(localseller.Config{})
		if err != nil {
			b.Fatal(err)
		}
		defer seller.Close()
		seller.Facilitator.Fund(payer, 1_000_000_000_000)
		cat := catalog(strings.Replace(string(mainCatalog), `total: "1.00"`, `total: "1000000"`, 1))
		benchWarmCalls(b, seller, cat, nil, func() int { return seller.Facilitator.SettledCount() })
	})
	b.Run("solana", func(b *testing.B) {
		sol := localseller.NewSolanaFacilitator(localseller.SolanaFacilitatorConfig{})
		seller, err := localseller.Start(localseller.Config{Solana: &localseller.SolanaConfig{PayTo: "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM", Facilitator: sol, Only: true}})
		if err != nil {
			b.Fatal(err)
		}
		defer seller.Close()
		sol.Fund(solanaTestAddress, 1_000_000_000_000)
		cat := catalog(`version: 1
defaults:
  networks: [solana-devnet]
  max_per_call: "0.05"
  timeout: 10s
budget:
  total: "1000000"
rpc:
  solana-devnet: "{{URL}}/solana/rpc"
tools:
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
`)
		benchWarmCalls(b, seller, cat, []string{solanaEnv}, sol.SettledCount)
	})
}

// benchWarmCalls runs warm paid calls of weather against seller and
// reports the binary's CPU time per call.
func benchWarmCalls(b *testing.B, seller *localseller.Running, cat catalog, env []string, settled func() int) {
	s := startSession(b, seller, cat, sessionOptions{env: append([]string{"X402_LOG_LEVEL=error"}, env...)})
	callArgs := map[string]any{"city": "paris"}
	if res := s.call("weather", callArgs); res.IsError { // the cold call that makes the entry warm
		b.Fatal(text(res))
	}
	before := settled()
	cpu0 := processCPU(b, s.cmd.Process.Pid)
	b.ResetTimer()
	for b.Loop() {
		res := s.call("weather", callArgs)
		if res.IsError {
			b.Fatal(text(res))
		}
	}
	b.StopTimer()
	cpu := processCPU(b, s.cmd.Process.Pid) - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	if got := settled() - before; got < b.N {
		b.Fatalf("%d settlements for %d calls", got, b.N)
	}
}

// processCPU is the user and system CPU time process pid has used, from
// /proc/<pid>/stat (Linux).
func processCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("no /proc to read the process's CPU time from: %v", err)
	}
	// Fields after the command name (which is in parentheses): state is
	// field 3, utime 14 and stime 15, in clock ticks (100 a second).
	rest := string(raw[strings.LastIndexByte(string(raw), ')')+2:])
	f := strings.Fields(rest)
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
