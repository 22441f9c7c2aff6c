// Package payments is x402-mcp's paying core: it answers x402 payment
// challenges (v1 and v2) under the operator's Policy and the Ledger's
// budgets, through the schemes of the network families it is given, and
// says of every call whether money moved. It knows no chain: a network
// family (payments/evm, payments/svm) implements Family and Scheme in its
// own package, and the command wires the families in (Families for the
// catalog, Schemes for the Client and reconciliation, the wallet's
// Signers). It knows nothing of MCP either: package server asks the human
// through the Approver it is given. The wire format is payments/x402.
//
// # Money
//
//   - An Amount is an integer count of atomic units of one asset (1 USDC =
//     1,000,000). Decimal strings from people are parsed exactly
//     (ParseAmount, Currency.Parse: "0.01" USDC is 10000); amounts on the
//     wire are atomic decimal strings (ParseAtomic). No amount is ever a
//     float. USDC's budgets and caps count USDC only; a declared asset is
//     counted by its own budgets, in its own units (Currency).
//   - A payment is an option of the 402 that a configured Scheme judges
//     payable (Scheme.Judge: the scheme, the network's family, the
//     family's `extra`, the payee and asset in the family's address forms),
//     on a network in Policy.Networks, of a family the wallet holds a key
//     of, in the USDC the family knows there (Family.KnownUSDC) or in an
//     asset the operator declared and the entry pins (Limit.Asset and
//     Currency). Pins on the payee, network and asset, compared in the
//     family's canonical form, refuse any other. The price must be at most
//     min(the entry's max_price, the per-call cap: Policy.PerCall, else
//     DefaultPerCall); for a tip, at most tipping.max_tip. With
//     Limit.ExactAmount (an amount_from argument) only an option asking
//     exactly that amount is paid. Of the payable options the cheapest is
//     paid; ties go to the scheme's preferred flow (Terms.Rank), then to
//     the seller's order.
//
// # One paid call (Client.Do, Client.Authorize)
//
//  1. The unpaid request is sent; any answer but 402 is returned, not
//     charged. (The warm path skips this step: see below.)
//  2. The 402 is parsed (x402.ParseChallenge) and judged; nothing payable
//     is a refusal (*Error, NotCharged) naming the most actionable reason.
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
//  5. The scheme reads from the chain what signing needs (Scheme.Prepare;
//     a refusal there, such as insufficient funds, releases the
//     reservation: not charged), then signs once (Scheme.Sign), with the
//     wallet's key of the family, a payment valid for at most MaxValidity
//     (15 minutes; EVM: validBefore is now plus the seller's
//     maxTimeoutSeconds, 60 s when unset, 600 s in v1), and the ledger
//     records it as signed, with its Proof and the exact header value,
//     before the paid request leaves. A ledger that can (SigningLedger)
//     reserves and records in one step when no approval is needed and the
//     key is in the process (InProcessSigner); a signer elsewhere (clef, a
//     KMS) is asked with the payment reserved, outside the ledger's lock.
//     A signer that refuses (its rules, a human, a key policy) or cannot
//     be asked returns a SignerError: the reservation is released, not
//     charged (CodeSignerRefused, CodeSignerFailed).
//  6. The paid request is sent. A transport error resends the same header
//     (PaidRetries, default 2): a signed payment settles at most once. The
//     HTTP client x402-mcp uses (NewHTTPClient) never follows a redirect.
//  7. The outcome is recorded, as below.
//
// # Outcomes of a paid request
//
//   - A settlement receipt that succeeded (or says settlement_pending):
//     settled, Charged, with the receipt. Receipt.Line says "Paid" only
//     for one that succeeded: of a pending one, that it was sent and its
//     settlement is pending; for any other state, what is known.
//   - A 2xx with no receipt: Charged (the answer was delivered), booked
//     unknown until reconciled. A 2xx whose receipt reports a failure:
//     unknown, ChargeUnknown.
//   - A 412, or a 402 saying permit2_allowance_required: the seller refused
//     it for want of the wallet's allowance to Permit2. A clear refusal
//     (CodeAllowanceRequired, ChargeUnknown: the seller holds the signed
//     payment, which it could settle once approved, so it stays counted
//     until reconciliation proves it unused), naming the command that
//     approves; never retried, nothing signed again.
//   - A 402 to the first send of the paid request: rejected, ChargeUnknown
//     (CodePaymentRejected). The seller holds the signed payment and may
//     still settle it, so the call is not "not charged": the model is told
//     the seller refused it and reported no settlement, that it stays
//     counted until reconciliation proves it unused, and not to retry
//     blindly. Nothing is signed again for the call.
//   - A 402 after a resend, or one that says the payment was already used:
//     unknown (it may have settled).
//   - Any other status without a receipt, or no answer at all: unknown,
//     ChargeUnknown; the model is told not to retry blindly, and that no
//     answer came back (never that the upstream could not be reached).
//   - An unknown outcome is asked about on chain at once, within the call,
//     through the payment's scheme (Scheme.Prove, on the network's rpc
//     endpoint; for at most ProveWithin, never past the call's context): a
//     payment the chain shows used is recorded settled, with its
//     transaction, and the call answers Charged.
//
// # Counting
//
// A payment counts against every budget it touches from the moment it is
// reserved. Reserved, signed, settled, unknown and rejected payments count;
// a released one does not. Once a signed payment has left the process it
// counts until a ledger's reconciliation proves its fate from the chain,
// through its scheme and the Proof the ledger kept: used (settled), or
// unusable forever (released; EVM: its nonce unused at a block past its
// validBefore). A seller's refusal and the clock prove nothing. Only three
// things release: a reservation that was never signed (declined, refused or
// failed before signing, or abandoned), a signed payment that provably
// never left the process (Ledger.ReleaseUnsent: a tip whose facilitator
// request could not even be sent), and reconciliation with proof from the
// chain. No payment is ever released on the clock alone.
//
// A usage-priced payment (the upto scheme, Terms.UpTo) signs a maximum and
// the seller settles what the call used. Every cap, budget and approval
// threshold judges the maximum, and the ledger reserves all of it. A
// settlement of some amount, up to the maximum, books that amount and gives
// the rest back at once (the settlement used the payment's single-use
// nonce, so the rest can never be taken; Receipt.Maximum and Amount show
// both). A settlement of nothing leaves the signed maximum usable until its
// deadline: it stays counted until reconciliation proves it expired
// unused. A settlement reported above the maximum is the seller's fault
// (Receipt.SellerFault): counted at the maximum until reconciliation books
// the transfer it finds on chain.
//
// # At most one payment per call
//
// Each call signs at most once. The ledger holds at most one payment per
// call id (Reservation.CallID, ErrDuplicateCall). The one exception is the
// warm path (Warm, on when Client.Warm is set and the call has a
// Limit.WarmKey): a call whose entry's terms the seller accepted within the
// TTL (60 s, at most the seller's maxTimeoutSeconds, and never past when
// the payment that proved them expires) pays them at once, in one round
// trip; terms that went stale meanwhile (Refusal.Stale: a Solana seller's
// blockhash expired) are not signed, and the call asks the seller again.
// When the seller refuses a warm payment with different terms, the call
// pays the fresh terms as a second payment (call id +
// "-2"), the refused one stays counted until reconciliation proves it
// unused, and the entry stays cold for the cooldown (10 minutes) or until
// that payment expires, whichever is later.
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
// The wallet's keys (package wallet: the OS keychain, clef, an AWS KMS key,
// an encrypted keystore, a key file or a hex key in the environment) reach
// the core only as Signers, one per
// family, that sign for their family's scheme and never show the key; no
// key is ever written to logs, errors or results.
package payments
