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
// hashes it to TypedData.Digest, for every message x402-mcp signs (an
// EIP-3009 transfer, a Permit2 transfer with the exact and the upto
// witness under Permit2's domain, which has no version, and an EIP-2612
// permit), for a token and chain as signed on mainnet and for edge values;
// and Digest is the digest each message's own hashing gives.
func TestTypedDataJSONHashesToDigest(t *testing.T) {
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	usdc := common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")
	payer, payee := common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"), common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
	fac := common.HexToAddress("0x1111111111111111111111111111111111111111")
	exact := Permit2Authorization{From: payer, Token: usdc, Amount: big.NewInt(10_000), Spender: ExactPermit2ProxyAddress,
		Nonce: max, Deadline: big.NewInt(1_765_000_000), To: payee, ValidAfter: big.NewInt(0)}
	upto := exact
	upto.Spender, upto.Facilitator, upto.Nonce = UptoPermit2ProxyAddress, &fac, big.NewInt(7)
	permit := EIP2612Permit{Domain: Domain{Name: "USD Coin", Version: "2", ChainID: big.NewInt(8453), VerifyingContract: usdc},
		Owner: payer, Spender: Permit2Address, Value: big.NewInt(10_000), Nonce: big.NewInt(3), Deadline: max}
	for _, c := range []struct {
		td   TypedData
		want common.Hash
	}{
		{TypedData{Domain: Permit2Domain(big.NewInt(8453)), Message: exact}, exact.Digest(big.NewInt(8453))},
		{TypedData{Domain: Permit2Domain(big.NewInt(1337)), Message: upto}, upto.Digest(big.NewInt(1337))},
		{TypedData{Domain: permit.Domain, Message: permit}, permit.Digest()},
	} {
		if got := c.td.Digest(); got != c.want {
			t.Errorf("%T: TypedData.Digest %s, the message's own digest %s", c.td.Message, got, c.want)
		}
	}
	for _, td := range []TypedData{
		{Domain: Permit2Domain(big.NewInt(8453)), Message: exact},
		{Domain: Permit2Domain(big.NewInt(1337)), Message: upto},
		{Domain: permit.Domain, Message: permit},
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
