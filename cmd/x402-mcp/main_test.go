package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
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
		errLike string // in the error
	}{
		{name: "version", args: []string{"version"}, out: "x402-mcp"},
		{name: "help", args: []string{"help"}, out: "usage: x402-mcp"},
		{name: "unknown command", args: []string{"frobnicate"}, usage: true, errLike: "unknown command"},
		{name: "check built-in", args: []string{"check"}, out: "weather"},
		{name: "check missing file", args: []string{"check", "/nonexistent/registry.yaml"}, errLike: "registry file not found"},
		{name: "check two files", args: []string{"check", "a", "b"}, usage: true, errLike: "at most one"},
		{name: "serve without wallet", args: []string{"serve"}, errLike: "no wallet configured"},
		{name: "serve bad flag", args: []string{"serve", "--nope"}, usage: true},
		{name: "serve pprof beyond loopback", args: []string{"serve", "--pprof", "0.0.0.0:6060"}, usage: true, errLike: "loopback only"},
		{name: "serve pprof no port", args: []string{"serve", "--pprof", "127.0.0.1"}, usage: true, errLike: "--pprof"},
		// Refused before the wallet or the ledger is opened.
		{name: "serve cors origin without token", args: []string{"serve", "--http", "127.0.0.1:0", "--cors-origin", "https://app.example"}, errLike: "refusing --cors-origin without a bearer token"},
		{name: "serve cors any origin", args: []string{"serve", "--http", "127.0.0.1:0", "--cors-origin", "*"}, env: map[string]string{"X402_MCP_TOKEN": "0123456789abcdef0123"}, errLike: "exact origin"},
		{name: "wallet no subcommand", args: []string{"wallet"}, usage: true, errLike: "new or address"},
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
			out, _, err := runCmd(t, tt.env, tt.args...)
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
