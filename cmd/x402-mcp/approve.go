package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
	"github.com/x402-mcp/x402-mcp/tools"
)

// approveWait bounds the wait for the approval to be mined.
const approveWait = 3 * time.Minute

// cmdApprovePermit2 is `wallet approve-permit2`: it gives Permit2 an ERC-20
// allowance of the wallet's tokens, which Permit2 payments (exact and
// upto) need. It shows what it will do and asks (unless --yes), then sends
// approve(Permit2, amount) from the wallet, which pays the gas, through the
// catalog's rpc: endpoint of the network, and waits for it to be mined.
// The amount is what the operator gives, never unlimited.
func cmdApprovePermit2(ctx context.Context, e env, args []string) error {
	fs := newFlags("wallet approve-permit2", e)
	network := fs.String("network", "", "the network (CAIP-2 id or v1 name) the token is on; its rpc: endpoint in the registry sends the transaction")
	assetFlag := fs.String("asset", "", "the token: its address, or its symbol as assets: declares it (USDC for the USDC x402-mcp knows)")
	amountFlag := fs.String("amount", "", "the allowance, a decimal amount of the token (such as 5.00): the most Permit2 payments may take from the wallet until approved again")
	regPath := fs.String("registry", "", "the registry file (default $X402_REGISTRY, else the built-in example): its rpc: and assets:")
	yes := fs.Bool("yes", false, "send without asking")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *network == "" || *assetFlag == "" || *amountFlag == "" {
		return usageError{"wallet approve-permit2 needs --network, --asset and --amount: x402-mcp wallet approve-permit2 --network eip155:8453 --asset 0x… --amount 5.00"}
	}
	n, err := families.ParseNetwork(*network)
	if err != nil {
		return usageError{"--network: " + err.Error()}
	}
	if f := families.Family(n); f != nil {
		if _, ok := f.(evm.Family); !ok {
			return usageError{fmt.Sprintf("--network %s is a %s network: Permit2 is an EVM contract, and %s payments need no approval", *network, f.Title(), f.Title())}
		}
	}
	reg, err := loadRegistry(*regPath, e)
	if err != nil {
		return err
	}
	asset, cur, err := approvalAsset(reg, n, *assetFlag)
	if err != nil {
		return err
	}
	amount, err := cur.Parse(*amountFlag)
	if err != nil {
		return usageError{"--amount: " + err.Error()}
	}
	if amount == 0 {
		return usageError{"--amount 0 would take the allowance away: give the allowance Permit2 payments may use, such as 5.00"}
	}
	urls, err := reg.RPCURLs(e.getenv)
	raw := urls[n]
	if raw == "" {
		if err != nil {
			return fmt.Errorf("%s: %w", reg.Path, err)
		}
		return fmt.Errorf("%s has no rpc: endpoint for %s: add rpc: {%s: https://…} to send the approval through", reg.Path, n, n)
	}
	w, err := wallet.Load(ctx, e.getenv)
	if err != nil {
		return err
	}
	signer := w.EVM()
	if signer == nil {
		return wallet.ErrNoWallet
	}
	cl, err := evm.Dial(raw)
	if err != nil {
		return err
	}
	defer cl.Close()
	plan, err := evm.PlanApproval(ctx, cl, n, signer.Address(), asset, evm.Permit2Address, new(big.Int).SetUint64(uint64(amount)))
	if err != nil {
		return fmt.Errorf("%s via %s: %w", n, evm.RedactURL(raw), err)
	}
	fmt.Fprintf(e.stdout, "approve-permit2 on %s (%s) through %s:\n", n, families.NetworkName(n), evm.RedactURL(raw))
	fmt.Fprintf(e.stdout, "  token:     %s %s\n", cur.Symbol, asset.Hex())
	fmt.Fprintf(e.stdout, "  owner:     %s (the wallet; it signs and pays the gas; the key lives in %s)\n", plan.Owner.Hex(), keySource(w, signer))
	fmt.Fprintf(e.stdout, "  spender:   Permit2 %s\n", evm.Permit2Address.Hex())
	fmt.Fprintf(e.stdout, "  allowance: %s now, %s after (%s atomic units)\n", atomicIn(cur, plan.Current), cur.Format(amount), amount.Atomic())
	fmt.Fprintf(e.stdout, "  gas:       at most %s wei (%d gas at %s wei), from a balance of %s wei\n", plan.MaxFee, plan.Tx.Gas, plan.Tx.FeeCap, plan.Balance)
	if plan.Current.Cmp(plan.Amount) == 0 {
		fmt.Fprintln(e.stdout, "Permit2's allowance is already that: nothing to send.")
		return nil
	}
	if plan.Balance.Cmp(plan.MaxFee) < 0 {
		return fmt.Errorf("the wallet %s holds %s wei, less than the %s wei the approval's gas may cost: fund it with the network's native currency first", plan.Owner.Hex(), plan.Balance, plan.MaxFee)
	}
	if !*yes {
		fmt.Fprint(e.stdout, "Send it? [y/N] ")
		// No answer at all (EOF) is no; a failure to read is said.
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("approval not sent: cannot read the answer: %w", err)
		}
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			fmt.Fprintln(e.stdout, "nothing sent")
			return errors.New("approval not sent: answer y to send it, or pass --yes")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, approveWait)
	defer cancel()
	h, err := plan.Send(ctx, cl, signer)
	if err != nil {
		return fmt.Errorf("%s via %s: %w", n, evm.RedactURL(raw), err)
	}
	fmt.Fprintf(e.stdout, "approved: transaction %s; Permit2 may now move up to %s of the wallet's %s on %s\n", h.Hex(), cur.Format(amount), cur.Symbol, n)
	return nil
}

// approvalAsset finds the token on n that --asset names: a declared asset
// (by symbol or address), or the USDC x402-mcp knows there.
func approvalAsset(reg *tools.Registry, n payments.Network, s string) (common.Address, payments.Currency, error) {
	for _, a := range reg.Assets {
		if a.Network == n && (strings.EqualFold(a.Symbol, s) || common.IsHexAddress(s) && common.HexToAddress(s).Hex() == a.Address) {
			if !a.Resolved {
				return common.Address{}, payments.Currency{}, fmt.Errorf("%s's decimals are read from the chain when serve starts: declare decimals: under %s to approve it here", a.Symbol, a.Setting)
			}
			return common.HexToAddress(a.Address), a.Currency(), nil
		}
	}
	if u, ok := families.KnownUSDC(n); ok && (strings.EqualFold(s, "USDC") || common.IsHexAddress(s) && common.HexToAddress(s).Hex() == u.Address) {
		return common.HexToAddress(u.Address), payments.USDC, nil
	}
	return common.Address{}, payments.Currency{}, fmt.Errorf("--asset %s is neither the USDC x402-mcp knows on %s nor declared under assets: in %s: declare it (symbol, decimals) to approve it", payments.Sanitize(s, 80), n, reg.Path)
}

// atomicIn formats an allowance in cur, or in atomic units when it does not
// fit an Amount (an unlimited one).
func atomicIn(cur payments.Currency, v *big.Int) string {
	if v.IsUint64() {
		return cur.Format(payments.Amount(v.Uint64()))
	}
	return v.String() + " atomic units"
}

// keySource says where the wallet's key s lives (wallet show's words).
func keySource(w *wallet.Wallet, s evm.Signer) wallet.Source {
	for _, k := range w.Keys() {
		if k.Signer == s {
			return k.Source
		}
	}
	return wallet.Source{Kind: "an unknown place"}
}
