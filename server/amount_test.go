package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/server"
)

// amountRegistry has both ways a model writes an amount: x402_tip's amount
// (tips to alice up to 1 USDC go without asking) and tip_jar's amount_from
// argument.
const amountRegistry = `
version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "1"
budget:
  total: "10"
tipping:
  facilitator_url: ${SELLER}/facilitator
  per_day: "5"
  max_tip: "1"
  auto_approve_up_to: "1"
  recipients:
    alice: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
tools:
  - name: tip_jar
    description: Tip an author the amount you choose.
    url: "${SELLER}/v2/tip/{author}"
    params:
      - {name: author, in: path, type: string, required: true}
    amount_from: amount
    max_price: "1"
`

// TestOneAmountRule: x402_tip and an amount_from tool declare the same
// JSON Schema pattern for an amount, accept the same values, and refuse the
// same values with the same message.
func TestOneAmountRule(t *testing.T) {
	f := newFixture(t, amountRegistry, 10_000_000, localseller.Config{}, server.Config{})
	cli := f.inProcess(t)

	list, err := cli.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	patterns := map[string]string{}
	for _, tl := range list.Tools {
		if tl.Name != server.ToolTip && tl.Name != "tip_jar" {
			continue
		}
		b, _ := json.Marshal(tl.InputSchema.Properties["amount"])
		var p struct {
			Type    string `json:"type"`
			Pattern string `json:"pattern"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if p.Type != "string" {
			t.Errorf("%s: amount is %q, want a string", tl.Name, p.Type)
		}
		patterns[tl.Name] = p.Pattern
	}
	if patterns[server.ToolTip] == "" || patterns[server.ToolTip] != patterns["tip_jar"] {
		t.Errorf("the two tools declare different amount patterns: %q", patterns)
	}

	const rule = `"amount" must be a decimal USDC amount in a JSON string: digits, optionally a "." and 1 to 6 decimals, more than 0, such as "0.01"`
	for _, tt := range []struct {
		name   string
		amount any    // nil: left out
		want   string // "" when accepted
	}{
		{"plain", "0.5", ""},
		{"trailing zero", "0.10", ""},
		{"whole", "1", ""},
		{"smallest unit", "0.000001", ""},
		{"leading dot", ".5", rule + `; got ".5"`},
		{"trailing dot", "1.", rule + `; got "1."`},
		{"exponent", "1e-3", rule + `; got "1e-3"`},
		{"sign", "-1", rule + `; got "-1"`},
		{"space", " 0.5", rule + `; got " 0.5"`},
		{"comma", "0,5", rule + `; got "0,5"`},
		{"seven decimals", "0.0000001", rule + `; got "0.0000001"`},
		{"zero", "0", rule + `; got "0"`},
		{"zero decimals", "0.000", rule + `; got "0.000"`},
		{"empty", "", rule + `; got ""`},
		{"too large", "99999999999999999999", rule + `; got "99999999999999999999", which is too large`},
		{"JSON number", 0.5, rule + `; got the number 0.5 (a JSON number is not exact money)`},
		{"JSON integer", 1, rule + `; got the number 1 (a JSON number is not exact money)`},
		{"boolean", true, rule + `; got true`},
		{"left out", nil, `"amount" is required: ` + strings.TrimPrefix(rule, `"amount" must be `)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				tool string
				args map[string]any
			}{
				{server.ToolTip, map[string]any{"recipient": "alice"}},
				{"tip_jar", map[string]any{"author": "alice"}},
			} {
				if tt.amount != nil {
					c.args["amount"] = tt.amount
				}
				res := call(t, cli, c.tool, c.args)
				text := mcp.GetTextFromContent(res.Content[0])
				switch {
				case tt.want == "" && res.IsError:
					t.Errorf("%s refused %#v: %s", c.tool, tt.amount, text)
				case tt.want != "" && !res.IsError:
					t.Errorf("%s accepted %#v: %s", c.tool, tt.amount, text)
				case tt.want != "" && !strings.Contains(text, "invalid arguments: "+tt.want+". Not charged"):
					t.Errorf("%s, amount %#v:\n got %s\nwant invalid arguments: %s", c.tool, tt.amount, text, tt.want)
				}
			}
		})
	}
}

// TestFindToolsMaxPriceRule: x402_find_tools' max_price is an amount the
// model writes too: the same pattern, the same rule and message, and a JSON
// number is refused rather than silently ignored.
func TestFindToolsMaxPriceRule(t *testing.T) {
	f := newFixture(t, searchRegistry, 1_000_000, localseller.Config{}, server.Config{})
	cli := f.inProcess(t)
	list, err := cli.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range list.Tools {
		if tl.Name != server.ToolFind {
			continue
		}
		b, _ := json.Marshal(tl.InputSchema.Properties["max_price"])
		if !strings.Contains(string(b), `"pattern":"^[0-9]+(\\.[0-9]{1,6})?$"`) {
			t.Errorf("max_price schema %s lacks the amount pattern", b)
		}
	}
	for _, tt := range []struct {
		arg  any
		want string
	}{
		{0.001, `"max_price" must be a decimal USDC amount in a JSON string: digits, optionally a "." and 1 to 6 decimals, more than 0, such as "0.01"; got the number 0.001 (a JSON number is not exact money)`},
		{".001", `got ".001"`},
		{"0", `got "0"`},
	} {
		res := call(t, cli, server.ToolFind, map[string]any{"max_price": tt.arg})
		if text := mcp.GetTextFromContent(res.Content[0]); !res.IsError || !strings.Contains(text, tt.want) {
			t.Errorf("max_price %#v: %s", tt.arg, text)
		}
	}
	var out server.FindResult
	structured(t, call(t, cli, server.ToolFind, map[string]any{"max_price": "0.001"}), &out)
	if out.Matched != 2 {
		t.Errorf("max_price 0.001 matched %d tools, want 2", out.Matched)
	}
}
