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
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Kinds of catalog entries.
const (
	// KindHTTP is an x402-priced HTTP endpoint (the default).
	KindHTTP = "http"
	// KindMCP is a remote Streamable HTTP MCP server that charges per tool
	// through x402's MCP transport.
	KindMCP = "mcp"
)

// _meta keys of x402 over MCP (x402-protocol.md §5).
const (
	// MetaPayment carries the PaymentPayload, as a JSON object, on a paid
	// tools/call.
	MetaPayment = "x402/payment"
)

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
	Authorize(ctx context.Context, pr *payments.PaymentRequired, lim payments.Limit, resource, host string) (*payments.Pending, error)
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
				log.Warn("remote MCP server unavailable: its tools are not listed", "entry", e.Name, "url", redactRawURL(e.URL), "err", payments.Sanitize(err.Error(), 300))
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

func redactRawURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(url)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

func (e *Entry) remoteTools(ctx context.Context, a Authorizer, maxBytes int, getenv func(string) string, log *slog.Logger) ([]mcpserver.ServerTool, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	headers := map[string]string{}
	for _, h := range e.headers {
		v, err := expand(h.parts, getenv, nil, "headers."+h.name)
		if err != nil {
			return nil, err
		}
		headers[h.name] = v
	}
	hc := &http.Client{Transport: &captureTransport{base: http.DefaultTransport}}
	cli, err := client.NewStreamableHttpClient(e.URL, transport.WithHTTPHeaders(headers), transport.WithHTTPBasicClient(hc))
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, min(e.Timeout, remoteConnectTimeout))
	defer cancel()
	if err := cli.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "x402-mcp", Version: "1"}
	if _, err := cli.Initialize(cctx, init); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("initialize: %w", err)
	}
	var remote []mcp.Tool
	var lr mcp.ListToolsRequest
	for range 100 {
		res, err := cli.ListTools(cctx, lr)
		if err != nil {
			_ = cli.Close()
			return nil, fmt.Errorf("tools/list: %w", err)
		}
		remote = append(remote, res.Tools...)
		if res.NextCursor == "" {
			break
		}
		lr.Params.Cursor = res.NextCursor
	}
	u, _ := url.Parse(e.URL)
	host := payments.HostPort(u)
	var out []mcpserver.ServerTool
	for _, rt := range remote {
		name := e.Prefix + rt.Name
		if !toolNameRE.MatchString(name) {
			log.Warn("remote tool skipped: its name is not a valid local tool name", "entry", e.Name, "tool", payments.Sanitize(name, 100))
			continue
		}
		rm := &remoteTool{entry: e, cli: cli, remote: rt.Name, local: name, host: host, auth: a, maxBytes: maxBytes,
			desc: payments.Sanitize(rt.Description, 2000)}
		out = append(out, mcpserver.ServerTool{Tool: rm.tool(rt), Handler: rm.handle})
	}
	log.Info("remote MCP server listed", "entry", e.Name, "url", redactRawURL(e.URL), "tools", len(out))
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
		redactRawURL(e.URL), e.Name, rm.desc, e.currency().Format(e.MaxPrice), networkNames(e.networks))
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
func (rm *remoteTool) handle(ctx context.Context, call mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	e := rm.entry
	ctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = rm.remote, call.Params.Arguments
	res, pr, err := rm.call(ctx, req)
	if err != nil {
		return ErrorResult(&payments.Error{Code: payments.CodeUpstreamFailed, Charged: payments.NotCharged, Err: err,
			Message: "the remote MCP server failed: " + payments.Sanitize(err.Error(), 300) + ". Nothing was paid; it is safe to retry later."}), nil
	}
	if pr == nil {
		return rm.shape(res, payments.NotCharged, nil), nil
	}
	lim := e.Limit(NewCallID())
	lim.Tool = rm.local
	if rm.desc != "" {
		lim.Description = rm.desc
	}
	pend, err := rm.auth.Authorize(ctx, pr, lim, "MCP tool "+rm.remote+" at "+redactRawURL(e.URL), rm.host)
	if err != nil {
		return ErrorResult(err), nil
	}
	req.Params.Meta = &mcp.Meta{AdditionalFields: map[string]any{MetaPayment: pend.Payload}}
	paid, pr2, err := rm.call(ctx, req)
	if err != nil {
		return ErrorResult(pend.Unknown(ctx, err)), nil
	}
	if pr2 != nil {
		return ErrorResult(pend.Rejected(ctx, pr2.Error)), nil
	}
	settle := settlementOf(paid)
	if paid.IsError && settle == nil {
		return ErrorResult(pend.Unknown(ctx, errors.New("the remote tool answered with an error and no settlement receipt after the payment"))), nil
	}
	charged, rc := pend.Delivered(ctx, settle)
	return rm.shape(paid, charged, rc), nil
}

// call sends one tools/call and returns its result, or the PaymentRequired
// it carries: in an isError result, or in a JSON-RPC error with code 402
// (whose data mcp-go's client drops, so it is read off the wire).
func (rm *remoteTool) call(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, *payments.PaymentRequired, error) {
	c := &capture{}
	res, err := rm.cli.CallTool(context.WithValue(ctx, captureKey{}, c), req)
	if err != nil {
		if pr := c.challenge(); pr != nil {
			return nil, pr, nil
		}
		return nil, nil, err
	}
	return res, challengeOf(res), nil
}

type captureKey struct{}

// capture keeps the first bytes of the responses to one call.
type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
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

// challenge finds a JSON-RPC error 402 with a PaymentRequired in the
// captured bytes (a JSON body or SSE data lines).
func (c *capture) challenge() *payments.PaymentRequired {
	c.mu.Lock()
	raw := bytes.Clone(c.buf.Bytes())
	c.mu.Unlock()
	msgs := [][]byte{bytes.TrimSpace(raw)}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if d, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data:")); ok {
			msgs = append(msgs, bytes.TrimSpace(d))
		}
	}
	for _, m := range msgs {
		var msg struct {
			Error *struct {
				Code int             `json:"code"`
				Data json.RawMessage `json:"data"`
			} `json:"error"`
		}
		if json.Unmarshal(m, &msg) != nil || msg.Error == nil || msg.Error.Code != 402 {
			continue
		}
		if pr, err := payments.ParseChallengeJSON(msg.Error.Data); err == nil {
			return pr
		}
	}
	return nil
}

// captureTransport copies response bodies into the request's capture.
type captureTransport struct{ base http.RoundTripper }

func (t *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if c, ok := r.Context().Value(captureKey{}).(*capture); ok && err == nil && resp.Body != nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(resp.Body, c), resp.Body}
	}
	return resp, err
}

// challengeOf returns the PaymentRequired an isError result carries, in
// structuredContent or else as the first text content.
func challengeOf(res *mcp.CallToolResult) *payments.PaymentRequired {
	if res == nil || !res.IsError {
		return nil
	}
	if res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			if pr, err := payments.ParseChallengeJSON(b); err == nil {
				return pr
			}
		}
	}
	if len(res.Content) > 0 {
		if tc, ok := res.Content[0].(mcp.TextContent); ok {
			if pr, err := payments.ParseChallengeJSON([]byte(tc.Text)); err == nil {
				return pr
			}
		}
	}
	return nil
}

// settlementOf reads result._meta["x402/payment-response"].
func settlementOf(res *mcp.CallToolResult) *payments.SettlementResponse {
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
	var s payments.SettlementResponse
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	return &s
}

// shape passes the remote content through, capped at maxBytes, with the
// receipt in _meta and one line of text.
func (rm *remoteTool) shape(res *mcp.CallToolResult, charged payments.Charge, rc *payments.Receipt) *mcp.CallToolResult {
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
			out.StructuredContent = res.StructuredContent
		}
	}
	if rc != nil {
		word := "Charged and delivered."
		if charged != payments.Charged {
			word = "Payment outcome: " + string(charged) + "."
		}
		out.Content = append(out.Content, mcp.NewTextContent(rc.Line()+" "+word))
	}
	out.Meta = resultMeta(charged, rc)
	return out
}
