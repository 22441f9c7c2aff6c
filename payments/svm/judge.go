package svm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/gagliardetto/solana-go"
	"github.com/x402-mcp/x402-mcp/payments"
)

// Scheme is the one x402 scheme this package pays.
const Scheme = "exact"

// Name is this network family's name, as the ledger and the wallet's
// signers write it.
const Name = "svm"

// MaxMemoBytes is the longest extra.memo the reference client and
// facilitator accept (MAX_MEMO_BYTES in @x402/svm).
const MaxMemoBytes = 256

// Refusal codes of this family beyond the core's.
const (
	// CodeInsufficientFunds: the wallet's token account holds less than the
	// price (checked before signing: the facilitator would answer only a
	// bare simulation failure). It is the core's code.
	CodeInsufficientFunds = payments.CodeInsufficientFunds
	// CodeBlockhashExpired: the seller's extra.recentBlockhash is no longer
	// valid, so a transaction built on it could never land.
	CodeBlockhashExpired payments.Code = "blockhash_expired"
	// CodePayeeAccountMissing: payTo has no token account for the mint, so
	// the transfer could not land.
	CodePayeeAccountMissing payments.Code = "payee_account_missing"
)

// Requirement is one payment option of a 402 as the adapter read it from
// the wire (v1 or v2): the fields this family judges.
type Requirement struct {
	Scheme  string
	Network string // as written: a v1 name or a CAIP-2 id
	// Amount is the exact price in the asset's atomic units (v1
	// maxAmountRequired, v2 amount), already parsed by the core.
	Amount            payments.Amount
	PayTo             string
	Asset             string
	MaxTimeoutSeconds int
	// Extra is the option's extra object, verbatim.
	Extra json.RawMessage
}

// Want is what the operator allows for one call: the networks, a pinned
// payee, and the assets other than USDC that registry.yaml declares. USDC
// (KnownUSDC) is always allowed on an allowed network.
type Want struct {
	// Networks the policy allows; an option on another is refused.
	Networks []Network
	// PayTo, when set, is the only payee this call may pay (base58).
	PayTo string
	// Asset, when set, is the only mint this call may pay in (base58).
	Asset string
	// Assets are the declared mints beyond USDC, keyed by their base58
	// address, with how their amounts are written.
	Assets map[string]payments.Currency
}

// Terms is a judged option: everything Sign needs, in checked form.
type Terms struct {
	Network  Network
	Amount   payments.Amount
	PayTo    solana.PublicKey
	Asset    solana.PublicKey
	Currency payments.Currency // USDC, or the declared asset's
	FeePayer solana.PublicKey
	// Memo is extra.memo, or "" when the seller set none (Sign then writes
	// 16 random bytes as hex).
	Memo string
	// RecentBlockhash is extra.recentBlockhash when the seller gave one;
	// LastValidBlockHeight is extra.lastValidBlockHeight, 0 when absent.
	RecentBlockhash      *solana.Hash
	LastValidBlockHeight uint64
	MaxTimeoutSeconds    int
	// TokenProgram is extra.tokenProgram, the zero key when absent: a hint
	// that must agree with the mint's owner on chain.
	TokenProgram solana.PublicKey
}

// Refusal says why an option cannot be paid, or why a payment was refused
// before signing: a code of the core's (or this family's) and a message that
// is safe to show and names the fix. It is the core's refusal, so the paying
// flow reads it as "nothing was signed".
type Refusal = payments.Refusal

func refuse(code payments.Code, format string, a ...any) *Refusal {
	return &Refusal{Code: code, Message: fmt.Sprintf(format, a...)}
}

// svmExtra is the extra object of a Solana exact option. Unknown keys are
// ignored; the known ones are typed loosely so each gets its own message.
type svmExtra struct {
	FeePayer             json.RawMessage `json:"feePayer"`
	Memo                 json.RawMessage `json:"memo"`
	RecentBlockhash      json.RawMessage `json:"recentBlockhash"`
	LastValidBlockHeight json.RawMessage `json:"lastValidBlockHeight"`
	TokenProgram         json.RawMessage `json:"tokenProgram"`
}

// Judge checks one payment option against the operator's wants: scheme
// exact on a known, allowed Solana network; payTo and asset as base58
// addresses; the asset USDC or declared; the pins; a price above zero; and
// extra (feePayer required, memo bounded and printable, recentBlockhash and
// lastValidBlockHeight well formed). Addresses are compared as the 32 bytes
// they decode to.
func Judge(r Requirement, want Want) (*Terms, *Refusal) {
	if r.Scheme != Scheme {
		return nil, refuse(payments.CodeUnsupported, "scheme %q is not supported on Solana: x402-mcp pays %q", clip(r.Scheme), Scheme)
	}
	n, ok, err := ParseNetwork(r.Network)
	if !ok {
		return nil, refuse(payments.CodeUnsupported, "network %q is not a Solana network", clip(r.Network))
	}
	if err != nil {
		return nil, refuse(payments.CodeUnsupported, "%v", err)
	}
	allowed := false
	for _, a := range want.Networks {
		allowed = allowed || a == n
	}
	if !allowed {
		return nil, refuse(payments.CodeNotAllowed, "%s (%s) is not among the networks the policy allows: add it to the allowed networks to pay there", n.Name(), n)
	}
	t := &Terms{Network: n, Amount: r.Amount, MaxTimeoutSeconds: r.MaxTimeoutSeconds}
	if r.Amount == 0 {
		return nil, refuse(payments.CodeBadChallenge, "the seller asks 0 atomic units on %s: an exact payment must move at least one unit", n.Name())
	}
	if t.PayTo, err = ParseAddress("payTo", r.PayTo); err != nil {
		return nil, refuse(payments.CodeBadChallenge, "%v", err)
	}
	if t.Asset, err = ParseAddress("asset", r.Asset); err != nil {
		return nil, refuse(payments.CodeBadChallenge, "%v", err)
	}
	if usdc, _ := KnownUSDC(n); t.Asset == usdc {
		t.Currency = payments.USDC
	} else if c, ok := declared(want.Assets, t.Asset); ok {
		t.Currency = c
	} else {
		return nil, refuse(payments.CodeUnsupported, "asset %s on %s is not USDC (%s) and registry.yaml does not declare it: declare it under assets: to pay in it", t.Asset, n.Name(), usdc)
	}
	if want.PayTo != "" {
		pin, err := ParseAddress("the pinned payee", want.PayTo)
		if err != nil {
			return nil, refuse(payments.CodeNotAllowed, "%v: fix the pin in registry.yaml", err)
		}
		if pin != t.PayTo {
			return nil, refuse(payments.CodeNotAllowed, "the seller asks to be paid at %s but the catalog pins %s: refusing to pay another payee", t.PayTo, pin)
		}
	}
	if want.Asset != "" {
		pin, err := ParseAddress("the pinned asset", want.Asset)
		if err != nil {
			return nil, refuse(payments.CodeNotAllowed, "%v: fix the pin in registry.yaml", err)
		}
		if pin != t.Asset {
			return nil, refuse(payments.CodeNotAllowed, "the seller asks for mint %s but the catalog pins %s", t.Asset, pin)
		}
	}
	if ref := judgeExtra(r.Extra, t); ref != nil {
		return nil, ref
	}
	return t, nil
}

// declared finds mint among the declared assets, whose keys are base58 and
// compared as decoded bytes.
func declared(assets map[string]payments.Currency, mint solana.PublicKey) (payments.Currency, bool) {
	if c, ok := assets[mint.String()]; ok {
		return c, true
	}
	for k, c := range assets {
		if pk, err := solana.PublicKeyFromBase58(k); err == nil && pk == mint {
			return c, true
		}
	}
	return payments.Currency{}, false
}

// judgeExtra reads extra into t.
func judgeExtra(raw json.RawMessage, t *Terms) *Refusal {
	var x svmExtra
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return refuse(payments.CodeBadChallenge, "the option has no extra.feePayer: a Solana exact option must name the facilitator's fee payer")
	}
	if err := json.Unmarshal(raw, &x); err != nil {
		return refuse(payments.CodeBadChallenge, "the option's extra is not a JSON object (%v)", err)
	}
	fp, ok := jsonString(x.FeePayer)
	if !ok || fp == "" {
		return refuse(payments.CodeBadChallenge, "the option has no extra.feePayer (a base58 address): a Solana exact option must name the facilitator's fee payer")
	}
	var err error
	if t.FeePayer, err = ParseAddress("extra.feePayer", fp); err != nil {
		return refuse(payments.CodeBadChallenge, "%v", err)
	}
	if len(x.Memo) > 0 && string(x.Memo) != "null" {
		m, ok := jsonString(x.Memo)
		if !ok {
			return refuse(payments.CodeBadChallenge, "extra.memo is not a string")
		}
		if len(m) > MaxMemoBytes {
			return refuse(payments.CodeBadChallenge, "extra.memo is %d bytes: the most a memo may be is %d", len(m), MaxMemoBytes)
		}
		if !utf8.ValidString(m) {
			return refuse(payments.CodeBadChallenge, "extra.memo is not valid UTF-8 (the Memo program refuses it)")
		}
		for _, c := range m {
			if !unicode.IsPrint(c) {
				return refuse(payments.CodeBadChallenge, "extra.memo holds a control or non-printable character (%U): a memo must be printable text", c)
			}
		}
		t.Memo = m
	}
	if len(x.RecentBlockhash) > 0 && string(x.RecentBlockhash) != "null" {
		s, ok := jsonString(x.RecentBlockhash)
		if !ok {
			return refuse(payments.CodeBadChallenge, "extra.recentBlockhash is not a string")
		}
		if s != "" {
			h, err := solana.HashFromBase58(s)
			if err != nil || len(s) > 44 {
				return refuse(payments.CodeBadChallenge, "extra.recentBlockhash %q is not a blockhash (32 bytes in base58)", clip(s))
			}
			t.RecentBlockhash = &h
		}
	}
	if len(x.LastValidBlockHeight) > 0 && string(x.LastValidBlockHeight) != "null" {
		s := string(x.LastValidBlockHeight)
		if q, ok := jsonString(x.LastValidBlockHeight); ok {
			s = q
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return refuse(payments.CodeBadChallenge, "extra.lastValidBlockHeight %q is not a whole block height", clip(s))
		}
		t.LastValidBlockHeight = v
	}
	if len(x.TokenProgram) > 0 && string(x.TokenProgram) != "null" {
		s, ok := jsonString(x.TokenProgram)
		if !ok {
			return refuse(payments.CodeBadChallenge, "extra.tokenProgram is not a string")
		}
		switch s {
		case "":
		case solana.TokenProgramID.String():
			t.TokenProgram = solana.TokenProgramID
		case solana.Token2022ProgramID.String():
			t.TokenProgram = solana.Token2022ProgramID
		default:
			return refuse(payments.CodeBadChallenge, "extra.tokenProgram %q is neither the Token nor the Token-2022 program", clip(s))
		}
	}
	return nil
}

// jsonString decodes a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
