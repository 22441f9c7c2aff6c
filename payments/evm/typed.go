package evm

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Signer is an EVM key that signs without showing itself: the payer of
// the EVM schemes, and the sender of `wallet approve-permit2`. package
// wallet's key sources implement it: keys held in this process
// (environment, key file, keystore, OS keychain) and keys held elsewhere
// (clef, AWS KMS). Its errors never hold key material; a signer that
// refuses, or cannot be asked, returns a *payments.SignerError, which the
// core answers "not charged".
type Signer interface {
	payments.Signer
	// Address is the signer's address (Payer is its checksummed form).
	Address() common.Address
	// SignTypedData signs the EIP-712 typed data td and returns r‖s‖v with
	// v = 27 or 28 and a low s. A signer that needs the whole message (a
	// remote signer applying its own rules) reads td; one that signs
	// digests signs td.Digest().
	SignTypedData(ctx context.Context, td TypedData) ([]byte, error)
	// SignTransaction signs the EIP-1559 transaction tx from the signer's
	// address and returns r‖s‖v over tx.SigningHash(), v = 27 or 28. A
	// remote signer is sent the whole transaction, for its rules to judge.
	SignTransaction(ctx context.Context, tx DynamicFeeTx) ([]byte, error)
}

// TypedData is EIP-712 typed data x402-mcp signs: one of its messages
// under its domain. The messages are an EIP-3009 TransferWithAuthorization
// (Authorization) under the token's domain, a Permit2
// PermitWitnessTransferFrom with x402's witness (Permit2Authorization)
// under Permit2's domain (Permit2Domain), and an EIP-2612 Permit
// (EIP2612Permit) under the token's domain.
type TypedData struct {
	// Domain is the EIP-712 domain. A Domain without a Version is one
	// whose EIP712Domain type has no version field, as Permit2's.
	Domain  Domain
	Message TypedMessage
}

// TypedMessage is a message of TypedData: Authorization,
// Permit2Authorization or EIP2612Permit.
type TypedMessage interface {
	// StructHash is the message's EIP-712 hashStruct.
	StructHash() common.Hash
	// eip712 is the message as EIP-712 typed data JSON has it: its primary
	// type, the types it uses (EIP712Domain aside) and its fields.
	eip712() (primary string, types map[string][]typedField, message any)
}

// Permit2Domain returns Permit2's EIP-712 domain on chainID: the name
// "Permit2", no version, verifyingContract Permit2Address.
func Permit2Domain(chainID *big.Int) Domain {
	return Domain{Name: "Permit2", ChainID: chainID, VerifyingContract: Permit2Address}
}

// Digest returns the EIP-712 digest of td, the 32 bytes that are signed.
func (td TypedData) Digest() common.Hash {
	return Digest(td.separator(), td.Message.StructHash())
}

// separator is td's domain separator: Domain.Separator, or for a domain
// without a version, the hash of its EIP712Domain without the field.
func (td TypedData) separator() common.Hash {
	d := td.Domain
	if d.Version != "" {
		return d.Separator()
	}
	buf := make([]byte, 0, 4*32)
	buf = append(buf, noVersionDomainTypehash[:]...)
	buf = append(buf, crypto.Keccak256([]byte(d.Name))...)
	buf = append(buf, word(d.ChainID)...)
	buf = append(buf, common.LeftPadBytes(d.VerifyingContract[:], 32)...)
	return crypto.Keccak256Hash(buf)
}

// noVersionDomainTypehash is the typehash of an EIP712Domain without a
// version (Permit2DomainType).
var noVersionDomainTypehash = crypto.Keccak256Hash([]byte(Permit2DomainType))

// typedField is one field of an EIP-712 type.
type typedField struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// typedDataJSON is EIP-712 typed data as eth_signTypedData_v4 and clef's
// account_signTypedData take it.
type typedDataJSON struct {
	Types       map[string][]typedField `json:"types"`
	PrimaryType string                  `json:"primaryType"`
	Domain      typedDomainJSON         `json:"domain"`
	Message     any                     `json:"message"`
}

type typedDomainJSON struct {
	Name              string `json:"name"`
	Version           string `json:"version,omitempty"`
	ChainID           string `json:"chainId"`
	VerifyingContract string `json:"verifyingContract"`
}

// The EIP-712 types of the messages, in the order their type strings
// (eip712DomainTypehash, TransferWithAuthorizationTypehash, Permit2's and
// EIP-2612's in permit2.go) list their fields.
var (
	eip712DomainFields = []typedField{
		{"name", "string"}, {"version", "string"}, {"chainId", "uint256"}, {"verifyingContract", "address"},
	}
	noVersionDomainFields = []typedField{
		{"name", "string"}, {"chainId", "uint256"}, {"verifyingContract", "address"},
	}
	transferWithAuthorizationFields = []typedField{
		{"from", "address"}, {"to", "address"}, {"value", "uint256"},
		{"validAfter", "uint256"}, {"validBefore", "uint256"}, {"nonce", "bytes32"},
	}
	permitWitnessTransferFromFields = []typedField{
		{"permitted", "TokenPermissions"}, {"spender", "address"}, {"nonce", "uint256"},
		{"deadline", "uint256"}, {"witness", "Witness"},
	}
	tokenPermissionsFields = []typedField{{"token", "address"}, {"amount", "uint256"}}
	exactWitnessFields     = []typedField{{"to", "address"}, {"validAfter", "uint256"}}
	uptoWitnessFields      = []typedField{{"to", "address"}, {"facilitator", "address"}, {"validAfter", "uint256"}}
	eip2612PermitFields    = []typedField{
		{"owner", "address"}, {"spender", "address"}, {"value", "uint256"}, {"nonce", "uint256"}, {"deadline", "uint256"},
	}
)

// MarshalJSON writes td as EIP-712 typed data JSON (types, primaryType,
// domain, message), the form eth_signTypedData_v4 and clef's
// account_signTypedData take; hashing it by EIP-712 gives Digest. Numbers
// are decimal strings, as EIP-712 signers accept them for uint256.
func (td TypedData) MarshalJSON() ([]byte, error) {
	if td.Message == nil {
		return nil, fmt.Errorf("typed data without a message")
	}
	chainID := "0"
	if td.Domain.ChainID != nil {
		chainID = td.Domain.ChainID.String()
	}
	primary, types, message := td.Message.eip712()
	all := map[string][]typedField{"EIP712Domain": eip712DomainFields}
	if td.Domain.Version == "" {
		all["EIP712Domain"] = noVersionDomainFields
	}
	for name, fields := range types {
		all[name] = fields
	}
	return json.Marshal(typedDataJSON{
		Types:       all,
		PrimaryType: primary,
		Domain: typedDomainJSON{
			Name: td.Domain.Name, Version: td.Domain.Version, ChainID: chainID,
			VerifyingContract: td.Domain.VerifyingContract.Hex(),
		},
		Message: message,
	})
}

func (a Authorization) eip712() (string, map[string][]typedField, any) {
	return "TransferWithAuthorization", map[string][]typedField{"TransferWithAuthorization": transferWithAuthorizationFields}, a.JSON()
}

// permit2MessageJSON is a PermitWitnessTransferFrom as EIP-712 typed data
// has it: the type's fields only (the wire form's from is the signer, not
// a field).
type permit2MessageJSON struct {
	Permitted TokenPermissionsJSON `json:"permitted"`
	Spender   string               `json:"spender"`
	Nonce     string               `json:"nonce"`
	Deadline  string               `json:"deadline"`
	Witness   WitnessJSON          `json:"witness"`
}

func (a Permit2Authorization) eip712() (string, map[string][]typedField, any) {
	j := a.JSON()
	witness := exactWitnessFields
	if a.Upto() {
		witness = uptoWitnessFields
	}
	return "PermitWitnessTransferFrom", map[string][]typedField{
			"PermitWitnessTransferFrom": permitWitnessTransferFromFields,
			"TokenPermissions":          tokenPermissionsFields,
			"Witness":                   witness,
		}, permit2MessageJSON{
			Permitted: j.Permitted, Spender: j.Spender, Nonce: j.Nonce, Deadline: j.Deadline, Witness: j.Witness,
		}
}

func (p EIP2612Permit) eip712() (string, map[string][]typedField, any) {
	return "Permit", map[string][]typedField{"Permit": eip2612PermitFields}, map[string]string{
		"owner": p.Owner.Hex(), "spender": p.Spender.Hex(), "value": decimal(p.Value),
		"nonce": decimal(p.Nonce), "deadline": decimal(p.Deadline),
	}
}

// decimal writes v in decimal, nil as 0.
func decimal(v *big.Int) string {
	if v == nil {
		return "0"
	}
	return v.String()
}

// signTyped has s sign td. A signature from a signer outside the process
// is checked before it can leave: a misconfigured signer would otherwise
// have the seller refuse a payment that then stays counted.
func signTyped(ctx context.Context, s Signer, td TypedData) ([]byte, error) {
	sig, err := s.SignTypedData(ctx, td)
	if err != nil {
		return nil, err
	}
	if ip, ok := s.(payments.InProcessSigner); !ok || !ip.InProcess() {
		if err := checkSignature(s, td.Digest(), sig); err != nil {
			return nil, err
		}
	}
	return sig, nil
}

// checkSignature checks that sig, from a signer outside the process, is a
// valid low-s signature of digest by the signer's address.
func checkSignature(s Signer, digest common.Hash, sig []byte) error {
	got, err := RecoverSigner(digest, sig)
	switch {
	case err != nil:
		return &payments.SignerError{Signer: signerName(s), Reason: "its signature is not usable: " + err.Error(), Err: err}
	case got != s.Address():
		return &payments.SignerError{Signer: signerName(s), Reason: fmt.Sprintf("its signature does not recover to %s (it recovers to %s): it signed with another key", s.Address().Hex(), got.Hex())}
	}
	return nil
}

// signerName names a signer for messages: its String, else its address.
func signerName(s Signer) string {
	if st, ok := s.(fmt.Stringer); ok {
		return st.String()
	}
	return s.Payer()
}
