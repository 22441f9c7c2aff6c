package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/payments"
)

// cmdSeller runs the local x402 seller, for trying an agent host by hand
// without real money.
func cmdSeller(ctx context.Context, e env, args []string) error {
	fs := newFlags("seller", e)
	addr := fs.String("addr", "127.0.0.1:4021", "listen address (loopback unless you mean otherwise)")
	fund := fs.String("fund", "", "comma-separated addresses to fund with test USDC (default: the configured wallet, if any)")
	amount := fs.String("amount", "100", "test USDC given to each funded address")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	amt, err := payments.ParseAmount(*amount)
	if err != nil {
		return usageError{"--amount: " + err.Error()}
	}
	seller := localseller.New(localseller.Config{})
	var funded []string
	if *fund != "" {
		for _, a := range strings.Split(*fund, ",") {
			a = strings.TrimSpace(a)
			if !common.IsHexAddress(a) {
				return usageError{fmt.Sprintf("--fund: %q is not an address", a)}
			}
			funded = append(funded, a)
		}
	} else if w, err := wallet.Load(ctx, e.getenv); err == nil && w.EVM() != nil {
		funded = append(funded, w.EVM().Address().Hex())
	}
	for _, a := range funded {
		seller.Facilitator().Fund(common.HexToAddress(a), amt)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("seller: listen on %s: %w", *addr, err)
	}
	hs := &http.Server{Handler: seller.Handler(), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(e.stderr, "x402-mcp local seller on http://%s (payee %s, network %s)\nfunded with %s each: %s\nroutes: /v2/weather/{city}, POST /v2/summarize, /v1/quote?symbol=, /v2/text, /v2/image, /v2/idempotent, /v2/misbehave/{mode}, /free/ping\n",
		ln.Addr(), seller.PayTo().Hex(), seller.Facilitator().Network(), amt.USDC(), strings.Join(funded, ", "))
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Serve returns as Shutdown starts; connections still open when
		// it gives up end with the process.
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
