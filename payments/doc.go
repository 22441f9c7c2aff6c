// Package payments is x402-mcp's paying core: it answers x402 payment
// challenges (v1 and v2) with EIP-3009 authorizations signed by the wallet,
// under the operator's Policy and the Ledger's budgets, and says of every
// call whether money moved. It knows nothing of MCP: package server asks the
// human through the Approver it is given.
//
// # Money
//
//   - An Amount is an integer count of atomic units of a 6-decimal USD
//     stablecoin (1 USDC = 1,000,000). Decimal strings from people are parsed
//     exactly (ParseAmount: "0.01" is 10000); amounts on the wire are atomic
//     decimal strings (ParseAtomic). No amount is ever a float. Budgets,
//     caps and the ledger count in these units, whatever the asset.
//   - A payment is the exact scheme with an EIP-3009 authorization
//     (assetTransferMethod unset or eip3009), on a network in
//     Policy.Networks, in the USDC that KnownUSDC names for that network, or
//     in the asset the entry pins (Limit.Asset). Pins on the payee, network
//     and asset refuse any other. The price must be at most min(the entry's
//     max_price, the per-call cap: Policy.PerCall, else DefaultPerCall); for
//     a tip, at most tipping.max_tip. With Limit.ExactAmount (an amount_from
//     argument) only an accept asking exactly that amount is paid. Of the
//     payable accepts the cheapest is paid; ties go to the authorization
//     flow, then to the seller's order.
//
// # One paid call (Client.Do, Client.Authorize)
//
//  1. The unpaid request is sent; any answer but 402 is returned, not
//     charged. (The warm path skips this step: see below.)
//  2. The 402 is parsed (ParseChallenge) and judged; nothing payable is a
//     refusal (*Error, NotCharged) naming the most actionable reason.
//  3. The amount is reserved: Ledger.Reserve checks every budget and holds
//     the amount in one atomic step (Budget.Check, in the order tool, host,
//     session, the call's principal's per-tool, per-day and total budgets,
//     network, day, total; a tip checks tipping.per_day first and skips the
//     tool and host budgets). Over any budget: CodeOverBudget, not charged,
//     naming the budget, its count, its limit and when it resets. The
//     reservation names its principal (WithPrincipal, else
//     Client.Principal), and the ledger books the payment to it.
//  4. Above the approval threshold (Limit.ApproveAbove, else
//     Policy.ApproveAbove; for a tip, unless auto-approved) the Approver asks
//     the human. A refusal, or no way to ask, releases the reservation: not
//     charged.
//  5. One authorization is signed (a random 32-byte nonce; validBefore is now
//     plus the seller's maxTimeoutSeconds, 60 s when unset (600 s in v1),
//     and never more than 15 minutes) and recorded as signed, with the exact
//     header value, before the paid request leaves. A ledger that can
//     (SigningLedger) reserves and records in one step when no approval is
//     needed.
//  6. The paid request is sent. A transport error resends the same header
//     (PaidRetries, default 2): the single-use nonce cannot settle twice.
//     The HTTP client x402-mcp uses (NewHTTPClient) never follows a
//     redirect.
//  7. The outcome is recorded, as below.
//
// # Outcomes of a paid request
//
//   - A settlement receipt that succeeded (or says settlement_pending):
//     settled, Charged, with the receipt. Receipt.Line says "Paid" for
//     these only; for any other state it says what is known.
//   - A 2xx with no receipt: Charged (the answer was delivered), booked
//     unknown until reconciled. A 2xx whose receipt reports a failure:
//     unknown, ChargeUnknown.
//   - A 402 to the first send of the paid request: rejected, ChargeUnknown
//     (CodePaymentRejected). The seller holds the signed authorization and
//     may still settle it, so the call is not "not charged": the model is
//     told the seller refused it and reported no settlement, that it stays
//     counted until reconciliation proves it unused, and not to retry
//     blindly. Nothing is signed again for the call.
//   - A 402 after a resend, or one that says the nonce was already used:
//     unknown (it may have settled).
//   - Any other status without a receipt, or no answer at all: unknown,
//     ChargeUnknown; the model is told not to retry blindly, and that no
//     answer came back (never that the upstream could not be reached).
//   - With Client.Chain set (a ChainChecker on the network's rpc endpoint),
//     an unknown outcome is asked about on chain at once, within the call
//     (for at most ProveWithin, never past the call's context): an
//     authorization the chain shows used is recorded settled, with its
//     transaction, and the call answers Charged.
//
// # Counting
//
// A payment counts against every budget it touches from the moment it is
// reserved. Reserved, signed, settled, unknown and rejected payments count;
// a released one does not. Once an authorization has left the process it
// counts until a ledger's reconciliation proves, from the chain, that its
// nonce is used (settled) or unused at a block past its validBefore
// (released); a seller's refusal and the clock prove nothing. Only three
// things release: a reservation that was never signed (declined, failed to
// sign, or abandoned), a signed authorization that provably never left the
// process (Ledger.ReleaseUnsent: a tip whose facilitator request could not
// even be sent), and reconciliation with proof from the chain. No payment
// is ever released on the clock alone.
//
// # At most one payment per call
//
// Each call signs at most once. The ledger holds at most one payment per
// call id (Reservation.CallID, ErrDuplicateCall). The one exception is the
// warm path (Warm, on when Client.Warm is set and the call has a
// Limit.WarmKey): a call whose entry's terms the seller accepted within the
// TTL (60 s, and at most the seller's maxTimeoutSeconds) pays them at once,
// in one round trip; when the seller refuses that
// payment with different terms, the call pays the fresh terms as a second
// payment (call id + "-2"), the refused one stays counted until
// reconciliation proves it unused, and the entry
// stays cold for the cooldown (10 minutes) or until that authorization
// expires, whichever is later.
//
// # Errors
//
// Every refusal or failure is an *Error: a stable Code, a Message that is
// safe to show (it never holds key material or an expanded secret) and says
// what happened, the amounts and what to change, and Charged (NotCharged,
// Charged or ChargeUnknown). A bug is CodeInternal, logged, and shown only
// as "internal error". Quote asks a seller's terms and judges them without
// signing anything.
//
// # Keys
//
// The Wallet holds the secp256k1 key (LoadWallet: a hex key, a key file or
// an encrypted keystore from the environment) and only signs; the key is
// never written to logs, errors or results.
package payments
