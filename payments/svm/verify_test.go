package svm

import (
	"encoding/base64"
	"testing"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
)

// TestVerifyOffline: Verify's refusals that need no chain, each with the
// reference facilitator's reason (the ones the chain tests compare with
// the reference itself are in TestFacilitatorRefusals).
func TestVerifyOffline(t *testing.T) {
	k, _ := NewKey(testSeed())
	fp := solana.MustPublicKeyFromBase58(feePayer)
	build := func(t *testing.T, memo string, edit func(*plan, *[]solana.Instruction), sign func(*solana.Transaction)) (string, *Terms) {
		terms, mint, life := offlineTerms(t, memo)
		p, err := newPlan(terms, k.Address(), mint, life, memoOr(memo), DefaultComputeUnitPrice)
		if err != nil {
			t.Fatal(err)
		}
		ixs := p.instructions()
		edit(&p, &ixs)
		tx, err := encodePlan(ixs, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := signPlan(t.Context(), tx, p, terms, k, life); err != nil {
			t.Fatal(err)
		}
		sign(tx)
		raw, err := tx.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(raw), terms
	}
	none := func(*plan, *[]solana.Instruction) {}
	keep := func(*solana.Transaction) {}
	extraIx := func(ix solana.Instruction) func(*plan, *[]solana.Instruction) {
		return func(_ *plan, ixs *[]solana.Instruction) { *ixs = append(*ixs, ix) }
	}
	for _, tc := range []struct {
		name     string
		memo     string
		edit     func(*plan, *[]solana.Instruction)
		sign     func(*solana.Transaction)
		feePayer []solana.PublicKey
		reason   string
	}{
		{"valid", "", none, keep, nil, ""},
		{"valid with extra.memo", "order-9", none, keep, nil, ""},
		{"another facilitator's fee payer", "", none, keep, []solana.PublicKey{k.Address()}, ReasonFeePayerNotManaged},
		{"a bad payer signature", "", none, func(tx *solana.Transaction) { tx.Signatures[1][0] ^= 1 }, nil, ReasonSignatureInvalid},
		{"a second memo", "order-9", extraIx(solanaMemo("order-9")), keep, nil, ReasonMemoCount},
		{"a system transfer after the memo", "", extraIx(system.NewTransferInstruction(1, k.Address(), fp).Build()), keep, nil, "invalid_exact_svm_payload_unknown_fifth_instruction"},
		{"no compute limit", "", func(_ *plan, ixs *[]solana.Instruction) { *ixs = (*ixs)[1:] }, keep, nil, ReasonComputeLimit},
		{"too few instructions", "", func(_ *plan, ixs *[]solana.Instruction) { *ixs = []solana.Instruction{(*ixs)[0], (*ixs)[2]} }, keep, nil, ReasonInstructionsLength},
		{"other decimals", "", func(p *plan, ixs *[]solana.Instruction) { p.Decimals = 9; *ixs = p.instructions() }, keep, nil, ReasonSimulationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, terms := build(t, tc.memo, tc.edit, tc.sign)
			fps := tc.feePayer
			if fps == nil {
				fps = []solana.PublicKey{fp}
			}
			tr, err := Verify(tx, terms, fps, 6)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tr.Payer != k.Address() || tr.Amount != uint64(terms.Amount) || tr.Mint != USDCDevnet || tr.Memo != memoOr(tc.memo) || tr.PayerSignature == "" {
					t.Errorf("transfer %+v", tr)
				}
				return
			}
			ve, ok := err.(*VerifyError)
			if !ok || ve.Reason != tc.reason {
				t.Errorf("Verify = %v, want %s", err, tc.reason)
			}
		})
	}
	terms, _, _ := offlineTerms(t, "")
	for _, garbage := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte{1, 2, 3})} {
		if _, err := Verify(garbage, terms, []solana.PublicKey{fp}, 6); err == nil || err.(*VerifyError).Reason != ReasonCouldNotBeDecoded {
			t.Errorf("Verify(%q) = %v", garbage, err)
		}
	}
	// A transaction whose first account is not extra.feePayer.
	other := *terms
	other.FeePayer = solana.MustPublicKeyFromBase58(otherKey)
	tx, _ := build(t, "", none, keep)
	if _, err := Verify(tx, &other, []solana.PublicKey{other.FeePayer}, 6); err == nil || err.(*VerifyError).Reason != ReasonFeePayerMismatch {
		t.Errorf("Verify with another fee payer = %v", err)
	}
}

// solanaMemo is a memo instruction.
func solanaMemo(text string) solana.Instruction {
	p := plan{Memo: text}
	return p.instructions()[3]
}
