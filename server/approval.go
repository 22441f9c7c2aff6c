package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/payments"
)

// errNoElicitation: the host did not declare the elicitation capability.
var errNoElicitation = errors.New("the MCP host cannot ask the user (it does not support elicitation)")

// errAsking: the question is on its way to the user; the call is answered
// with an input request and resumes when the host retries it.
var errAsking = fmt.Errorf("asking the user: %w", payments.ErrApprovalAsked)

// approvalInput is the id of the approval question among a call's input
// requests.
const approvalInput = "x402_approve_payment"

// Hosts on MCP 2026-07-28 are asked multi round-trip style: the first call
// reserves, finds the price above the threshold and answers with an
// elicitation input request instead of paying; the host asks the user and
// calls again with the answer. The question itself is kept here, under a
// random id the host echoes back, so a host can only answer what was asked.
//
// Hosts on older protocol versions (2025-06-18, ...) are asked with
// elicitation/create from inside the call, while the reservation is held
// (askNow), over the session of the call's transport (over the legacy SSE
// transport, sse.go's sseSession). mcp-go could bridge the input request to elicitation/create
// itself, but its bridge runs outside the tool handler: a host's error
// would end the call with a JSON-RPC error instead of approval_required,
// the wait would not be bounded by payments.ApprovalTimeout, and every
// middleware (logs, progress, metrics) would see the call twice.

// approvals holds the questions awaiting an answer.
type approvals struct {
	mu      sync.Mutex
	pending map[string]pendingApproval
}

type pendingApproval struct {
	req     payments.ApprovalRequest
	expires time.Time
}

func (a *approvals) put(r payments.ApprovalRequest) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	id := "approval_" + hex.EncodeToString(b[:])
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending == nil {
		a.pending = map[string]pendingApproval{}
	}
	for k, p := range a.pending {
		if now.After(p.expires) {
			delete(a.pending, k)
		}
	}
	a.pending[id] = pendingApproval{req: r, expires: now.Add(payments.ApprovalTimeout)}
	return id
}

// take removes and returns the question asked under id, if still open.
func (a *approvals) take(id string) (payments.ApprovalRequest, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pending[id]
	delete(a.pending, id)
	if !ok || time.Now().After(p.expires) {
		return payments.ApprovalRequest{}, false
	}
	return p.req, true
}

// covers says an approval given for a also approves r: the same tool, payee,
// network and asset, at no higher a price.
func covers(a, r payments.ApprovalRequest) bool {
	if (a.Tip == nil) != (r.Tip == nil) || a.Tip != nil && (a.Tip.Name != r.Tip.Name || a.Tip.Note != r.Tip.Note) {
		return false
	}
	return a.Tool == r.Tool && a.PayTo == r.PayTo && a.Network == r.Network && a.Asset == r.Asset && a.Currency == r.Currency &&
		a.Resource == r.Resource && r.Amount <= a.Amount
}

// approvalCall carries one tool call's input responses to the approver, and
// the question the approver wants asked back to the middleware.
type approvalCall struct {
	responses mcp.InputResponses
	state     string
	ask       *mcp.ElicitationParams
	askID     string
}

type approvalKey struct{}

// askApproval is the tool middleware that turns the approver's question into
// an input request, and hands the host's answer back to the approver.
func (s *Server) askApproval(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ac := &approvalCall{responses: req.Params.InputResponses, state: req.Params.RequestState}
		res, err := next(context.WithValue(ctx, approvalKey{}, ac), req)
		if ac.ask != nil {
			return mcpserver.NewInputRequestBuilder(ac.askID).Elicit(approvalInput, *ac.ask).ToolResult(), nil
		}
		return res, err
	}
}

// approve is the payments.Approver of a server: it asks the human through MCP
// elicitation, before anything is signed. Only the host's answer to the
// question asked approves a payment; nothing in a tool's arguments can.
func (s *Server) approve(ctx context.Context, r payments.ApprovalRequest) error {
	ac, _ := ctx.Value(approvalKey{}).(*approvalCall)
	if ac == nil {
		return errors.New("no tool call to ask through")
	}
	if !canElicit(ctx) {
		return errNoElicitation
	}
	if !mcp.IsModernProtocol(mcpserver.RequestProtocolVersion(ctx)) {
		return s.askNow(ctx, r)
	}
	if ac.state != "" {
		if asked, ok := s.approvals.take(ac.state); ok && covers(asked, r) {
			res := mcpserver.ElicitationResponse(ac.responses, approvalInput)
			if res == nil {
				return errors.New("the host retried the call without the user's answer")
			}
			return answerOf(res)
		}
		// An unknown, expired or different question (the price rose): ask
		// again.
	}
	ac.askID = s.approvals.put(r)
	ac.ask = &mcp.ElicitationParams{Message: approvalMessage(r), RequestedSchema: approvalSchema}
	return errAsking
}

// askNow asks a host on a protocol version before 2026-07-28 with
// elicitation/create and waits for the answer within ctx, which payments
// bounds by ApprovalTimeout and which ends with the call. Whatever goes
// wrong (the host fails the request, no answer in time, the call is
// cancelled) is an error for payments to report as approval_required.
func (s *Server) askNow(ctx context.Context, r payments.ApprovalRequest) error {
	res, err := s.mcp.RequestElicitation(ctx, mcp.ElicitationRequest{
		Request: mcp.Request{Method: string(mcp.MethodElicitationCreate)},
		Params:  mcp.ElicitationParams{Message: approvalMessage(r), RequestedSchema: approvalSchema},
	})
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("waiting for the user's answer: %w", ctx.Err())
	case err != nil:
		return fmt.Errorf("the host could not ask the user: %w", err)
	case res == nil:
		return errors.New("the host returned no answer")
	}
	return answerOf(res)
}

// answerOf reads the user's answer: nil only for an accepted form with
// approve checked.
func answerOf(res *mcp.ElicitationResult) error {
	switch res.Action {
	case mcp.ElicitationResponseActionAccept:
		if approved(res.Content) {
			return nil
		}
		return fmt.Errorf("the user left approve unchecked: %w", payments.ErrDeclined)
	case mcp.ElicitationResponseActionDecline:
		return fmt.Errorf("the user declined: %w", payments.ErrDeclined)
	case mcp.ElicitationResponseActionCancel:
		return fmt.Errorf("the user dismissed the question: %w", payments.ErrDeclined)
	}
	return fmt.Errorf("the host answered with an unknown action %q", payments.Sanitize(string(res.Action), 40))
}

// canElicit says whether the request's client declared elicitation.
func canElicit(ctx context.Context) bool {
	if info := mcpserver.RequestProtocolInfoFromContext(ctx); info != nil && info.Modern {
		return info.ClientCapabilities != nil && info.ClientCapabilities.Elicitation != nil
	}
	if sess, ok := mcpserver.ClientSessionFromContext(ctx).(mcpserver.SessionWithClientInfo); ok {
		return sess.GetClientCapabilities().Elicitation != nil
	}
	return false
}

// approvalSchema is the form the host shows: one checkbox.
var approvalSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"approve": map[string]any{
			"type":        "boolean",
			"title":       "Approve this payment",
			"description": "Check to let x402-mcp sign this one payment from the wallet.",
			"default":     false,
		},
	},
	"required": []string{"approve"},
}

// approvalMessage names the tool, the price, the payee, the network and what
// the payment buys. The seller's values were checked by the policy (payee and
// asset are addresses, the network is known); the description is the
// operator's.
func approvalMessage(r payments.ApprovalRequest) string {
	if r.Tip != nil {
		return tipMessage(r)
	}
	cur := currencyOf(r.Currency)
	var b strings.Builder
	fmt.Fprintf(&b, "Approve a payment of %s for the tool %q?\n", cur.Format(r.Amount), r.Tool)
	fmt.Fprintf(&b, "Payee: %s\nNetwork: %s (%s)\n", r.PayTo, r.NetworkTitle(), r.Network)
	if !cur.IsUSDC() {
		fmt.Fprintf(&b, "Token: %s at %s (%d decimals)\n", cur.Symbol, r.Asset, cur.Decimals)
	}
	if r.Resource != "" {
		fmt.Fprintf(&b, "Buys: %s\n", r.Resource)
	}
	if d := strings.TrimSpace(r.Description); d != "" {
		fmt.Fprintf(&b, "What it does: %s\n", payments.Sanitize(d, 300))
	}
	fmt.Fprintf(&b, "It is above the approval threshold of %s set by the operator. Nothing is signed unless you approve.", cur.Format(r.Threshold))
	return b.String()
}

// currencyOf is c, or USDC for the zero Currency.
func currencyOf(c payments.Currency) payments.Currency {
	if c == (payments.Currency{}) {
		return payments.USDC
	}
	return c
}

// tipMessage is the question for a tip: the recipient (name and address,
// or a warning that the address is not in the address book), the amount,
// the network, the note and how it is paid. The note is the model's text,
// shown quoted.
func tipMessage(r payments.ApprovalRequest) string {
	var b strings.Builder
	cur := currencyOf(r.Currency)
	fmt.Fprintf(&b, "Approve a tip of %s to %s?\n", cur.Format(r.Amount), r.Tip.Recipient(r.PayTo))
	if r.Tip.Name == "" {
		b.WriteString("This address is not in the operator's address book: check it is the person you mean.\n")
	}
	fmt.Fprintf(&b, "Network: %s (%s), token %s (%s)\n", r.NetworkTitle(), r.Network, cur.Symbol, r.Asset)
	if r.Tip.Note != "" {
		fmt.Fprintf(&b, "Note: %q\n", r.Tip.Note)
	}
	fmt.Fprintf(&b, "Paid from x402-mcp's wallet with no gas, settled through the facilitator at %s. A tip cannot be undone. Nothing is signed unless you approve.", r.Tip.Facilitator)
	return b.String()
}

// approved reads {"approve": true} from an accepted form.
func approved(content any) bool {
	m, ok := content.(map[string]any)
	if !ok {
		b, err := json.Marshal(content)
		if err != nil || json.Unmarshal(b, &m) != nil {
			return false
		}
	}
	v, ok := m["approve"].(bool)
	return ok && v
}
