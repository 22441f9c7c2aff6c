package tools

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/mcptest"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
)

const tipRegistry = `version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.10"
tools:
  - name: tip
    description: Tip an author.
    url: ${SELLER}/v2/tip/{name}
    params:
      - {name: name, in: path, required: true}
    amount_from: amount
    max_price: "0.05"
  - name: tip_post
    description: Tip by POST.
    method: POST
    url: ${SELLER}/tips
    amount_from: value
    max_price: "0.005"
  - name: tip_declared
    description: Tip with a declared amount param.
    url: ${SELLER}/v2/tip/{name}
    params:
      - {name: name, in: path, required: true}
      - {name: amount, in: query, type: string, description: How much, enum: ["0.01", "0.020"], default: "0.01"}
    amount_from: amount
    max_price: "0.05"
  - name: tip_path
    description: Amount in the path.
    url: ${SELLER}/pay/{amount}
    amount_from: amount
    max_price: "0.05"
  - name: tip_schema
    description: Tip with an input schema.
    method: POST
    url: ${SELLER}/tips
    input_schema:
      type: object
      properties:
        to: {type: string}
        amount: {type: string, pattern: "^[0-9.]+$"}
      required: [to, amount]
    amount_from: amount
    max_price: "0.05"
`

// TestParseAmountFrom: amount_from adds the price argument where it is
// missing (required string, decimal pattern, caps in its description) and
// marks a declared one.
func TestParseAmountFrom(t *testing.T) {
	reg := mustParse(t, tipRegistry)
	for _, tt := range []struct {
		tool, arg, in string
		required      bool
		schemaHas     []string
	}{
		{"tip", "amount", InQuery, true, []string{`"amount":{"type":"string","description":"Amount to pay, in USDC, as a decimal string such as \"0.01\", at most 0.05 USDC (the tool's max_price).`, `"pattern":"^[0-9]+(\\.[0-9]{1,6})?$"`, `"required":["name","amount"]`}},
		{"tip_post", "value", InBody, true, []string{`"value":{"type":"string","description":"Amount to pay, in USDC, as a decimal string such as \"0.005\", at most 0.005 USDC`, `"required":["value"]`}},
		{"tip_declared", "amount", InQuery, false, []string{`"amount":{"type":"string","description":"How much","pattern":"^[0-9]+(\\.[0-9]{1,6})?$","enum":["0.01","0.02"],"default":"0.01"}`}},
		{"tip_path", "amount", InPath, true, []string{`"required":["amount"]`}},
		{"tip_schema", "amount", InBody, true, []string{`"pattern":"^[0-9.]+$"`}},
	} {
		t.Run(tt.tool, func(t *testing.T) {
			e, _ := reg.Entry(tt.tool)
			if e.AmountFrom != tt.arg {
				t.Fatalf("AmountFrom = %q", e.AmountFrom)
			}
			var f *field
			for i := range e.fields {
				if e.fields[i].name == tt.arg {
					f = &e.fields[i]
				}
			}
			if f == nil || !f.amount || f.in != tt.in || f.required != tt.required {
				t.Fatalf("field %+v", f)
			}
			for _, s := range tt.schemaHas {
				if !strings.Contains(string(e.schema), s) {
					t.Errorf("schema lacks %s:\n%s", s, e.schema)
				}
			}
			if !json.Valid(e.schema) {
				t.Fatalf("invalid schema %s", e.schema)
			}
		})
	}
}

func TestParseAmountFromErrors(t *testing.T) {
	const head = "version: 1\ndefaults:\n  networks: [eip155:84532]\n  max_per_call: \"0.10\"\ntools:\n  - name: tip\n    description: Tip.\n    max_price: \"0.05\"\n"
	for _, tt := range []struct {
		name, body string
		want       string
	}{
		{"bad name", "    url: https://x.example/t\n    amount_from: \"a b\"\n",
			`tools[0] "tip": amount_from: "a b" is not a valid argument name: name the argument that carries the price, such as amount`},
		{"number param", "    url: https://x.example/t\n    amount_from: amount\n    params:\n      - {name: amount, type: number, required: true}\n",
			`tools[0] "tip": amount_from: argument "amount" is declared as number: a price argument must be type: string`},
		{"optional without default", "    url: https://x.example/t\n    amount_from: amount\n    params:\n      - {name: amount}\n",
			`amount_from: argument "amount" is optional with no default, so a call could leave its price out: make it required`},
		{"bad default", "    url: https://x.example/t\n    amount_from: amount\n    params:\n      - {name: amount, default: \"1e3\"}\n",
			`amount_from: the default of "amount": "1e3" is not a USDC amount`},
		{"default above max_price", "    url: https://x.example/t\n    amount_from: amount\n    params:\n      - {name: amount, default: \"0.06\"}\n",
			`amount_from: the default of "amount", 0.06 USDC, is above max_price (0.05 USDC): lower it or raise max_price`},
		{"zero in enum", "    url: https://x.example/t\n    amount_from: amount\n    params:\n      - {name: amount, required: true, enum: [\"0.01\", \"0\"]}\n",
			`amount_from: the enum[1] of "amount": 0 pays nothing`},
		{"seven decimals in enum", "    url: https://x.example/t\n    amount_from: amount\n    params:\n      - {name: amount, required: true, enum: [\"0.0000001\"]}\n",
			`amount_from: the enum[0] of "amount": "0.0000001" has more than 6 decimals`},
		{"missing from input_schema", "    url: https://x.example/t\n    amount_from: amount\n    input_schema: {type: object, properties: {to: {type: string}}}\n",
			`amount_from: "amount" is not a property of input_schema: add it under properties as {type: string} and list it in required`},
		{"untyped in input_schema", "    url: https://x.example/t\n    amount_from: amount\n    input_schema: {type: object, properties: {amount: {}}, required: [amount]}\n",
			`amount_from: argument "amount" is declared with no type: a price argument must be type: string`},
		{"kind mcp", "    kind: mcp\n    url: https://x.example/mcp\n    prefix: r_\n    amount_from: amount\n",
			`amount_from: only applies to HTTP entries`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("registry.yaml", []byte(head+tt.body), testFamilies)
			if err == nil || !strings.Contains(err.Error(), "registry.yaml: tools[0] \"tip\": ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
	// The key is known to the strict decoder's message.
	_, err := Parse("registry.yaml", []byte(head+"    url: https://x.example/t\n    amount_form: amount\n"), testFamilies)
	if err == nil || !strings.Contains(err.Error(), `unknown key "amount_form"`) || !strings.Contains(err.Error(), "amount_from") {
		t.Fatalf("misspelt key: %v", err)
	}
}

// TestAmountArgument: the price argument is parsed exactly; a bad one is an
// argument error naming it, and a good one goes upstream in canonical form
// and becomes the call's exact price.
func TestAmountArgument(t *testing.T) {
	const mustBe = `"amount" must be a decimal USDC amount in a JSON string: digits, optionally a "." and 1 to 6 decimals, more than 0, such as "0.01"`
	reg := mustParse(t, tipRegistry)
	getenv := env(map[string]string{"SELLER": "http://127.0.0.1:9"})
	for _, tt := range []struct {
		tool  string
		args  map[string]any
		sent  string // the request's URL query or body
		exact payments.Amount
		err   string // the whole argument error
	}{
		{"tip", map[string]any{"name": "al", "amount": "0.25"}, "amount=0.25", 250_000, ""},
		{"tip", map[string]any{"name": "al", "amount": "0.250"}, "amount=0.25", 250_000, ""},
		{"tip", map[string]any{"name": "al", "amount": "007"}, "amount=7", 7_000_000, ""}, // above the cap: payments refuses it before sending
		{"tip", map[string]any{"name": "al", "amount": "0.000001"}, "amount=0.000001", 1, ""},
		{"tip_post", map[string]any{"value": "0.005"}, `{"value":"0.005"}`, 5_000, ""},
		{"tip_path", map[string]any{"amount": "0.01"}, "/pay/0.01", 10_000, ""},
		{"tip_declared", map[string]any{"name": "al"}, "amount=0.01", 10_000, ""},
		{"tip_declared", map[string]any{"name": "al", "amount": "0.02"}, "amount=0.02", 20_000, ""},
		{"tip_schema", map[string]any{"to": "al", "amount": "0.03"}, `{"amount":"0.03","to":"al"}`, 30_000, ""},
		{"tip", map[string]any{"name": "al", "amount": "1e3"}, "", 0, `invalid arguments: ` + mustBe + `; got "1e3"`},
		{"tip", map[string]any{"name": "al", "amount": ".5"}, "", 0, mustBe + `; got ".5"`},
		{"tip", map[string]any{"name": "al", "amount": "-1"}, "", 0, mustBe + `; got "-1"`},
		{"tip", map[string]any{"name": "al", "amount": "0"}, "", 0, mustBe + `; got "0"`},
		{"tip", map[string]any{"name": "al", "amount": "0.0000001"}, "", 0, mustBe + `; got "0.0000001"`},
		{"tip", map[string]any{"name": "al", "amount": ""}, "", 0, mustBe + `; got ""`},
		{"tip", map[string]any{"name": "al", "amount": " 1"}, "", 0, mustBe + `; got " 1"`},
		{"tip", map[string]any{"name": "al", "amount": "NaN"}, "", 0, mustBe + `; got "NaN"`},
		{"tip", map[string]any{"name": "al", "amount": "18446744073709.551616"}, "", 0, mustBe + `; got "18446744073709.551616", which is too large`},
		{"tip", map[string]any{"name": "al", "amount": 0.25}, "", 0, `invalid arguments: ` + mustBe + `; got the number 0.25 (a JSON number is not exact money)`},
		{"tip", map[string]any{"name": "al", "amount": true}, "", 0, mustBe + `; got true`},
		{"tip", map[string]any{"name": "al"}, "", 0, `invalid arguments: "amount" is required: a decimal USDC amount in a JSON string`},
		{"tip_declared", map[string]any{"name": "al", "amount": "0.03"}, "", 0, `invalid arguments: "amount" must be one of "0.01", "0.02", got "0.03"`},
	} {
		t.Run(tt.tool+" "+describe(tt.args), func(t *testing.T) {
			e, _ := reg.Entry(tt.tool)
			req, err := e.NewRequest(t.Context(), tt.args, getenv)
			if tt.err != "" {
				ae, ok := AsArgumentError(err)
				if !ok || !strings.Contains(ae.Error(), tt.err) {
					t.Fatalf("err = %v, want an argument error containing %q", err, tt.err)
				}
				if _, lerr := e.CallLimit("c", tt.args); lerr == nil {
					t.Fatal("CallLimit accepted what NewRequest refused")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sent := req.URL.RawQuery
			switch {
			case req.Body != nil:
				sent = readBody(t, req)
			case req.URL.RawQuery == "":
				sent = req.URL.Path
			}
			if sent != tt.sent {
				t.Errorf("sent %q, want %q", sent, tt.sent)
			}
			lim, err := e.CallLimit("call_x", tt.args)
			if err != nil || lim.ExactAmount != tt.exact || lim.ExactArg != e.AmountFrom || lim.MaxPrice != e.MaxPrice || lim.CallID != "call_x" {
				t.Fatalf("limit %+v, err %v; want exact %d", lim, err, tt.exact)
			}
		})
	}
	// An entry without amount_from has no exact price.
	if lim, err := mustParse(t, handlerRegistry).byName["weather"].CallLimit("c", map[string]any{"city": "x"}); err != nil || lim.ExactAmount != 0 {
		t.Fatalf("plain entry: %+v %v", lim, err)
	}
}

// TestAmountToolOverMCP: over a real MCP session and the real paying client,
// a tip pays exactly the amount argued, an inflating seller gets nothing
// signed, and a bad amount reaches no seller.
func TestAmountToolOverMCP(t *testing.T) {
	seller := localseller.New(localseller.Config{})
	var requests atomic.Int64
	h := seller.Handler()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	reg := mustParse(t, tipRegistry+`  - name: tip_inflated
    description: A seller that asks double.
    url: ${SELLER}/v2/tip/{name}?inflate=1
    params:
      - {name: name, in: path, required: true}
    amount_from: amount
    max_price: "0.05"
`)
	w, err := wallet.ParseHexKey("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
	if err != nil {
		t.Fatal(err)
	}
	fac := seller.Facilitator()
	fac.Fund(w.Address(), 1_000_000)
	pol := reg.Policy()
	client := &payments.Client{HTTP: payments.NewHTTPClient(), Schemes: payments.NewSchemes(evm.NewExact(nil)), Signers: payments.Signers{w}, Policy: pol, Ledger: payments.NewMemoryLedger(pol.Budget, nil)}
	srv, err := mcptest.NewServer(t, Build(reg, client, env(map[string]string{"SELLER": up.URL}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	list, err := srv.Client().ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range list.Tools {
		if tl.Name != "tip" {
			continue
		}
		price, _ := tl.Meta.AdditionalFields[MetaPrice].(map[string]any)
		if !strings.Contains(tl.Description, `Paid tool: pays the amount you give in "amount" (a decimal USDC string), up to 0.05 USDC per call`) || price["amountFrom"] != "amount" {
			t.Fatalf("tip tool: %q, price %v", tl.Description, price)
		}
	}

	res, err := srv.Client().CallTool(t.Context(), callReq("tip", map[string]any{"name": "alice", "amount": "0.0125"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError || !strings.Contains(resultText(res), "Thank you for tipping 0.0125 USDC to alice.") || !strings.Contains(resultText(res), "Paid 0.0125 USDC (12500 atomic)") {
		t.Fatalf("tip: %s", resultText(res))
	}
	if got := fac.Balance(w.Address()); got != 1_000_000-12_500 {
		t.Fatalf("wallet holds %d, want %d", got, 1_000_000-12_500)
	}

	for _, tc := range []struct {
		tool, amount string
		requests     int64
		want         string
	}{
		{"tip_inflated", "0.01", 1, `Payment not charged (price_mismatch): no payment option the policy allows for tip_inflated: the seller asks 0.02 USDC, not 0.01 USDC (the amount in argument "amount")`},
		{"tip", "0.06", 0, `Payment not charged (price_above_cap): the amount in argument "amount" is 0.06 USDC, above the max_price of tip (0.05 USDC). Nothing was sent or signed.`},
		{"tip", "1e-2", 0, `invalid arguments: "amount" must be a decimal USDC amount in a JSON string`},
	} {
		before := requests.Load()
		res, err := srv.Client().CallTool(t.Context(), callReq(tc.tool, map[string]any{"name": "alice", "amount": tc.amount}))
		if err != nil {
			t.Fatal(err)
		}
		if !res.IsError || !strings.Contains(resultText(res), tc.want) || meta(res)[MetaCharged] != string(payments.NotCharged) {
			t.Errorf("%s %s: %s (meta %v)", tc.tool, tc.amount, resultText(res), meta(res))
		}
		if n := requests.Load() - before; n != tc.requests {
			t.Errorf("%s %s: the seller got %d requests, want %d", tc.tool, tc.amount, n, tc.requests)
		}
	}
	if seller.PaymentHeadersSeen() != 1 || fac.Balance(w.Address()) != 1_000_000-12_500 {
		t.Fatalf("after the refusals: %d payment headers, wallet %d", seller.PaymentHeadersSeen(), fac.Balance(w.Address()))
	}
}
