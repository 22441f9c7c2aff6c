package wallet

import (
	"context"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/x402-mcp/x402-mcp/internal/keytest"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// TestKMSSignsAsItsKey runs local-kms, an AWS KMS emulator, with a new
// ECC_SECG_P256K1 key: the signer's address is the key's (keccak of the
// point in its public key), and every signature it makes (KMS's DER with s
// high or low as it falls) recovers to that address with a low s, with both
// recovery ids seen; so does its signature of a transaction. A key of
// another curve is refused when opened; a disabled key's refusal is a
// *payments.SignerError with Refused set.
func TestKMSSignsAsItsKey(t *testing.T) {
	lk := keytest.StartLocalKMS(t)
	ctx := context.Background()
	id := lk.CreateKey(t, types.KeySpecEccSecgP256k1)
	k, err := NewKMS(ctx, lk.Client, id)
	if err != nil {
		t.Fatalf("open the KMS key: %v", err)
	}
	pub, err := lk.Client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	// A secp256k1 SubjectPublicKeyInfo ends with the 65-byte point.
	point := pub.PublicKey[len(pub.PublicKey)-65:]
	want := common.BytesToAddress(crypto.Keccak256(point[1:])[12:])
	if k.Address() != want || k.Payer() != want.Hex() || k.Source() != (Source{Kind: SourceKMS, Where: id}) {
		t.Fatalf("the KMS signer is %s (%+v), the key's address is %s", k.Address().Hex(), k.Source(), want.Hex())
	}
	seen := map[byte]int{}
	for i := range 24 {
		td := evm.TypedData{
			Domain: evm.Domain{Name: "USDC", Version: "2", ChainID: big.NewInt(1337), VerifyingContract: common.HexToAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3")},
			Message: evm.Authorization{From: want, To: common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"), Value: big.NewInt(int64(1000 + i)),
				ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(time.Now().Add(time.Minute).Unix()), Nonce: [32]byte{byte(i)}},
		}
		sig, err := k.SignTypedData(ctx, td)
		if err != nil {
			t.Fatalf("sign %d: %v\n%s", i, err, lk.Log())
		}
		got, err := evm.RecoverSigner(td.Digest(), sig) // refuses a high s
		if err != nil || got != want {
			t.Fatalf("signature %d recovers to %s (%v), want %s", i, got.Hex(), err, want.Hex())
		}
		seen[sig[64]]++
	}
	// The approval of Permit2 (`wallet approve-permit2`) is signed by KMS
	// too: its signing hash, as the transaction's sender.
	tx := evm.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: 1, Tip: big.NewInt(1e9), FeeCap: big.NewInt(3e9), Gas: 60_000,
		To: common.HexToAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3"), Data: common.FromHex("0x095ea7b3")}
	sig, err := k.SignTransaction(ctx, tx)
	if err != nil {
		t.Fatalf("sign a transaction: %v", err)
	}
	h, err := tx.SigningHash()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := evm.RecoverSigner(h, sig); err != nil || got != want {
		t.Fatalf("the transaction's signature recovers to %s (%v), want %s", got.Hex(), err, want.Hex())
	}
	if seen[27] == 0 || seen[28] == 0 {
		t.Errorf("recovery ids seen %v: 24 signatures should show both 27 and 28", seen)
	}

	p256 := lk.CreateKey(t, types.KeySpecEccNistP256)
	if _, err := NewKMS(ctx, lk.Client, p256); err == nil || !strings.Contains(err.Error(), "not ECC_SECG_P256K1") {
		t.Errorf("a P-256 key: %v", err)
	}

	lk.DisableKey(t, id)
	_, err = k.SignTypedData(ctx, evm.TypedData{Domain: evm.Domain{ChainID: big.NewInt(1)}, Message: evm.Authorization{Value: big.NewInt(1), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(1)}})
	var se *payments.SignerError
	if !errors.As(err, &se) || !se.Refused || !strings.Contains(se.Reason, "DisabledException") || se.Signer != "AWS KMS key "+id {
		t.Errorf("a disabled key: %v, want a refusal by KMS", err)
	}
}

// TestKMSUnreachable: a KMS that does not answer is named, not a refusal.
func TestKMSUnreachable(t *testing.T) {
	api := kms.New(kms.Options{Region: "eu-west-2", BaseEndpoint: aws.String("http://127.0.0.1:1"), Credentials: aws.AnonymousCredentials{},
		RetryMaxAttempts: 1})
	_, err := NewKMS(context.Background(), api, "alias/x402")
	if err == nil || !strings.Contains(err.Error(), "cannot reach KMS") || !strings.Contains(err.Error(), "alias/x402") {
		t.Fatalf("err = %v", err)
	}
}

// TestEthereumSignatureFromDER: KMS's DER signature becomes r‖s‖v with a
// low s and the recovery id of the key, whether KMS's s was low or high
// (n − s signs the same digest); garbage is refused.
func TestEthereumSignatureFromDER(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := crypto.FromECDSAPub(&key.PublicKey)
	for i := range 8 {
		digest := crypto.Keccak256Hash([]byte{byte(i)})
		sig, err := crypto.Sign(digest[:], key) // low s, v = 0 or 1
		if err != nil {
			t.Fatal(err)
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64])
		for _, ss := range []*big.Int{s, new(big.Int).Sub(crypto.S256().Params().N, s)} {
			der, err := asn1.Marshal(struct{ R, S *big.Int }{r, ss})
			if err != nil {
				t.Fatal(err)
			}
			got, err := EthereumSignature(digest, der, pub)
			if err != nil {
				t.Fatal(err)
			}
			if string(got[:64]) != string(sig[:64]) || got[64] != sig[64]+27 {
				t.Fatalf("from s = %x: got %x, want %x with v %d", ss, got, sig[:64], sig[64]+27)
			}
		}
	}
	for _, bad := range [][]byte{nil, {0x30, 0x02, 0x01}, []byte("not der at all")} {
		if _, err := EthereumSignature(common.Hash{}, bad, pub); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
}
