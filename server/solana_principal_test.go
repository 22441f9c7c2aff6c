package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/server"
)

// TestSolanaPrincipals: on a gateway with named principals whose wallet
// holds an EVM and a Solana key, paying a seller that takes both (Solana
// listed first in defaults.networks, so Solana is paid), settled by the
// in-memory Solana facilitator that checks each payment for real:
//   - each Solana payment's ledger row names the principal that made the
//     call, and counts against that principal's own budget (team-a's
//     total);
//   - x402_wallet shows a principal that is not an admin, and the admin,
//     both keys with the networks each pays on beside whose budget it is
//     (validated against the outputSchema);
//   - x402_spend_history shows team-a its own Solana payment only, naming
//     it;
//   - the admin's dashboard names each Solana payment's principal and links
//     its transaction to the Solana Explorer (svm's ExplorerURL).
func TestSolanaPrincipals(t *testing.T) {
	sol, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	payee, err := svm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	fac := localseller.NewSolanaFacilitator(localseller.SolanaFacilitatorConfig{SlotTime: 400 * time.Millisecond})
	fac.Fund(sol.Payer(), 1_000_000)
	reg := strings.Replace(principalsRegistry, "networks: [eip155:84532]", "networks: [solana-devnet, eip155:84532]", 1)
	if reg == principalsRegistry {
		t.Fatal("principalsRegistry's networks are not as the test expects")
	}
	h, _ := gateway(t, gatewaySetup{
		reg:    func(string) string { return reg },
		seller: localseller.Config{Solana: &localseller.SolanaConfig{PayTo: payee.Payer(), Facilitator: fac}},
		client: func(c *payments.Client, seller *localseller.Running) {
			chain, err := svm.NewClient(map[payments.Network]string{payments.Network(svm.Devnet): seller.URL + "/solana/rpc"})
			if err != nil {
				t.Fatal(err)
			}
			c.Schemes = payments.NewSchemes(evm.NewExact(nil), svm.NewExact(chain))
			c.Signers = append(c.Signers, sol)
		},
	})
	a := mustConnect(t, "streamable", h.URL, tokenA)
	ops := mustConnect(t, "streamable", h.URL, tokenOps)
	for _, c := range []struct {
		who  string
		tool string
		args map[string]any
	}{{"team-a", "weather", map[string]any{"city": "Oslo"}}, {"ops", "text", nil}} {
		cli := a
		if c.who == "ops" {
			cli = ops
		}
		if res := call(t, cli, c.tool, c.args); res.IsError {
			t.Fatalf("%s: %s: %s", c.who, c.tool, text(res))
		}
	}
	if got := fac.SettledCount(); got != 2 {
		t.Fatalf("the Solana facilitator settled %d payments, want 2", got)
	}

	// The ledger books each Solana payment to its principal.
	rows, err := h.book.List(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("the ledger holds %d rows, want 2", len(rows))
	}
	byPrincipal := map[string]ledger.Row{}
	for _, r := range rows {
		if r.Network != string(svm.Devnet) || r.State != payments.StateSettled || r.Payer != sol.Payer() || r.Transaction == "" {
			t.Errorf("row %s: %s on %s by %s (tx %q), want settled on Solana devnet by %s", r.ID, r.State, r.Network, r.Payer, r.Transaction, sol.Payer())
		}
		byPrincipal[r.Principal] = r
	}
	if byPrincipal["team-a"].Tool != "weather" || byPrincipal["ops"].Tool != "text" {
		t.Fatalf("rows by principal: %+v", byPrincipal)
	}
	own, err := h.book.List(context.Background(), ledger.Filter{Principal: "team-a"})
	if err != nil || len(own) != 1 || own[0].ID != byPrincipal["team-a"].ID {
		t.Fatalf("team-a's rows: %+v, %v", own, err)
	}

	// x402_wallet: both keys, beside whose budget it is.
	schema := compileSchema(t, server.ToolWallet, rawToolsList(t, h.srv)[server.ToolWallet])
	wantKeys := []server.KeyStatus{
		{Family: "EVM", Networks: []server.NetworkInfo{{ID: "eip155:84532", Name: "Base Sepolia"}}},
		{Family: "Solana", Address: sol.Payer(), Networks: []server.NetworkInfo{{ID: string(svm.Devnet), Name: "Solana devnet"}}},
	}
	for _, tt := range []struct {
		who            string
		admin          bool
		of, settled    string
		principals     int
		textMentions   []string
		textLacks      []string
		historyPayment string
	}{
		{"team-a", false, "principal", "0.001", 0, []string{"principal team-a", sol.Payer(), "Solana: solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1 (Solana devnet)"}, []string{"Principal ops"}, byPrincipal["team-a"].ID},
		{"ops", true, "gateway", "0.002", 3, []string{sol.Payer(), "Solana devnet", "Principal team-a: 0.001 settled"}, nil, ""},
	} {
		cli := a
		if tt.admin {
			cli = ops
		}
		res := call(t, cli, server.ToolWallet, nil)
		validates(t, schema, tt.who+"'s wallet", res)
		var st server.WalletStatus
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		if st.Principal.Name != tt.who || st.Principal.Admin != tt.admin || st.Budget.Of != tt.of || st.Budget.Settled != tt.settled || len(st.Principals) != tt.principals {
			t.Errorf("%s's wallet: principal %+v, budget %+v, %d principals", tt.who, st.Principal, st.Budget, len(st.Principals))
		}
		if len(st.Keys) != 2 || st.Keys[0].Address != st.Address || !strings.HasPrefix(st.Address, "0x") {
			t.Fatalf("%s's wallet keys: %s", tt.who, b)
		}
		for i, k := range st.Keys {
			w := wantKeys[i]
			if k.Family != w.Family || (w.Address != "" && k.Address != w.Address) || len(k.Networks) != len(w.Networks) || k.Networks[0] != w.Networks[0] {
				t.Errorf("%s's wallet key %d = %+v, want %+v", tt.who, i, k, w)
			}
		}
		words := mcp.GetTextFromContent(res.Content[0])
		for _, m := range tt.textMentions {
			if !strings.Contains(words, m) {
				t.Errorf("%s's wallet text lacks %q:\n%s", tt.who, m, words)
			}
		}
		for _, m := range tt.textLacks {
			if strings.Contains(words, m) {
				t.Errorf("%s's wallet text shows %q:\n%s", tt.who, m, words)
			}
		}
		if tt.historyPayment == "" {
			continue
		}
		res = call(t, cli, server.ToolSpendHistory, nil)
		var hist struct {
			Payments []server.HistoryEntry `json:"payments"`
		}
		b, _ = json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &hist); err != nil {
			t.Fatal(err)
		}
		if len(hist.Payments) != 1 || hist.Payments[0].ID != tt.historyPayment || hist.Payments[0].Principal != tt.who ||
			hist.Payments[0].Network != string(svm.Devnet) || hist.Payments[0].Payer != sol.Payer() {
			t.Errorf("%s's history: %s", tt.who, b)
		}
	}

	// The admin's dashboard: each Solana payment with its principal and
	// its Solana Explorer link.
	st := dashState(t, h.URL, tokenOps, "24h")
	if len(st.Recent) != 2 {
		t.Fatalf("the dashboard shows %d recent payments, want 2", len(st.Recent))
	}
	for _, p := range st.Recent {
		r, ok := byPrincipal[p.Principal]
		if !ok || p.ID != r.ID || p.NetworkName != "Solana devnet" || p.Transaction != r.Transaction {
			t.Errorf("dashboard row %+v does not match the ledger's %+v", p, r)
		}
		if want := "https://explorer.solana.com/tx/" + r.Transaction + "?cluster=devnet"; p.Explorer != want {
			t.Errorf("dashboard row %s links %q, want %q", p.ID, p.Explorer, want)
		}
	}
	if c := findChart(t, st, "principal", "USDC"); len(c.Keys) != 2 || c.Total.Amount != "0.002" {
		t.Errorf("the chart by principal: %+v", c)
	}
}
