package server

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/internal/mustjson"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/tools"
)

// ToolTip is the built-in tool that tips a person (listed only when
// registry.yaml has a tipping: section).
const ToolTip = "x402_tip"

// TipOut is x402_tip's structured answer.
type TipOut struct {
	Recipient     string `json:"recipient"`
	RecipientName string `json:"recipientName,omitempty"`
	Amount        string `json:"amount"`
	AmountAtom    string `json:"amountAtomic"`
	Symbol        string `json:"symbol"`
	Decimals      int    `json:"decimals"`
	Network       string `json:"network"`
	Note          string `json:"note,omitempty"`
	State         string `json:"state"`
	Transaction   string `json:"transaction,omitempty"`
	LedgerID      string `json:"ledgerId"`
}

// tipTool is x402_tip for the tipping section t. Its description names the
// network, the caps, the approval rule and the address book; the handler
// reads the tipping section served at call time.
func (s *Server) tipTool(t *payments.Tipping) mcpserver.ServerTool {
	cur := currencyOf(t.Currency)
	var who string
	if names := t.Names(); len(names) > 0 {
		who = "a name from the operator's address book (" + strings.Join(names, ", ") + ")"
		if t.AllowAddresses {
			who += " or a 0x address"
		}
	} else {
		who = "a 0x address"
	}
	props := map[string]any{
		"recipient": map[string]any{"type": "string", "minLength": 1, "maxLength": 100,
			"description": "Who receives the tip: " + who + ". Names are not looked up anywhere else (no ENS, no social handles)."},
		// A string, so that the amount is read exactly: the pattern and the
		// rule of every amount argument (tools.ParseAmountArg), in the tip's
		// asset.
		"amount": map[string]any{"type": "string", "pattern": cur.Pattern(),
			"description": fmt.Sprintf("The tip in %s as a decimal string, such as \"2\" or \"0.50\" (at most %d decimals, at most %s).", cur.Symbol, cur.Decimals, cur.Format(t.MaxTip))},
		"note": map[string]any{"type": "string", "maxLength": payments.MaxTipNote,
			"description": "Optional note for the user's books (why the tip), shown to the user when they are asked. It is not sent to the recipient or on chain."},
	}
	schema := mustjson.Marshal(map[string]any{"type": "object", "properties": props, "required": []string{"recipient", "amount"}, "additionalProperties": false})
	ask := "Every tip is put to the user for approval first."
	if t.AutoApproveUpTo != 0 {
		ask = fmt.Sprintf("Tips above %s, and any tip to an address outside the address book, are put to the user for approval first.", cur.Format(t.AutoApproveUpTo))
	}
	desc := fmt.Sprintf("Tip a person in %s, directly from x402-mcp's wallet, with no gas: the payment is signed here and settled on %s (%s) through an x402 facilitator. "+
		"The recipient is %s. At most %s per tip and %s of tips per day (the operator's limits; you cannot change them). %s "+
		"The result says whether money moved: charged (with the transaction), not charged, or unknown. Never repeat a tip whose outcome is unknown: it could pay twice.",
		cur.Symbol, t.Family.NetworkName(t.Network), t.Network, who, cur.Format(t.MaxTip), cur.Format(t.PerDay), ask)
	tool := mcp.NewToolWithRawSchema(ToolTip, desc, schema)
	tool.Annotations = mcp.ToolAnnotation{Title: "Tip a person (" + cur.Symbol + ")", ReadOnlyHint: mcp.ToBoolPtr(false), DestructiveHint: mcp.ToBoolPtr(false),
		IdempotentHint: mcp.ToBoolPtr(false), OpenWorldHint: mcp.ToBoolPtr(true)}
	tool.Meta = &mcp.Meta{AdditionalFields: map[string]any{tools.MetaPrice: map[string]any{
		"currency": cur.Symbol, "decimals": cur.Decimals, "maxPrice": cur.Decimal(t.MaxTip), "maxPriceAtomic": t.MaxTip.Atomic(), "networks": []string{string(t.Network)}, "kind": payments.KindTip,
	}}}
	return mcpserver.ServerTool{Tool: tool, Handler: s.handleTip}
}

// tipArgs reads x402_tip's arguments. Only recipient, amount and note are
// accepted: nothing in the arguments can approve a tip.
func tipArgs(call mcp.CallToolRequest, cur payments.Currency) (to string, amt payments.Amount, note string, err error) {
	args, ok := call.Params.Arguments.(map[string]any)
	if !ok && call.Params.Arguments != nil {
		return "", 0, "", &tools.ArgumentError{Tool: ToolTip, Problems: []string{"arguments must be a JSON object"}}
	}
	var problems []string
	var extra []string
	for k := range args {
		if k != "recipient" && k != "amount" && k != "note" {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		problems = append(problems, fmt.Sprintf("unknown argument %s: x402_tip takes recipient, amount and note (only the user can approve a tip, when asked)", tools.UnknownArguments(extra)))
	}
	switch v := args["recipient"].(type) {
	case string:
		if to = strings.TrimSpace(v); to == "" {
			problems = append(problems, "recipient is empty: give a name from the address book or a 0x address")
		}
	case nil:
		problems = append(problems, "recipient is required: a name from the address book or a 0x address")
	default:
		problems = append(problems, "recipient must be a string")
	}
	// One rule for every amount the model writes (tools.ParseAmountArg):
	// the same as an amount_from argument's, in the tip's asset.
	amt, msg := tools.ParseAmountArg(cur, "amount", args["amount"])
	if msg != "" {
		problems = append(problems, msg)
	}
	switch v := args["note"].(type) {
	case string:
		note = v
	case nil:
	default:
		problems = append(problems, "note must be a string")
	}
	if len(problems) > 0 {
		return "", 0, "", &tools.ArgumentError{Tool: ToolTip, Problems: problems}
	}
	return to, amt, note, nil
}

func (s *Server) handleTip(ctx context.Context, call mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	t, err := s.catalog().reg.TippingFor(s.cfg.Getenv)
	if err != nil {
		return tools.ErrorResult(err), nil
	}
	if t == nil {
		// The section was removed by a reload while the host still listed the tool.
		return tools.ErrorResult(&payments.Error{Code: payments.CodeNotAllowed, Charged: payments.NotCharged,
			Message: "tipping is no longer configured (the operator removed the tipping: section of registry.yaml). Nothing was signed."}), nil
	}
	to, amt, note, err := tipArgs(call, currencyOf(t.Currency))
	if err != nil {
		return tools.ErrorResult(err), nil
	}
	res, err := s.cfg.Client.Tip(ctx, t, payments.TipRequest{Tool: ToolTip, To: to, Amount: amt, Note: note, CallID: tools.NewCallID()})
	if err != nil {
		return tools.ErrorResult(err), nil
	}
	rc := res.Receipt
	out := TipOut{Recipient: res.Recipient.Address, RecipientName: res.Recipient.Name, Amount: rc.Currency().Decimal(rc.Amount), AmountAtom: rc.AmountAtom,
		Symbol: rc.Currency().Symbol, Decimals: rc.Currency().Decimals, Network: rc.Network, Note: res.Note, State: rc.State, Transaction: rc.Transaction, LedgerID: rc.LedgerID}
	word := "Charged."
	if res.Charged != payments.Charged {
		word = "Payment outcome: " + string(res.Charged) + "."
	}
	result := mcp.NewToolResultStructured(out, res.Line()+" "+word)
	result.Meta = tools.PaidMeta(res.Charged, rc, map[string]any{"kind": payments.KindTip, "recipientName": res.Recipient.Name, "note": res.Note})
	return result, nil
}
