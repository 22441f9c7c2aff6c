package wallet

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/internal/keytest"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// BenchmarkSignTypedData measures what each EVM key source adds to a paid
// call: one EIP-3009 authorization signed as EIP-712 typed data. "in
// process" is a key held in memory (the environment, a key file, a
// keystore, or the OS keychain, which is read once at start); "clef" asks
// a real clef over its IPC socket and over HTTP, its rules file judging
// each request; "kms" asks local-kms, an AWS KMS emulator on loopback
// (real AWS adds a network round trip). clef and local-kms come from
// scripts/keys-tools.sh; without them those sub-benchmarks are skipped,
// or fail under X402_REQUIRE_KEYS. Reproduce: see docs/benchmarks.md.
func BenchmarkSignTypedData(b *testing.B) {
	ctx := context.Background()
	token := common.HexToAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3")
	payee := common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
	typed := func(from common.Address, i int) evm.TypedData {
		return evm.TypedData{
			Domain: evm.Domain{Name: "USDC", Version: "2", ChainID: big.NewInt(1337), VerifyingContract: token},
			Message: evm.Authorization{From: from, To: payee, Value: big.NewInt(1000), ValidAfter: big.NewInt(0),
				ValidBefore: big.NewInt(time.Now().Add(time.Hour).Unix()), Nonce: [32]byte{byte(i), byte(i >> 8), byte(i >> 16), 31: 1}},
		}
	}
	run := func(b *testing.B, s evm.Signer) {
		b.Helper()
		want := s.Address()
		i := 0
		for b.Loop() {
			td := typed(want, i)
			sig, err := s.SignTypedData(ctx, td)
			if err != nil {
				b.Fatalf("sign: %v", err)
			}
			if i == 0 { // the first signature recovers to the signer
				if got, err := evm.RecoverSigner(td.Digest(), sig); err != nil || got != want {
					b.Fatalf("the signature recovers to %s (%v), want %s", got.Hex(), err, want.Hex())
				}
			}
			i++
		}
	}
	b.Run("in_process", func(b *testing.B) {
		k, err := GenerateEVMKey()
		if err != nil {
			b.Fatal(err)
		}
		run(b, k)
	})
	b.Run("clef", func(b *testing.B) {
		clef := keytest.StartClef(b, keytest.ClefRules{ChainIDs: []int64{1337}, Tokens: []common.Address{token}, Payees: []common.Address{payee}, MaxAmount: 2000})
		for _, tr := range []struct{ name, endpoint, account string }{{"ipc", clef.IPC, ""}, {"http", clef.HTTP, clef.Address.Hex()}} {
			b.Run(tr.name, func(b *testing.B) {
				c, err := DialClef(ctx, tr.endpoint, tr.account)
				if err != nil {
					b.Fatalf("dial clef: %v\n%s", err, clef.Log())
				}
				run(b, c)
			})
		}
	})
	b.Run("kms", func(b *testing.B) {
		lk := keytest.StartLocalKMS(b)
		k, err := NewKMS(ctx, lk.Client, lk.CreateKey(b, types.KeySpecEccSecgP256k1))
		if err != nil {
			b.Fatalf("open the KMS key: %v", err)
		}
		run(b, k)
	})
}
