package svm

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"
)

// offlineTerms is a judged USDC option on devnet, with a fixed blockhash
// and mint so that a payment is built without RPC.
func offlineTerms(t testing.TB, memo string) (*Terms, Mint, lifetime) {
	t.Helper()
	extra := `{"feePayer":"` + feePayer + `"`
	if memo != "" {
		extra += `,"memo":"` + memo + `"`
	}
	terms, ref := Judge(Requirement{Scheme: "exact", Network: "solana-devnet", Amount: 10_000, PayTo: payee, Asset: USDCDevnet.String(), Extra: json.RawMessage(extra + "}")}, Want{Networks: []Network{Devnet}})
	if ref != nil {
		t.Fatal(ref)
	}
	return terms, Mint{Program: solana.TokenProgramID, Decimals: 6}, lifetime{Blockhash: solana.MustHashFromBase58(blockhsh), LastValidBlockHeight: 1_000}
}

// TestTransactionLayout decodes a signed payment and checks it against the
// scheme: v0, fee payer first with its signature left empty, the payer's
// signature second and valid, SetComputeUnitLimit, SetComputeUnitPrice,
// TransferChecked of the exact amount between the two associated token
// accounts, then the memo; the fee payer in no instruction.
func TestTransactionLayout(t *testing.T) {
	k, err := NewKey(testSeed())
	if err != nil {
		t.Fatal(err)
	}
	for _, memo := range []string{"", "order-42"} {
		terms, mint, life := offlineTerms(t, memo)
		c := &Client{}
		payload, proof, err := c.assemble(t.Context(), terms, k, mint, life, memoOr(memo))
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Transaction string `json:"transaction"`
		}
		if err := json.Unmarshal(payload, &p); err != nil || p.Transaction != proof.Transaction {
			t.Fatalf("payload %s: %v", payload, err)
		}
		raw, err := base64.StdEncoding.DecodeString(p.Transaction)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := solana.TransactionFromBytes(raw)
		if err != nil {
			t.Fatal(err)
		}
		m := tx.Message
		if m.GetVersion() != solana.MessageVersionV0 || m.RecentBlockhash.String() != blockhsh {
			t.Errorf("version %d, blockhash %s", m.GetVersion(), m.RecentBlockhash)
		}
		if m.Header.NumRequiredSignatures != 2 || m.AccountKeys[0].String() != feePayer || m.AccountKeys[1] != k.Address() {
			t.Fatalf("signers: %d, keys %v", m.Header.NumRequiredSignatures, m.AccountKeys)
		}
		if !tx.Signatures[0].IsZero() {
			t.Error("the fee payer's signature slot is not empty")
		}
		msg, _ := m.MarshalBinary()
		if !k.Address().Verify(msg, tx.Signatures[1]) || tx.Signatures[1].String() != proof.PayerSignature {
			t.Error("the payer's signature does not verify or is not the proof's")
		}
		progs := []solana.PublicKey{solana.ComputeBudget, solana.ComputeBudget, solana.TokenProgramID, solana.MemoProgramID}
		if len(m.Instructions) != len(progs) {
			t.Fatalf("%d instructions, want 4", len(m.Instructions))
		}
		for i, ix := range m.Instructions {
			prog, _ := m.Program(ix.ProgramIDIndex)
			if prog != progs[i] {
				t.Errorf("instruction %d runs %s, want %s", i, prog, progs[i])
			}
			for _, a := range ix.Accounts {
				if a == 0 {
					t.Errorf("instruction %d names the fee payer", i)
				}
			}
		}
		if d := m.Instructions[0].Data; d[0] != 2 || le32(d[1:5]) != DefaultComputeUnitLimit {
			t.Errorf("SetComputeUnitLimit data %x", d)
		}
		if d := m.Instructions[1].Data; d[0] != 3 || le64(d[1:9]) != DefaultComputeUnitPrice {
			t.Errorf("SetComputeUnitPrice data %x", d)
		}
		src, _, _ := solana.FindAssociatedTokenAddressWithProgram(k.Address(), USDCDevnet, solana.TokenProgramID)
		dst, _, _ := solana.FindAssociatedTokenAddressWithProgram(solana.MustPublicKeyFromBase58(payee), USDCDevnet, solana.TokenProgramID)
		tr := m.Instructions[2]
		if d := tr.Data; d[0] != 12 || le64(d[1:9]) != 10_000 || d[9] != 6 {
			t.Errorf("TransferChecked data %x, want 12, 10000, 6 decimals", d)
		}
		want := []solana.PublicKey{src, USDCDevnet, dst, k.Address()}
		for i, idx := range tr.Accounts {
			if m.AccountKeys[idx] != want[i] {
				t.Errorf("TransferChecked account %d = %s, want %s", i, m.AccountKeys[idx], want[i])
			}
		}
		got := string(m.Instructions[3].Data)
		if memo != "" && got != memo {
			t.Errorf("memo %q, want extra.memo %q", got, memo)
		}
		if memo == "" {
			if b, err := hex.DecodeString(got); err != nil || len(b) < 16 {
				t.Errorf("memo %q is not 16+ random bytes as hex", got)
			}
		}
		if proof.Memo != got || proof.SourceTokenAccount != src.String() || proof.LastValidBlockHeight != 1_000 || proof.Blockhash != blockhsh || proof.Amount != "10000" {
			t.Errorf("proof %+v", proof)
		}
	}
}

func TestComputePriceCap(t *testing.T) {
	k, _ := NewKey(testSeed())
	terms, mint, life := offlineTerms(t, "")
	c := &Client{ComputeUnitPrice: MaxComputeUnitPrice + 1}
	if _, _, err := c.assemble(t.Context(), terms, k, mint, life, "m"); err == nil {
		t.Error("a compute unit price above the facilitators' cap was signed")
	}
	c.ComputeUnitPrice = MaxComputeUnitPrice
	if _, _, err := c.assemble(t.Context(), terms, k, mint, life, "m"); err != nil {
		t.Errorf("the cap itself: %v", err)
	}
}

func memoOr(m string) string {
	if m != "" {
		return m
	}
	return "00112233445566778899aabbccddeeff"
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func le64(b []byte) uint64 { return uint64(le32(b[:4])) | uint64(le32(b[4:8]))<<32 }

// BenchmarkSolanaSignAndEncode: build, sign and encode one Solana payment
// with a known blockhash and mint (no RPC), as Sign does after its checks;
// compare with payments' BenchmarkSignAndEncode (EIP-3009).
func BenchmarkSolanaSignAndEncode(b *testing.B) {
	k, _ := NewKey(testSeed())
	terms, mint, life := offlineTerms(b, "")
	c := &Client{}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.assemble(b.Context(), terms, k, mint, life, "00112233445566778899aabbccddeeff"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSolanaSignOnly: the ed25519 signature of a payment's message
// alone.
func BenchmarkSolanaSignOnly(b *testing.B) {
	k, _ := NewKey(testSeed())
	terms, mint, life := offlineTerms(b, "")
	p, err := newPlan(terms, k.Address(), mint, life, "m", DefaultComputeUnitPrice)
	if err != nil {
		b.Fatal(err)
	}
	tx, err := p.transaction()
	if err != nil {
		b.Fatal(err)
	}
	msg, _ := tx.Message.MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.SignMessage(b.Context(), msg); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEveryPaymentIsItsOwnTransaction: payments of the same terms signed
// on the same blockhash (the client's own read, reused for
// BlockhashReuse, or the seller's extra.recentBlockhash) with the same
// seller memo would be the same transaction, with the same payer signature:
// the chain and the facilitator take it once (duplicate_settlement), and the
// ledger would name two payments by one id. Each payment a client signs is
// a transaction of its own: the first as the reference client builds it,
// each later one with one more compute unit in its limit. A payment with
// a random memo is its own already and keeps the default limit.
func TestEveryPaymentIsItsOwnTransaction(t *testing.T) {
	k, err := NewKey(testSeed())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		memo   string
		limits []uint32
	}{
		{"order-42", []uint32{DefaultComputeUnitLimit, DefaultComputeUnitLimit + 1, DefaultComputeUnitLimit + 2}},
		{"", []uint32{DefaultComputeUnitLimit, DefaultComputeUnitLimit, DefaultComputeUnitLimit}},
	} {
		terms, mint, life := offlineTerms(t, tc.memo)
		c := &Client{}
		seen := map[string]bool{}
		for i, want := range tc.limits {
			p := &Prepared{c: c, terms: terms, payer: k.Address(), mint: mint, life: life}
			_, proof, err := p.Sign(t.Context(), k)
			if err != nil {
				t.Fatal(err)
			}
			if seen[proof.PayerSignature] {
				t.Fatalf("memo %q, payment %d: the same transaction as an earlier payment (signature %s)", tc.memo, i, proof.PayerSignature)
			}
			seen[proof.PayerSignature] = true
			tx, err := solana.TransactionFromBase64(proof.Transaction)
			if err != nil {
				t.Fatal(err)
			}
			if d := tx.Message.Instructions[0].Data; le32(d[1:5]) != want {
				t.Errorf("memo %q, payment %d: compute unit limit %d, want %d", tc.memo, i, le32(d[1:5]), want)
			}
			if tc.memo != "" && proof.Memo != tc.memo {
				t.Errorf("memo %q, want the seller's", proof.Memo)
			}
		}
	}
	// Concurrent payments of the same terms are all distinct too.
	terms, mint, life := offlineTerms(t, "order-43")
	c := &Client{}
	sigs := make(chan string, 32)
	var wg sync.WaitGroup
	for range cap(sigs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &Prepared{c: c, terms: terms, payer: k.Address(), mint: mint, life: life}
			_, proof, err := p.Sign(t.Context(), k)
			if err != nil {
				t.Error(err)
				return
			}
			sigs <- proof.PayerSignature
		}()
	}
	wg.Wait()
	close(sigs)
	seen := map[string]bool{}
	for s := range sigs {
		if seen[s] {
			t.Fatalf("two concurrent payments are the same transaction %s", s)
		}
		seen[s] = true
	}
}

// TestDistinctLimitMemory: the payments counted for distinctLimit are
// forgotten once no payment can be built on their blockhash any more
// (sameTxMemory, by the client's clock), and never more than maxSameTx of
// them are kept.
func TestDistinctLimitMemory(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := &Client{Now: func() time.Time { return now }}
	msg := []byte("a message")
	for i, want := range []uint32{DefaultComputeUnitLimit, DefaultComputeUnitLimit + 1, DefaultComputeUnitLimit + 2} {
		if got := c.distinctLimit(msg); got != want {
			t.Fatalf("payment %d: limit %d, want %d", i, got, want)
		}
	}
	now = now.Add(sameTxMemory - time.Second)
	if got := c.distinctLimit(msg); got != DefaultComputeUnitLimit+3 {
		t.Fatalf("within the memory: limit %d, want %d", got, DefaultComputeUnitLimit+3)
	}
	// The last payment of msg is within the memory: msg is kept.
	now = now.Add(2 * time.Second)
	if got := c.distinctLimit(msg); got != DefaultComputeUnitLimit+4 {
		t.Fatalf("an earlier payment forgotten, the last kept: limit %d, want %d", got, DefaultComputeUnitLimit+4)
	}
	now = now.Add(sameTxMemory)
	if got := c.distinctLimit(msg); got != DefaultComputeUnitLimit {
		t.Fatalf("after the memory: limit %d, want the default", got)
	}
	for i := range 3 * maxSameTx {
		if got := c.distinctLimit([]byte(strconv.Itoa(i))); got != DefaultComputeUnitLimit {
			t.Fatalf("message %d: limit %d", i, got)
		}
	}
	if len(c.uses) > maxSameTx || len(c.same) > maxSameTx {
		t.Fatalf("%d payments and %d transactions kept, want at most %d", len(c.uses), len(c.same), maxSameTx)
	}
}
