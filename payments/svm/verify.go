package svm

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/gagliardetto/solana-go"
)

// The reference facilitator's refusal reasons (@x402/svm 2.27.0, exact),
// which Verify answers with.
const (
	ReasonFeePayerNotManaged     = "invalid_exact_svm_fee_payer_not_managed_by_facilitator"
	ReasonCouldNotBeDecoded      = "invalid_exact_svm_payload_transaction_could_not_be_decoded"
	ReasonFeePayerMismatch       = "invalid_exact_svm_fee_payer_mismatch"
	ReasonSignatureInvalid       = "invalid_exact_svm_payload_signature_invalid"
	ReasonInstructionsLength     = "invalid_exact_svm_payload_transaction_instructions_length"
	ReasonComputeLimit           = "invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction"
	ReasonComputePrice           = "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction"
	ReasonComputePriceTooHigh    = "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction_too_high"
	ReasonNoTransfer             = "invalid_exact_svm_payload_no_transfer_instruction"
	ReasonFeePayerTransferring   = "invalid_exact_svm_payload_transaction_fee_payer_transferring_funds"
	ReasonMintMismatch           = "invalid_exact_svm_payload_mint_mismatch"
	ReasonRecipientMismatch      = "invalid_exact_svm_payload_recipient_mismatch"
	ReasonAmountMismatch         = "invalid_exact_svm_payload_amount_mismatch"
	ReasonMemoCount              = "invalid_exact_svm_payload_memo_count"
	ReasonMemoMismatch           = "invalid_exact_svm_payload_memo_mismatch"
	ReasonSimulationFailed       = "invalid_exact_svm_transaction_simulation_failed"
	lighthouseProgram            = "L2TExMFKdjpN9kozasaurPirfHy9P8sbXoAN1qA3S95"
	transferCheckedDiscriminator = 12
)

// unknownInstruction are the reasons for an unknown 4th to 7th instruction.
var unknownInstruction = []string{
	"invalid_exact_svm_payload_unknown_fourth_instruction",
	"invalid_exact_svm_payload_unknown_fifth_instruction",
	"invalid_exact_svm_payload_unknown_sixth_instruction",
	"invalid_exact_svm_payload_unknown_seventh_instruction",
}

// VerifyError is a refused payment transaction, with the reference
// facilitator's reason code.
type VerifyError struct {
	Reason string
	Detail string
}

func (e *VerifyError) Error() string {
	if e.Detail == "" {
		return e.Reason
	}
	return e.Reason + ": " + e.Detail
}

func refused(reason, format string, a ...any) *VerifyError {
	return &VerifyError{Reason: reason, Detail: fmt.Sprintf(format, a...)}
}

// Transfer is what a verified payment transaction moves.
type Transfer struct {
	Payer       solana.PublicKey // the transfer's authority, the wallet
	Source      solana.PublicKey
	Destination solana.PublicKey
	Mint        solana.PublicKey
	Program     solana.PublicKey
	Amount      uint64
	Decimals    uint8
	Memo        string
	Blockhash   solana.Hash
	// PayerSignature is the authority's signature (base58).
	PayerSignature string
}

// Verify checks a payment transaction (the payload's base64 "transaction")
// against judged terms the way the reference facilitator's exact scheme
// does before it simulates: the fee payer is t.FeePayer and one of
// feePayers (the facilitator's own); every signature but the fee payer's is
// present and valid; 3 to 7 instructions: SetComputeUnitLimit,
// SetComputeUnitPrice (at most MaxComputeUnitPrice), a TransferChecked
// under the Token or Token-2022 program whose authority is not a fee payer,
// of t.Asset, into ATA(t.PayTo, t.Asset) under that program, of exactly
// t.Amount, then only Memo or Lighthouse instructions, with exactly one
// memo equal to t.Memo when the seller set one. decimals, when not
// negative, must be the mint's (what the simulation would check). It is
// for a local facilitator; the refusal reasons are the reference's.
func Verify(transaction string, t *Terms, feePayers []solana.PublicKey, decimals int) (*Transfer, error) {
	managed := false
	for _, fp := range feePayers {
		managed = managed || fp == t.FeePayer
	}
	if !managed {
		return nil, refused(ReasonFeePayerNotManaged, "extra.feePayer %s is not this facilitator's", t.FeePayer)
	}
	raw, err := base64.StdEncoding.DecodeString(transaction)
	if err != nil {
		return nil, refused(ReasonCouldNotBeDecoded, "not base64")
	}
	tx, err := solana.TransactionFromBytes(raw)
	if err != nil {
		return nil, refused(ReasonCouldNotBeDecoded, "%v", err)
	}
	m := &tx.Message
	if m.IsVersioned() && len(m.AddressTableLookups) > 0 {
		return nil, refused(ReasonCouldNotBeDecoded, "address lookup tables are not supported here")
	}
	if len(m.AccountKeys) == 0 || m.AccountKeys[0] != t.FeePayer {
		return nil, refused(ReasonFeePayerMismatch, "the first account is not extra.feePayer")
	}
	msg, err := m.MarshalBinary()
	if err != nil {
		return nil, refused(ReasonCouldNotBeDecoded, "%v", err)
	}
	signers := int(m.Header.NumRequiredSignatures)
	if signers > len(m.AccountKeys) || len(tx.Signatures) != signers {
		return nil, refused(ReasonSignatureInvalid, "%d signatures for %d signers", len(tx.Signatures), signers)
	}
	for i := 1; i < signers; i++ {
		if !m.AccountKeys[i].Verify(msg, tx.Signatures[i]) {
			return nil, refused(ReasonSignatureInvalid, "signer %s's signature does not verify", m.AccountKeys[i])
		}
	}
	ixs := m.Instructions
	if len(ixs) < 3 || len(ixs) > 7 {
		return nil, refused(ReasonInstructionsLength, "%d instructions, want 3 to 7", len(ixs))
	}
	prog := func(i int) solana.PublicKey {
		p, err := m.Program(ixs[i].ProgramIDIndex)
		if err != nil {
			return solana.PublicKey{}
		}
		return p
	}
	if prog(0) != solana.ComputeBudget || len(ixs[0].Data) != 5 || ixs[0].Data[0] != 2 {
		return nil, refused(ReasonComputeLimit, "the first instruction is not SetComputeUnitLimit")
	}
	if prog(1) != solana.ComputeBudget || len(ixs[1].Data) != 9 || ixs[1].Data[0] != 3 {
		return nil, refused(ReasonComputePrice, "the second instruction is not SetComputeUnitPrice")
	}
	if price := binary.LittleEndian.Uint64(ixs[1].Data[1:]); price > MaxComputeUnitPrice {
		return nil, refused(ReasonComputePriceTooHigh, "%d micro-lamports per unit, the cap is %d", price, MaxComputeUnitPrice)
	}
	program := prog(2)
	tr := ixs[2]
	if program != solana.TokenProgramID && program != solana.Token2022ProgramID || len(tr.Data) < 10 || tr.Data[0] != transferCheckedDiscriminator || len(tr.Accounts) < 4 {
		return nil, refused(ReasonNoTransfer, "the third instruction is not a TransferChecked")
	}
	acct := func(i int) solana.PublicKey {
		k, err := m.Account(tr.Accounts[i])
		if err != nil {
			return solana.PublicKey{}
		}
		return k
	}
	out := &Transfer{Source: acct(0), Mint: acct(1), Destination: acct(2), Payer: acct(3), Program: program,
		Amount: binary.LittleEndian.Uint64(tr.Data[1:9]), Decimals: tr.Data[9], Blockhash: m.RecentBlockhash}
	for _, fp := range feePayers {
		if out.Payer == fp {
			return nil, refused(ReasonFeePayerTransferring, "the transfer's authority is the fee payer %s", fp)
		}
	}
	if out.Mint != t.Asset {
		return nil, refused(ReasonMintMismatch, "the transfer moves %s, the option asks for %s", out.Mint, t.Asset)
	}
	dest, _, err := solana.FindAssociatedTokenAddressWithProgram(t.PayTo, t.Asset, program)
	if err != nil || out.Destination != dest {
		return nil, refused(ReasonRecipientMismatch, "the transfer goes to %s, not %s (payTo's token account)", out.Destination, dest)
	}
	if out.Amount != uint64(t.Amount) {
		return nil, refused(ReasonAmountMismatch, "the transfer moves %d, the option asks for %d", out.Amount, t.Amount)
	}
	if decimals >= 0 && int(out.Decimals) != decimals {
		return nil, refused(ReasonSimulationFailed, "the transfer says %d decimals, the mint has %d", out.Decimals, decimals)
	}
	var memos []string
	for i := 3; i < len(ixs); i++ {
		switch p := prog(i); {
		case p == solana.MemoProgramID:
			memos = append(memos, string(ixs[i].Data))
		case p.String() == lighthouseProgram:
		default:
			return nil, refused(unknownInstruction[i-3], "instruction %d runs %s", i+1, p)
		}
	}
	if t.Memo != "" {
		if len(memos) != 1 {
			return nil, refused(ReasonMemoCount, "%d memo instructions, want 1", len(memos))
		}
		if memos[0] != t.Memo {
			return nil, refused(ReasonMemoMismatch, "memo %q, want extra.memo %q", clip(memos[0]), clip(t.Memo))
		}
	}
	if len(memos) > 0 {
		out.Memo = memos[0]
	}
	for i := 1; i < signers; i++ {
		if m.AccountKeys[i] == out.Payer {
			out.PayerSignature = tx.Signatures[i].String()
		}
	}
	if out.PayerSignature == "" {
		return nil, refused(ReasonSimulationFailed, "the transfer's authority %s did not sign", out.Payer)
	}
	return out, nil
}
