package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

// otherProof is the proof of a payment of a family other than EVM, in the
// shape Solana's will have: the payer's own signature as its id, a block
// height as its expiry, and the family's record as JSON.
func otherProof(deadline time.Time) payments.Proof {
	return payments.Proof{Family: "svm", Scheme: "exact", Network: "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
		Payer: "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM", Asset: "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
		ID: "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW", Expiry: 345_678_901,
		Deadline: deadline, Data: json.RawMessage(`{"memo":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","blockhash":"EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N"}`)}
}

// proofProver proves fates from a table by proof id and records every proof
// it is asked about. It stands in for a family's scheme: the ledger's part
// is to keep the proof and hand it back whole, whatever the family.
type proofProver struct {
	mu    sync.Mutex
	fates map[string]payments.Fate
	asked []payments.Proof
}

func (p *proofProver) Prove(_ context.Context, pf payments.Proof) (payments.Fate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, pf)
	f, ok := p.fates[pf.ID]
	if !ok {
		return payments.Fate{}, fmt.Errorf("no fate for %s", pf.ID)
	}
	return f, nil
}

// sameProof says whether got is want as the ledger keeps it: the deadline
// in milliseconds, the network and asset those of the reservation, Since
// the reservation's time.
func sameProof(t *testing.T, got, want payments.Proof) {
	t.Helper()
	if got.Family != want.Family || got.Scheme != want.Scheme || got.Payer != want.Payer || got.ID != want.ID || got.Expiry != want.Expiry ||
		!got.Deadline.Equal(want.Deadline.Truncate(time.Millisecond)) || string(got.Data) != string(want.Data) {
		t.Fatalf("proof kept\n  %+v\nwant\n  %+v", got, want)
	}
}

// TestProofKept: the ledger keeps a signed payment's proof whole, whatever
// its family (its scheme, its id, its expiry in the family's own measure and
// its own record), whether signed after the reservation or with it
// (ReserveSigned); reconciliation hands that proof back to the prover and
// settles or releases by the fate proven: used → settled with its
// transaction; unusable → released; open or unproven → counted.
func TestProofKept(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		c := newClock(t0)
		l := mustOpen(t, be.new(t), payments.Budget{Total: 1000}, ledger.WithNow(c.Now))
		sign := func(i int, p payments.Proof, together bool) string {
			t.Helper()
			s := signed(c.Now().Add(time.Minute))
			s.Proof = p
			r := res("t", 10)
			r.Network, r.Asset = p.Network, p.Asset
			if together {
				id, err := l.ReserveSigned(ctx, r, func() (payments.Signed, error) { return s, nil })
				must(t, err)
				return id
			}
			id, err := l.Reserve(ctx, r)
			must(t, err)
			must(t, l.MarkSigned(ctx, id, s))
			return id
		}
		proofs := make([]payments.Proof, 5)
		ids := make([]string, 5)
		for i := range proofs {
			proofs[i] = otherProof(t0.Add(time.Duration(i) * time.Minute))
			proofs[i].ID = fmt.Sprintf("sig%d", i)
			proofs[i].Expiry += uint64(i)
			ids[i] = sign(i, proofs[i], i%2 == 1)
			must(t, l.MarkUnknown(ctx, ids[i], "lost"))
		}
		evm := sign(9, evmProof(nonce1, t0.Add(time.Minute)), false)
		must(t, l.Reject(ctx, evm, "no"))
		for i, id := range ids {
			row, err := l.Get(ctx, id)
			must(t, err)
			if row.Family != "svm" || row.Scheme != "exact" || row.Expiry != proofs[i].Expiry || string(row.ProofData) != string(proofs[i].Data) {
				t.Fatalf("row %s: family %q scheme %q expiry %d data %s", id, row.Family, row.Scheme, row.Expiry, row.ProofData)
			}
			got := row.Proof()
			sameProof(t, got, proofs[i])
			if got.Network != proofs[i].Network || got.Asset != proofs[i].Asset || !got.Since.Equal(row.CreatedAt) {
				t.Fatalf("row %s: network %s asset %s since %s", id, got.Network, got.Asset, got.Since)
			}
		}

		// A Solana transaction id: its first signature, base58.
		const landed = "4fvBkLNVSDMsDSqHvCV3LhE7GeUTvF9AXXcAfsY5TU2pT4gx5Cze3XnpUSuWy4Wt5Lhj2gXqSysZk4s9gBSMHJRh"
		pv := &proofProver{fates: map[string]payments.Fate{
			"sig0": {State: payments.FateSettled, Transaction: landed},
			"sig1": {State: payments.FateUnusable},
			"sig2": {State: payments.FateOpen},
			// sig3: the prover fails
			"sig4": {State: payments.FateSettled},
			nonce1: {State: payments.FateUnusable},
		}}
		rep, err := l.Reconcile(ctx, pv)
		must(t, err)
		if rep.Checked != 6 || rep.Settled != 2 || rep.Released != 2 || rep.StillOpen != 2 || len(rep.Errors) != 1 {
			t.Fatalf("report %+v", rep)
		}
		asked := map[string]payments.Proof{}
		for _, p := range pv.asked {
			asked[p.ID] = p
		}
		for i := range proofs {
			sameProof(t, asked[proofs[i].ID], proofs[i])
		}
		if p := asked[nonce1]; p.Family != "evm" || p.Scheme != "exact" || p.Expiry != uint64(t0.Add(time.Minute).Unix()) {
			t.Fatalf("the EVM payment's proof %+v", p)
		}
		for i, want := range []struct {
			state payments.State
			tx    string
		}{{payments.StateSettled, landed}, {payments.StateReleased, ""}, {payments.StateUnknown, ""}, {payments.StateUnknown, ""}, {payments.StateSettled, ""}} {
			row, err := l.Get(ctx, ids[i])
			must(t, err)
			if row.State != want.state || row.Transaction != want.tx {
				t.Fatalf("sig%d is %s with tx %q, want %s with %q", i, row.State, row.Transaction, want.state, want.tx)
			}
		}
		if row, _ := l.Get(ctx, evm); row.State != payments.StateReleased {
			t.Fatalf("the EVM payment is %s, want released", row.State)
		}
	})
}

// TestMigrationProofColumns: a ledger written before proofs were kept per
// family (schema 4) opens, and its signed payments read as what they are:
// EVM exact payments whose id is the nonce and whose expiry is validBefore
// in seconds (never earlier); a reservation that was never signed has no
// proof.
func TestMigrationProofColumns(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	db := schemaAt(t, path, 4)
	created := t0.Add(-time.Hour).UnixMilli()
	vb := t0.Add(time.Minute).UnixMilli() + 250 // not on a second
	insert := func(state, nonce string, validBefore any) int64 {
		res, err := db.Exec(`INSERT INTO payments (kind, tool, host, session, network, asset, payer, amount, state, created_at, updated_at)
			VALUES ('payment', 't', 'h:443', 's1', 'eip155:84532', '0x036CbD53842c5426634e7929541eC2318f3dCF7e', '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266', 10, 'reserved', ?, ?)`, created, created)
		must(t, err)
		id, err := res.LastInsertId()
		must(t, err)
		if state != "reserved" {
			_, err = db.Exec(`UPDATE payments SET state = 'signed', nonce = ?, valid_before = ? WHERE id = ?`, nonce, validBefore, id)
			must(t, err)
			_, err = db.Exec(`UPDATE payments SET state = ? WHERE id = ?`, state, id)
			must(t, err)
		}
		return id
	}
	unknown := insert("unknown", nonce1, vb)
	reserved := insert("reserved", "", nil)
	must(t, db.Close())

	l := mustOpen(t, path, payments.Budget{Total: 1000}, ledger.WithNow(func() time.Time { return t0 }))
	row, err := l.Get(ctx, fmt.Sprint(unknown))
	must(t, err)
	p := row.Proof()
	if row.Family != "evm" || row.Scheme != "exact" || p.Family != "evm" || p.Scheme != "exact" || p.ID != nonce1 ||
		p.Expiry != uint64(vb/1000+1) || p.Payer != "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" || p.Asset != "0x036CbD53842c5426634e7929541eC2318f3dCF7e" ||
		p.Network != "eip155:84532" || !p.Deadline.Equal(time.UnixMilli(vb)) || len(p.Data) != 0 {
		t.Fatalf("the old signed row: family %q scheme %q, proof %+v", row.Family, row.Scheme, p)
	}
	row, err = l.Get(ctx, fmt.Sprint(reserved))
	must(t, err)
	if row.Family != "" || row.Scheme != "" || row.Expiry != 0 {
		t.Fatalf("the old reservation: family %q scheme %q expiry %d", row.Family, row.Scheme, row.Expiry)
	}
	if v := schemaVersion(t); v != 8 {
		t.Fatalf("schema version %d", v)
	}
}

// TestReleaseUnsentForgetsTheProofRecord: a signed payment that provably
// never left is released with every copy of it forgotten: the header, the
// payload, and the family's own record, which may hold the signed
// transaction (Solana's); its id stays, for the books.
func TestReleaseUnsentForgetsTheProofRecord(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		l := mustOpen(t, be.new(t), payments.Budget{Total: 1000})
		id, err := l.Reserve(ctx, res("x402_tip", 10))
		must(t, err)
		s := signed(time.Now().Add(time.Minute))
		s.Proof = otherProof(time.Now().Add(time.Minute))
		s.Proof.Data = json.RawMessage(`{"transaction":"AQABAgMEBQYHCAkKCwwNDg8Q"}`)
		must(t, l.MarkSigned(ctx, id, s))
		must(t, l.ReleaseUnsent(ctx, id, "never sent"))
		row, err := l.Get(ctx, id)
		must(t, err)
		if row.State != payments.StateReleased || row.Header != "" || row.Payload != "" || len(row.ProofData) != 0 || row.Nonce != s.Proof.ID {
			t.Fatalf("released row: state %s header %q payload %q proof %s nonce %q", row.State, row.Header, row.Payload, row.ProofData, row.Nonce)
		}
	})
}
