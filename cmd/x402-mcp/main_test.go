package main

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	x402mcp "github.com/x402-mcp/x402-mcp"
	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/pgtest"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

func runCmd(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb strings.Builder
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

func TestRunCommands(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		usage   bool   // a usage error (exit 2)
		out     string // in stdout
		stderr  string // in stderr
		errLike string // in the error
	}{
		{name: "version", args: []string{"version"}, out: "x402-mcp"},
		{name: "version flag", args: []string{"--version"}, out: "x402-mcp "},
		{name: "version single dash", args: []string{"-version"}, out: "x402-mcp "},
		{name: "help", args: []string{"help"}, out: "usage: x402-mcp"},
		{name: "help flag", args: []string{"--help"}, out: "registry add URL"},
		{name: "help short flag", args: []string{"-h"}, out: "ledger list"},
		{name: "help single dash", args: []string{"-help"}, out: "commands:"},
		{name: "help names the warm path and the reconcile period", args: []string{"--help"}, out: "[--warm-path=false] [--reconcile-every 5m]"},
		{name: "help names import's header", args: []string{"--help"}, out: "[--header 'NAME: VALUE']"},
		{name: "help says reconcile resolves refused payments too", args: []string{"--help"}, out: "refused, unknown or signed"},
		{name: "serve help", args: []string{"serve", "--help"}, stderr: "-registry"},
		{name: "registry add help", args: []string{"registry", "add", "-h"}, stderr: "-method"},
		{name: "unknown command", args: []string{"frobnicate"}, usage: true, errLike: "unknown command"},
		{name: "check built-in", args: []string{"check"}, out: "weather"},
		{name: "check missing file", args: []string{"check", "/nonexistent/registry.yaml"}, errLike: "registry file not found"},
		{name: "check two files", args: []string{"check", "a", "b"}, usage: true, errLike: "at most one"},
		{name: "serve without wallet", args: []string{"serve"}, errLike: "no wallet configured"},
		{name: "serve bad flag", args: []string{"serve", "--nope"}, usage: true},
		{name: "serve pprof beyond loopback", args: []string{"serve", "--pprof", "0.0.0.0:6060"}, usage: true, errLike: "loopback only"},
		{name: "serve pprof no port", args: []string{"serve", "--pprof", "127.0.0.1"}, usage: true, errLike: "--pprof"},
		{name: "serve negative reconcile period", args: []string{"serve", "--reconcile-every", "-1s"}, usage: true, errLike: "--reconcile-every -1s"},
		// Refused before the wallet or the ledger is opened.
		{name: "serve cors origin without token", args: []string{"serve", "--http", "127.0.0.1:0", "--cors-origin", "https://app.example"}, errLike: "refusing --cors-origin without a bearer token"},
		{name: "serve cors any origin", args: []string{"serve", "--http", "127.0.0.1:0", "--cors-origin", "*"}, env: map[string]string{"X402_MCP_TOKEN": "0123456789abcdef0123"}, errLike: "exact origin"},
		{name: "wallet no subcommand", args: []string{"wallet"}, usage: true, errLike: "new, address, show or approve-permit2"},
		{name: "wallet new entry without keychain", args: []string{"wallet", "new", "--entry", "x402-mcp/pay"}, usage: true, errLike: "give --keychain with it"},
		{name: "wallet new keychain and dir", args: []string{"wallet", "new", "--keychain", "--dir", "DIR"}, usage: true, errLike: "give one of them"},
		{name: "wallet new keychain bad entry", args: []string{"wallet", "new", "--keychain", "--entry", "x402-mcp"}, usage: true, errLike: "is not <service>/<account>"},
		{name: "wallet new short passphrase", args: []string{"wallet", "new", "--dir", "DIR"}, env: map[string]string{"X402_KEYSTORE_PASSWORD": "short"}, errLike: "at least 8"},
		{name: "seller bad amount", args: []string{"seller", "--amount", "1.1234567"}, usage: true, errLike: "decimals"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, a := range tt.args {
				if a == "DIR" {
					tt.args[i] = t.TempDir()
				}
			}
			out, stderr, err := runCmd(t, tt.env, tt.args...)
			var u usageError
			if errors.As(err, &u) != tt.usage {
				t.Fatalf("err = %v, usage error %v", err, tt.usage)
			}
			if tt.errLike != "" && (err == nil || !strings.Contains(err.Error(), tt.errLike)) {
				t.Fatalf("err = %v, want %q", err, tt.errLike)
			}
			if tt.errLike == "" && !tt.usage && err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tt.out) {
				t.Fatalf("stdout %q lacks %q", out, tt.out)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("stderr %q lacks %q", stderr, tt.stderr)
			}
		})
	}
}

func TestStateDir(t *testing.T) {
	got, err := stateDir(env{getenv: func(k string) string { return map[string]string{"XDG_STATE_HOME": "/x/state", "HOME": "/h"}[k] }})
	if err != nil || got != filepath.Join("/x/state", "x402-mcp") {
		t.Fatalf("%q %v", got, err)
	}
	got, _ = stateDir(env{getenv: func(k string) string { return map[string]string{"HOME": "/h"}[k] }})
	if got != filepath.Join("/h", ".local", "state", "x402-mcp") {
		t.Fatalf("%q", got)
	}
}

func TestBuildVersion(t *testing.T) {
	info := func(v string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Main: debug.Module{Path: "github.com/x402-mcp/x402-mcp", Version: v}}, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tt := range []struct {
		name, ldflags string
		read          func() (*debug.BuildInfo, bool)
		want          string
	}{
		{"ldflags win", "v1.2.3", info("v0.9.0"), "v1.2.3"},
		{"go install @tag", "dev", info("v1.4.0"), "v1.4.0"},
		{"git checkout build", "dev", info("v0.0.0-20261201120000-0123456789ab+dirty"), "v0.0.0-20261201120000-0123456789ab+dirty"},
		{"go run", "dev", info("(devel)"), "dev"},
		{"no build info", "dev", none, "dev"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := buildVersion(tt.ldflags, tt.read); got != tt.want {
				t.Fatalf("buildVersion = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCountsReadNaturally: the counts the commands print agree in number
// with the thing counted.
func TestCountsReadNaturally(t *testing.T) {
	dir := t.TempDir()
	one := filepath.Join(dir, "one.yaml")
	if err := os.WriteFile(one, []byte("version: 1\ntools:\n  - {name: a, description: A., url: \"https://a.example/a\", max_price: \"0.01\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCmd(t, nil, "check", one); err != nil || !strings.Contains(out, ": OK, 1 tool\n") {
		t.Errorf("check of one tool: %q, %v", out, err)
	}

	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer seller.Close()
	if out, _, err := runCmd(t, nil, "registry", "import", "--from", seller.URL, "--limit", "1", "--out", filepath.Join(dir, "drafts.yaml")); err != nil || !strings.Contains(out, "wrote 1 draft to") {
		t.Errorf("import of one draft: %q, %v", out, err)
	}

	db := filepath.Join(dir, "ledger.db")
	l, err := ledger.Open(t.Context(), db, payments.Budget{Total: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reserve(t.Context(), payments.Reservation{Tool: "a", Amount: 10_000, Network: "eip155:84532", PayTo: localseller.DefaultPayTo.Hex()}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCmd(t, nil, "ledger", "list", "--ledger", db, "--registry", one); err != nil || !strings.Contains(out, "\n1 row shown.") {
		t.Errorf("ledger list of one row: %q, %v", out, err)
	}
}

// TestPostgresLedgerURLRedacted: a PostgreSQL ledger's password never shows:
// not in an error (server unreachable, or refusing), not in `ledger list`'s
// output, not in serve's log or --help.
func TestPostgresLedgerURLRedacted(t *testing.T) {
	const secret = "s3cr3t-Pa55word"
	dir := t.TempDir()
	reg := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(reg, x402mcp.DefaultRegistry, 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(what, text string) {
		t.Helper()
		if strings.Contains(text, secret) {
			t.Fatalf("%s shows the password:\n%s", what, text)
		}
	}
	// Unreachable: nothing listens on port 1.
	bad := "postgres://x402:" + secret + "@127.0.0.1:1/ledger?connect_timeout=2"
	out, errOut, err := runCmd(t, map[string]string{"X402_LEDGER": bad}, "ledger", "list", "--registry", reg)
	if err == nil || !strings.Contains(err.Error(), "postgres://x402:xxxxx@127.0.0.1:1/ledger") {
		t.Fatalf("unreachable server: %v", err)
	}
	check("the error", err.Error())
	check("stdout", out)
	check("stderr", errOut)
	// A password as a parameter, and a URL that does not parse.
	for _, u := range []string{"postgres://x402@127.0.0.1:1/ledger?connect_timeout=2&password=" + secret, "postgres://x402:" + secret + "@[::1/ledger"} {
		_, _, err := runCmd(t, nil, "ledger", "list", "--ledger", u, "--registry", reg)
		if err == nil {
			t.Fatalf("%s opened", ledger.Redact(u))
		}
		check("the error", err.Error())
	}
	_, errOut, _ = runCmd(t, map[string]string{"X402_LEDGER": bad}, "serve", "--help")
	check("serve --help", errOut)

	// A server that takes any password (trust): the books' line names the
	// ledger with its password redacted.
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), secret)
	out, errOut, err = runCmd(t, map[string]string{"X402_LEDGER": u.String()}, "ledger", "list", "--registry", reg)
	if err != nil || !strings.Contains(out, "0 rows shown. Ledger postgres://postgres:xxxxx@/") {
		t.Fatalf("ledger list on PostgreSQL: %v\n%s%s", err, out, errOut)
	}
	check("stdout", out)
	check("stderr", errOut)
}

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
