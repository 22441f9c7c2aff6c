package main

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/svm"
)

// TestCheckRefusesOwnSecrets: `check`, and serve when it loads the
// catalog, refuse a catalog that reads one of x402-mcp's own secrets,
// naming the file, the line, the tool, the field and the fix.
func TestCheckRefusesOwnSecrets(t *testing.T) {
	dir := t.TempDir()
	cat := filepath.Join(dir, "catalog.yaml")
	src := "version: 1\ntools:\n  - name: weather\n    description: Weather.\n    url: https://api.example.com/v1/weather\n    headers:\n      X-Api-Key: ${X402_PRIVATE_KEY}\n    max_price: \"0.01\"\n"
	if err := os.WriteFile(cat, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"X402_PRIVATE_KEY": "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "X402_LEDGER": filepath.Join(dir, "ledger.db")}
	for _, args := range [][]string{{"check", cat}, {"serve", "--registry", cat}} {
		out, stderr, err := runCmd(t, env, args...)
		if err == nil {
			t.Fatalf("%s accepted a catalog that reads the wallet key", args[0])
		}
		want := cat + `:7: tools[0] "weather": headers.X-Api-Key: ${X402_PRIVATE_KEY} is x402-mcp's own secret`
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: the error does not say %q:\n%v", args[0], want, err)
		}
		if strings.Contains(err.Error()+out+stderr, env["X402_PRIVATE_KEY"]) {
			t.Errorf("%s shows the key", args[0])
		}
	}
}

// TestRegistryImportKeyInQuery: a facilitator whose API key goes in the
// query string of its URL gets it on every discovery request (the query
// x402-mcp adds for paging goes beside it), and the key is never shown.
func TestRegistryImportKeyInQuery(t *testing.T) {
	const key = "querykey5e1b77"
	seller := localseller.New(localseller.Config{})
	h := seller.Handler()
	var refused []string
	fac := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("key") != key {
			refused = append(refused, r.URL.RawQuery)
			http.Error(w, "unauthorized: "+r.URL.String(), http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer fac.Close()
	drafts := filepath.Join(t.TempDir(), "drafts.yaml")
	env := map[string]string{"FAC": fac.URL, "FAC_KEY": key}
	out, stderr, err := runCmd(t, env, "registry", "import", "--from", "${FAC}?key=${FAC_KEY}", "--out", drafts)
	if err != nil || !strings.Contains(out, "wrote ") {
		t.Fatalf("import from a facilitator keyed in its query: %v (queries refused: %q)\n%s%s", err, refused, out, stderr)
	}
	written, err := os.ReadFile(drafts)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{out, stderr, string(written)} {
		if strings.Contains(s, key) {
			t.Errorf("the key is shown:\n%s", s)
		}
	}
}

// TestRegistryImportNeverFollowsRedirects: a facilitator that redirects
// the discovery request elsewhere does not get the credentials of --header
// sent there; the import fails, naming the redirect.
func TestRegistryImportNeverFollowsRedirects(t *testing.T) {
	const key = "redirkey90a7e3"
	var leaked sync.Map
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store("request", r.Header.Get("X-Api-Key"))
		http.Error(w, "nothing here", http.StatusNotFound)
	}))
	defer elsewhere.Close()
	fac := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer fac.Close()
	env := map[string]string{"FAC": fac.URL, "FAC_KEY": key}
	out, stderr, err := runCmd(t, env, "registry", "import", "--from", "${FAC}", "--header", "X-Api-Key: ${FAC_KEY}", "--out", filepath.Join(t.TempDir(), "d.yaml"))
	if got, ok := leaked.Load("request"); ok {
		t.Fatalf("the redirect was followed (the key went along: %v)", got == key)
	}
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Fatalf("a redirected import: %v\n%s%s", err, out, stderr)
	}
	if strings.Contains(err.Error()+out+stderr, key) {
		t.Errorf("the key is shown: %v", err)
	}
	// registry add shares the rule, and says where the endpoint redirects.
	_, _, err = runCmd(t, env, "registry", "add", fac.URL+"/v2/weather/paris")
	if _, ok := leaked.Load("request"); ok || err == nil || !strings.Contains(err.Error(), "redirects to "+elsewhere.URL+"/v2/weather/paris") {
		t.Errorf("registry add of a redirecting URL: %v", err)
	}
}

// TestRegistryImportFacilitatorSecrets: `registry import --from` takes
// ${ENV} references and --header sends credentials to facilitators that
// require them; neither is shown in the output, the errors or the drafts.
func TestRegistryImportFacilitatorSecrets(t *testing.T) {
	const (
		key   = "importkey6d2f90"
		token = "importtoken3a7c1e"
	)
	seller := localseller.New(localseller.Config{})
	h := seller.Handler()
	fac := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/"+key)
		if !ok || r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized: "+r.URL.String()+" "+r.Header.Get("Authorization"), http.StatusUnauthorized)
			return
		}
		r = r.Clone(r.Context())
		r.URL.Path, r.URL.RawPath = rest, ""
		h.ServeHTTP(w, r)
	}))
	defer fac.Close()

	dir := t.TempDir()
	drafts := filepath.Join(dir, "drafts.yaml")
	env := map[string]string{"FAC": fac.URL, "FAC_KEY": key, "FAC_TOKEN": token}
	args := []string{"registry", "import", "--from", "${FAC}/${FAC_KEY}", "--header", "Authorization: Bearer ${FAC_TOKEN}", "--out", drafts}
	out, stderr, err := runCmd(t, env, args...)
	if err != nil {
		t.Fatalf("import through an authenticated facilitator: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "wrote ") {
		t.Fatalf("import output:\n%s", out)
	}
	written, err := os.ReadFile(drafts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(written), "${FAC_KEY}") {
		t.Errorf("the drafts do not say where they came from, as written:\n%.300s", written)
	}
	shown := []string{out, stderr, string(written)}

	env["FAC_TOKEN"] = "wrongtoken0b8e4d"
	out, stderr, err = runCmd(t, env, append(args, "--force")...)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a refused import: %v", err)
	}
	shown = append(shown, out, stderr, err.Error())

	// The item-11 rule holds on the command line too.
	_, _, err = runCmd(t, env, "registry", "import", "--from", "${FAC}", "--header", "Authorization: Bearer ${X402_MCP_TOKEN}", "--out", drafts, "--force")
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "x402-mcp's own secret") {
		t.Errorf("--header reading X402_MCP_TOKEN: %v", err)
	}

	for _, s := range shown {
		for _, secret := range []string{key, token, "wrongtoken0b8e4d"} {
			if strings.Contains(s, secret) {
				t.Errorf("%s is shown:\n%s", secret, s)
			}
		}
	}
}

// notSecret are the environment variables x402-mcp reads that hold no
// secret: a catalog's ${ENV} may read them. A variable that holds a secret
// belongs in payments.SecretEnv instead, read through its constant.
var notSecret = []string{"X402_LEDGER", "X402_LOG_LEVEL", "X402_LOG_FORMAT", "X402_REGISTRY", "HOME", "LocalAppData", "XDG_STATE_HOME"}

// TestEverySecretEnvIsListed reads x402-mcp's own source: every variable
// read by a literal name is a known non-secret one, and every Env*
// constant of payments (how secrets are read) is in payments.SecretEnv, the
// list a catalog's ${ENV} may not read. A new secret cannot be forgotten.
func TestEverySecretEnvIsListed(t *testing.T) {
	secret := payments.SecretEnv()
	for _, n := range notSecret {
		if slices.Contains(secret, n) {
			t.Errorf("%s is listed both as a secret and not", n)
		}
	}
	fset := token.NewFileSet()
	var reads int
	for _, dir := range []string{".", "../../server", "../../tools", "../../tools/discover", "../../payments", "../../payments/ledger", "../../payments/evm", "../../payments/svm", "../../payments/wallet", "../../payments/x402"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					name := ""
					switch fn := n.Fun.(type) {
					case *ast.Ident:
						name = fn.Name
					case *ast.SelectorExpr:
						name = fn.Sel.Name
					}
					if (name != "getenv" && name != "Getenv" && name != "LookupEnv") || len(n.Args) != 1 {
						return true
					}
					reads++
					if lit, ok := n.Args[0].(*ast.BasicLit); ok {
						v, _ := strconv.Unquote(lit.Value)
						if !slices.Contains(notSecret, v) {
							t.Errorf("%s reads %s by a literal name: if it holds a secret, add it to payments.SecretEnv and read it through its constant; if not, add it to notSecret here", fset.Position(n.Pos()), v)
						}
					}
				case *ast.ValueSpec:
					if base := filepath.Base(dir); base != "payments" && base != "svm" {
						return true
					}
					for i, id := range n.Names {
						if !strings.HasPrefix(id.Name, "Env") || i >= len(n.Values) {
							continue
						}
						if lit, ok := n.Values[i].(*ast.BasicLit); ok {
							v, _ := strconv.Unquote(lit.Value)
							if !slices.Contains(secret, v) {
								t.Errorf("%s: payments.%s (%s) is not in payments.SecretEnv", fset.Position(id.Pos()), id.Name, v)
							}
						}
					}
				}
				return true
			})
		}
	}
	if reads < 10 {
		t.Fatalf("found only %d environment reads: is the source being read?", reads)
	}
	// The Solana family's key variables are x402-mcp's secrets too.
	for _, v := range svm.SecretEnv() {
		if !slices.Contains(secret, v) {
			t.Errorf("svm reads a secret from %s, which is not in payments.SecretEnv", v)
		}
	}
}
