package tools

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments"
)

const gatewayCatalog = `version: 1
tools:
  - name: weather
    description: Weather.
    url: http://127.0.0.1:4021/weather
    headers:
      X-Api-Key: ${WEATHER_KEY}
    max_price: "0.01"
  - name: search
    description: Search.
    url: http://127.0.0.1:4021/search
    max_price: "0.01"
principals:
  - name: team-a
    tokens:
      - ${TEAM_A_TOKEN}
      - sha256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08
    tools: [weather]
    budget:
      total: "5.00"
      per_day: "1.00"
      per_tool: "0.50"
  - name: ops
    token: ${OPS_TOKEN}
    admin: true
  - name: robot
oauth:
  issuer: https://auth.example.com/realms/x
  resource: https://mcp.example.com/mcp
  subjects:
    client-a: team-a
    svc-robot: robot
  scopes: [mcp:tools]
`

// TestParseGateway: the catalog's principals: and oauth: sections, read
// whole.
func TestParseGateway(t *testing.T) {
	r := mustParse(t, gatewayCatalog)
	g := r.Gateway
	if g == nil || len(g.Principals) != 3 || g.Path != "registry.yaml" {
		t.Fatalf("gateway %+v", g)
	}
	a := g.Principals[0]
	want := &Principal{Name: "team-a", Tools: []string{"weather"}, Tokens: []TokenRef{{Env: "TEAM_A_TOKEN"}, {SHA256: HashToken("test")}},
		Budget: payments.PrincipalBudget{Total: 5_000_000, PerDay: 1_000_000, PerTool: 500_000, Setting: "registry.yaml: principals[0] (team-a)"}}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("team-a\n got %+v\nwant %+v", a, want)
	}
	if ops := g.Principals[1]; !ops.Admin || ops.Tools != nil || len(ops.Tokens) != 1 || ops.Tokens[0].Env != "OPS_TOKEN" {
		t.Fatalf("ops %+v", ops)
	}
	if robot := g.Principals[2]; len(robot.Tokens) != 0 {
		t.Fatalf("robot (OAuth only) %+v", robot)
	}
	wantOAuth := &OAuth{Issuer: "https://auth.example.com/realms/x", Resource: "https://mcp.example.com/mcp", Claim: "sub",
		Subjects: map[string]string{"client-a": "team-a", "svc-robot": "robot"}, Scopes: []string{"mcp:tools"}}
	if !reflect.DeepEqual(g.OAuth, wantOAuth) {
		t.Fatalf("oauth %+v", g.OAuth)
	}
	if got := g.Budgets(); len(got) != 1 || got["team-a"].PerDay != 1_000_000 {
		t.Fatalf("budgets %+v", got)
	}
	if got := g.Env(); !reflect.DeepEqual(got, []string{"TEAM_A_TOKEN", "OPS_TOKEN"}) {
		t.Fatalf("env %v", got)
	}
	if FormatTokenHash(HashToken("test")) != "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Fatal("FormatTokenHash")
	}
}

// TestParseGatewayErrors: every mistake in the sections is named, with the
// fix; a token written in the file is refused without being echoed.
func TestParseGatewayErrors(t *testing.T) {
	const head = "version: 1\ntools:\n  - name: weather\n    description: W.\n    url: http://127.0.0.1:4021/w\n    max_price: \"0.01\"\n"
	cases := []struct {
		name, src string
		want      []string
		not       string // must not appear
	}{
		{"no name", "principals:\n  - tokens: [\"${A_TOKEN}\"]\n", []string{"principals[0]: name: missing"}, ""},
		{"bad name", "principals:\n  - name: \"team a/b\"\n    tokens: [\"${A_TOKEN}\"]\n", []string{`name: "team a/b" is not a principal name`}, ""},
		{"duplicate name", "principals:\n  - name: a\n    token: ${A_TOKEN}\n  - name: a\n    token: ${B_TOKEN}\n", []string{`principals[1] (a): name: "a" is already used by principals[0]`}, ""},
		{"literal token", "principals:\n  - name: a\n    token: s3cr3t-t0ken-value-1234\n", []string{"principals[0] (a).tokens[0]: not a token reference", "a token itself never goes in a file"}, "s3cr3t"},
		{"default", "principals:\n  - name: a\n    token: ${A_TOKEN:-s3cr3t-t0ken}\n", []string{"has a default, which would put a token in the file"}, ""},
		{"own secret", "principals:\n  - name: a\n    token: ${X402_MCP_TOKEN}\n", []string{"${X402_MCP_TOKEN} is x402-mcp's own secret"}, ""},
		{"short hash", "principals:\n  - name: a\n    token: sha256:abcd\n", []string{"sha256:… must be followed by 64 hex digits"}, ""},
		{"token twice", "principals:\n  - name: a\n    token: ${A_TOKEN}\n  - name: b\n    token: ${a_token}\n", []string{"${a_token} is already a token of principal a"}, ""},
		{"token and tokens", "principals:\n  - name: a\n    token: ${A_TOKEN}\n    tokens: [\"${B_TOKEN}\"]\n", []string{"token and tokens: give one of them"}, ""},
		{"no tokens", "principals:\n  - name: a\n", []string{"principals[0] (a): no tokens"}, ""},
		{"empty tools", "principals:\n  - name: a\n    token: ${A_TOKEN}\n    tools: []\n", []string{"tools: an empty list would let the principal call no tool"}, ""},
		{"unknown tool", "principals:\n  - name: a\n    token: ${A_TOKEN}\n    tools: [wether]\n", []string{`principals[0] (a).tools: "wether" is not a tool of registry.yaml`}, ""},
		{"zero budget", "principals:\n  - name: a\n    token: ${A_TOKEN}\n    budget: {per_day: \"0\"}\n", []string{"principals[0] (a).budget.per_day: 0 would refuse every payment"}, ""},
		{"bad budget", "principals:\n  - name: a\n    token: ${A_TOKEN}\n    budget: {total: lots}\n", []string{"principals[0] (a).budget.total:", "not a USDC amount"}, ""},
		{"unknown key", "principals:\n  - name: a\n    secret: x\n", []string{`unknown key "secret" in a principal`, "name, token, tokens, admin, tools, budget"}, ""},
		{"catalog reads a token", "principals:\n  - name: a\n    token: ${A_TOKEN}\n", nil, ""}, // replaced below
		{"oauth http issuer", "principals:\n  - name: a\noauth:\n  issuer: http://auth.example.com\n  resource: https://mcp.example.com/mcp\n", []string{"oauth.issuer:", "use https (http is allowed only on loopback"}, ""},
		{"oauth no resource", "principals:\n  - name: a\noauth:\n  issuer: https://auth.example.com\n", []string{"oauth.resource: missing", "this server's MCP endpoint"}, ""},
		{"oauth resource fragment", "principals:\n  - name: a\noauth:\n  issuer: https://auth.example.com\n  resource: https://mcp.example.com/mcp#x\n", []string{"oauth.resource:", "remove the user info and the fragment"}, ""},
		{"oauth unknown subject", "principals:\n  - name: a\noauth:\n  issuer: https://auth.example.com\n  resource: https://mcp.example.com/mcp\n  subjects: {c1: b}\n", []string{`oauth.subjects.c1: "b" is not a principal`}, ""},
		{"oauth no principals", "oauth:\n  issuer: https://auth.example.com\n  resource: https://mcp.example.com/mcp\n", []string{"oauth: no principals to map tokens to"}, ""},
		{"oauth bad scope", "principals:\n  - name: a\noauth:\n  issuer: https://auth.example.com\n  resource: https://mcp.example.com/mcp\n  scopes: [\"a b\"]\n", []string{`oauth.scopes[0]: "a b" is not a scope`}, ""},
	}
	cases[15].src = "principals:\n  - name: a\n    token: ${A_TOKEN}\n"
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := head + c.src
			want := c.want
			if c.name == "catalog reads a token" {
				src = strings.Replace(src, "    max_price:", "    headers: {X-Key: \"${A_TOKEN}\"}\n    max_price:", 1)
				want = []string{`tools "weather" headers.X-Key reads ${A_TOKEN}, a principal's bearer token`}
			}
			_, err := Parse("registry.yaml", []byte(src), testFamilies)
			if err == nil {
				t.Fatalf("accepted:\n%s", src)
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if c.not != "" && strings.Contains(err.Error(), c.not) {
				t.Errorf("error shows %q:\n%v", c.not, err)
			}
		})
	}
}

// TestGatewayFile: a principals file is read on its own and checked against
// the catalog: the catalog may not read its token variables, nor have
// principals of its own as well, and its principals' tools must be the
// catalog's.
func TestGatewayFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "principals.yaml")
	src := "principals:\n  - name: a\n    token: ${A_TOKEN}\n    tools: [weather, remote_echo, x402_tip]\n  - name: b\n    token: sha256:" + strings.Repeat("ab", 32) + "\n    budget: {per_day: \"0.25\"}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := LoadGateway(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Principals) != 2 || g.Principals[1].Budget.PerDay != 250_000 || g.Principals[1].Budget.Setting != path+": principals[1] (b)" {
		t.Fatalf("gateway %+v", g.Principals[1])
	}
	const cat = "version: 1\ntools:\n  - name: weather\n    description: W.\n    url: http://127.0.0.1:4021/w\n    max_price: \"0.01\"\n  - name: remote\n    kind: mcp\n    prefix: remote_\n    description: R.\n    url: http://127.0.0.1:4021/mcp\n    max_price: \"0.01\"\n"
	if err := mustParse(t, cat).CheckGateway(g); err != nil {
		t.Fatalf("a matching catalog: %v", err)
	}
	reads := strings.Replace(cat, "url: http://127.0.0.1:4021/w\n", "url: http://127.0.0.1:4021/w?k=${A_TOKEN}\n", 1)
	if err := mustParse(t, reads).CheckGateway(g); err == nil || !strings.Contains(err.Error(), `tools "weather" url reads ${A_TOKEN}, a principal's bearer token (`+path+")") {
		t.Fatalf("a catalog that reads a token variable: %v", err)
	}
	own := cat + "principals:\n  - name: c\n    token: ${C_TOKEN}\n"
	if err := mustParse(t, own).CheckGateway(g); err == nil || !strings.Contains(err.Error(), "keep them in one place") {
		t.Fatalf("principals in both: %v", err)
	}
	if err := mustParse(t, strings.Replace(cat, "name: weather", "name: forecast", 1)).CheckGateway(g); err == nil ||
		!strings.Contains(err.Error(), `principals[0] (a).tools: "weather" is not a tool of registry.yaml`) {
		t.Fatalf("a tool the catalog lacks: %v", err)
	}
	if _, err := ParseGateway("p.yaml", []byte("version: 1\n")); err == nil || !strings.Contains(err.Error(), "principals: missing") {
		t.Fatalf("an empty principals file: %v", err)
	}
	if _, err := LoadGateway(filepath.Join(dir, "nope.yaml")); err == nil || !strings.Contains(err.Error(), "principals file not found") {
		t.Fatalf("a missing file: %v", err)
	}
}

// TestDocGatewayExamples: the principals files of docs/gateway.md and the
// principals: example of docs/registry.md are valid as written.
func TestDocGatewayExamples(t *testing.T) {
	var blocks []string
	for _, doc := range []string{"../docs/gateway.md", "../docs/registry.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range strings.Split(string(b), "```yaml\n")[1:] {
			block, _, _ := strings.Cut(part, "```")
			if strings.Contains(block, "principals:") && !strings.Contains(block, "version: 1\ndefaults") {
				blocks = append(blocks, block)
			}
		}
	}
	if len(blocks) < 3 {
		t.Fatalf("found %d principals examples in the docs, want 3 (gateway.md's two, registry.md's)", len(blocks))
	}
	for i, block := range blocks {
		g, err := ParseGateway("example", []byte(block))
		if err != nil {
			t.Fatalf("example %d:\n%s\n%v", i, block, err)
		}
		if len(g.Principals) < 2 {
			t.Fatalf("example %d has %d principals", i, len(g.Principals))
		}
	}
}
