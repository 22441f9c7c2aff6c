package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTokenCommands: `token new` prints a random token and its hash;
// `token hash` hashes the token on stdin, as a principals file takes it,
// and never takes one as an argument.
func TestTokenCommands(t *testing.T) {
	out, _, err := runCmd(t, nil, "token", "new")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^token:  ([0-9a-f]{64})\nsha256: sha256:([0-9a-f]{64})\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("token new printed %q", out)
	}
	if sum := sha256.Sum256([]byte(m[1])); hex.EncodeToString(sum[:]) != m[2] {
		t.Fatal("the printed hash is not the token's")
	}
	if again, _, _ := runCmd(t, nil, "token", "new"); again == out {
		t.Fatal("two new tokens are the same")
	}

	var stdout, stderr strings.Builder
	err = run(context.Background(), []string{"token", "hash"}, func(string) string { return "" }, strings.NewReader(m[1]+"\n"), &stdout, &stderr)
	if err != nil || stdout.String() != "sha256:"+m[2]+"\n" {
		t.Fatalf("token hash: %q %v", stdout.String(), err)
	}
	stdout.Reset()
	err = run(context.Background(), []string{"token", "hash"}, func(string) string { return "" }, strings.NewReader("short\n"), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "at least 16") || strings.Contains(err.Error(), "short") && strings.Contains(stdout.String(), "sha256") {
		t.Fatalf("a short token: %q %v", stdout.String(), err)
	}
	var u usageError
	if _, _, err := runCmd(t, nil, "token", "hash", "s3cr3t-on-the-command-line"); !errors.As(err, &u) || !strings.Contains(err.Error(), "never from the command line") {
		t.Fatalf("a token as an argument: %v", err)
	}
	if _, _, err := runCmd(t, nil, "token"); !errors.As(err, &u) {
		t.Fatalf("no subcommand: %v", err)
	}
}

// TestServePrincipalsRefused: serve refuses a principals setup that cannot
// work, naming the fix, before anything is served.
func TestServePrincipalsRefused(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "principals.yaml")
	if err := os.WriteFile(file, []byte("principals:\n  - name: team-a\n    token: ${TEAM_A_TOKEN}\n    tools: [weather]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(cat, []byte("version: 1\ntools:\n  - name: weather\n    description: W.\n    url: http://127.0.0.1:1/w\n    max_price: \"0.01\"\nprincipals:\n  - name: team-b\n    token: ${TEAM_B_TOKEN}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const tok = "0123456789abcdef0123"
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		usage   bool
		errLike string
	}{
		{"principals without --http", []string{"serve", "--principals", file}, nil, true, "need --http ADDR"},
		{"a missing file", []string{"serve", "--http", "127.0.0.1:0", "--principals", filepath.Join(dir, "nope.yaml")}, nil, false, "principals file not found"},
		{"a token variable unset", []string{"serve", "--http", "0.0.0.0:0", "--principals", file}, nil, false, "environment variable TEAM_A_TOKEN is not set"},
		{"a short token", []string{"serve", "--http", "127.0.0.1:0", "--principals", file}, map[string]string{"TEAM_A_TOKEN": "short"}, false, "the token in TEAM_A_TOKEN is 5 characters"},
		{"principals and X402_MCP_TOKEN", []string{"serve", "--http", "127.0.0.1:0", "--principals", file}, map[string]string{"TEAM_A_TOKEN": tok, "X402_MCP_TOKEN": tok + "x"}, false, "X402_MCP_TOKEN (or --token-file) and principals are both set"},
		{"the catalog's principals, a variable unset", []string{"serve", "--http", "0.0.0.0:0", "--registry", cat}, nil, false, "environment variable TEAM_B_TOKEN is not set"},
		{"principals in both", []string{"serve", "--http", "127.0.0.1:0", "--registry", cat, "--principals", file}, map[string]string{"TEAM_A_TOKEN": tok}, false, "keep them in one place"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, tc.env, tc.args...)
			var u usageError
			if err == nil || errors.As(err, &u) != tc.usage || !strings.Contains(err.Error(), tc.errLike) {
				t.Fatalf("err = %v, want %q (usage %v)", err, tc.errLike, tc.usage)
			}
			if strings.Contains(err.Error(), tok) {
				t.Fatal("the error shows a token")
			}
		})
	}
}
