package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/oauthtest"
)

// The tokens of the gateway's principals. team-b's is given to the gateway
// as its hash only.
const (
	teamAToken = "e2e-team-a-4c1f9b0d7e2a63f8"
	teamBToken = "e2e-team-b-91d0e7c3a5b2f648"
	opsToken   = "e2e-ops-0f8e7d6c5b4a39281706"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// writeFile writes a file in a temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// get does a GET with a bearer token and returns the status and body.
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestGatewayPrincipals: the built binary serves two agents with different
// tokens and an admin, from a principals file. Each agent lists and pays
// only its tools, sees only its own payments and budgets, and is refused at
// its own budget while the other still pays; the admin sees both; the
// books (ledger export --principal) and the seller's balance agree to the
// atomic unit; /metrics is the admin's, labelled by principal; no token, and
// no token's hash, appears in the logs, the metrics or any tool output.
func TestGatewayPrincipals(t *testing.T) {
	seller := fundedSeller(t, localseller.Config{})
	principals := writeFile(t, "principals.yaml", `principals:
  - name: team-a
    token: ${TEAM_A_TOKEN}
    tools: [weather]
    budget:
      total: "0.002"
  - name: team-b
    token: sha256:`+sha256Hex(teamBToken)+`
    budget:
      per_day: "0.003"
  - name: ops
    token: ${OPS_TOKEN}
    admin: true
`)
	p := startGateway(t, seller, mainCatalog, gatewayOptions{args: []string{"--principals", principals},
		env: []string{"TEAM_A_TOKEN=" + teamAToken, "OPS_TOKEN=" + opsToken}})
	fac, payTo := seller.Facilitator, seller.Seller.PayTo()
	before := fac.Balance(payTo)
	a, b, ops := connectHTTPAs(t, p.URL, teamAToken), connectHTTPAs(t, p.URL, teamBToken), connectHTTPAs(t, p.URL, opsToken)

	var outputs strings.Builder
	record := func(res *mcp.CallToolResult) *mcp.CallToolResult {
		j, _ := json.Marshal(res)
		outputs.Write(j)
		return res
	}
	list, err := a.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	if !slices.Contains(names, "weather") || slices.Contains(names, "note") {
		t.Fatalf("team-a lists %v: want weather, not note", names)
	}
	for i := range 2 {
		if res := record(callTool(t, a, "weather", map[string]any{"city": "Paris"})); res.IsError {
			t.Fatalf("team-a call %d: %s", i, text(res))
		}
	}
	if res := record(callTool(t, a, "weather", map[string]any{"city": "Paris"})); !res.IsError || !strings.Contains(text(res), "the total budget of principal team-a") {
		t.Fatalf("team-a past its own budget: %s", text(res))
	}
	for i := range 3 {
		if res := record(callTool(t, b, "note", nil)); res.IsError {
			t.Fatalf("team-b call %d (team-a is at its budget): %s", i, text(res))
		}
	}
	if res := record(callTool(t, b, "weather", map[string]any{"city": "Paris"})); !res.IsError || !strings.Contains(text(res), "the per-day budget of principal team-b") {
		t.Fatalf("team-b past its own budget: %s", text(res))
	}
	if res := record(callTool(t, ops, "note", nil)); res.IsError {
		t.Fatalf("ops: %s", text(res))
	}
	if d := fac.Balance(payTo) - before; d != 6000 {
		t.Fatalf("the seller was paid %d, want 6000 (2 + 3 + 1 calls of 1000)", d)
	}

	type wallet struct {
		Budget struct {
			Of, Settled, Total string
			Payments           int
		}
		Principal  struct{ Name string }
		Principals []struct{ Name, Settled string }
	}
	var wa, wo wallet
	structuredAs(t, record(callTool(t, a, "x402_wallet", nil)), &wa)
	if wa.Budget.Of != "principal" || wa.Budget.Settled != "0.002" || wa.Budget.Total != "0.002" || wa.Principal.Name != "team-a" || len(wa.Principals) != 0 {
		t.Fatalf("team-a's wallet %+v", wa)
	}
	structuredAs(t, record(callTool(t, ops, "x402_wallet", nil)), &wo)
	if wo.Budget.Of != "gateway" || wo.Budget.Settled != "0.006" || len(wo.Principals) != 3 {
		t.Fatalf("ops's wallet %+v", wo)
	}
	var ha, hb, ho struct {
		Payments []struct{ Principal, Tool string }
	}
	structuredAs(t, record(callTool(t, a, "x402_spend_history", nil)), &ha)
	structuredAs(t, record(callTool(t, b, "x402_spend_history", nil)), &hb)
	structuredAs(t, record(callTool(t, ops, "x402_spend_history", nil)), &ho)
	if len(ha.Payments) != 2 || len(hb.Payments) != 3 || len(ho.Payments) != 6 {
		t.Fatalf("histories: team-a %d, team-b %d, ops %d payments", len(ha.Payments), len(hb.Payments), len(ho.Payments))
	}
	for _, e := range append(ha.Payments, hb.Payments...) {
		if e.Principal != "team-a" && e.Principal != "team-b" || e.Principal == "team-a" && e.Tool != "weather" {
			t.Fatalf("an agent's history holds %+v", e)
		}
	}
	for _, e := range hb.Payments {
		if e.Principal != "team-b" {
			t.Fatalf("team-b's history holds %+v", e)
		}
	}

	// The books, read by the CLI while the gateway runs.
	out, err := exec.Command(binary, "ledger", "export", "--csv", "--principal", "team-b", "--ledger", p.Ledger, "--registry", writeFile(t, "r.yaml", strings.ReplaceAll(string(mainCatalog), "{{URL}}", seller.URL))).Output()
	if err != nil {
		t.Fatalf("ledger export: %v", err)
	}
	rows := strings.Split(strings.TrimSpace(string(out)), "\r\n")
	if len(rows) != 4 || !strings.HasSuffix(rows[0], ",principal") {
		t.Fatalf("team-b's rows:\n%s", out)
	}
	for _, r := range rows[1:] {
		if !strings.HasSuffix(r, ",team-b") || !strings.Contains(r, ",settled,") {
			t.Fatalf("a row of team-b's export: %s", r)
		}
	}

	if code, body := get(t, p.URL+"/metrics", teamAToken); code != http.StatusForbidden {
		t.Fatalf("team-a read /metrics: %d %s", code, body)
	}
	code, metrics := get(t, p.URL+"/metrics", opsToken)
	if code != http.StatusOK {
		t.Fatalf("ops's /metrics: %d", code)
	}
	for _, want := range []string{
		`x402_payments_total{tool="weather",network="eip155:84532",outcome="charged",principal="team-a"} 2`,
		`x402_payments_total{tool="note",network="eip155:84532",outcome="charged",principal="team-b"} 3`,
		`x402_paid_amount_atomic_total{tool="note",network="eip155:84532",asset="USDC",principal="ops"} 1000`,
		`x402_principal_budget_left_atomic{principal="team-a",asset="USDC"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, "principal=team-a") || !strings.Contains(logs, "principal=team-b") {
		t.Errorf("the logs do not name the principals:\n%s", logs)
	}
	all := outputs.String() + metrics + logs
	for _, tok := range []string{teamAToken, teamBToken, opsToken} {
		for _, secret := range []string{tok, sha256Hex(tok), sha256Hex(tok)[:8]} {
			if strings.Contains(all, secret) {
				t.Errorf("%q appears in the logs, metrics or tool output", secret)
			}
		}
	}
}

// freeAddr returns a loopback address with a port free a moment ago: an
// OAuth resource names its URL before the server listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestGatewayOAuth: the built binary as an OAuth resource server in front of
// a real authorization server (oidc-provider). The official TypeScript SDK
// client, with nothing but its client credentials, follows the gateway's
// Protected Resource Metadata to the issuer, gets an access token for the
// gateway and pays through it as its principal; an mcp-go client with a
// token for another principal pays as that one; a token for another
// audience, and one that expired, are refused.
func TestGatewayOAuth(t *testing.T) {
	requireTSClient(t)
	iss := oauthtest.Start(t)
	seller := fundedSeller(t, localseller.Config{})
	addr := freeAddr(t)
	resource := "http://" + addr + "/mcp"
	principals := writeFile(t, "principals.yaml", `principals:
  - name: team-a
  - name: team-b
oauth:
  issuer: `+iss.URL+`
  resource: `+resource+`
  subjects:
    team-a-client: team-a
    team-b-client: team-b
  scopes: [mcp:tools]
`)
	p := startGateway(t, seller, mainCatalog, gatewayOptions{addr: addr, args: []string{"--principals", principals}})
	fac, payTo := seller.Facilitator, seller.Seller.PayTo()
	before := fac.Balance(payTo)

	got := runTSClient(t, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, "oauth-client", resource, oauthtest.TeamA, oauthtest.TeamA+"-secret", iss.URL)
	if got.IsError || got.Receipt == nil || got.Receipt["amountAtomic"] != "1000" || got.Principal != "team-a" {
		t.Fatalf("the TypeScript SDK client over OAuth: isError %v text %q receipt %v principal %q\n%s", got.IsError, got.Text, got.Receipt, got.Principal, p.stderr.String())
	}
	b := connectHTTPAs(t, p.URL, iss.Token(t, oauthtest.TeamB, resource, oauthtest.Scope))
	if res := callTool(t, b, "note", nil); res.IsError {
		t.Fatalf("team-b with an access token: %s", text(res))
	}
	if d := fac.Balance(payTo) - before; d != 2000 {
		t.Fatalf("the seller was paid %d, want 2000", d)
	}
	out, err := exec.Command(binary, "ledger", "list", "--ledger", p.Ledger, "--registry", writeFile(t, "r.yaml", strings.ReplaceAll(string(mainCatalog), "{{URL}}", seller.URL))).Output()
	if err != nil || !strings.Contains(string(out), "team-a") || !strings.Contains(string(out), "team-b") {
		t.Fatalf("ledger list: %v\n%s", err, out)
	}

	expiring := iss.Token(t, oauthtest.Expiring, resource, oauthtest.Scope)
	for name, tok := range map[string]string{
		"another audience": iss.Token(t, oauthtest.TeamA, "http://127.0.0.1:1/mcp", oauthtest.Scope),
	} {
		if code, body := get(t, p.URL+"/metrics", tok); code != http.StatusUnauthorized || !strings.Contains(body, "not for this resource") {
			t.Fatalf("a token for %s: %d %s", name, code, body)
		}
	}
	time.Sleep(2500 * time.Millisecond) // the expiring client's tokens live 2 seconds
	if code, body := get(t, p.URL+"/metrics", expiring); code != http.StatusUnauthorized || !strings.Contains(body, "expired") {
		t.Fatalf("an expired token: %d %s", code, body)
	}
	code, body := get(t, p.URL+"/.well-known/oauth-protected-resource/mcp", "")
	if code != http.StatusOK || !strings.Contains(body, `"authorization_servers":["`+iss.URL+`"]`) {
		t.Fatalf("the metadata: %d %s", code, body)
	}
}
