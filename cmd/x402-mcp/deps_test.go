package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// heavyDeps are packages the binary must not link (issue 6: start-up time
// and memory). go-ethereum's rpc, ethclient and accounts pull OpenTelemetry,
// gopsutil and metrics; its abi and core/types pull the KZG and BLS12-381
// cryptography of blob transactions. payments/evm speaks JSON-RPC and the
// token's ABI itself, and payments/wallet reads keystores itself; the
// simulated chain (internal/simchain) links them only with -tags
// simchain.
var heavyDeps = regexp.MustCompile(`core/types|kzg|gnark|otel|gopsutil|go-ethereum/rpc|go-ethereum/accounts|go-ethereum/ethclient|go-ethereum/core|go-ethereum/params|go-ethereum/metrics`)

func TestBinaryLinksNoHeavyDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH, so the binary's dependencies cannot be listed (CI runs this test)")
	}
	// -tags= : the release build, whatever GOFLAGS says.
	out, err := exec.Command(goTool, "list", "-tags=", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	var heavy []string
	for _, d := range deps {
		if heavyDeps.MatchString(d) {
			heavy = append(heavy, d)
		}
	}
	if len(heavy) > 0 {
		t.Errorf("the x402-mcp binary links %d packages it must not (see `go list -deps ./cmd/x402-mcp`; keep go-ethereum to common and crypto outside simchain and tests):\n  %s",
			len(heavy), strings.Join(heavy, "\n  "))
	}
	// The list is the real one: it has the packages the binary reads chains
	// and keystores with.
	for _, want := range []string{"github.com/x402-mcp/x402-mcp/payments/evm", "golang.org/x/crypto/scrypt", "github.com/ethereum/go-ethereum/crypto"} {
		if !strings.Contains("\n"+string(out), "\n"+want+"\n") {
			t.Errorf("go list -deps does not show %s: is this the binary's list?\n%s", want, out)
		}
	}
	// With the simulated chain linked (-tags simchain, for `demo --chain`),
	// the same check finds go-ethereum's node: the pattern does match.
	out, err = exec.Command(goTool, "list", "-tags=simchain", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -tags simchain -deps: %v\n%s", err, out)
	}
	if !heavyDeps.MatchString(string(out)) {
		t.Error("with -tags simchain the binary links no go-ethereum node: the pattern above checks nothing")
	}
}

// TestLayersKnowNoChain: the paying core, the catalog and the server know
// no chain: none of them links go-ethereum, solana-go or a network family
// (every family is a package beside payments/evm and payments/svm that the
// command wires in), and
// the families and the wire format never import what is above them.
func TestLayersKnowNoChain(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH, so the dependencies cannot be listed (CI runs this test)")
	}
	const mod = "github.com/x402-mcp/x402-mcp/"
	chain := regexp.MustCompile(`^github\.com/ethereum/go-ethereum|^github\.com/gagliardetto/|^` + regexp.QuoteMeta(mod) + `payments/(evm|svm|wallet)$`)
	above := regexp.MustCompile(`^` + regexp.QuoteMeta(mod) + `(server|tools|cmd)(/|$)`)
	for _, tt := range []struct {
		pkg  string
		deny *regexp.Regexp
	}{
		{"payments", chain},
		{"payments/ledger", chain},
		{"payments/x402", regexp.MustCompile(chain.String() + `|^` + regexp.QuoteMeta(mod) + `payments$`)},
		{"payments/facilitator", regexp.MustCompile(chain.String() + `|^` + regexp.QuoteMeta(mod) + `payments$`)},
		{"tools", chain},
		{"tools/discover", chain},
		{"server", chain},
		{"payments/evm", above},
		{"payments/svm", above},
		{"payments/wallet", above},
	} {
		out, err := exec.Command(goTool, "list", "-tags=", "-deps", mod+tt.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", tt.pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 2 || deps[len(deps)-1] != mod+tt.pkg {
			t.Fatalf("go list -deps %s listed %d packages, not ending with it: is this the list?", tt.pkg, len(deps))
		}
		for _, d := range deps {
			if tt.deny.MatchString(d) {
				t.Errorf("%s depends on %s", tt.pkg, d)
			}
		}
	}
}
