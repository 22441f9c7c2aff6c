package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/server"
)

// httpFlags are serve's HTTP transport flags.
type httpFlags struct {
	addr         string
	tokenFile    string
	corsOrigins  stringList
	maxBody      int64
	drainTimeout time.Duration
}

func addHTTPFlags(fs *flag.FlagSet) *httpFlags {
	f := &httpFlags{}
	fs.StringVar(&f.addr, "http", "", "serve MCP over HTTP on ADDR (Streamable HTTP at /mcp, SSE at /sse) instead of stdio, e.g. 127.0.0.1:8402")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token HTTP clients must send (default $X402_MCP_TOKEN)")
	fs.Var(&f.corsOrigins, "cors-origin", "browser origin allowed to call over HTTP, e.g. https://app.example (repeatable; needs a token; a request from any other Origin gets 403; CORS is off without it)")
	fs.Int64Var(&f.maxBody, "max-request-bytes", server.DefaultMaxRequestBytes, "largest HTTP request body; larger gets 413")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", server.DefaultDrainTimeout, "on SIGINT/SIGTERM, how long to wait for tool calls in flight")
	return f
}

// options resolves the token and checks the bind and the CORS origins,
// before anything is opened.
func (f *httpFlags) options(e env) (server.HTTPOptions, error) {
	opts := server.HTTPOptions{MaxRequestBytes: f.maxBody, CORSOrigins: f.corsOrigins, DrainTimeout: f.drainTimeout}
	if f.addr == "" {
		if f.tokenFile != "" || len(f.corsOrigins) > 0 {
			return opts, usageError{"--token-file and --cors-origin need --http ADDR"}
		}
		return opts, nil
	}
	opts.Token = strings.TrimSpace(e.getenv(payments.EnvMCPToken))
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return opts, fmt.Errorf("token file: %w", err)
		}
		if opts.Token = strings.TrimSpace(string(b)); opts.Token == "" {
			return opts, fmt.Errorf("token file %s is empty", f.tokenFile)
		}
	}
	if err := server.CheckBind(f.addr, opts.Token); err != nil {
		return opts, err
	}
	// A page from an allowed origin could otherwise spend the wallet.
	if err := server.CheckOrigins(f.corsOrigins, opts.Token); err != nil {
		return opts, err
	}
	return opts, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
