package keytest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Clef is a running clef, headless: its rules file approves or rejects
// every request and its credential store holds the account's password, so
// that no human is asked.
type Clef struct {
	// IPC is the path of its IPC socket; HTTP its HTTP endpoint's URL.
	IPC, HTTP string
	// Address is the one account it holds, made for the test.
	Address common.Address
	cmd     *exec.Cmd
	log     *syncBuffer
	exited  chan struct{}
}

// ClefRules is what the rules file of docs/clef/rules.js allows: the file
// itself, with its lists and limits set to these.
type ClefRules struct {
	ChainIDs []int64
	Tokens   []common.Address
	Payees   []common.Address
	// MaxAmount is the largest payment, in the token's atomic units.
	MaxAmount uint64
	// MaxAllowance is the largest approval of Permit2 it signs (0: none).
	MaxAllowance uint64
}

// RulesFile returns docs/clef/rules.js with its lists set to r. It fails t
// if the file no longer declares them.
func (r ClefRules) RulesFile(t testing.TB) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "docs", "clef", "rules.js"))
	if err != nil {
		t.Fatal(err)
	}
	js := string(b)
	quote := func(ss []string) string { return `["` + strings.Join(ss, `", "`) + `"]` }
	var chains, tokens, payees []string
	for _, c := range r.ChainIDs {
		chains = append(chains, fmt.Sprint(c))
	}
	for _, a := range r.Tokens {
		tokens = append(tokens, a.Hex())
	}
	for _, a := range r.Payees {
		payees = append(payees, a.Hex())
	}
	for name, value := range map[string]string{"CHAIN_IDS": quote(chains), "TOKENS": quote(tokens), "PAYEES": quote(payees), "MAX_AMOUNT": fmt.Sprintf("%q", fmt.Sprint(r.MaxAmount)),
		"MAX_ALLOWANCE": fmt.Sprintf("%q", fmt.Sprint(r.MaxAllowance))} {
		re := regexp.MustCompile(`(?m)^var ` + name + ` = .*;$`)
		if !re.MatchString(js) {
			t.Fatalf("docs/clef/rules.js declares no `var %s = …;` line", name)
		}
		js = re.ReplaceAllLiteralString(js, "var "+name+" = "+value+";")
	}
	return js
}

const (
	clefMasterPassword  = "master password for the test"
	clefAccountPassword = "account password for the test"
)

// StartClef makes a new account in a new clef keystore, stores its
// password in clef's credential store, attests the rules file r and starts
// clef with it, serving IPC and HTTP on loopback. clef stops when t ends.
func StartClef(t testing.TB, r ClefRules) *Clef {
	t.Helper()
	bin := Tool(t, "clef")
	// A short folder: a unix socket's path is limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "clef")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("keytest: remove clef's folder: %v", err)
		}
	})
	ks, cfg := filepath.Join(dir, "ks"), filepath.Join(dir, "cfg")
	base := []string{"--suppress-bootwarn", "--lightkdf", "--nousb", "--keystore", ks, "--configdir", cfg}
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(append([]string{}, base...), args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("clef %s: %v\n%s", args[0], err, out)
		}
		return string(out)
	}

	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)
	keyFile := filepath.Join(dir, "key.hex")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(crypto.FromECDSA(key))), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := clefAccountPassword + "\n"
	if out := run(pw+pw, "importraw", keyFile); !strings.Contains(out, addr.Hex()) {
		t.Fatalf("clef importraw did not import %s:\n%s", addr.Hex(), out)
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	mp := clefMasterPassword + "\n"
	run(mp+mp, "init")
	run(pw+pw+mp, "setpw", addr.Hex())
	rules := filepath.Join(dir, "rules.js")
	js := r.RulesFile(t)
	if err := os.WriteFile(rules, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(js))
	run(mp, "attest", hex.EncodeToString(sum[:]))

	chain := int64(1)
	if len(r.ChainIDs) > 0 {
		chain = r.ChainIDs[0]
	}
	c := &Clef{Address: addr, log: &syncBuffer{}}
	c.cmd = exec.Command(bin, append(append([]string{}, base...),
		"--chainid", fmt.Sprint(chain), "--rules", rules, "--ipcpath", cfg, "--auditlog", filepath.Join(dir, "audit.log"),
		"--http", "--http.addr", "127.0.0.1", "--http.port", "0", "--http.vhosts", "127.0.0.1")...)
	// The master password, then end of input: a request the rules leave
	// undecided fails at once instead of waiting for a human.
	c.cmd.Stdin = strings.NewReader(mp)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.exited = make(chan struct{})
	// The exit status is dropped: stopProcess ends it, so it says nothing.
	go func() { _ = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() { stopProcess(t, "clef", c.cmd, c.exited, 10*time.Second) })
	ipcRe := regexp.MustCompile(`IPC endpoint opened\s+url=(\S+)`)
	httpRe := regexp.MustCompile(`HTTP endpoint opened\s+url=(\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := c.log.String()
		if m := ipcRe.FindStringSubmatch(out); m != nil {
			c.IPC = m[1]
		}
		if m := httpRe.FindStringSubmatch(out); m != nil {
			c.HTTP = m[1]
		}
		if c.IPC != "" && c.HTTP != "" && strings.Contains(out, "Rule engine configured") {
			return c
		}
		select {
		case <-c.exited:
			t.Fatalf("clef exited:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("clef %v:\n%s", errNotReady, out)
		}
	}
}

// Log returns what clef has logged.
func (c *Clef) Log() string { return c.log.String() }

// syncBuffer collects a process's output safely across goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
