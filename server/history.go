package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/internal/plural"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// ToolSpendHistory is the built-in tool that lists recent payments.
const ToolSpendHistory = "x402_spend_history"

// History is where x402_spend_history reads payments: the durable ledger.
type History interface {
	List(ctx context.Context, f ledger.Filter) ([]ledger.Row, error)
}

// HistoryEntry is one payment as x402_spend_history reports it.
type HistoryEntry struct {
	ID   string `json:"id"`
	Time string `json:"time"`
	// Kind is "payment" (a paid tool call) or "tip" (x402_tip).
	Kind string `json:"kind"`
	Tool string `json:"tool"`
	// Amount is a decimal of the payment's asset: Symbol, with Decimals.
	Amount      string `json:"amount"`
	AmountAtom  string `json:"amountAtomic"`
	Symbol      string `json:"symbol"`
	Decimals    int    `json:"decimals"`
	Asset       string `json:"asset,omitempty"`
	State       string `json:"state"`
	Network     string `json:"network"`
	PayTo       string `json:"payTo"`
	Payer       string `json:"payer,omitempty"`
	Transaction string `json:"transaction,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Reconciled  bool   `json:"reconciled,omitempty"`
	// Note is a tip's note.
	Note string `json:"note,omitempty"`
	// Principal is who made the call (empty for payments booked before
	// principals were recorded).
	Principal string `json:"principal,omitempty"`
}

func (s *Server) historyTool() mcpserver.ServerTool {
	raw := []byte(`{"type":"object","properties":{
"tool":{"type":"string","description":"Only payments made by this tool."},
"kind":{"type":"string","enum":["payment","tip"],"description":"Only paid tool calls (payment) or only tips (tip)."},
"state":{"type":"string","enum":["reserved","signed","settled","rejected","unknown","released"],"description":"Only payments in this state (unknown: the outcome is not known yet; do not pay again for those calls)."},
"since":{"type":"string","description":"Only payments since this long ago (e.g. 24h, 30m) or since this RFC 3339 time."},
"limit":{"type":"integer","minimum":1,"maximum":200,"description":"At most this many payments, newest first (default 20)."},
"principal":{"type":"string","description":"Only the payments of this principal (admins only: any other caller sees its own payments only)."}},
"additionalProperties":false}`)
	t := mcp.NewToolWithRawSchema(ToolSpendHistory,
		"List recent payments and tips from x402-mcp's ledger, newest first, with their receipts (amount, payee, network, transaction), state, and a tip's recipient and note: the caller's own (an admin sees every principal's). Filter by kind, tool, state and time. Spends nothing.",
		raw)
	t.RawOutputSchema = historyOutputSchema
	t.Annotations = readOnly("Spend history")
	return mcpserver.ServerTool{Tool: t, Handler: s.handleHistory}
}

func (s *Server) handleHistory(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args := req.GetArguments()
	f := ledger.Filter{Limit: 20}
	f.Tool, _ = args["tool"].(string)
	f.Kind, _ = args["kind"].(string)
	if f.Kind != "" && f.Kind != ledger.KindPayment && f.Kind != ledger.KindTip {
		return mcp.NewToolResultError(fmt.Sprintf("invalid arguments: kind %q: write payment or tip. Not charged.", payments.Sanitize(f.Kind, 40))), nil
	}
	if st, _ := args["state"].(string); st != "" {
		f.State = payments.State(st)
	}
	if v, ok := args["limit"].(float64); ok {
		f.Limit = min(max(int(v), 1), 200)
	}
	who := caller(ctx)
	f.Principal, _ = args["principal"].(string)
	if !who.Admin {
		if f.Principal != "" && f.Principal != who.Name {
			return mcp.NewToolResultError(fmt.Sprintf("invalid arguments: principal %q: you are principal %s and see your own payments only; leave principal out. Not charged.",
				payments.Sanitize(f.Principal, 80), who.Name)), nil
		}
		f.Principal = who.Name
	}
	if since, _ := args["since"].(string); since != "" {
		t, err := ParseSince(since, time.Now())
		if err != nil {
			return mcp.NewToolResultError("invalid arguments: " + err.Error() + ". Not charged."), nil
		}
		f.Since = t
	}
	rows, err := s.cfg.History.List(ctx, f)
	if err != nil {
		s.cfg.Logger.Error("spend history", "err", err)
		return mcp.NewToolResultError("internal error reading the ledger (not charged)"), nil
	}
	out := struct {
		Payments []HistoryEntry `json:"payments"`
	}{Payments: make([]HistoryEntry, 0, len(rows))}
	var b strings.Builder
	b.WriteString(plural.Count(len(rows), "payment", "payments"))
	if f.Tool != "" || f.Kind != "" || f.State != "" || !f.Since.IsZero() || f.Principal != "" && who.Admin {
		b.WriteString(" matching the filter")
	}
	if !who.Admin {
		b.WriteString(" of principal " + who.Name)
	}
	b.WriteString(", newest first.")
	for _, r := range rows {
		cur := r.Currency()
		h := HistoryEntry{ID: r.ID, Time: r.CreatedAt.UTC().Format(time.RFC3339), Kind: r.Kind, Tool: r.Tool, Amount: cur.Decimal(r.Amount),
			AmountAtom: r.Amount.Atomic(), Symbol: cur.Symbol, Decimals: cur.Decimals, Asset: r.Asset, State: string(r.State), Network: r.Network, PayTo: r.PayTo, Payer: r.Payer,
			Transaction: r.Transaction, Resource: r.Resource, Reason: r.Reason, Reconciled: !r.ReconciledAt.IsZero(), Note: r.Note, Principal: r.Principal}
		out.Payments = append(out.Payments, h)
		tx := h.Transaction
		if tx == "" {
			tx = "no tx"
		}
		if h.Kind == ledger.KindTip {
			// The resource of a tip names its recipient: "tip to alice (0x…)".
			fmt.Fprintf(&b, "\n%s %s %s %s on %s: %s (%s)", h.Time, h.Resource, h.Amount, h.Symbol, h.Network, h.State, tx)
			if h.Note != "" {
				fmt.Fprintf(&b, ", note %q", h.Note)
			}
			continue
		}
		fmt.Fprintf(&b, "\n%s %s %s %s to %s on %s: %s (%s)", h.Time, h.Tool, h.Amount, h.Symbol, h.PayTo, h.Network, h.State, tx)
		if who.Admin && h.Principal != "" {
			b.WriteString(" by " + h.Principal)
		}
	}
	return mcp.NewToolResultStructured(out, b.String()), nil
}

// ParseSince reads a "since" filter: a duration back from now (24h) or an
// RFC 3339 time.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("since %q: write a duration such as 24h or an RFC 3339 time such as 2026-11-23T00:00:00Z", s)
}
