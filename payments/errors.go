package payments

import (
	"errors"
	"fmt"
)

// Charge says whether money moved. Every error the model sees carries one.
type Charge string

// The outcomes a paid call can have, as the model is told them.
const (
	// NotCharged: refused before signing, or the signed authorization
	// provably never left x402-mcp.
	NotCharged Charge = "not charged"
	// Charged: the payment settled (the receipt says where).
	Charged Charge = "charged"
	// ChargeUnknown: a signed payment left and no clear answer came back, or
	// the seller refused it without reporting a settlement. It may have
	// settled; it stays counted against the budget until proven unused.
	ChargeUnknown Charge = "unknown"
)

// Code is a stable, machine-readable reason for a payment error.
type Code string

// Error codes. They are part of the tool-result contract: do not rename.
const (
	CodeOverBudget        Code = "over_budget"              // a budget has too little left
	CodePriceAboveCap     Code = "price_above_cap"          // the price is above max_price or the per-call cap
	CodePriceMismatch     Code = "price_mismatch"           // the seller asks another amount than the call's amount argument
	CodeNotAllowed        Code = "not_allowed"              // payee, network or asset not allowed or not pinned
	CodeUnsupported       Code = "unsupported_requirements" // no accept we can pay (scheme, network, asset)
	CodeBadChallenge      Code = "bad_challenge"            // a malformed 402
	CodePaymentRejected   Code = "payment_rejected"         // the seller refused the signed payment
	CodeOutcomeUnknown    Code = "outcome_unknown"          // the payment may or may not have settled
	CodeUpstreamFailed    Code = "upstream_failed"          // the upstream failed (before or after payment)
	CodeUpstreamTimeout   Code = "upstream_timeout"         // the upstream did not answer in time
	CodeApprovalRequired  Code = "approval_required"        // a human must approve and could not be asked
	CodeApprovalDeclined  Code = "approval_declined"        // the human declined the payment
	CodeCancelled         Code = "cancelled"                // the call was cancelled before anything was signed
	CodeInternal          Code = "internal"                 // a bug; details are in the log only
	CodeUnknownRecipient  Code = "unknown_recipient"        // a tip's recipient is neither an address nor in the address book
	CodeInvalidTip        Code = "invalid_tip"              // a tip's amount or note is not acceptable
	CodeInsufficientFunds Code = "insufficient_funds"       // the wallet holds less than the price (checked before signing where the family can)
	CodeAllowanceRequired Code = "allowance_required"       // the wallet must first approve a spender of the asset (EVM: Permit2)
	CodeSellerFault       Code = "seller_fault"             // the seller reported what its payment cannot have done (settled above the maximum)
	CodeSignerRefused     Code = "signer_refused"           // the wallet's signer (its rules, a human, a key policy) refused to sign
	CodeSignerFailed      Code = "signer_unavailable"       // the wallet's signer could not be asked (unreachable, misconfigured)
)

// Error is a payment failure that is safe to show to the model and the user.
// Message never contains key material; it names what happened, the amounts
// involved and what to change.
type Error struct {
	Code    Code
	Message string
	Charged Charge
	// Receipt is set when money moved (or may have) despite the error.
	Receipt *Receipt
	// Over details a CodeOverBudget refusal: which budget, how much.
	Over *OverBudget
	// Err is the underlying cause, for logs. It is not shown to the model.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%s): %s", e.Code, e.Charged, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns the *Error inside err, if any.
func AsError(err error) (*Error, bool) {
	var pe *Error
	ok := errors.As(err, &pe)
	return pe, ok
}

// NonceUsed says a seller's or facilitator's reason reports a signed
// authorization as already used (nonce_already_used, duplicate_settlement):
// it settled, through this call or a replay of it, so a refusal with such a
// reason is an unknown outcome, not a refusal.
func NonceUsed(reason string) bool { return nonceUsed(reason) }
