package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// httpFlags are serve's HTTP transport flags.
type httpFlags struct {
	addr         string
	tokenFile    string
	principals   string
	corsOrigins  stringList
	maxBody      int64
	drainTimeout time.Duration
}

func addHTTPFlags(fs *flag.FlagSet) *httpFlags {
	f := &httpFlags{}
	fs.StringVar(&f.addr, "http", "", "serve MCP over HTTP on ADDR (Streamable HTTP at /mcp, SSE at /sse) instead of stdio, e.g. 127.0.0.1:8402")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token HTTP clients must send (default $X402_MCP_TOKEN)")
	fs.StringVar(&f.principals, "principals", "", "file of the principals that may call over HTTP, each with its tokens, tools and budgets, and the OAuth issuer (docs/gateway.md); instead of the catalog's principals: and oauth:")
	fs.Var(&f.corsOrigins, "cors-origin", "browser origin allowed to call over HTTP, e.g. https://app.example (repeatable; needs a token; a request from any other Origin gets 403; CORS is off without it)")
	fs.Int64Var(&f.maxBody, "max-request-bytes", server.DefaultMaxRequestBytes, "largest HTTP request body; larger gets 413")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", server.DefaultDrainTimeout, "on SIGINT/SIGTERM, how long to wait for tool calls in flight")
	return f
}

// options resolves the token (and reads the principals file), and when
// either is given checks the bind and the CORS origins, before anything is
// opened. Without them the catalog may still name principals: auth checks
// them once it is read.
func (f *httpFlags) options(e env) (server.HTTPOptions, *tools.Gateway, error) {
	opts, err := f.tokenOptions(e)
	if err != nil || f.addr == "" {
		return opts, nil, err
	}
	var gw *tools.Gateway
	if f.principals != "" {
		if gw, err = tools.LoadGateway(f.principals); err != nil {
			return opts, nil, err
		}
		if opts.Auth, err = server.AuthFrom(gw, e.getenv); err != nil {
			return opts, nil, err
		}
	}
	if opts.Token != "" || opts.Auth != nil {
		if err := opts.Check(f.addr); err != nil {
			return opts, nil, err
		}
	}
	return opts, gw, nil
}

// auth completes opts with the catalog's principals when no principals
// file was given, and checks the whole: the bind, the CORS origins, and a
// principals file against the catalog (tools, token variables). It returns
// the principals served over HTTP (nil for the single token).
func (f *httpFlags) auth(opts *server.HTTPOptions, gw *tools.Gateway, reg *tools.Registry, e env) (*tools.Gateway, error) {
	if gw != nil {
		if err := reg.CheckGateway(gw); err != nil {
			return nil, err
		}
	} else if reg.Gateway != nil {
		gw = reg.Gateway
		a, err := server.AuthFrom(gw, e.getenv)
		if err != nil {
			return nil, err
		}
		opts.Auth = a
	}
	return gw, opts.Check(f.addr)
}

// tokenOptions reads the flags and the single token.
func (f *httpFlags) tokenOptions(e env) (server.HTTPOptions, error) {
	opts := server.HTTPOptions{MaxRequestBytes: f.maxBody, CORSOrigins: f.corsOrigins, DrainTimeout: f.drainTimeout}
	if f.addr == "" {
		if f.tokenFile != "" || len(f.corsOrigins) > 0 || f.principals != "" {
			return opts, usageError{"--token-file, --principals and --cors-origin need --http ADDR"}
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
	return opts, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
