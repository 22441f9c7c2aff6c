package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/httplimit"
	"github.com/x402-mcp/x402-mcp/payments/jsonlimit"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// Kinds of catalog entries.
const (
	// KindHTTP is an x402-priced HTTP endpoint (the default).
	KindHTTP = "http"
	// KindMCP is a remote Streamable HTTP MCP server that charges per tool
	// through x402's MCP transport.
	KindMCP = "mcp"
)

// MetaPayment is the _meta key of the PaymentPayload on a paid tools/call
// (x402 over MCP, x402-protocol.md §5).
const MetaPayment = x402.MetaPayment

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// parseMCPFields checks what a kind: mcp entry needs and what it may not set.
func parseMCPFields(p *problems, at func(string) string, rt *rawTool, e *Entry) {
	switch {
	case rt.Prefix == "":
		p.add(at("prefix"), "missing: a kind: mcp entry lists the remote tools as prefix + their name; give a prefix such as acme_")
	case strings.HasPrefix(rt.Prefix, ReservedPrefix):
		p.add(at("prefix"), "prefixes starting with %q are reserved for x402-mcp's built-in tools: choose another", ReservedPrefix)
	case !prefixRE.MatchString(rt.Prefix):
		p.add(at("prefix"), "%q is not a valid prefix: use 1 to 32 lowercase letters, digits and _, starting with a letter (such as acme_)", rt.Prefix)
	default:
		e.Prefix = rt.Prefix
	}
	if rt.URL == "" {
		p.add(at("url"), "missing: give the remote MCP server's Streamable HTTP endpoint, such as https://mcp.example.com/mcp")
	} else if u, err := url.Parse(rt.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(at("url"), "%q is not an http or https URL with a host: write the Streamable HTTP endpoint, such as https://mcp.example.com/mcp", rt.URL)
	} else if u.User != nil {
		p.add(at("url"), "credentials in the URL would be logged: remove user:password@ and send them in headers with ${ENV} instead")
	} else if strings.ContainsAny(rt.URL, "{}$") {
		p.add(at("url"), "a kind: mcp url takes no {param} or ${ENV}: write it literally and put secrets in headers")
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"method", rt.Method != ""}, {"params", rt.Params != nil}, {"input_schema", rt.InputSchema.Kind != 0}, {"result", rt.Result != ""},
	} {
		if f.set {
			p.add(at(f.name), "does not apply to kind: mcp (the remote server defines its tools): remove it")
		}
	}
}

// remoteConnectTimeout bounds connecting to a remote MCP server and listing
// its tools.
const remoteConnectTimeout = 10 * time.Second

// Authorizer signs x402 payments for transports other than HTTP headers.
// *payments.Client is the production Authorizer.
type Authorizer interface {
	Authorize(ctx context.Context, pr *x402.PaymentRequired, lim payments.Limit, resource, host string) (*payments.Pending, error)
}

// BuildRemote connects to every enabled kind: mcp entry of r, lists its
// tools and returns them as local tools named prefix + remote name, paid
// through a. A server that cannot be reached is logged and skipped.
func BuildRemote(ctx context.Context, r *Registry, a Authorizer, getenv func(string) string, log *slog.Logger) []mcpserver.ServerTool {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Connect to every server at once, so unreachable ones cost one
	// connection timeout in all, not one each; keep the catalog's order.
	var remotes []*Entry
	for _, e := range r.Tools {
		if e.Enabled && e.Kind == KindMCP {
			remotes = append(remotes, e)
		}
	}
	found := make([][]mcpserver.ServerTool, len(remotes))
	var wg sync.WaitGroup
	for i, e := range remotes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts, err := e.remoteTools(ctx, a, r.Defaults.MaxResultBytes, getenv, log)
			if err != nil {
				log.Warn("remote MCP server unavailable: its tools are not listed", "entry", e.Name, "url", payments.RedactURL(e.URL), "err", payments.Sanitize(err.Error(), 300))
				return
			}
			found[i] = ts
		}()
	}
	wg.Wait()
	var out []mcpserver.ServerTool
	for _, ts := range found {
		out = append(out, ts...)
	}
	return out
}

func (e *Entry) remoteTools(ctx context.Context, a Authorizer, maxBytes int, getenv func(string) string, log *slog.Logger) ([]mcpserver.ServerTool, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	headers := map[string]string{}
	// The headers' ${ENV} values are hidden wherever the server's answers
	// or errors are shown: a server may quote the credentials it refuses.
	red := payments.NewRedaction("", "")
	for _, h := range e.headers {
		hx, err := expandSpans(h.parts, getenv, nil, "headers."+h.name)
		if err != nil {
			return nil, err
		}
		headers[h.name] = hx.text
		addHeaderSecrets(hx, red)
	}
	u, err := url.Parse(e.URL)
	if err != nil {
		return nil, red.Err(fmt.Errorf("url: %w", err))
	}
	cli, err := client.NewStreamableHttpClient(e.URL, transport.WithHTTPHeaders(headers), transport.WithHTTPBasicClient(newRemoteHTTPClient()))
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, min(e.Timeout, remoteConnectTimeout))
	defer cancel()
	if err := cli.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, red.Err(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "x402-mcp", Version: "1"}
	if _, err := cli.Initialize(cctx, init); err != nil {
		_ = cli.Close() // the initialize error is the one to report
		return nil, red.Err(fmt.Errorf("initialize: %w", err))
	}
	var remote []mcp.Tool
	var lr mcp.ListToolsRequest
	for range 100 {
		res, err := cli.ListTools(cctx, lr)
		if err != nil {
			_ = cli.Close() // the tools/list error is the one to report
			return nil, red.Err(fmt.Errorf("tools/list: %w", err))
		}
		remote = append(remote, res.Tools...)
		if res.NextCursor == "" {
			break
		}
		lr.Params.Cursor = res.NextCursor
	}
	host := payments.HostPort(u)
	var out []mcpserver.ServerTool
	var skipped []string
	for _, rt := range remote {
		name := e.Prefix + rt.Name
		if !toolNameRE.MatchString(name) {
			skipped = append(skipped, name)
			continue
		}
		rm := &remoteTool{entry: e, cli: cli, remote: rt.Name, local: name, host: host, auth: a, maxBytes: maxBytes,
			desc: payments.Sanitize(red.Text(rt.Description), 2000), red: red}
		out = append(out, mcpserver.ServerTool{Tool: rm.tool(rt), Handler: func(ctx context.Context, call mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := rm.handle(ctx, call)
			return redactResult(res, rm.red), err
		}})
	}
	if len(skipped) > 0 {
		// One warning, naming the first few: a server may list thousands.
		first := make([]string, 0, 8)
		for _, n := range skipped[:min(len(skipped), 8)] {
			first = append(first, strconv.Quote(payments.Sanitize(n, 100)))
		}
		log.Warn("remote tools skipped: their names are not valid local tool names", "entry", e.Name, "skipped", len(skipped), "first", strings.Join(first, ", "))
	}
	log.Info("remote MCP server listed", "entry", e.Name, "url", payments.RedactURL(e.URL), "tools", len(out))
	return out, nil
}

// remoteTool is one tool of a remote MCP server, listed locally.
type remoteTool struct {
	entry    *Entry
	cli      *client.Client
	remote   string // the remote server's name for it
	local    string
	host     string
	desc     string
	auth     Authorizer
	maxBytes int
	red      *payments.Redaction // the entry's header secrets
}

// tool is the local definition: the remote input schema, the remote
// description marked as the remote server's text, and the price.
func (rm *remoteTool) tool(rt mcp.Tool) mcp.Tool {
	e := rm.entry
	schema, err := json.Marshal(rt.InputSchema)
	if len(rt.RawInputSchema) > 0 {
		schema, err = rt.RawInputSchema, nil
	}
	if err != nil || len(schema) == 0 || string(schema) == "null" {
		schema = json.RawMessage(`{"type":"object"}`)
	}
	desc := fmt.Sprintf("[Remote MCP server %s, entry %s] %s\n\nPaid tool: up to %s per call on %s. Each call may spend money from the operator's wallet.",
		payments.RedactURL(e.URL), e.Name, rm.desc, e.currency().Format(e.MaxPrice), networkNames(e.fams, e.networks))
	t := mcp.NewToolWithRawSchema(rm.local, desc, schema)
	title := strings.ReplaceAll(rm.local, "_", " ")
	title = strings.ToUpper(title[:1]) + title[1:] + " (paid)"
	t.Title = title
	t.Annotations = mcp.ToolAnnotation{
		Title: title, ReadOnlyHint: mcp.ToBoolPtr(false), DestructiveHint: mcp.ToBoolPtr(false),
		IdempotentHint: mcp.ToBoolPtr(false), OpenWorldHint: mcp.ToBoolPtr(true),
	}
	t.Meta = e.Tool().Meta
	return t
}

// handle forwards a call; a PaymentRequired answer is paid once under the
// entry's limit and the call repeated with _meta["x402/payment"].
//
// The payment is booked under the catalog entry's name (the ledger's tool),
// with the remote tool in its resource: an entry's `budget:` and
// budget.per_tool cap the entry as a whole, however many tools its server
// lists.
func (rm *remoteTool) handle(ctx context.Context, call mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	e := rm.entry
	ctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = rm.remote, call.Params.Arguments
	res, pr, err := rm.call(ctx, req)
	if err != nil {
		pe := unpaidFailure(err)
		pe.Message, pe.Err = rm.red.Text(pe.Message), rm.red.Err(pe.Err)
		return ErrorResult(pe), nil
	}
	if pr == nil {
		return rm.shape(res, payments.NotCharged, nil, nil), nil
	}
	lim := e.Limit(NewCallID())
	lim.Redaction = rm.red
	if rm.desc != "" {
		lim.Description = rm.desc
	}
	pend, err := rm.auth.Authorize(ctx, pr, lim, "MCP tool "+rm.remote+" at "+payments.RedactURL(e.URL), rm.host)
	if err != nil {
		return ErrorResult(err), nil
	}
	req.Params.Meta = &mcp.Meta{AdditionalFields: map[string]any{MetaPayment: pend.Payload}}
	paid, pr2, err := rm.call(ctx, req)
	if err != nil {
		return remoteErrorResult(paidFailure(ctx, pend, err)), nil
	}
	if pr2 != nil {
		if payments.NonceUsed(pr2.Error) {
			// The server refused the payment as already used: it may
			// have settled it (a resend of one that did), as over HTTP.
			return remoteErrorResult(paidFailure(ctx, pend, &remoteError{answered: true,
				what: "refused the payment as already used (" + payments.Sanitize(pr2.Error, 200) + ")"})), nil
		}
		return remoteErrorResult(pend.Rejected(ctx, pr2.Error)), nil
	}
	settle := settlementOf(paid)
	if paid.IsError && settle == nil {
		return remoteErrorResult(paidFailure(ctx, pend, &remoteError{answered: true,
			what: "answered the paid call with an error result (" + remoteMessage(paid) + ") and no settlement receipt"})), nil
	}
	charged, rc := pend.Delivered(ctx, settle)
	return rm.shape(paid, charged, rc, settle), nil
}

// remoteErrorResult is ErrorResult for a paid call whose payment left: the
// receipt goes in _meta, and its line says what is known instead of
// "Paid …" (the payment is not known to have settled).
func remoteErrorResult(pe *payments.Error) *mcp.CallToolResult {
	rc := pe.Receipt
	if rc == nil {
		return ErrorResult(pe)
	}
	bare := *pe
	bare.Receipt = nil
	out := ErrorResult(&bare)
	line := remotePaymentLine(rc, pe.Charged, "", false)
	if pe.Charged == payments.Charged && rc.State == string(payments.StateSettled) {
		// The chain showed the payment used (payments.Client.Chain).
		line = rc.Line() + " Charged, nothing delivered."
	}
	out.Content = append(out.Content, mcp.NewTextContent(line))
	out.Meta.AdditionalFields[MetaPaymentResponse] = receiptMeta(rc, pe.Charged)
	return out
}

// unpaidFailure is the error of a call that failed before anything was
// signed: what the remote server answered, or that it could not be reached.
func unpaidFailure(err error) *payments.Error {
	re := asRemoteError(err)
	pe := &payments.Error{Code: payments.CodeUpstreamFailed, Charged: payments.NotCharged, Err: err}
	switch {
	case re.answered:
		pe.Message = "the remote MCP server " + re.what + ". Nothing was paid."
	case re.timeout:
		pe.Code, pe.Message = payments.CodeUpstreamTimeout, "the remote MCP server did not answer in time. Nothing was paid; it is safe to retry later."
	default:
		pe.Message = "could not reach the remote MCP server: " + re.what + ". Nothing was paid; it is safe to retry later."
	}
	return pe
}

// paidFailure records that the paid call failed after the payment left
// (its outcome is unknown, or charged when the chain shows the payment used)
// and returns the error to show: what the remote server answered, when it
// answered.
func paidFailure(ctx context.Context, pend *payments.Pending, err error) *payments.Error {
	pe := pend.Unknown(ctx, err)
	re := asRemoteError(err)
	if !re.answered || pe.Receipt == nil {
		return pe
	}
	rc := pe.Receipt
	price := rc.Currency().Format(rc.Amount)
	if pe.Charged == payments.Charged {
		tx := "transaction not found"
		if rc.Transaction != "" {
			tx = "transaction " + rc.Transaction
		}
		pe.Message = fmt.Sprintf("charged, nothing delivered: the remote MCP server %s, after the payment of %s was sent, and the payment settled on chain (%s). Do not retry blindly: a retry is a new payment. Tell the user; the receipt is the proof to ask the server's operator for what was paid for (ledger %s).",
			re.what, price, tx, rc.LedgerID)
		return pe
	}
	pe.Message = fmt.Sprintf("the remote MCP server %s, after a signed payment of %s was sent (ledger %s). The payment may have settled. Do not retry this call blindly: it would be a second payment. Check the spend history or ask the operator to reconcile.",
		re.what, price, rc.LedgerID)
	return pe
}

// remoteMessage is the text of a remote result, made safe to show.
func remoteMessage(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	if msg := payments.Sanitize(strings.Join(parts, " "), 300); msg != "" {
		return msg
	}
	return "no message"
}

// call sends one tools/call and returns its result, or the PaymentRequired
// it carries: in an isError result, or in a JSON-RPC error with code 402
// (whose data mcp-go's client drops, so it is read off the wire). Any
// other failure is a *remoteError.
func (rm *remoteTool) call(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, *x402.PaymentRequired, error) {
	c := &capture{}
	res, err := rm.cli.CallTool(context.WithValue(ctx, captureKey{}, c), req)
	if err != nil {
		if pr := c.challenge(); pr != nil {
			return nil, pr, nil
		}
		return nil, nil, c.explain(ctx, err)
	}
	return res, challengeOf(res), nil
}

// remoteError is a failed exchange with a remote MCP server, in words safe
// to show.
type remoteError struct {
	// answered says the server answered (an error, a redirect, too many
	// bytes); otherwise no answer came.
	answered bool
	timeout  bool
	// what completes "the remote MCP server …" when answered, else says
	// why it could not be reached.
	what string
	err  error
}

func (e *remoteError) Error() string { return e.what }

func (e *remoteError) Unwrap() error { return e.err }

func asRemoteError(err error) *remoteError {
	var re *remoteError
	if errors.As(err, &re) {
		return re
	}
	return &remoteError{what: payments.Sanitize(err.Error(), 300), err: err}
}

type captureKey struct{}

// capture keeps the first bytes of the responses to one call, their HTTP
// status and whether one was over the answer limit.
type capture struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	status   int
	tooLarge bool
}

const captureBytes = 1 << 20

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := captureBytes - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capture) setStatus(code int) {
	c.mu.Lock()
	c.status = code
	c.mu.Unlock()
}

func (c *capture) setTooLarge() {
	c.mu.Lock()
	c.tooLarge = true
	c.mu.Unlock()
}

// rpcError is a JSON-RPC error object as a remote server sent it.
type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// rpcErrors returns the JSON-RPC errors in the captured bytes (a JSON body
// or SSE data lines).
func (c *capture) rpcErrors() []rpcError {
	c.mu.Lock()
	raw := bytes.Clone(c.buf.Bytes())
	c.mu.Unlock()
	msgs := [][]byte{bytes.TrimSpace(raw)}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if d, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data:")); ok {
			msgs = append(msgs, bytes.TrimSpace(d))
		}
	}
	var out []rpcError
	for _, m := range msgs {
		var msg struct {
			Error *rpcError `json:"error"`
		}
		if jsonlimit.Unmarshal(m, &msg) == nil && msg.Error != nil {
			out = append(out, *msg.Error)
		}
	}
	return out
}

// challenge finds a JSON-RPC error 402 with a PaymentRequired in the
// captured bytes.
func (c *capture) challenge() *x402.PaymentRequired {
	for _, e := range c.rpcErrors() {
		if e.Code != 402 {
			continue
		}
		if pr, err := x402.ParseChallengeJSON(e.Data); err == nil {
			return pr
		}
	}
	return nil
}

// explain says what became of a call that failed with err: what the
// remote server answered (a redirect, too many bytes, a JSON-RPC error, an
// HTTP error status), or why no answer came.
func (c *capture) explain(ctx context.Context, err error) *remoteError {
	var rd *redirectError
	if errors.As(err, &rd) {
		return &remoteError{answered: true, what: rd.Error(), err: err}
	}
	c.mu.Lock()
	tooLarge, status := c.tooLarge, c.status
	excerpt := payments.Sanitize(c.buf.String(), 300)
	c.mu.Unlock()
	if tooLarge || errors.Is(err, errAnswerTooLarge) {
		return &remoteError{answered: true, what: errAnswerTooLarge.Error(), err: err}
	}
	if es := c.rpcErrors(); len(es) > 0 {
		return &remoteError{answered: true, err: err, what: fmt.Sprintf("answered with a JSON-RPC error (code %d): %s", es[0].Code, payments.Sanitize(es[0].Message, 300))}
	}
	if status != 0 && status != http.StatusOK && status != http.StatusAccepted {
		what := fmt.Sprintf("answered with HTTP status %d", status)
		if excerpt != "" {
			what += ": " + excerpt
		}
		return &remoteError{answered: true, what: what, err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return &remoteError{timeout: true, what: "it did not answer in time", err: err}
	}
	return &remoteError{what: payments.Sanitize(err.Error(), 300), err: err}
}

// remoteAnswerLimit bounds the bytes x402-mcp reads of one answer of a
// remote MCP server, counted after HTTP decompression and before anything
// decodes them, as payments.DefaultMaxBody bounds an HTTP upstream's body.
const remoteAnswerLimit = payments.DefaultMaxBody

// errAnswerTooLarge completes "the remote MCP server …".
var errAnswerTooLarge = fmt.Errorf("answered with more than %d bytes, the most x402-mcp reads of one answer", remoteAnswerLimit)

// newRemoteHTTPClient returns the HTTP client that talks to remote MCP
// servers. It never follows a redirect: the entry's headers (secrets from
// the environment) and a paid call's payment would go along to a host the
// server chose. Every answer is limited to remoteAnswerLimit bytes after
// decompression (a gzip bomb stops there), and a tool call's answers are
// copied into its capture.
func newRemoteHTTPClient() *http.Client {
	return &http.Client{
		Transport: &remoteTransport{base: httplimit.DefaultTransport, limit: remoteAnswerLimit},
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			rd := &redirectError{to: payments.RedactURL(req.URL.String())}
			if req.Response != nil {
				rd.status = req.Response.StatusCode
			}
			return rd
		},
	}
}

// redirectError is a redirect the client refused to follow.
type redirectError struct {
	status int
	to     string
}

// Error completes "the remote MCP server …".
func (e *redirectError) Error() string {
	return fmt.Sprintf("answered with a redirect (HTTP %d) to %s, which x402-mcp does not follow (the entry's headers and any payment would go along; write the final URL in registry.yaml if it is the same server)", e.status, e.to)
}

// remoteTransport limits every answer's bytes (after the transport's
// decompression, before any decoder) and copies a tool call's answers into
// its capture.
type remoteTransport struct {
	base  http.RoundTripper
	limit int64
}

func (t *remoteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	c, _ := r.Context().Value(captureKey{}).(*capture)
	body := &cappedBody{rc: resp.Body, left: t.limit, capture: c}
	resp.Body = body
	if c != nil {
		c.setStatus(resp.StatusCode)
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(body, c), body}
	}
	return resp, nil
}

// cappedBody reads at most left bytes of rc; one more is errAnswerTooLarge.
type cappedBody struct {
	rc      io.ReadCloser
	left    int64
	capture *capture
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = 0
		if b.capture != nil {
			b.capture.setTooLarge()
		}
		return n, errAnswerTooLarge
	}
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// challengeOf returns the PaymentRequired an isError result carries, in
// structuredContent or else as the first text content.
func challengeOf(res *mcp.CallToolResult) *x402.PaymentRequired {
	if res == nil || !res.IsError {
		return nil
	}
	if res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			if pr, err := x402.ParseChallengeJSON(b); err == nil {
				return pr
			}
		}
	}
	if len(res.Content) > 0 {
		if tc, ok := res.Content[0].(mcp.TextContent); ok {
			if pr, err := x402.ParseChallengeJSON([]byte(tc.Text)); err == nil {
				return pr
			}
		}
	}
	return nil
}

// settlementOf reads result._meta["x402/payment-response"].
func settlementOf(res *mcp.CallToolResult) *x402.SettlementResponse {
	if res.Meta == nil {
		return nil
	}
	v, ok := res.Meta.AdditionalFields[MetaPaymentResponse]
	if !ok {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var s x402.SettlementResponse
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	return &s
}

// shape passes the remote content through, capped at maxBytes, with the
// receipt in _meta and one line of text saying what happened to the money
// (settle is the remote server's settlement receipt, nil when it sent none).
func (rm *remoteTool) shape(res *mcp.CallToolResult, charged payments.Charge, rc *payments.Receipt, settle *x402.SettlementResponse) *mcp.CallToolResult {
	limit := rm.maxBytes
	if limit <= 0 {
		limit = DefaultMaxResultBytes
	}
	out := &mcp.CallToolResult{IsError: res.IsError}
	left := limit
	for _, c := range res.Content {
		switch c := c.(type) {
		case mcp.TextContent:
			t := capText(c.Text, max(left, 0))
			left -= len(t)
			out.Content = append(out.Content, mcp.NewTextContent(t))
		case mcp.ImageContent:
			if len(c.Data) <= left {
				left -= len(c.Data)
				out.Content = append(out.Content, c)
			} else {
				out.Content = append(out.Content, mcp.NewTextContent("[an image too large to show was left out]"))
			}
		default:
			out.Content = append(out.Content, mcp.NewTextContent("[remote content of another type was left out]"))
		}
	}
	if res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil && len(b) <= limit {
			if jsonlimit.CheckDepth(b) == nil {
				out.StructuredContent = res.StructuredContent
			} else {
				out.Content = append(out.Content, mcp.NewTextContent(fmt.Sprintf("[the remote server's structured content nests deeper than %d levels and was left out]", jsonlimit.MaxDepth)))
			}
		}
	}
	if rc != nil {
		why := "the remote server delivered but sent no settlement receipt, so the settlement is not confirmed"
		if settle != nil {
			why = "the remote server delivered, but its settlement receipt says the settlement failed (" + payments.Sanitize(settle.ErrorReason, 200) + ")"
		}
		out.Content = append(out.Content, mcp.NewTextContent(remotePaymentLine(rc, charged, why, res.IsError)))
	}
	out.Meta = resultMeta(charged, rc)
	return out
}

// remotePaymentLine says what happened to the money of a paid remote call
// in one line. It starts "Paid …" only for a payment the remote server
// reported settled; otherwise (its settlement pending included) it says what is
// known: that the payment was sent, why it is not known to have settled
// (why, when not said elsewhere), and the outcome.
func remotePaymentLine(rc *payments.Receipt, charged payments.Charge, why string, isError bool) string {
	if charged == payments.Charged && rc.State == "pending" {
		if isError {
			return rc.Line() + " The remote tool answered with an error after its payment was broadcast."
		}
		return rc.Line() + " Delivered; the payment is counted as charged while its settlement is pending."
	}
	if charged == payments.Charged && rc.State == string(payments.StateSettled) {
		if isError {
			return rc.Line() + " Charged, nothing delivered: the remote tool answered with an error after its payment settled."
		}
		return rc.Line() + " Charged and delivered."
	}
	line := fmt.Sprintf("A signed payment of %s (%s atomic) on %s to %s from %s was sent (ledger %s)",
		rc.Currency().Format(rc.Amount), rc.AmountAtom, rc.Network, rc.PayTo, rc.Payer, rc.LedgerID)
	if why != "" {
		line += "; " + why
	}
	return line + ". Payment outcome: " + string(charged) + "; it is not known to have settled, and stays counted against the budget until reconciliation proves it settled or unused."
}
