package evm_test

import (
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
)

// Test vectors from x402-protocol.md §9.
const anvil0 = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

var (
	baseSepoliaUSDC = evm.Domain{Name: "USDC", Version: "2", ChainID: big.NewInt(84532), VerifyingContract: common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e")}
	baseUSDC        = evm.Domain{Name: "USD Coin", Version: "2", ChainID: big.NewInt(8453), VerifyingContract: common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")}
	vectorNonce     = mustNonce("0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480")
	vectorTo        = common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
)

func mustNonce(s string) [32]byte {
	var n [32]byte
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 {
		panic("bad nonce")
	}
	copy(n[:], b)
	return n
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSpecVector checks vector 1: the x402 spec's example is a valid signature
// and our hashing reproduces its domain separator, struct hash and digest.
func TestSpecVector(t *testing.T) {
	a := evm.Authorization{
		From: common.HexToAddress("0x857b06519E91e3A54538791bDbb0E22373e36b66"), To: vectorTo,
		Value: big.NewInt(10000), ValidAfter: big.NewInt(1740672089), ValidBefore: big.NewInt(1740672154), Nonce: vectorNonce,
	}
	sep, sh := baseSepoliaUSDC.Separator(), a.StructHash()
	digest := evm.Digest(sep, sh)
	for _, c := range []struct{ name, got, want string }{
		{"domainSeparator", sep.Hex(), "0x71f17a3b2ff373b803d70a5a07c046c1a2bc8e89c09ef722fcb047abe94c9818"},
		{"structHash", sh.Hex(), "0x49ad644555c7bdf3ea4fc022a4940ae5589b230b1dde0065c5504fa19bbe39a4"},
		{"digest", digest.Hex(), "0xf256992871671abcb27ff92885a7afa46218724e5fc0bac35d050115aa1d22e6"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
	sig := mustHex(t, "0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c")
	signer, err := evm.RecoverSigner(digest, sig)
	if err != nil {
		t.Fatal(err)
	}
	if signer != a.From {
		t.Fatalf("recovered %s, want %s", signer.Hex(), a.From.Hex())
	}
}

// TestComputedVectors checks vector 2: our signatures match byte for byte.
func TestComputedVectors(t *testing.T) {
	w, err := wallet.ParseHexKey(anvil0)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Address().Hex(); got != "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" {
		t.Fatalf("anvil #0 address = %s", got)
	}
	a := evm.Authorization{From: w.Address(), To: vectorTo, Value: big.NewInt(10000), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(1740672154), Nonce: vectorNonce}
	tests := []struct {
		name                         string
		domain                       evm.Domain
		sep, structHash, digest, sig string
	}{
		{"base-sepolia", baseSepoliaUSDC, "0x71f17a3b2ff373b803d70a5a07c046c1a2bc8e89c09ef722fcb047abe94c9818",
			"0x009dcd424ce410509a7e6cfc1463575d18c6439223cb447d02b9e0bf48196d26",
			"0x4f4985a0c4a7592c738a9d385dac72ed9932049a3a642b4923659213c54fa8c6",
			"0x887688bfda2adc60488cb21d8355641dc7e6cae2acf979a4e510569110fbeb6912bfec8521359ee79ecbd2c6f8ba9ada97d499a910f5c0d4e274d0da99b8f3561c"},
		{"base", baseUSDC, "0x02fa7265e7c5d81118673727957699e4d68f74cd74b7db77da710fe8a2c7834f",
			"0x009dcd424ce410509a7e6cfc1463575d18c6439223cb447d02b9e0bf48196d26",
			"0x8bad68561cdef1c3d7b20cd036f029b9d540810e1c3d9a9d34d26e32e080a6a4", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.domain.Separator().Hex(); got != tt.sep {
				t.Errorf("domainSeparator = %s, want %s", got, tt.sep)
			}
			if got := a.StructHash().Hex(); got != tt.structHash {
				t.Errorf("structHash = %s, want %s", got, tt.structHash)
			}
			digest := evm.Digest(tt.domain.Separator(), a.StructHash())
			if digest.Hex() != tt.digest {
				t.Errorf("digest = %s, want %s", digest.Hex(), tt.digest)
			}
			sig, err := w.Sign(tt.domain, a)
			if err != nil {
				t.Fatal(err)
			}
			if tt.sig != "" && "0x"+hex.EncodeToString(sig) != tt.sig {
				t.Errorf("signature = 0x%x, want %s", sig, tt.sig)
			}
			if sig[64] != 27 && sig[64] != 28 {
				t.Errorf("v = %d, want 27 or 28", sig[64])
			}
			got, err := evm.RecoverSigner(digest, sig)
			if err != nil || got != w.Address() {
				t.Errorf("ecrecover = %s, %v; want %s", got.Hex(), err, w.Address().Hex())
			}
		})
	}
}

// TestDigestMatchesGoEthereum cross-checks the hand-rolled encoding against
// go-ethereum's generic EIP-712 implementation.
func TestDigestMatchesGoEthereum(t *testing.T) {
	a := evm.Authorization{From: common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"), To: vectorTo,
		Value: big.NewInt(123456789), ValidAfter: big.NewInt(5), ValidBefore: big.NewInt(1999999999), Nonce: vectorNonce}
	td := apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {{Name: "name", Type: "string"}, {Name: "version", Type: "string"}, {Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"}},
			"TransferWithAuthorization": {{Name: "from", Type: "address"}, {Name: "to", Type: "address"}, {Name: "value", Type: "uint256"},
				{Name: "validAfter", Type: "uint256"}, {Name: "validBefore", Type: "uint256"}, {Name: "nonce", Type: "bytes32"}},
		},
		PrimaryType: "TransferWithAuthorization",
		Domain:      apitypes.TypedDataDomain{Name: "USD Coin", Version: "2", ChainId: math.NewHexOrDecimal256(8453), VerifyingContract: baseUSDC.VerifyingContract.Hex()},
		Message: apitypes.TypedDataMessage{"from": a.From.Hex(), "to": a.To.Hex(), "value": "123456789", "validAfter": "5",
			"validBefore": "1999999999", "nonce": "0x" + hex.EncodeToString(a.Nonce[:])},
	}
	want, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		t.Fatal(err)
	}
	if got := evm.Digest(baseUSDC.Separator(), a.StructHash()); !strings.EqualFold(got.Hex(), "0x"+hex.EncodeToString(want)) {
		t.Fatalf("digest %s, go-ethereum %x", got.Hex(), want)
	}
}

func TestRecoverSignerRejects(t *testing.T) {
	w, _ := wallet.ParseHexKey(anvil0)
	a := evm.Authorization{From: w.Address(), To: vectorTo, Value: big.NewInt(1), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(9), Nonce: vectorNonce}
	sig, _ := w.Sign(baseUSDC, a)
	digest := evm.Digest(baseUSDC.Separator(), a.StructHash())
	highS := append([]byte(nil), sig...)
	// s' = n - s is the malleable twin; it must be refused.
	n, _ := new(big.Int).SetString("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16)
	s := new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:64]))
	copy(highS[32:64], common.LeftPadBytes(s.Bytes(), 32))
	highS[64] ^= 1
	for name, bad := range map[string][]byte{"short": sig[:64], "bad v": append(append([]byte(nil), sig[:64]...), 35), "high s": highS} {
		if _, err := evm.RecoverSigner(digest, bad); err == nil {
			t.Errorf("%s: evm.RecoverSigner accepted it", name)
		}
	}
	other := a
	other.Value = big.NewInt(2)
	got, err := evm.RecoverSigner(evm.Digest(baseUSDC.Separator(), other.StructHash()), sig)
	if err == nil && got == w.Address() {
		t.Error("a signature over one value recovered the signer for another value")
	}
}

func TestParseAuthorizationRoundTrip(t *testing.T) {
	a := evm.Authorization{From: common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"), To: vectorTo,
		Value: big.NewInt(10000), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(1740672154), Nonce: vectorNonce}
	got, err := evm.ParseAuthorization(a.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if got.StructHash() != a.StructHash() {
		t.Fatal("round trip changed the authorization")
	}
	bad := []func(*evm.AuthorizationJSON){
		func(j *evm.AuthorizationJSON) { j.From = "0x123" },
		func(j *evm.AuthorizationJSON) { j.Value = "-1" },
		func(j *evm.AuthorizationJSON) { j.Value = "1e6" },
		func(j *evm.AuthorizationJSON) { j.ValidBefore = "0x10" },
		func(j *evm.AuthorizationJSON) { j.Nonce = "0x1234" },
		func(j *evm.AuthorizationJSON) { j.Nonce = strings.Repeat("ab", 32) },
		func(j *evm.AuthorizationJSON) { j.Nonce = "0x" + strings.Repeat("zz", 32) },
	}
	for i, mutate := range bad {
		j := a.JSON()
		mutate(&j)
		if _, err := evm.ParseAuthorization(j); err == nil {
			t.Errorf("case %d: accepted %+v", i, j)
		}
	}
}
