package wallet

import (
	"context"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// KMSAPI is what KMS needs of an AWS KMS client (*kms.Client).
type KMSAPI interface {
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
	Sign(ctx context.Context, in *kms.SignInput, opts ...func(*kms.Options)) (*kms.SignOutput, error)
}

// KMS is an EVM signer whose key never leaves AWS KMS: an asymmetric
// ECC_SECG_P256K1 key with the SIGN_VERIFY usage. It signs each payment's
// EIP-712 digest (ECDSA_SHA_256 over a DIGEST message) and turns KMS's DER
// signature into Ethereum's 65 bytes: r, s made low (s ≤ n/2, as EIP-2 and
// USDC require) and the recovery id that gives back the key's address. A
// key policy, a grant or a key state that refuses is a *payments.SignerError
// with Refused set: "not charged".
type KMS struct {
	api     KMSAPI
	keyID   string
	address common.Address
	hex     string
	pub     []byte // the uncompressed public key, 65 bytes
	// Timeout bounds one request to KMS; the caller's context bounds it too.
	Timeout time.Duration
}

// DefaultKMSTimeout bounds one request to KMS.
const DefaultKMSTimeout = 30 * time.Second

var (
	_ evm.Signer      = (*KMS)(nil)
	_ payments.Signer = (*KMS)(nil)
)

// OpenKMS opens the KMS key keyID (a key id, key ARN, alias name or alias
// ARN) with the AWS SDK's standard configuration: region, credentials and
// endpoint from the environment (AWS_REGION, AWS_ACCESS_KEY_ID, …,
// AWS_ENDPOINT_URL_KMS or AWS_ENDPOINT_URL), the shared config files
// (AWS_PROFILE) or the instance's role.
func OpenKMS(ctx context.Context, keyID string) (*KMS, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set AWS_REGION (or a region in the AWS profile)")
	}
	return NewKMS(ctx, kms.NewFromConfig(cfg), keyID)
}

// NewKMS opens the KMS key keyID through api: it reads the key's public key
// (GetPublicKey) and checks it is a secp256k1 signing key.
func NewKMS(ctx context.Context, api KMSAPI, keyID string) (*KMS, error) {
	k := &KMS{api: api, keyID: keyID, Timeout: DefaultKMSTimeout}
	ctx, cancel := context.WithTimeout(ctx, k.Timeout)
	defer cancel()
	out, err := api.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return nil, fmt.Errorf("read the public key of KMS key %s: %s", keyID, awsReason(err))
	}
	if out.KeySpec != types.KeySpecEccSecgP256k1 {
		return nil, fmt.Errorf("KMS key %s is %s, not ECC_SECG_P256K1 (secp256k1, the curve of Ethereum keys): create one with --key-spec ECC_SECG_P256K1 --key-usage SIGN_VERIFY", keyID, out.KeySpec)
	}
	if out.KeyUsage != types.KeyUsageTypeSignVerify {
		return nil, fmt.Errorf("KMS key %s has the usage %s, not SIGN_VERIFY", keyID, out.KeyUsage)
	}
	pub, err := secp256k1FromSPKI(out.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: %w", keyID, err)
	}
	k.pub = pub
	pk, err := crypto.UnmarshalPubkey(pub)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: its public key is not a point of secp256k1", keyID)
	}
	a := crypto.PubkeyToAddress(*pk)
	k.address, k.hex = a, a.Hex()
	return k, nil
}

// Address implements evm.Signer.
func (k *KMS) Address() common.Address { return k.address }

// Family implements payments.Signer: "evm".
func (k *KMS) Family() string { return evm.Name }

// Payer implements payments.Signer: the checksummed address.
func (k *KMS) Payer() string { return k.hex }

// Source says where the key lives: the KMS key id.
func (k *KMS) Source() Source { return Source{Kind: SourceKMS, Where: k.keyID} }

func (k *KMS) String() string { return "AWS KMS key " + k.keyID }

// SignTypedData implements evm.Signer: KMS signs td's digest.
func (k *KMS) SignTypedData(ctx context.Context, td evm.TypedData) ([]byte, error) {
	return k.signDigest(ctx, td.Digest())
}

// SignTransaction implements evm.Signer: KMS signs tx's signing hash.
func (k *KMS) SignTransaction(ctx context.Context, tx evm.DynamicFeeTx) ([]byte, error) {
	h, err := tx.SigningHash()
	if err != nil {
		return nil, err
	}
	return k.signDigest(ctx, h)
}

// signDigest has KMS sign the 32-byte digest (ECDSA_SHA_256 over a DIGEST
// message) and returns Ethereum's r‖s‖v (EthereumSignature).
func (k *KMS) signDigest(ctx context.Context, digest common.Hash) ([]byte, error) {
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = DefaultKMSTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := k.api.Sign(ctx, &kms.SignInput{
		KeyId: aws.String(k.keyID), Message: digest[:],
		MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256,
	})
	if err != nil {
		return nil, &payments.SignerError{Signer: k.String(), Refused: kmsRefused(err), Reason: awsReason(err), Err: err}
	}
	sig, err := EthereumSignature(digest, out.Signature, k.pub)
	if err != nil {
		return nil, &payments.SignerError{Signer: k.String(), Reason: err.Error(), Err: err}
	}
	return sig, nil
}

// secp256k1N is the order of secp256k1; halfN is n/2, the largest low s.
var (
	secp256k1N = crypto.S256().Params().N
	halfN      = new(big.Int).Rsh(secp256k1N, 1)
)

// EthereumSignature turns a DER ECDSA signature (an ASN.1 SEQUENCE of r and
// s, as KMS returns it) over digest into Ethereum's r‖s‖v: s made low (n −
// s when s > n/2, which is as valid a signature), and v = 27 + the recovery
// id whose recovered key is pub (65 bytes, uncompressed).
func EthereumSignature(digest common.Hash, der, pub []byte) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) != 0 || rs.R == nil || rs.S == nil {
		return nil, errors.New("the signature is not a DER ECDSA signature")
	}
	if rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.Cmp(secp256k1N) >= 0 || rs.S.Cmp(secp256k1N) >= 0 {
		return nil, errors.New("the signature's r or s is out of range")
	}
	s := rs.S
	if s.Cmp(halfN) > 0 {
		s = new(big.Int).Sub(secp256k1N, s)
	}
	sig := make([]byte, 65)
	rs.R.FillBytes(sig[:32])
	s.FillBytes(sig[32:64])
	for v := byte(0); v < 2; v++ {
		sig[64] = v
		got, err := crypto.Ecrecover(digest[:], sig)
		if err == nil && string(got) == string(pub) {
			sig[64] = 27 + v
			return sig, nil
		}
	}
	return nil, errors.New("the signature does not recover to the key's public key")
}

// SPKI object identifiers: an EC public key on secp256k1.
var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
)

// secp256k1FromSPKI reads the uncompressed secp256k1 point of a DER
// SubjectPublicKeyInfo (what KMS's GetPublicKey returns; Go's x509 does not
// know the curve).
func secp256k1FromSPKI(der []byte) ([]byte, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(der, &spki)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("its public key is not a DER SubjectPublicKeyInfo")
	}
	var curve asn1.ObjectIdentifier
	if !spki.Algorithm.Algorithm.Equal(oidECPublicKey) {
		return nil, errors.New("its public key is not an EC key")
	}
	if _, err := asn1.Unmarshal(spki.Algorithm.Parameters.FullBytes, &curve); err != nil || !curve.Equal(oidSecp256k1) {
		return nil, errors.New("its public key is not on secp256k1")
	}
	p := spki.PublicKey.Bytes
	if len(p) != 65 || p[0] != 4 {
		return nil, errors.New("its public key is not an uncompressed secp256k1 point")
	}
	return p, nil
}

// kmsRefused says the KMS error is a refusal (a key policy, a grant, the
// key's state) rather than KMS being unreachable.
func kmsRefused(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "AccessDeniedException", "DisabledException", "KMSInvalidStateException", "InvalidKeyUsageException",
		"IncorrectKeyException", "NotFoundException", "KMSInvalidSignatureException", "InvalidGrantTokenException":
		return true
	}
	return false
}

// awsReason is what an AWS error may show: the service's error code and a
// plain explanation. AWS's own message can name the caller's account and
// role, so it is kept for the log (SignerError.Err), not shown.
func awsReason(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDeniedException":
			return "AccessDeniedException: the key policy or IAM policy does not allow kms:Sign (or kms:GetPublicKey) for these credentials"
		case "DisabledException":
			return "DisabledException: the key is disabled"
		case "KMSInvalidStateException":
			return "KMSInvalidStateException: the key is not usable in its state (pending deletion, pending import)"
		case "NotFoundException":
			return "NotFoundException: no such key in this account and region"
		}
		return payments.Sanitize(ae.ErrorCode(), 80)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer from KMS in time"
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return "cannot reach KMS (" + netReason(ne) + ")"
	}
	return "cannot reach KMS"
}
