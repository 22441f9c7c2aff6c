package localseller

import (
	"context"
	"fmt"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/evm"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Chain is an EVM chain with one EIP-3009 token that a Facilitator can
// settle on instead of its in-memory ledger. internal/simchain.Sim implements
// it (go-ethereum's simulated chain); this package does not import that one,
// so that sellers without a chain stay light.
type Chain interface {
	// Domain is the token's EIP-712 domain: name, version, chain id and the
	// token's address (verifyingContract).
	Domain() evm.Domain
	// Balance returns addr's token balance.
	Balance(ctx context.Context, addr common.Address) (payments.Amount, error)
	// Mint creates amt tokens for to.
	Mint(ctx context.Context, to common.Address, amt payments.Amount) error
	// AuthorizationUsed is the token's authorizationState(payer, nonce).
	AuthorizationUsed(ctx context.Context, network payments.Network, asset, payer common.Address, nonce [32]byte) (bool, error)
	// TransferWithAuthorization sends transferWithAuthorization and waits for
	// it to be mined. It returns the transaction hash and a nil error only
	// when the transfer succeeded; on error the hash is that of a reverted
	// transaction, or zero when none was sent.
	TransferWithAuthorization(ctx context.Context, a evm.Authorization, sig []byte) (common.Hash, error)
}

// ReasonTransactionFailed is the reason code of a settlement whose on-chain
// transaction failed (x402-protocol.md §6).
const ReasonTransactionFailed = "invalid_exact_evm_transaction_failed"

// chainTimeout bounds the chain calls of Fund, Balance and NonceUsed, which
// take no context.
const chainTimeout = 30 * time.Second

// Chain returns the chain the facilitator settles on, nil for the in-memory
// ledger.
func (f *Facilitator) Chain() Chain { return f.chain }

// checkChainState is checkStateLocked on chain: the nonce must be unused and
// the balance must cover the value. A chain that cannot be read gives
// reason.
func (f *Facilitator) checkChainState(ctx context.Context, c checked, reason string) *rejection {
	payer := c.auth.From.Hex()
	used, err := f.chain.AuthorizationUsed(ctx, f.network, f.asset, c.auth.From, c.auth.Nonce)
	if err != nil {
		return &rejection{reason: reason, message: "read authorizationState: " + err.Error(), payer: payer}
	}
	if used {
		return &rejection{reason: ReasonNonceUsed, message: "this authorization nonce has already been used by " + payer, payer: payer}
	}
	bal, err := f.chain.Balance(ctx, c.auth.From)
	if err != nil {
		return &rejection{reason: reason, message: "read balance: " + err.Error(), payer: payer}
	}
	if bal < c.value {
		return &rejection{reason: ReasonInsufficientBalance,
			message: fmt.Sprintf("%s holds %s, the payment needs %s", payer, bal.USDC(), c.value.USDC()), payer: payer}
	}
	return nil
}

// settleOnChain checks the chain's state and sends the transfer. Settles
// through one facilitator run one at a time, so that the checks describe
// the state the transfer meets.
func (f *Facilitator) settleOnChain(ctx context.Context, c checked, sig []byte, network string) x402.SettlementResponse {
	a := c.auth
	fail := func(r *rejection) x402.SettlementResponse {
		return x402.SettlementResponse{Network: network, Payer: r.payer, ErrorReason: r.reason, ErrorMessage: r.message}
	}
	f.chainMu.Lock()
	defer f.chainMu.Unlock()
	if rej := f.checkChainState(ctx, c, ReasonUnexpectedSettleError); rej != nil {
		return fail(rej)
	}
	// The total after this payment, checked before anything is sent: on a
	// chain only settlements change it, and they hold chainMu.
	f.mu.Lock()
	total, rej := f.totalAfterLocked(c.value, a.From.Hex())
	f.mu.Unlock()
	if rej != nil {
		return fail(rej)
	}
	h, err := f.chain.TransferWithAuthorization(ctx, a, sig)
	if err != nil {
		// Name what the chain refused when the state says so: someone else
		// may have spent the nonce or the balance meanwhile.
		rej := f.checkChainState(context.WithoutCancel(ctx), c, ReasonTransactionFailed)
		if rej == nil || rej.reason == ReasonTransactionFailed {
			rej = &rejection{reason: ReasonTransactionFailed, message: "transferWithAuthorization failed: " + err.Error(), payer: a.From.Hex()}
		}
		sr := fail(rej)
		if h != (common.Hash{}) {
			sr.Transaction = h.Hex()
		}
		return sr
	}
	tx := h.Hex()
	f.mu.Lock()
	f.settled = append(f.settled, Settlement{
		Payer: a.From, To: a.To, Value: c.value, Nonce: a.Nonce, Transaction: tx, Network: network, At: f.now(),
	})
	f.total = total
	f.mu.Unlock()
	return x402.SettlementResponse{Success: true, Transaction: tx, Network: network, Payer: a.From.Hex(), Amount: c.value.Atomic()}
}

// chainCtx is the context of the chain calls behind methods that take none.
func chainCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), chainTimeout)
}
