package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
)

const mainCatalog catalog = `
version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.05"
  timeout: 10s
  max_result_bytes: 4096
budget:
  total: "1.00"
tools:
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
      - {name: units, in: query, type: string, enum: [metric, imperial], default: metric, description: Units}
    max_price: "0.001"
    pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    network: eip155:84532
    asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
  - name: summarize
    description: Summarize a text.
    method: POST
    url: "{{URL}}/v2/summarize"
    params:
      - {name: text, in: body, type: string, required: true, description: The text}
    max_price: "0.01"
    result: summary
  - name: stock_quote
    description: A stock quote (x402 v1).
    url: "{{URL}}/v1/quote"
    params:
      - {name: symbol, in: query, type: string, required: true, description: Ticker}
    max_price: "0.002"
  - name: note
    description: A paid text note.
    url: "{{URL}}/v2/text"
    max_price: "0.001"
  - name: picture
    description: A paid picture.
    url: "{{URL}}/v2/image"
    max_price: "0.001"
  - name: ping
    description: A free endpoint.
    url: "{{URL}}/free/ping"
    max_price: "0.001"
  - name: idempotent
    description: A seller that asks for a payment identifier.
    url: "{{URL}}/v2/idempotent"
    max_price: "0.001"
  - name: weather_cheap
    description: Weather with a max_price below the seller's price.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.0005"
  - name: weather_wrong_payee
    description: Weather pinned to a payee the seller does not use.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
    pay_to: "0x0000000000000000000000000000000000000001"
`

// misbehaviourCatalog has one entry per misbehaviour mode.
func misbehaviourCatalog() catalog {
	var b strings.Builder
	b.WriteString("version: 1\ndefaults:\n  networks: [eip155:84532]\n  max_per_call: \"0.05\"\n  timeout: 10s\n  max_result_bytes: 2048\nbudget:\n  total: \"1.00\"\ntools:\n")
	for _, m := range localseller.Modes {
		b.WriteString("  - name: mb_" + m + "\n    description: misbehaving seller (" + m + ")\n    url: \"{{URL}}/v2/misbehave/" + m + "\"\n    max_price: \"0.01\"\n")
		switch m {
		case localseller.ModeSwitchedPayee:
			b.WriteString("    pay_to: \"" + localseller.DefaultPayTo.Hex() + "\"\n")
		case localseller.ModeSlowBody:
			b.WriteString("    timeout: 1s\n")
		}
	}
	return catalog(b.String())
}

func TestToolsListGolden(t *testing.T) {
	s := start(t, mainCatalog)
	res, err := s.cli.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(res.Tools, func(i, j int) bool { return res.Tools[i].Name < res.Tools[j].Name })
	got, err := json.MarshalIndent(res.Tools, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "tools.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./test -run TestToolsListGolden -update)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("tools/list differs from %s (refresh with -update if intended):\n%s", golden, got)
	}
	for _, tool := range res.Tools {
		if strings.HasPrefix(tool.Name, "x402_") {
			continue
		}
		a := tool.Annotations
		if a.ReadOnlyHint == nil || *a.ReadOnlyHint || a.OpenWorldHint == nil || !*a.OpenWorldHint {
			t.Errorf("%s: a paid tool must be readOnlyHint:false, openWorldHint:true", tool.Name)
		}
		if !strings.Contains(tool.Description, "USDC") || !strings.Contains(tool.Description, "eip155:84532") && !strings.Contains(tool.Description, "Base Sepolia") {
			t.Errorf("%s: description lacks price or network: %q", tool.Name, tool.Description)
		}
	}
	s.stdoutIsJSONRPC(t)
}

func TestPaidCalls(t *testing.T) {
	s := start(t, mainCatalog)
	fac := s.seller.Facilitator
	tests := []struct {
		tool     string
		args     map[string]any
		price    payments.Amount
		version  float64
		contains string
	}{
		{"weather", map[string]any{"city": "paris"}, 1000, 2, `"city":"paris"`},
		{"summarize", map[string]any{"text": "Agents pay per call. Sellers get paid."}, 10_000, 2, "Agents pay per call."},
		{"stock_quote", map[string]any{"symbol": "ACME"}, 2000, 1, "ACME"},
		{"note", nil, 1000, 2, ""},
		{"picture", nil, 1000, 2, ""},
		{"idempotent", nil, 1000, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			payeeBefore, payerBefore := fac.Balance(s.seller.Seller.PayTo()), fac.Balance(payer)
			res := s.call(tt.tool, tt.args)
			if res.IsError {
				t.Fatalf("error result: %s", text(res))
			}
			if !strings.Contains(text(res), tt.contains) {
				t.Fatalf("result %q lacks %q", text(res), tt.contains)
			}
			rc := meta(res, "x402/payment-response")
			if rc == nil {
				t.Fatalf("no receipt in _meta: %+v", res.Meta)
			}
			if rc["amountAtomic"] != tt.price.Atomic() || rc["network"] != "eip155:84532" || rc["payer"] != payer.Hex() ||
				rc["x402Version"] != tt.version || !strings.HasPrefix(rc["transaction"].(string), "0x") {
				t.Fatalf("receipt %v", rc)
			}
			if !strings.Contains(text(res), "Paid "+tt.price.USDC()) {
				t.Fatalf("no receipt line in %q", text(res))
			}
			if d := fac.Balance(s.seller.Seller.PayTo()) - payeeBefore; d != tt.price {
				t.Fatalf("seller balance moved by %d, want exactly %d", d, tt.price)
			}
			if d := payerBefore - fac.Balance(payer); d != tt.price {
				t.Fatalf("wallet balance moved by %d, want exactly %d", d, tt.price)
			}
		})
	}
	t.Run("image content", func(t *testing.T) {
		res := s.call("picture", nil)
		found := false
		for _, c := range res.Content {
			if ic, ok := c.(mcp.ImageContent); ok && ic.MIMEType == "image/png" && ic.Data != "" {
				found = true
			}
		}
		if !found {
			t.Fatalf("no image content: %+v", res.Content)
		}
	})
	t.Run("payment identifier", func(t *testing.T) {
		ids := s.seller.Seller.PaymentIDs()
		if len(ids) == 0 || !strings.HasPrefix(ids[0], "call_") {
			t.Fatalf("payment ids %v", ids)
		}
	})
	t.Run("free endpoint", func(t *testing.T) {
		seen := s.seller.Seller.PaymentHeadersSeen()
		res := s.call("ping", nil)
		if res.IsError || meta(res, "x402/payment-response") != nil || s.seller.Seller.PaymentHeadersSeen() != seen {
			t.Fatalf("free call: %s %+v", text(res), res.Meta)
		}
	})
	t.Run("wallet", func(t *testing.T) {
		res := s.call("x402_wallet", nil)
		var st struct {
			Address string `json:"address"`
			Budget  struct {
				Settled string `json:"settled"`
				Left    string `json:"left"`
			} `json:"budget"`
		}
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		// weather 0.001 + summarize 0.01 + quote 0.002 + note, picture x2, idempotent 0.001 each
		if st.Address != payer.Hex() || st.Budget.Settled != "0.017" || st.Budget.Left != "0.983" {
			t.Fatalf("wallet %+v", st)
		}
	})
	s.stdoutIsJSONRPC(t)
}

func TestRefusalsSendNoSignature(t *testing.T) {
	s := start(t, mainCatalog)
	tests := []struct {
		tool, code, says string
		args             map[string]any
	}{
		{"weather_cheap", "price_above_cap", "0.0005 USDC", map[string]any{"city": "paris"}},
		{"weather_wrong_payee", "not_allowed", "pinned", map[string]any{"city": "paris"}},
		{"weather", "", "invalid arguments", map[string]any{"city": "paris", "units": "kelvin"}},
		{"weather", "", "city", map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.tool+tt.code, func(t *testing.T) {
			res := s.call(tt.tool, tt.args)
			if !res.IsError || !strings.Contains(text(res), tt.says) || !strings.Contains(strings.ToLower(text(res)), "not charged") {
				t.Fatalf("result %q, want an error saying %q and not charged", text(res), tt.says)
			}
			if tt.code != "" {
				if e := meta(res, "x402/error"); e == nil || e["code"] != tt.code {
					t.Fatalf("x402/error %v, want code %s", e, tt.code)
				}
			}
		})
	}
	if n := s.seller.Seller.PaymentHeadersSeen(); n != 0 {
		t.Fatalf("the seller saw %d payment headers after refusals", n)
	}
	if n := s.seller.Facilitator.SettledCount(); n != 0 {
		t.Fatalf("%d settlements after refusals", n)
	}
}

func TestMisbehavingSellers(t *testing.T) {
	s := start(t, misbehaviourCatalog())
	tests := []struct {
		mode    string
		isError bool
		charged string   // the _meta x402/charged word
		says    []string // substrings of the text
		paid    int      // new payment headers at the seller
		settles int      // new settlements
		delta   payments.Amount
	}{
		{localseller.ModePriceHigh, true, "not charged", []string{"price_above_cap", "5 USDC", "0.01 USDC"}, 0, 0, 0},
		{localseller.ModeSwitchedPayee, true, "not charged", []string{"not_allowed", "payee"}, 0, 0, 0},
		{localseller.ModeUnknownNetwork, true, "not charged", []string{"eip155:999999"}, 0, 0, 0},
		{localseller.ModeBadBase64, true, "not charged", []string{"bad_challenge", "malformed"}, 0, 0, 0},
		{localseller.ModeBadJSON, true, "not charged", []string{"bad_challenge"}, 0, 0, 0},
		{localseller.ModeSecond402, true, "unknown", []string{"payment_rejected", "did not sign again", "until reconciliation proves it unused"}, 1, 0, 0},
		{localseller.ModeErrorAfterSettle, true, "charged", []string{"500", "nothing delivered"}, 1, 1, 1000},
		{localseller.ModeErrorNoReceipt, true, "unknown", []string{"502", "retry"}, 1, 1, 1000},
		{localseller.ModeHugeBody, false, "charged", []string{"truncated"}, 1, 1, 1000},
		{localseller.ModeSlowBody, false, "charged", []string{"Paid 0.001 USDC"}, 1, 1, 1000},
		{localseller.ModePending, false, "charged", []string{"its settlement is pending", "counted as charged while its settlement is pending"}, 1, 1, 1000},
		{localseller.ModeNoReceipt, false, "charged", []string{"no settlement receipt: not confirmed", "counted as charged until reconciliation confirms it"}, 1, 1, 1000},
		{localseller.ModeMultiAccept, false, "charged", []string{"Paid 0.001 USDC"}, 1, 1, 1000},
		{localseller.ModeDropAfterSettle, true, "unknown", []string{"outcome_unknown", "Do not retry"}, 2, 1, 1000},
		{localseller.ModeSettleThen402, true, "unknown", []string{"payment_rejected", "reported no settlement", "until reconciliation proves it unused"}, 1, 1, 1000},
		// 10 MiB of "[": the process lives on and shows it as text.
		{localseller.ModeDeepJSON, false, "charged", []string{"nests deeper than 512 levels", "[[[[", "Paid 0.001 USDC"}, 1, 1, 1000},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.mode] = true
		t.Run(tt.mode, func(t *testing.T) {
			fac, seller := s.seller.Facilitator, s.seller.Seller
			seen, settled, bal := seller.PaymentHeadersSeen(), fac.SettledCount(), fac.Balance(payer)
			res := s.call("mb_"+tt.mode, nil)
			out := text(res)
			if res.IsError != tt.isError {
				t.Fatalf("isError %v, want %v: %s", res.IsError, tt.isError, out)
			}
			if got := res.Meta.AdditionalFields["x402/charged"]; got != tt.charged {
				t.Fatalf("x402/charged = %v, want %q: %s", got, tt.charged, out)
			}
			for _, w := range tt.says {
				if !strings.Contains(out, w) {
					t.Fatalf("text lacks %q:\n%s", w, out)
				}
			}
			if tt.mode == localseller.ModePending || tt.mode == localseller.ModeNoReceipt || tt.charged != "charged" {
				// Not settled, or not known to be: never "Paid".
				for _, w := range []string{"Paid ", "Charged and delivered"} {
					if strings.Contains(out, w) {
						t.Fatalf("text says %q of a payment not known to have settled:\n%s", w, out)
					}
				}
			}
			if n := seller.PaymentHeadersSeen() - seen; n != tt.paid {
				t.Fatalf("%d payment headers reached the seller, want %d", n, tt.paid)
			}
			if n := fac.SettledCount() - settled; n != tt.settles {
				t.Fatalf("%d settlements, want %d", n, tt.settles)
			}
			if d := bal - fac.Balance(payer); d != tt.delta {
				t.Fatalf("wallet paid %d, want %d", d, tt.delta)
			}
		})
	}
	for _, m := range localseller.Modes {
		if !covered[m] {
			t.Errorf("misbehaviour %s is not tested", m)
		}
	}
	s.stdoutIsJSONRPC(t)
}

func TestOverBudget(t *testing.T) {
	cat := catalog(strings.Replace(string(mainCatalog), `total: "1.00"`, `total: "0.002"`, 1))
	s := start(t, cat)
	for i := 0; i < 2; i++ {
		if res := s.call("weather", map[string]any{"city": "oslo"}); res.IsError {
			t.Fatalf("call %d: %s", i, text(res))
		}
	}
	res := s.call("weather", map[string]any{"city": "oslo"})
	if !res.IsError || !strings.Contains(text(res), "over_budget") && !strings.Contains(text(res), "budget") || meta(res, "x402/error")["code"] != "over_budget" {
		t.Fatalf("third call: %s", text(res))
	}
	if !strings.Contains(text(res), "not charged") {
		t.Fatalf("refusal does not say not charged: %s", text(res))
	}
	over, _ := meta(res, "x402/error")["budget"].(map[string]any)
	if over["scope"] != "total" || over["limit"] != "0.002" || over["counted"] != "0.002" || over["setting"] == "" {
		t.Fatalf("_meta x402/error budget = %v", over)
	}
	if n := s.seller.Seller.PaymentHeadersSeen(); n != 2 {
		t.Fatalf("%d payments reached the seller, want 2", n)
	}
	q := s.call("x402_quote", map[string]any{"tool": "weather", "arguments": map[string]any{"city": "oslo"}})
	if q.IsError || !strings.Contains(text(q), "NOT pay") {
		t.Fatalf("quote with an empty budget: %s", text(q))
	}
}

func TestQuote(t *testing.T) {
	s := start(t, mainCatalog)
	res := s.call("x402_quote", map[string]any{"tool": "weather", "arguments": map[string]any{"city": "rome"}})
	if res.IsError || !strings.Contains(text(res), "0.001 USDC") || !strings.Contains(text(res), "would pay") {
		t.Fatalf("quote: %s", text(res))
	}
	res = s.call("x402_quote", map[string]any{"tool": "weather_cheap", "arguments": map[string]any{"city": "rome"}})
	if res.IsError || !strings.Contains(text(res), "NOT pay") {
		t.Fatalf("quote over max_price: %s", text(res))
	}
	if n := s.seller.Seller.PaymentHeadersSeen(); n != 0 {
		t.Fatalf("quotes sent %d payments", n)
	}
}

// solanaTestKey is a known base58 Solana secret (a 64-byte keypair), so a
// leak is easy to spot.
const solanaTestKey = "4NMwxzmYj2uvHuq8xoqhY8RXg63KSVJM1DXkpbmkUY7YQWuoyQgFnnzn6yo3CMnqZasnNPNuAT2TLwQsCaKkUddp"

// solanaTestAddress is solanaTestKey's address.
const solanaTestAddress = "G2FAbFQPFa5qKXCetoFZQEvF9BVvCKbvUZvodpVidnoY"

// TestKeyNeverLeaks runs paid calls, refusals and failures with a known
// EVM key and a known Solana key, and looks for either in everything the
// process wrote and returned.
func TestKeyNeverLeaks(t *testing.T) {
	s := start(t, mainCatalog, "X402_SOLANA_PRIVATE_KEY="+solanaTestKey)
	var results []string
	for _, c := range []struct {
		name string
		args map[string]any
	}{
		{"weather", map[string]any{"city": "lima"}}, {"stock_quote", map[string]any{"symbol": "K"}},
		{"weather_cheap", map[string]any{"city": "lima"}}, {"weather", map[string]any{}}, {"x402_wallet", nil},
		{"x402_quote", map[string]any{"tool": "summarize", "arguments": map[string]any{"text": "x"}}},
	} {
		b, _ := json.Marshal(s.call(c.name, c.args))
		results = append(results, string(b))
	}
	s.close()
	haystacks := map[string]string{"stdout": s.stdout.String(), "stderr": s.stderr.String(), "results": strings.Join(results, "\n")}
	if !strings.Contains(haystacks["stderr"], "paying") {
		t.Fatalf("expected payment logs on stderr, got:\n%s", haystacks["stderr"])
	}
	if !strings.Contains(haystacks["results"], solanaTestAddress) {
		t.Fatalf("x402_wallet does not show the Solana key's address %s: is the key loaded?", solanaTestAddress)
	}
	for name, h := range haystacks {
		for _, needle := range []string{testKey, strings.ToUpper(testKey), testKey[:16], testKey[len(testKey)-16:], solanaTestKey[:16], solanaTestKey[40:56], solanaTestKey[len(solanaTestKey)-16:]} {
			if strings.Contains(h, needle) {
				t.Fatalf("a private key appears in %s", name)
			}
		}
	}
	s.stdoutIsJSONRPC(t)
}

func run(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func TestCheck(t *testing.T) {
	out, _, err := run(t, nil, "check", "../registry.yaml")
	if err != nil || !strings.Contains(out, "weather") || !strings.Contains(out, "0.001 USDC") || !strings.Contains(out, "OK, 4 tools") || !strings.Contains(out, "arg amount ≤ 0.02 USDC") {
		t.Fatalf("check registry.yaml: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\ntools:\n  - name: a\n    description: x\n    url: http://x/{id}\n    max_price: \"0.1x\"\n  - name: a\n    description: y\n    url: ftp://y\n    max_price: \"0.01\"\n"), 0o600)
	_, stderr, err := run(t, nil, "check", bad)
	if err == nil {
		t.Fatal("check accepted a bad catalog")
	}
	for _, want := range []string{"bad.yaml", `tools[0] "a": max_price`, "0.1x", "already used", "ftp://y", "{id}"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("check's report lacks %q:\n%s", want, stderr)
		}
	}
}

func TestWalletCommands(t *testing.T) {
	out, _, err := run(t, []string{"X402_PRIVATE_KEY=0x" + testKey}, "wallet", "address")
	if err != nil || strings.TrimSpace(out) != payer.Hex() {
		t.Fatalf("wallet address: %v %q", err, out)
	}
	dir := t.TempDir()
	out, _, err = run(t, []string{"X402_KEYSTORE_PASSWORD=correct horse battery"}, "wallet", "new", "--dir", dir)
	if err != nil {
		t.Fatalf("wallet new: %v", err)
	}
	var addr, path string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "address:"); ok {
			addr = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "keystore:"); ok {
			path = strings.TrimSpace(v)
		}
	}
	if !strings.HasPrefix(path, dir) {
		t.Fatalf("keystore %q not in %s", path, dir)
	}
	out, _, err = run(t, []string{"X402_KEYSTORE=" + path, "X402_KEYSTORE_PASSWORD=correct horse battery"}, "wallet", "address")
	if err != nil || strings.TrimSpace(out) != addr {
		t.Fatalf("address from the new keystore = %q (%v), want %s", out, err, addr)
	}
	_, stderr, err := run(t, []string{"X402_KEYSTORE=" + path, "X402_KEYSTORE_PASSWORD=wrong"}, "wallet", "address")
	if err == nil || !strings.Contains(stderr, "passphrase") {
		t.Fatalf("wrong passphrase: %v %s", err, stderr)
	}
	_, stderr, err = run(t, nil, "serve")
	if err == nil || !strings.Contains(stderr, "X402_PRIVATE_KEY") {
		t.Fatalf("serve without a wallet: %v %s", err, stderr)
	}
}

func TestDemo(t *testing.T) {
	out, stderr, err := run(t, nil, "demo")
	if err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out, stderr)
	}
	for _, want := range []string{"tools/list", "weather", "Paid 0.001 USDC", "x402/payment-response", "over_budget", "not charged", "Thank you for tipping 0.0005 USDC to alice.", "Paid 0.0005 USDC", "3 payments settled", "asks the user: Approve a tip of 0.001 USDC to author", "Tipped 0.001 USDC", "the author was tipped 0.001 USDC",
		// x402_wallet says where the keys live: here, nowhere but memory.
		"key in memory (a throwaway key made for this demo)",
		// One payment on Solana, checked by the local facilitator for real.
		"tools/call solana_weather", "on solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1", "On Solana devnet: 1 payment settled, 0.001 USDC received"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo transcript lacks %q:\n%s", want, out)
		}
	}
}

// TestDemoOnChain runs `demo --chain` from a binary built with the simchain
// tag: every payment is a real transferWithAuthorization on a simulated EVM.
func TestDemoOnChain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a second, larger binary; run without -short")
	}
	bin := filepath.Join(t.TempDir(), "x402-mcp-simchain")
	build := exec.Command("go", "build", "-tags", "simchain", "-o", bin, "../cmd/x402-mcp")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build -tags simchain: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "demo", "--chain")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo --chain: %v\n%s", err, out)
	}
	for _, want := range []string{"eip155:1337", "transferWithAuthorization", "Paid 0.001 USDC", "over_budget", "Paid 0.0005 USDC", "3 payments settled", "Tipped 0.001 USDC", "0.9955 test USDC (read from the chain)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
	_, stderr, err := run(t, nil, "demo", "--chain")
	if err == nil || !strings.Contains(stderr, "-tags simchain") {
		t.Fatalf("the default binary should explain how to get --chain: %v %s", err, stderr)
	}
}
