package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/payments"
)

// The legacy HTTP+SSE transport carries server-to-client requests like any
// other message: the server sends the request as an event on the client's
// stream, and the client POSTs its answer to /message. mcp-go's SSE session
// implements no such request (it is not a SessionWithElicitation), and its
// message handler drops the answers; so a host on /sse that declared
// elicitation could never be asked to approve a payment. x402-mcp does it
// here, around mcp-go and without changing it: each message's session is
// wrapped in one that can elicit (sseSession), the request goes out with
// SSEServer.SendEventToSession, and the answer is taken off /message before
// mcp-go sees it (sseAsker.messages).

// askPrefix starts the id of every request x402-mcp sends over SSE, so that
// answers to them are told from the client's own requests.
const askPrefix = "x402-ask-"

// sseAsker sends requests to SSE clients and routes their answers back to
// the call waiting for them.
type sseAsker struct {
	sse *mcpserver.SSEServer
	log *slog.Logger

	mu      sync.Mutex
	waiting map[askKey]chan askAnswer
	// owners are the principals that opened the live SSE sessions: only
	// the principal that opened a session may post to it.
	owners map[string]string
}

// askKey names one request: an answer counts only on the session (the
// sessionId of /message) the request was sent on.
type askKey struct{ session, id string }

type askAnswer struct {
	result json.RawMessage
	err    *mcp.JSONRPCErrorDetails
	ended  bool // the stream closed first
}

func newSSEAsker(log *slog.Logger) *sseAsker {
	return &sseAsker{log: log, waiting: map[askKey]chan askAnswer{}, owners: map[string]string{}}
}

type sseStreamKey struct{}

// newSessionID is the SSE server's session id generator (128 random bits).
// It also tells streams which session its GET /sse opened.
func (a *sseAsker) newSessionID(ctx context.Context, r *http.Request) (string, error) {
	id := randomHex()
	if opened, ok := ctx.Value(sseStreamKey{}).(*string); ok {
		*opened = id
	}
	owner := caller(ctx)
	if r != nil {
		owner = caller(r.Context())
	}
	a.mu.Lock()
	a.owners[id] = owner.Name
	a.mu.Unlock()
	return id, nil
}

// ownedBy says whether session was opened by the principal named owner.
func (a *sseAsker) ownedBy(session, owner string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	o, ok := a.owners[session]
	return ok && o == owner
}

// streams wraps GET /sse: when a stream ends, the questions still waiting
// on its session fail at once instead of at the approval timeout.
func (a *sseAsker) streams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var opened string
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sseStreamKey{}, &opened)))
		if opened != "" {
			a.endSession(opened)
		}
	})
}

// messages wraps POST /message. A message to a session another principal
// opened (or one that is not live) gets 404, as an unknown session. An
// answer to a request x402-mcp sent is
// handed to the call waiting for it (202, as for any message). Other
// messages go to mcp-go without Mcp-Protocol-Version: that header, and the
// Mcp-Method, Mcp-Name and parameter headers mcp-go checks against the body
// when it is present, belong to the Streamable HTTP transport; the SSE
// transport defines none of them, so a 2026-07-28 client that sends only
// the version header must not be refused for lacking the others.
func (a *sseAsker) messages(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del(mcp.HeaderProtocolVersion)
		if id := r.URL.Query().Get("sessionId"); id != "" && !a.ownedBy(id, caller(r.Context()).Name) {
			writeHTTPError(w, http.StatusNotFound, -32001, "unknown or ended session: open a new one with GET "+PathSSE)
			return
		}
		if r.Method == http.MethodPost && r.Body != nil {
			body, err := io.ReadAll(r.Body) // limitBody has bounded it
			if err != nil {
				writeHTTPError(w, http.StatusBadRequest, -32700, "reading the request body failed")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if a.answer(r.URL.Query().Get("sessionId"), body) {
				w.WriteHeader(http.StatusAccepted)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// answer takes a client's answer to a request x402-mcp sent on session and
// hands it to the call waiting for it. It says false for any other message.
// An answer nobody waits for any more (the call gave up) is dropped.
func (a *sseAsker) answer(session string, body []byte) bool {
	var m struct {
		ID     json.RawMessage          `json:"id"`
		Method string                   `json:"method"`
		Result json.RawMessage          `json:"result"`
		Error  *mcp.JSONRPCErrorDetails `json:"error"`
	}
	var id string
	if json.Unmarshal(body, &m) != nil || m.Method != "" || m.Result == nil && m.Error == nil ||
		json.Unmarshal(m.ID, &id) != nil || !strings.HasPrefix(id, askPrefix) {
		return false
	}
	key := askKey{session, id}
	a.mu.Lock()
	ch, ok := a.waiting[key]
	delete(a.waiting, key)
	a.mu.Unlock()
	if !ok {
		a.log.Info("sse: an answer came after its request stopped waiting")
		return true
	}
	ch <- askAnswer{result: m.Result, err: m.Error} // buffered; one sender, under mu's delete
	return true
}

// endSession fails the requests still waiting on session, and forgets it.
func (a *sseAsker) endSession(session string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.owners, session)
	for k, ch := range a.waiting {
		if k.session == session {
			delete(a.waiting, k)
			ch <- askAnswer{ended: true}
		}
	}
}

// ask sends the request method(params) on session's stream and waits for
// the client's answer within ctx.
func (a *sseAsker) ask(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	id := askPrefix + randomHex()
	key := askKey{session, id}
	ch := make(chan askAnswer, 1)
	a.mu.Lock()
	a.waiting[key] = ch
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.waiting, key)
		a.mu.Unlock()
	}()
	req := struct {
		JSONRPC string `json:"jsonrpc"`
		ID      string `json:"id"`
		Method  string `json:"method"`
		Params  any    `json:"params"`
	}{mcp.JSONRPC_VERSION, id, method, params}
	if err := a.sse.SendEventToSession(session, req); err != nil {
		return nil, fmt.Errorf("sending %s on the SSE stream: %w", method, err)
	}
	select {
	case ans := <-ch:
		switch {
		case ans.ended:
			return nil, fmt.Errorf("the SSE stream closed before the host answered %s", method)
		case ans.err != nil:
			return nil, fmt.Errorf("the host answered %s with error %d: %s", method, ans.err.Code, payments.Sanitize(ans.err.Message, 200))
		}
		return ans.result, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sseBase is what mcp-go's SSE session implements; sseSession passes all of
// it through.
type sseBase interface {
	mcpserver.SessionWithTools
	mcpserver.SessionWithResources
	mcpserver.SessionWithResourceTemplates
	mcpserver.SessionWithLogging
	mcpserver.SessionWithClientInfo
}

// sseSession is an SSE session that can elicit.
type sseSession struct {
	sseBase
	asker *sseAsker
}

var _ mcpserver.SessionWithElicitation = (*sseSession)(nil)

// wrapSession puts an sseSession around the SSE session in ctx (the
// SSEServer's context func runs after mcp-go has put its own there).
func (a *sseAsker) wrapSession(ctx context.Context, srv *mcpserver.MCPServer) context.Context {
	base, ok := mcpserver.ClientSessionFromContext(ctx).(sseBase)
	if !ok {
		return ctx
	}
	return srv.WithContext(ctx, &sseSession{sseBase: base, asker: a})
}

// RequestElicitation sends elicitation/create on the session's stream and
// waits for the host's answer within ctx.
func (s *sseSession) RequestElicitation(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	raw, err := s.asker.ask(ctx, s.SessionID(), string(mcp.MethodElicitationCreate), req.Params)
	if err != nil {
		return nil, err
	}
	var res mcp.ElicitationResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("reading the host's answer to elicitation/create: %w", err)
	}
	if res.Action == "" {
		return nil, errors.New("the host's answer to elicitation/create has no action")
	}
	return &res, nil
}
