package evm

import (
	"encoding/json"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// TestTypedDataJSONHashesToDigest: the EIP-712 JSON a remote signer is sent
// (clef's account_signTypedData) is the message x402-mcp means: go-ethereum's
// own EIP-712 implementation (the one clef hashes with) reads it back and
// hashes it to TypedData.Digest, for a token and chain as signed on
// mainnet and for edge values.
func TestTypedDataJSONHashesToDigest(t *testing.T) {
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	for _, td := range []TypedData{
		{
			Domain: Domain{Name: "USD Coin", Version: "2", ChainID: big.NewInt(8453), VerifyingContract: common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")},
			Message: Authorization{From: common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"), To: common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"),
				Value: big.NewInt(10_000), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(1_765_000_000), Nonce: [32]byte{1, 2, 3, 31: 0xff}},
		},
		{
			Domain:  Domain{Name: "Tökén \"x\"", Version: "ü", ChainID: big.NewInt(1337), VerifyingContract: common.Address{}},
			Message: Authorization{Value: max, ValidAfter: max, ValidBefore: big.NewInt(1), Nonce: [32]byte{}},
		},
	} {
		b, err := json.Marshal(td)
		if err != nil {
			t.Fatal(err)
		}
		var geth apitypes.TypedData
		if err := json.Unmarshal(b, &geth); err != nil {
			t.Fatalf("go-ethereum does not read the typed data: %v\n%s", err, b)
		}
		hash, _, err := apitypes.TypedDataAndHash(geth)
		if err != nil {
			t.Fatalf("go-ethereum does not hash the typed data: %v\n%s", err, b)
		}
		if common.BytesToHash(hash) != td.Digest() {
			t.Fatalf("go-ethereum hashes the JSON to %x, the digest signed is %s\n%s", hash, td.Digest(), b)
		}
	}
}
