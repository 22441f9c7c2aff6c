package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/internal/simchain"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// TestRemoteUnknownAnsweredByTheChain: a remote MCP server settles the
// payment on chain (a real transferWithAuthorization on the simulated
// chain), then answers the paid call with a JSON-RPC error. With an rpc
// endpoint the call asks the chain at once: the result says the server
// answered with an error and the payment settled (charged, nothing
// delivered, with the transaction), never "may have settled" nor "Charged
// and delivered".
func TestRemoteUnknownAnsweredByTheChain(t *testing.T) {
	ctx := context.Background()
	sim, err := simchain.Start(ctx, simchain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("close sim: %v", err)
		}
	})
	w, err := wallet.GenerateEVMKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Mint(ctx, w.Address(), 1_000_000); err != nil {
		t.Fatal(err)
	}
	payTo := common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
	dom := sim.Domain()
	extra, _ := json.Marshal(evm.Extra{Name: dom.Name, Version: dom.Version})
	challenge, _ := json.Marshal(map[string]any{"x402Version": 2, "resource": map[string]any{"url": "mcp://tool/job"},
		"accepts": []any{map[string]any{"scheme": "exact", "network": string(simchain.Network), "amount": "1000",
			"asset": sim.Token().Hex(), "payTo": payTo.Hex(), "maxTimeoutSeconds": 60, "extra": json.RawMessage(extra)}}})
	var settledTx string
	s := mcpserver.NewMCPServer("settles-then-fails", "1")
	s.AddTool(mcp.NewTool("job", mcp.WithDescription("A job.")), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if req.Params.Meta == nil || req.Params.Meta.AdditionalFields[MetaPayment] == nil {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{mcp.NewTextContent(string(challenge))}}, nil
		}
		raw, _ := json.Marshal(req.Params.Meta.AdditionalFields[MetaPayment])
		var p x402.PaymentPayload
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		a, err := evm.ParseAuthorization(evm.MustPayload(p.Payload).Authorization)
		if err != nil {
			return nil, fmt.Errorf("authorization: %w", err)
		}
		sig, err := hexutil.Decode(evm.MustPayload(p.Payload).Signature)
		if err != nil {
			return nil, fmt.Errorf("signature: %w", err)
		}
		tx, err := sim.TransferWithAuthorization(ctx, a, sig)
		if err != nil {
			return nil, fmt.Errorf("settle: %w", err)
		}
		settledTx = tx.Hex()
		return nil, errors.New("the job crashed after the payment settled")
	})
	srv := httptest.NewServer(mcpserver.NewStreamableHTTPServer(s))
	t.Cleanup(srv.Close)

	reg, err := Parse("r.yaml", []byte(fmt.Sprintf(`version: 1
defaults:
  networks: [%[1]s]
rpc:
  %[1]s: %[2]s
assets:
  - {symbol: USDC, network: %[1]s, address: %[3]q, decimals: 6, budget: {total: "1"}}
tools:
  - name: remote
    kind: mcp
    url: %[4]q
    prefix: fk_
    max_price: "0.01"
    network: %[1]s
    asset: USDC
`, simchain.Network, sim.URL(), sim.Token().Hex(), srv.URL+"/mcp")), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	checker := evm.NewRPCChecker(map[payments.Network]string{simchain.Network: sim.URL()})
	t.Cleanup(checker.Close)
	c := &payments.Client{Schemes: payments.NewSchemes(evm.NewExact(checker)), Signers: payments.Signers{w}, Policy: reg.Policy(), Ledger: payments.NewMemoryLedger(reg.Policy().Budget, nil)}
	ts := BuildRemote(ctx, reg, c, nil, nil)
	if len(ts) != 1 {
		t.Fatalf("tools %+v", ts)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = "fk_job"
	res, _ := ts[0].Handler(ctx, req)
	txt := resultText(res)
	if settledTx == "" {
		t.Fatalf("the server did not settle: %s", txt)
	}
	xe, _ := meta(res)[MetaError].(map[string]any)
	rc, _ := meta(res)[MetaPaymentResponse].(map[string]any)
	if !res.IsError || meta(res)[MetaCharged] != string(payments.Charged) || xe["charged"] != string(payments.Charged) ||
		rc["transaction"] != settledTx || rc["state"] != string(payments.StateSettled) {
		t.Fatalf("result %s %v, want charged with the transaction %s", txt, meta(res), settledTx)
	}
	for _, want := range []string{"the job crashed after the payment settled", "settled on chain (transaction " + settledTx + ")", "nothing delivered", "Paid 0.001 USDC"} {
		if !strings.Contains(txt, want) {
			t.Errorf("the result does not say %q:\n%s", want, txt)
		}
	}
	for _, wrong := range []string{"may have settled", "Charged and delivered"} {
		if strings.Contains(txt, wrong) {
			t.Errorf("the result says %q:\n%s", wrong, txt)
		}
	}
}
