// Package server is x402-mcp's MCP side, on mcp-go: it lists the catalog
// (package tools) as MCP tools with x402-mcp's built-in tools, serves them
// over stdio (ServeStdio) or HTTP (HTTPHandler, ListenAndServe: Streamable
// HTTP at /mcp, legacy SSE at /sse and /message, /dashboard/, /healthz,
// /metrics), and
// puts payments above the approval threshold to the human. It knows nothing
// of how a payment is signed: that is package payments'.
//
//   - Tools: one per catalog entry (or, with defaults.expose: search,
//     x402_find_tools and x402_call instead), the tools of remote MCP
//     entries, and the built-ins x402_wallet, x402_quote, x402_spend_history
//     (when Config.History is set) and x402_tip (when the catalog has a
//     tipping section). The built-ins that spend nothing are read-only;
//     x402_wallet, x402_quote and x402_spend_history declare an outputSchema
//     their structured answers match.
//   - Approval: the server sets payments.Client.Approve, when unset, to ask
//     through MCP elicitation. Hosts on
//     MCP 2026-07-28 get an input request and call again with the answer
//     (the question stays here, under a random id); older hosts get
//     elicitation/create while the call waits, at most
//     payments.ApprovalTimeout, over the legacy SSE transport too (sse.go
//     carries the request on the host's stream and takes its answer off
//     /message). A host that cannot ask gets approval_required, never a
//     payment.
//   - Principals: every call has one (Principal). Over stdio it is the
//     implicit DefaultPrincipal, an admin; over HTTP the principal a bearer
//     token or an OAuth access token names (HTTPOptions.Auth), or the
//     implicit one with the single HTTPOptions.Token. The ledger books each
//     payment to its principal, under the principal's own budgets; a
//     principal lists and calls only its tools; x402_wallet and
//     x402_spend_history show a principal that is not an admin its own
//     budgets and payments only; metrics and logs name the principal,
//     never its token.
//   - Sessions: over stdio the per-session budget keys on the Client's
//     Session (one per process); over HTTP on the principal during this
//     run, never on an MCP session id. A Streamable HTTP or SSE session
//     belongs to the principal that opened it.
//   - HTTP: a request whose Origin header names an origin not given in
//     HTTPOptions.CORSOrigins gets 403, on every path (loopback origins
//     included), and HTTPOptions.Check refuses origins without
//     credentials; with credentials set, every request but /healthz (and
//     the OAuth metadata) must carry one; HTTPOptions.Check refuses to
//     serve beyond loopback without any; /metrics is for admins;
//     Streamable HTTP sessions are remembered (DELETE ends one, an id never
//     issued or ended gets 404); request bodies are capped
//     (HTTPOptions.MaxRequestBytes); shutdown waits for calls in flight
//     (HTTPOptions.DrainTimeout).
//   - OAuth (oauth.go): as a resource server, the Protected Resource
//     Metadata (RFC 9728), a WWW-Authenticate challenge that points at it,
//     and JWT access tokens checked against the issuer's keys, issuer,
//     expiry and audience (RFC 8707). Without it, the OAuth discovery and
//     registration paths answer 404.
//   - Dashboard: with Config.Books set, /dashboard/ on the HTTP listener
//     shows an admin principal (a browser may give its bearer token as
//     HTTP Basic's password) every budget, spend over time by tool,
//     principal, session and network, recent payments with receipts, and
//     the open ones with what reconciliation will do, read from the
//     ledger; ServeDashboard serves the same page read-only on loopback,
//     for a ledger written over stdio. Every file is embedded; the page
//     loads nothing from another origin.
//   - For the host: progress notifications for each step of a paid call
//     with a heartbeat (DefaultHeartbeat), and a logging notification for
//     every call that involved money. For the operator: slog on the
//     configured logger (stderr), never stdout, and Prometheus metrics at
//     /metrics.
//   - Reload and WatchRegistry apply a changed catalog live (tools, prices,
//     pins, the tipping section but its per_day) and refuse a change to the
//     payment policy or budgets, which need a restart.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	"sync"
	satomic "sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/tools"
)

// Name is the server name MCP clients see.
const Name = "x402-mcp"

// Config wires a server.
type Config struct {
	Registry *tools.Registry
	Client   *payments.Client
	// History, when set, serves x402_spend_history (the durable ledger).
	History History
	// Books, when set, is the ledger the spend dashboard reads: over HTTP,
	// /dashboard/ serves it to the admin principal.
	Books Books
	// ReconcileEvery is how often this process reconciles open payments in
	// the background (serve's --reconcile-every; 0: at start only), which
	// the dashboard tells the reader.
	ReconcileEvery time.Duration
	Version        string
	// Getenv resolves ${VAR} in the catalog (os.Getenv in production).
	Getenv func(string) string
	Logger *slog.Logger
	// Heartbeat is how often a long call repeats its progress (default
	// DefaultHeartbeat).
	Heartbeat time.Duration
	// ProtectedEnv are the environment variables that hold the principals'
	// tokens (tools.Gateway.Env): a reloaded catalog that reads one is
	// refused.
	ProtectedEnv []string
	// KeySources says where each key of Client.Signers lives, by its family
	// (payments.Signer.Family): what `x402-mcp wallet show` prints
	// (wallet.Wallet.Sources), which x402_wallet shows as each key's
	// keySource. It names a variable, a path, a keychain entry, a signer's
	// endpoint or a KMS key, never a key, a passphrase or a credential.
	KeySources map[string]string
}

// Server is an MCP server whose tools pay.
type Server struct {
	mcp *mcpserver.MCPServer
	cfg Config
	// approvals are the payment questions awaiting the user's answer.
	approvals approvals
	// metrics and calls are fed by the observe middleware (metrics.go, http.go).
	metrics *metrics
	calls   callTracker
	// run names this server's run: over HTTP a session is a principal
	// during one run.
	run string
	// cat is the catalog served now; reloadMu serializes Reload.
	cat      satomic.Pointer[catalog]
	reloadMu sync.Mutex
	// principals are the HTTP transport's, once it is built (nil over
	// stdio): an admin's x402_wallet and /metrics list them.
	principals satomic.Pointer[[]*Principal]
}

// instructions tell the model how to use a paying server.
const instructions = `x402-mcp exposes paid HTTP APIs as tools. Calling a paid tool may spend money from the operator's wallet (USDC, or the token a tool names in its price), within budgets the operator set (you cannot change them).
- x402_wallet shows the wallet address, caps and the budgets left; x402_quote shows what a tool would cost without paying; x402_spend_history lists past payments.
- When the catalog is large, x402_find_tools searches it and x402_call calls an entry by name, under the same rules.
- When the operator enabled tipping, x402_tip sends a person a tip (in USDC, or the token its description names) to an address-book name or a 0x address; the user approves tips, not you.
- Each paid result says whether money moved: "charged", "not charged" or "unknown", with a receipt when charged.
- Never retry a call whose outcome is "unknown": it could pay twice. Payments above the operator's threshold are put to the user for approval; you cannot approve them yourself.`

// New builds the MCP server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil || cfg.Client == nil {
		return nil, fmt.Errorf("server: a registry and a payments client are required")
	}
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) string { return "" }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	s := &Server{cfg: cfg, metrics: newMetrics(cfg.Registry), run: newRunID()}
	// No mcp-go input-schema validation: package tools checks arguments
	// itself, with messages that name the field and say nothing was charged.
	s.mcp = mcpserver.NewMCPServer(Name, cfg.Version,
		mcpserver.WithToolCapabilities(true),
		mcpserver.WithRecovery(),
		mcpserver.WithInstructions(instructions),
		mcpserver.WithToolHandlerMiddleware(s.logCalls),
		mcpserver.WithToolHandlerMiddleware(s.progress),
		// No WithElicitation: elicitation is a client capability, which the
		// host declares; a server that lists it in its own capabilities
		// misleads clients. Asking needs only the host's declaration.
		mcpserver.WithToolHandlerMiddleware(s.askApproval),
		mcpserver.WithToolHandlerMiddleware(s.observe),
		mcpserver.WithToolHandlerMiddleware(s.notifyMoney),
		mcpserver.WithLogging(),
		// A principal lists, and may call, only its tools (principal.go).
		mcpserver.WithToolFilter(s.filterTools),
	)
	// Payments above the approval threshold are put to the human through
	// MCP elicitation (approval.go).
	if cfg.Client.Approve == nil {
		cfg.Client.Approve = s.approve
	}
	// A call whose context names no principal (stdio) is the implicit one's.
	if cfg.Client.Principal == "" {
		cfg.Client.Principal = DefaultPrincipal
	}
	c := s.newCatalog(cfg.Registry)
	s.cat.Store(c)
	s.mcp.AddTools(s.serverTools(c)...)
	return s, nil
}

// MCP returns the underlying mcp-go server.
func (s *Server) MCP() *mcpserver.MCPServer { return s.mcp }

// ServeStdio serves MCP over the given streams until in closes or ctx ends.
// Only JSON-RPC is ever written to out; logs go to the configured logger.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	std := mcpserver.NewStdioServer(s.mcp)
	std.SetErrorLogger(log.New(slogWriter{s.cfg.Logger}, "", 0))
	// mcp-go runs 5 tool calls at a time over stdio by default. A paid call
	// mostly waits (on the seller, or for minutes on a human's approval), so
	// a host's concurrent calls would queue behind a few slow ones.
	mcpserver.WithWorkerPoolSize(StdioWorkers)(std)
	mcpserver.WithQueueSize(1000)(std)
	return std.Listen(ctx, in, out)
}

// logCalls logs each tool call's name, duration and outcome (never arguments:
// they may carry user data).
func (s *Server) logCalls(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		start := time.Now()
		res, err := next(ctx, req)
		isErr := err != nil || res != nil && res.IsError
		s.cfg.Logger.Info("tool call", "tool", req.Params.Name, "principal", caller(ctx).Name, "ms", time.Since(start).Milliseconds(), "error", isErr)
		return res, err
	}
}

// StdioWorkers is how many tool calls run at once over stdio (mcp-go's
// maximum); more wait in a queue of 1,000.
const StdioWorkers = 100

// slogWriter adapts the stdio server's *log.Logger to slog.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("mcp transport", "msg", string(p))
	return len(p), nil
}

// newRunID returns 16 random hex characters.
func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
