// Package oauthtest starts a real OAuth 2.1 authorization server for tests:
// panva's certified oidc-provider from npm (test/oauth/issuer.mjs, with its
// committed package-lock.json), on a random loopback port, and gets access
// tokens from it as a client would: the client credentials grant with a
// resource indicator (RFC 8707). It needs Node.js and `(cd test/oauth && npm
// ci)`; without them a test that starts one is skipped, saying so, or fails
// under .ci/run (X402_REQUIRE_NODE, package component).
package oauthtest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/internal/component"
)

// Clients of the issuer (their secret is the id + "-secret"). Stranger's
// tokens are valid but name no principal the tests configure; NoScope's lack
// the mcp:tools scope; Expiring's live 2 seconds.
const (
	TeamA    = "team-a-client"
	TeamB    = "team-b-client"
	Stranger = "stranger-client"
	NoScope  = "noscope-client"
	Expiring = "expiring-client"
	// Scope is the scope the tests require.
	Scope = "mcp:tools"
)

// Issuer is a running authorization server.
type Issuer struct {
	// URL is its issuer identifier, http://127.0.0.1:PORT.
	URL string
	// stderr collects what the server logged (read it with Log).
	stderr *lockedWriter
}

// Log is what the issuer wrote on stderr so far.
func (i *Issuer) Log() string {
	i.stderr.mu.Lock()
	defer i.stderr.mu.Unlock()
	return i.stderr.w.(*strings.Builder).String()
}

// Dir is test/oauth, where the issuer's script and packages are.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "test", "oauth")
}

// Require returns when the issuer can run here: node on PATH and
// test/oauth's packages installed. Otherwise a plain go test skips the test,
// saying what to install and which command runs it, and the README's test
// command (.ci/run, which sets X402_REQUIRE_NODE) fails it.
func Require(t testing.TB) {
	t.Helper()
	component.RequireNode(t, component.Node{
		For:     "the OAuth tests run a real authorization server (oidc-provider, test/oauth)",
		Modules: "test/oauth/node_modules",
		Check:   filepath.Join(Dir(), "node_modules", "oidc-provider", "package.json"),
		Install: "(cd test/oauth && npm ci)",
		Run:     "go test ./server ./test -run OAuth",
	})
}

// Start runs an issuer until the test ends.
func Start(t testing.TB) *Issuer {
	t.Helper()
	Require(t)
	cmd := exec.Command("node", filepath.Join(Dir(), "issuer.mjs"))
	cmd.Dir = Dir()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	iss := &Issuer{stderr: &lockedWriter{w: &strings.Builder{}}}
	cmd.Stderr = iss.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	// The exit status is dropped: the cleanup below ends the script, so it
	// says nothing.
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = stdin.Close() // the script exits when its stdin closes
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			if err := cmd.Process.Kill(); err != nil {
				t.Logf("oauthtest: stopping the authorization server: %v", err)
			}
			<-done
		}
	})
	type first struct {
		line string
		err  error
	}
	line := make(chan first, 1)
	go func() {
		l, err := bufio.NewReader(stdout).ReadString('\n')
		line <- first{l, err}
		_, _ = io.Copy(io.Discard, stdout) // drained only so the script never blocks
	}()
	select {
	case l := <-line:
		if l.err != nil {
			t.Fatalf("the issuer printed %q, then: %v\n%s", l.line, l.err, iss.Log())
		}
		var out struct{ Issuer string }
		if err := json.Unmarshal([]byte(l.line), &out); err != nil || out.Issuer == "" {
			t.Fatalf("the issuer printed %q: %v", l.line, err)
		}
		iss.URL = out.Issuer
	case <-time.After(30 * time.Second):
		t.Fatal("the issuer did not start within 30s")
	}
	return iss
}

// Token gets an access token for client, for resource, with scope (none
// when empty), by the client credentials grant.
func (i *Issuer) Token(t testing.TB, client, resource, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	if scope != "" {
		form.Set("scope", scope)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, i.URL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, client+"-secret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("token for %s: read the answer: %v", client, err)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || strings.Count(out.AccessToken, ".") != 2 {
		t.Fatalf("token for %s: %d %s", client, res.StatusCode, b)
	}
	return out.AccessToken
}

// Rotate makes the issuer sign with a new key from now on.
func (i *Issuer) Rotate(t testing.TB) {
	t.Helper()
	res, err := http.Post(i.URL+"/__rotate", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close() // no body is read
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("rotate: %d", res.StatusCode)
	}
}

// KeyID returns the kid of a token's header, to tell keys apart.
func KeyID(token string) string {
	h, _, _ := strings.Cut(token, ".")
	b, err := decodeSegment(h)
	if err != nil {
		return ""
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		return "" // not a JWT header: no key id to tell apart
	}
	return hdr.Kid
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
