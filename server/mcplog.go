package server

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// notifyMoney sends the client an MCP logging notification for every tool
// call that involved money, at the level the client asked for (mcp-go drops
// what is below it, and on the 2026-07-28 protocol sends nothing unless the
// request asked): info when a payment settled, amount in the receipt's own
// asset (and when one was delivered without a settlement receipt, which is
// not called paid), warning when its outcome is unknown (a signed payment
// the seller refused included: it holds the signature), notice when a
// payment was refused before signing.
// Logs for the operator go to stderr through slog; these are for the host.
func (s *Server) notifyMoney(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := next(ctx, req)
		if err != nil || res == nil || res.Meta == nil {
			return res, err
		}
		level, msg := moneyEvent(s.paidName(req), res.Meta.AdditionalFields)
		if msg != "" {
			n := mcp.NewLoggingMessageNotification(level, "x402-mcp", map[string]any{"tool": s.paidName(req), "message": msg})
			_ = s.mcp.SendLogMessageToClient(ctx, n) // best effort: a host that cannot take it loses nothing
		}
		return res, err
	}
}

// moneyEvent reads a result's _meta: what happened to the money, in one line.
func moneyEvent(tool string, meta map[string]any) (mcp.LoggingLevel, string) {
	charged, _ := meta["x402/charged"].(string)
	rc, _ := meta["x402/payment-response"].(map[string]any)
	xe, _ := meta["x402/error"].(map[string]any)
	switch {
	case charged == "charged" && rc != nil && (rc["state"] == "settled" || rc["state"] == "pending"):
		return mcp.LoggingLevelInfo, fmt.Sprintf("%s paid %v %v to %v on %v (tx %v)", tool, rc["amount"], rc["symbol"], rc["payTo"], rc["network"], rc["transaction"])
	case charged == "charged" && rc != nil:
		// Delivered without a settlement receipt: charged, not known settled.
		return mcp.LoggingLevelInfo, fmt.Sprintf("%s: a payment of %v %v to %v on %v was sent and the answer delivered, but no settlement was confirmed (ledger %v)",
			tool, rc["amount"], rc["symbol"], rc["payTo"], rc["network"], ledgerID(rc))
	case charged == "unknown":
		return mcp.LoggingLevelWarning, fmt.Sprintf("%s: a signed payment's outcome is unknown; do not retry blindly (ledger %v)", tool, ledgerID(rc))
	case xe != nil:
		return mcp.LoggingLevelNotice, fmt.Sprintf("%s: payment not made (%v)", tool, xe["code"])
	}
	return "", ""
}

func ledgerID(rc map[string]any) any {
	if rc == nil {
		return "?"
	}
	return rc["ledgerId"]
}
