package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/ethereum/go-ethereum/common"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	x402mcp "github.com/x402-mcp/x402-mcp"
	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/plural"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// Demo settings: a budget small enough that the transcript shows a refusal.
const (
	demoFunding payments.Amount = 1_000_000 // 1 test USDC in the throwaway wallet, on each family
	demoBudget  payments.Amount = 6_000     // 0.006 USDC
	demoTip     payments.Amount = 1_000     // 0.001 USDC, to demoAuthor
)

// demoSolanaPayee is the seller's Solana address in the demo.
const demoSolanaPayee = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"

// demoAuthor is who the demo tips: an address in its address book.
var demoAuthor = common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")

// cmdDemo runs the whole product offline in one process: the local seller on
// loopback, a throwaway funded wallet, the MCP server on an in-memory stdio
// transport, and a real MCP client session driving it.
func cmdDemo(ctx context.Context, e env, args []string) error {
	fs := newFlags("demo", e)
	onChain := fs.Bool("chain", false, "settle on a simulated EVM chain with real transactions (needs a binary built with -tags simchain)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out := e.stdout
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// 1. A throwaway wallet: an EVM key and a Solana key.
	key, err := wallet.GenerateEVMKey()
	if err != nil {
		return err
	}
	solKey, err := svm.GenerateKey()
	if err != nil {
		return err
	}

	// 2. The seller and its facilitator on loopback, funding the wallet with
	// test USDC, and the catalog that points at them.
	setup := memoryDemo
	if *onChain {
		if chainDemo == nil {
			return usageError{"this x402-mcp was built without the simulated chain: run `go run -tags simchain ./cmd/x402-mcp demo --chain`"}
		}
		setup = chainDemo
	}
	d, err := setup(ctx, key.Address(), solKey.Payer())
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer func() {
		if err := d.close(); err != nil {
			log.Warn("demo: stop the local seller", "err", err)
		}
	}()
	seller, sellerURL, fac := d.seller.Seller, d.seller.URL, d.seller.Facilitator

	// 3. The catalog, pointed at this seller, with a small budget.
	getenv := func(k string) string {
		if k == "X402_SELLER_URL" {
			return sellerURL
		}
		return ""
	}
	// Tipping through the seller's facilitator, every tip asked.
	src := append(append([]byte{}, d.registry...), fmt.Sprintf(`
tipping:
  facilitator_url: ${X402_SELLER_URL}/facilitator
%s  per_day: "0.01"
  max_tip: "0.005"
  recipients:
    author: %q
`, d.tipAsset, demoAuthor.Hex())...)
	reg, err := tools.Parse(d.registryName, src, families)
	if err != nil {
		return err
	}
	reg.Budget.Total = demoBudget
	dir, err := os.MkdirTemp("", "x402-mcp-demo")
	if err != nil {
		return err
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("demo: remove its temporary folder", "dir", dir, "err", err)
		}
	}()
	book, err := openLedger(ctx, filepath.Join(dir, "ledger.db"), reg)
	if err != nil {
		return err
	}
	defer book.Close()
	// The chain clients of the catalog's rpc endpoints: the local Solana's
	// JSON-RPC, served by the seller, when the demo has it.
	chain, rpcErr := chainsOf(reg, getenv)
	if rpcErr != nil {
		return rpcErr
	}
	defer chain.Close()
	payer := newClient(reg, newSchemes(chain), payments.Signers{key, solKey}, book, log)
	payer.Session = newSessionID("demo")
	// The keys live in this process only: x402_wallet says so.
	throwaway := wallet.Source{Kind: wallet.SourceMemory, Where: "(a throwaway key made for this demo)"}.String()
	srv, err := server.New(server.Config{Registry: reg, Client: payer, History: book, Version: version, Getenv: getenv, Logger: log,
		KeySources: map[string]string{key.Family(): throwaway, solKey.Family(): throwaway}})
	if err != nil {
		return err
	}

	// 4. The MCP stdio transport over in-memory pipes, and a real client.
	c2sR, c2sW := io.Pipe()
	s2cR, s2cW := io.Pipe()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeStdio(ctx, c2sR, s2cW) }()
	cli := client.NewClient(transport.NewIO(s2cR, c2sW, io.NopCloser(strings.NewReader(""))),
		client.WithElicitationHandler(demoUser{out}))
	defer cli.Close()
	if err := cli.Start(ctx); err != nil {
		return fmt.Errorf("demo: start MCP client: %w", err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "x402-mcp-demo-client", Version: version}
	info, err := cli.Initialize(ctx, init)
	if err != nil {
		return fmt.Errorf("demo: MCP initialize: %w", err)
	}

	fmt.Fprintf(out, "x402-mcp demo: everything runs here, offline, on loopback.\n\n")
	fmt.Fprintf(out, "  seller   %s  (x402 v2 and v1; its facilitators check every signature: ecrecover on EVM, ed25519 and the transfer on Solana)\n", sellerURL)
	fmt.Fprintf(out, "  money    %s\n", d.money)
	fmt.Fprintf(out, "  wallet   %s  (throwaway key, funded with %s test USDC)\n", key.Address().Hex(), demoFunding)
	if d.solana != nil {
		fmt.Fprintf(out, "           %s  (throwaway Solana key, funded with %s test USDC on Solana devnet)\n", solKey.Payer(), demoFunding)
	}
	fmt.Fprintf(out, "  budget   %s total, %s per call  (set by the operator in registry.yaml)\n", demoBudget.USDC(), reg.Defaults.MaxPerCall.USDC())
	fmt.Fprintf(out, "  ledger   %s  (SQLite; a throwaway one for the demo)\n", book.Path())
	fmt.Fprintf(out, "  MCP      %s %s, protocol %s, over the stdio transport\n\n", info.ServerInfo.Name, info.ServerInfo.Version, info.ProtocolVersion)

	list, err := cli.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		return fmt.Errorf("demo: tools/list: %w", err)
	}
	fmt.Fprintf(out, "→ tools/list: %s\n", plural.Count(len(list.Tools), "tool", "tools"))
	sort.Slice(list.Tools, func(i, j int) bool { return list.Tools[i].Name < list.Tools[j].Name })
	for _, t := range list.Tools {
		price := "free"
		if e, ok := reg.Entry(t.Name); ok {
			price = "≤ " + money(e.Currency, e.MaxPrice)
		}
		fmt.Fprintf(out, "    %-19s %-15s %s\n", t.Name, price, firstLine(t.Description))
	}

	calls := []struct {
		note string
		name string
		args map[string]any
	}{
		{"a paid call (x402 v2)", "weather", map[string]any{"city": "paris"}},
		{"a paid call (x402 v1)", "stock_quote", map[string]any{"symbol": "ACME"}},
		{"a paid call on Solana (x402 v2: a transaction the facilitator checks, ed25519 signature and transfer)", "solana_weather", map[string]any{"city": "lima"}},
		{"pay what you want: the price is the amount argument", "tip_jar", map[string]any{"author": "alice", "amount": "0.0005"}},
		{"a tip to a person, asked of the user first (MCP elicitation)", server.ToolTip, map[string]any{"recipient": "author", "amount": demoTip.String(), "note": "thanks for the x402 explainer"}},
		{"the budget after them", server.ToolWallet, nil},
		{"a call the budget cannot cover (0.01 USDC)", "summarize", map[string]any{"text": "x402 lets agents pay per call. It uses HTTP 402."}},
		{"the books, from the durable ledger", server.ToolSpendHistory, map[string]any{"limit": 5}},
	}
	for _, call := range calls {
		if call.name == "solana_weather" && d.solana == nil {
			continue
		}
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = call.name, call.args
		argJSON := []byte("{}")
		if call.args != nil {
			if argJSON, err = json.Marshal(call.args); err != nil {
				return fmt.Errorf("demo: arguments of %s: %w", call.name, err)
			}
		}
		fmt.Fprintf(out, "\n→ tools/call %s %s   # %s\n", call.name, argJSON, call.note)
		res, err := cli.CallTool(ctx, req)
		if err != nil {
			return fmt.Errorf("demo: tools/call %s: %w", call.name, err)
		}
		printResult(out, res)
	}

	tipped := fac.Balance(demoAuthor)
	tips := 0
	for _, st := range fac.Settlements() {
		if st.To == demoAuthor {
			tips++
		}
	}
	fmt.Fprintf(out, "\nOn the seller's side: %s settled, %s received; the author was tipped %s; the wallet holds %s test USDC%s.\n",
		plural.Count(fac.SettledCount()-tips, "payment", "payments"), fac.Balance(seller.PayTo()).USDC(), tipped.USDC(), fac.Balance(key.Address()), d.where)
	if sf := d.solana; sf != nil {
		fmt.Fprintf(out, "On Solana devnet: %s settled, %s received by %s; the wallet holds %s test USDC (in the facilitator's memory).\n",
			plural.Count(sf.SettledCount(), "payment", "payments"), sf.Balance(demoSolanaPayee).USDC(), demoSolanaPayee, sf.Balance(solKey.Payer()))
	}
	fmt.Fprintf(out, "Next: `x402-mcp check` to read the catalog, README.md to attach x402-mcp to your agent host.\n")

	// The session is over and its transcript printed: closing it has
	// nothing left to report.
	_ = cli.Close()
	_ = c2sW.Close()
	cancel()
	if err := <-serveErr; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.ErrClosedPipe) {
		log.Warn("demo: stdio server", "err", err)
	}
	return nil
}

// demoSetup is what a demo runs against: a seller on loopback whose
// facilitator holds the wallet's test USDC, and the catalog for it.
type demoSetup struct {
	seller       *localseller.Running
	registryName string
	registry     []byte
	money        string // how money moves, for the transcript's header
	where        string // where balances are kept, for its footer
	tipAsset     string // the tipping section's network and asset lines ("" for the only network's USDC)
	// solana, when set, is the seller's in-memory Solana: the catalog
	// allows Solana devnet, reads it at ${X402_SELLER_URL}/solana/rpc and
	// has a Solana-priced tool, solana_weather.
	solana *localseller.SolanaFacilitator
	close  func() error
}

// memoryDemo: the built-in catalog and facilitators that keep balances in
// memory: Base Sepolia test USDC, and Solana devnet test USDC beside it
// (with the catalog allowing Solana devnet for one tool, solana_weather).
func memoryDemo(_ context.Context, wallet common.Address, solWallet string) (*demoSetup, error) {
	sol := localseller.NewSolanaFacilitator(localseller.SolanaFacilitatorConfig{})
	running, err := localseller.Start(localseller.Config{Solana: &localseller.SolanaConfig{PayTo: demoSolanaPayee, Facilitator: sol}})
	if err != nil {
		return nil, err
	}
	running.Facilitator.Fund(wallet, demoFunding)
	sol.Fund(solWallet, demoFunding)
	reg, err := withSolana(x402mcp.DefaultRegistry)
	if err != nil {
		_ = running.Close() // err is the one to report
		return nil, err
	}
	return &demoSetup{seller: running, registryName: "registry.yaml (built-in example, with a Solana tool)", registry: reg,
		money: "Base Sepolia and Solana devnet test USDC, balances kept in memory by the facilitators (`demo --chain` settles on a real EVM)",
		where: " (in the facilitator's memory)", tipAsset: "  network: eip155:84532\n", solana: sol, close: running.Close}, nil
}

// withSolana adds Solana to the built-in catalog for the demo: Solana
// devnet allowed after Base Sepolia, its rpc endpoint at the local
// seller's /solana/rpc, and a tool paid on Solana (family: solana).
func withSolana(reg []byte) ([]byte, error) {
	src := string(reg)
	for _, edit := range []struct{ old, new string }{
		{"  networks: [eip155:84532]", "  networks: [eip155:84532, solana-devnet]"},
		{"rpc:\n  eip155:84532: https://sepolia.base.org\n", "rpc:\n  eip155:84532: https://sepolia.base.org\n  solana-devnet: ${X402_SELLER_URL}/solana/rpc\n"},
	} {
		if !strings.Contains(src, edit.old) {
			return nil, fmt.Errorf("the built-in registry.yaml no longer has %q: the demo cannot add Solana to it", edit.old)
		}
		src = strings.Replace(src, edit.old, edit.new, 1)
	}
	src = strings.TrimRight(src, "\n") + `

  - name: solana_weather
    description: Current weather for a city, paid in USDC on Solana devnet, from the local demo seller.
    url: ${X402_SELLER_URL}/v2/weather/{city}
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
    family: solana
    pay_to: "` + demoSolanaPayee + `"
`
	return []byte(src), nil
}

// chainDemo is set when the binary is built with -tags simchain (demo_chain.go).
var chainDemo func(ctx context.Context, wallet common.Address, solWallet string) (*demoSetup, error)

// demoUser is the demo's human: it prints the question x402-mcp asks and
// approves it.
type demoUser struct{ out io.Writer }

func (u demoUser) Elicit(_ context.Context, r mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	fmt.Fprintf(u.out, "    ? x402-mcp asks the user: %s\n", strings.ReplaceAll(r.Params.Message, "\n", "\n      "))
	fmt.Fprintf(u.out, "    ✓ the user approves\n")
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionAccept, Content: map[string]any{"approve": true}}}, nil
}

func printResult(out io.Writer, res *mcp.CallToolResult) {
	prefix := "    "
	if res.IsError {
		prefix = "    ✗ "
	}
	for _, c := range res.Content {
		switch c := c.(type) {
		case mcp.TextContent:
			fmt.Fprintf(out, "%s%s\n", prefix, strings.ReplaceAll(clip(c.Text, 600), "\n", "\n      "))
		case mcp.ImageContent:
			fmt.Fprintf(out, "%s[image %s]\n", prefix, c.MIMEType)
		}
	}
	if res.Meta != nil {
		for _, k := range []string{"x402/payment-response", "x402/error"} {
			if v, ok := res.Meta.AdditionalFields[k]; ok {
				b, err := json.Marshal(v)
				if err != nil {
					// Decoded from the server's JSON, so this does not
					// happen; say so rather than print nothing.
					b = []byte(fmt.Sprintf("(not shown: %v)", err))
				}
				fmt.Fprintf(out, "    _meta[%q] = %s\n", k, b)
			}
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return clip(s, 70)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
