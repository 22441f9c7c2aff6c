package payments

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Two tokens that are not USDC, as registry.yaml's assets: declares them:
// an 18-decimal one and a 2-decimal one, on the local dev chain.
var (
	weth = Asset{Network: "eip155:1337", Address: "0x00000000000000000000000000000000000e7418",
		Name: "Wrapped Ether", Version: "1", Symbol: "WETH", Decimals: 18}
	jpyx = Asset{Network: "eip155:1337", Address: "0x00000000000000000000000000000000000A0002",
		Name: "JPY Coin", Version: "1", Symbol: "JPYX", Decimals: 2}
)

func TestCurrencyParseAndFormat(t *testing.T) {
	w, j := weth.Currency(), jpyx.Currency()
	tests := []struct {
		cur  Currency
		in   string
		want Amount
		err  string // substring of the error, "" for none
		out  string // Format of want
	}{
		{USDC, "0.05", 50_000, "", "0.05 USDC"},
		{USDC, "0.0000001", 0, "more than 6 decimals: USDC's smallest unit is 0.000001", ""},
		{w, "0.05", 50_000_000_000_000_000, "", "0.05 WETH"},
		{w, "1", 1_000_000_000_000_000_000, "", "1 WETH"},
		{w, "0.000000000000000001", 1, "", "0.000000000000000001 WETH"},
		{w, "18.446744073709551615", MaxAmount, "", "18.446744073709551615 WETH"},
		{w, "18.446744073709551616", 0, "too large", ""},
		{w, "0.0000000000000000001", 0, "more than 18 decimals: WETH's smallest unit is 0.000000000000000001", ""},
		{w, "0.1x", 0, `"0.1x" is not a WETH amount`, ""},
		{j, "1.50", 150, "", "1.5 JPYX"},
		{j, "1234", 123_400, "", "1234 JPYX"},
		{j, "0.001", 0, "more than 2 decimals: JPYX's smallest unit is 0.01", ""},
		{j, "", 0, "write a decimal JPYX amount", ""},
	}
	for _, tt := range tests {
		got, err := tt.cur.Parse(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%s.Parse(%q) = %d, %v; want %d", tt.cur.Symbol, tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s.Parse(%q) error %v, want %q", tt.cur.Symbol, tt.in, err, tt.err)
		case tt.out != "" && tt.cur.Format(got) != tt.out:
			t.Errorf("%s.Format(%d) = %q, want %q", tt.cur.Symbol, got, tt.cur.Format(got), tt.out)
		}
	}
	if w.IsUSDC() || j.IsUSDC() || !USDC.IsUSDC() || !(Currency{}).IsUSDC() {
		t.Fatal("IsUSDC: only USDC (and the zero Currency, which means USDC) is USDC")
	}
	if w.Budget == j.Budget || w.Budget == BudgetUSDC {
		t.Fatalf("budget keys %q %q: each declared asset has its own", w.Budget, j.Budget)
	}
	if known := (Asset{Network: "eip155:84532", Address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", Symbol: "USDC", Decimals: 6, USDC: true}); known.Currency() != USDC {
		t.Fatalf("the known USDC's currency is %+v", known.Currency())
	}
}

// TestBudgetCheckAssets: a payment in a declared asset counts only against
// that asset's budgets (and its entry's own), in its units; the USDC budgets
// neither limit it nor name it; an asset no budget names is refused.
func TestBudgetCheckAssets(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 4, 5, 0, time.UTC)
	w := weth.Currency()
	b := Budget{Total: 1_000_000, PerDay: 500_000, PerTool: 100_000, PerHost: 100_000, PerSession: 100_000,
		PerNetwork: map[Network]Amount{"eip155:1337": 100_000},
		Assets:     map[string]AssetBudget{w.Budget: {Currency: w, Total: 1_000_000_000_000_000_000, PerDay: 200_000_000_000_000_000, Setting: "assets[0]"}}}
	r := Reservation{Tool: "w", Host: "h:443", Session: "s", Network: "eip155:1337", Currency: w, Amount: 100_000_000_000_000_000} // 0.1 WETH
	// Far above every USDC limit in atomic units, within WETH's.
	if e := b.Check(r, Spent{Total: 800_000_000_000_000_000, Day: 100_000_000_000_000_000}, now); e != nil {
		t.Fatalf("0.1 WETH with 0.8 counted of 1: %v", e)
	}
	e := b.Check(r, Spent{Total: 900_000_000_000_000_001}, now)
	if e == nil || e.Over == nil || e.Over.Scope != ScopeTotal || e.Over.Setting != "assets[0].budget.total" {
		t.Fatalf("over the WETH total: %+v", e)
	}
	for _, want := range []string{"the total budget of WETH", "0.900000000000000001 WETH counted of its 1 WETH limit", "(0.099999999999999999 WETH left)", "this payment costs 0.1 WETH"} {
		if !strings.Contains(e.Message, want) {
			t.Fatalf("message %q lacks %q", e.Message, want)
		}
	}
	js, err := json.Marshal(e.Over)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"asset":"WETH"`, `"decimals":18`, `"counted":"0.900000000000000001"`, `"limit":"1"`, `"price":"0.1"`} {
		if !strings.Contains(string(js), want) {
			t.Fatalf("over-budget JSON %s lacks %s", js, want)
		}
	}
	if e := b.Check(r, Spent{Day: 100_000_000_000_000_001}, now); e == nil || e.Over.Scope != ScopeDay || !strings.Contains(e.Message, "the per-day budget of WETH") || e.Over.Setting != "assets[0].budget.per_day" {
		t.Fatalf("over the WETH day: %+v", e)
	}
	if e := b.Check(withToolBudget(r, 150_000_000_000_000_000), Spent{Tool: 50_000_000_000_000_001}, now); e == nil || e.Over.Scope != ScopeTool || !strings.Contains(e.Message, "0.15 WETH limit") {
		t.Fatalf("over the entry's own budget in WETH: %+v", e)
	}
	// USDC's budgets keep their meaning: a USDC payment is checked as before.
	u := Reservation{Tool: "u", Host: "h:443", Session: "s", Network: "eip155:1337", Amount: 10}
	if e := b.Check(u, Spent{Tool: 99_991}, now); e == nil || e.Over.Scope != ScopeTool || !strings.Contains(e.Message, "0.099991 USDC counted") {
		t.Fatalf("USDC per tool: %+v", e)
	}
	js, _ = json.Marshal(b.Check(u, Spent{Tool: 99_991}, now).Over)
	if !strings.Contains(string(js), `"asset":"USDC"`) || !strings.Contains(string(js), `"counted":"0.099991"`) {
		t.Fatalf("USDC over-budget JSON %s", js)
	}
	// An asset no budget names is never paid.
	r.Currency = jpyx.Currency()
	if e := b.Check(r, Spent{}, now); e == nil || e.Code != CodeNotAllowed || !strings.Contains(e.Message, "no budget counts JPYX") {
		t.Fatalf("unbudgeted asset: %+v", e)
	}
}
