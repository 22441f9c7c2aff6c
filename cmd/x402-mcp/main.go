// Command x402-mcp is an MCP server that lists x402-priced HTTP endpoints as
// tools and pays their 402 challenges from a budgeted wallet.
//
//	x402-mcp [serve] [--registry FILE]   serve MCP over stdio (the default)
//	x402-mcp serve --http ADDR           serve MCP over Streamable HTTP (/mcp) and SSE (/sse)
//	x402-mcp demo                        run the offline demo: local seller, wallet, MCP session
//	x402-mcp check [FILE]                validate a catalog offline and list its tools and prices
//	x402-mcp registry add|import         propose catalog entries from a 402 or a discovery API
//	x402-mcp wallet new|address|show     create a key (keystore or OS keychain) / print the addresses / where each key lives
//	x402-mcp wallet approve-permit2 …    approve Permit2 to spend the wallet's token (sends one transaction)
//	x402-mcp ledger list|export|reconcile  read and reconcile the durable ledger
//	x402-mcp token new|hash              make a principal's bearer token / hash one for a principals file
//	x402-mcp dashboard [--addr ADDR]     serve the spend dashboard of a ledger, read-only, on loopback
//	x402-mcp seller [--addr ADDR]        run the local x402 seller for trying things by hand
//	x402-mcp docs [--readme FILE]        rewrite README.md's generated tool list
//	x402-mcp version                     print the version (also --version)
//	x402-mcp help                        print the commands (also --help, -h)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
)

// version is the release version, set at build time with
// -ldflags "-X main.version=v1.2.3". Left at "dev", the version is read from
// the binary's build information instead (see buildVersion).
var version = "dev"

func init() { version = buildVersion(version, debug.ReadBuildInfo) }

// buildVersion is the version x402-mcp reports: the -ldflags value when one
// was set; else the main module's version that the go command recorded (a
// tag such as v1.2.3 for `go install …@v1.2.3`, a pseudo-version for a build
// in a git checkout since Go 1.24); else "dev".
func buildVersion(ldflags string, read func() (*debug.BuildInfo, bool)) string {
	if ldflags != "" && ldflags != "dev" {
		return ldflags
	}
	bi, ok := read()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return "dev"
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var u usageError
		if !errors.As(err, &u) || u.msg != "" {
			fmt.Fprintln(os.Stderr, "x402-mcp:", err)
		}
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a mistake on the command line (exit code 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// env is what a command needs from the process, injectable for tests.
// A command need not check its writes to stdout: run reports the first
// that failed. A write to stderr that fails has nowhere to be reported.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run runs the command args name. A command's -h or --help prints its
// flags to stderr and is not an error. A command whose output could not
// all be written to stdout (a full disk under `> file`) fails, naming the
// first write that failed, instead of exiting 0 with its output lost.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	out := &errWriter{w: stdout}
	err := dispatch(ctx, env{getenv: getenv, stdin: stdin, stdout: out, stderr: stderr}, args)
	if errors.Is(err, flag.ErrHelp) {
		err = nil
	}
	if werr := out.failed(); werr != nil {
		if err == nil || errors.Is(err, werr) {
			return fmt.Errorf("write to stdout: %w", werr)
		}
		return errors.Join(err, fmt.Errorf("write to stdout: %w", werr))
	}
	return err
}

// errWriter remembers the first error a write to w returned.
type errWriter struct {
	w   io.Writer
	mu  sync.Mutex
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.mu.Lock()
		if e.err == nil {
			e.err = err
		}
		e.mu.Unlock()
	}
	return n, err
}

func (e *errWriter) failed() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func dispatch(ctx context.Context, e env, args []string) error {
	stdout := e.stdout
	cmd := "serve"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || isTopLevelFlag(args[0])) {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve", "stdio":
		return cmdServe(ctx, e, args)
	case "demo":
		return cmdDemo(ctx, e, args)
	case "check":
		return cmdCheck(e, args)
	case "registry":
		return cmdRegistry(ctx, e, args)
	case "wallet":
		return cmdWallet(ctx, e, args)
	case "seller":
		return cmdSeller(ctx, e, args)
	case "ledger":
		return cmdLedger(ctx, e, args)
	case "token":
		return cmdToken(e, args)
	case "dashboard":
		return cmdDashboard(ctx, e, args)
	case "docs":
		return cmdDocs(e, args)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "x402-mcp", version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return usageError{fmt.Sprintf("unknown command %q\n%s", cmd, usage)}
	}
}

// isTopLevelFlag reports whether arg asks for the version or the commands
// rather than being one of serve's flags (serve is the default command).
func isTopLevelFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "-version", "--version":
		return true
	}
	return false
}

const usage = `usage: x402-mcp [command] [flags]

commands:
  serve [--registry FILE] [--ledger FILE|URL] [--warm-path=false] [--reconcile-every 5m]
        [--require-protected-key] [--pprof 127.0.0.1:PORT]
                               serve MCP over stdio (default command), reconciling open payments
                               in the background (0: at start only); --require-protected-key
                               refuses a key in the clear when the catalog allows a mainnet;
                               --pprof serves Go's profiles on loopback to local tools, never to
                               browser pages (for benchmarks, off by default)
  serve --http ADDR [--token-file FILE | --principals FILE] [--cors-origin O] [--max-request-bytes N] [--drain-timeout D]
                               serve MCP over HTTP on ADDR instead: Streamable HTTP at /mcp,
                               legacy SSE at /sse, /dashboard/, /metrics, /healthz; one bearer
                               token from X402_MCP_TOKEN or --token-file, or principals (each
                               with its tokens, tools and budgets, and OAuth) from --principals
                               FILE or the catalog (credentials required beyond loopback;
                               docs/gateway.md)
  demo                         offline demo: local seller, throwaway wallet, a real MCP session
  check [FILE]                 validate a catalog offline; list its tools and prices
  registry add URL [--method M] [--name N] [--body JSON] [--write FILE]
                               probe URL's 402 without paying; print (or append) a catalog entry
  registry import --from FAC [--header 'NAME: VALUE'] [--query Q] [--network N] [--max-price P] [--limit K] [--out FILE] [--force]
                               draft disabled entries from a facilitator's discovery API
                               (default --out registry.drafts.yaml; ${NAME} in --from and
                               --header reads a credential from the environment)
  wallet new [--family evm|solana] [--dir DIR]
                               create an encrypted keystore (passphrase from X402_KEYSTORE_PASSWORD[_FILE],
                               for Solana X402_SOLANA_KEYSTORE_PASSWORD[_FILE])
  wallet new --keychain [--family evm|solana] [--entry x402-mcp/default]
                               create a key in the OS keychain (never in a file; Solana's default
                               entry is x402-mcp/solana)
  wallet address [--family F]  print the configured wallet's addresses, one a line, EVM first
  wallet show                  print each key's family, address and where it lives (never the key)
  wallet approve-permit2 --network N --asset A --amount X [--yes]
                               give Permit2 an allowance of the wallet's token (Permit2 and upto
                               payments need one): shows what it will do, then sends approve
                               from the wallet through the registry's rpc: endpoint
  ledger list [--kind payment|tip] [--principal P] [--tool T] [--state S] [--since 24h] [--limit N]
                               show recent payments from the durable ledger
  ledger export --csv          write the ledger as CSV (same filters)
  ledger reconcile             resolve open payments (refused, unknown or signed) against the
                               chain (rpc: in the catalog), once
  token new                    print a new bearer token for a principal, and its sha256 hash
  token hash < FILE            print the sha256 hash of the token on stdin, for a principals file
  dashboard [--ledger FILE|URL] [--registry FILE] [--principals FILE] [--addr 127.0.0.1:0]
                               serve the spend dashboard of a ledger (a file, or PostgreSQL in
                               read-only transactions), read-only, on loopback; its URL (with
                               a key for this run) goes to stderr; --principals (or the
                               catalog's principals:) for each principal's own budgets
  seller [--addr ADDR]         run the local x402 test seller on loopback
  docs [--readme FILE]         rewrite README.md's tool list from the tool definitions (for developers)
  version, --version           print the version
  help, --help, -h             print this; COMMAND --help prints a command's flags

The wallet's keys come from the environment, never a flag (docs/keys.md); an EVM key, a
Solana key, or both, one source each:
  X402_KEYCHAIN: OS keychain entries, <service>/<account>, comma-separated (either family).
  EVM: X402_CLEF (clef's IPC socket or HTTP URL), X402_AWS_KMS_KEY_ID (an AWS KMS key),
  X402_KEYSTORE with X402_KEYSTORE_PASSWORD or X402_KEYSTORE_PASSWORD_FILE, X402_KEY_FILE
  (file with hex) or X402_PRIVATE_KEY (hex).
  Solana: X402_SOLANA_KEYSTORE with X402_SOLANA_KEYSTORE_PASSWORD or
  X402_SOLANA_KEYSTORE_PASSWORD_FILE, X402_SOLANA_KEYPAIR (a solana-keygen file) or
  X402_SOLANA_PRIVATE_KEY (base58).
The catalog: --registry FILE, else $X402_REGISTRY, else the built-in example.
The ledger: --ledger FILE, else $X402_LEDGER, else ledger.db in the state directory
($XDG_STATE_HOME/x402-mcp or ~/.local/state/x402-mcp); a postgres:// URL instead of a
file shares one ledger between replicas (its password from PGPASSWORD or ~/.pgpass).
Logs go to stderr (X402_LOG_LEVEL=debug|info|warn|error, X402_LOG_FORMAT=text|json).
`

// newLogger writes to stderr only: stdout belongs to the stdio transport.
// An X402_LOG_LEVEL that is not a level is warned of, and info is used.
func newLogger(e env) *slog.Logger {
	lvl := slog.LevelInfo
	v := e.getenv("X402_LOG_LEVEL")
	var bad error
	if v != "" {
		if bad = lvl.UnmarshalText([]byte(v)); bad != nil {
			lvl = slog.LevelInfo
		}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(e.stderr, opts)
	if e.getenv("X402_LOG_FORMAT") == "json" {
		h = slog.NewJSONHandler(e.stderr, opts)
	}
	l := slog.New(h)
	slog.SetDefault(l) // packages that log through slog.Default reach stderr too
	if bad != nil {
		l.Warn("X402_LOG_LEVEL is not a log level: use debug, info, warn or error; logging at info", "value", v)
	}
	return l
}

func newFlags(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet("x402-mcp "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err // the flags were printed; run reports success
		}
		return usageError{err.Error()}
	}
	return nil
}
