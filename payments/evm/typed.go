package evm

import (
	"context"
	"encoding/json"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Signer is an EVM key that signs without showing itself: the payer of
// Exact.Sign. package wallet's key sources implement it: keys held in this
// process (environment, key file, keystore, OS keychain) and keys held
// elsewhere (clef, AWS KMS). Its errors never hold key material; a signer
// that refuses, or cannot be asked, returns a *payments.SignerError, which
// the core answers "not charged".
type Signer interface {
	payments.Signer
	// Address is the signer's address (Payer is its checksummed form).
	Address() common.Address
	// SignTypedData signs the EIP-712 typed data td and returns r‖s‖v with
	// v = 27 or 28 and a low s. A signer that needs the whole message (a
	// remote signer applying its own rules) reads td; one that signs
	// digests signs td.Digest().
	SignTypedData(ctx context.Context, td TypedData) ([]byte, error)
}

// TypedData is what the exact scheme signs: an EIP-3009
// TransferWithAuthorization message under its token's EIP-712 domain.
type TypedData struct {
	Domain  Domain
	Message Authorization
}

// Digest returns the EIP-712 digest of td, the 32 bytes that are signed.
func (td TypedData) Digest() common.Hash {
	return Digest(td.Domain.Separator(), td.Message.StructHash())
}

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
	Message     AuthorizationJSON       `json:"message"`
}

type typedDomainJSON struct {
	Name              string `json:"name"`
	Version           string `json:"version"`
	ChainID           string `json:"chainId"`
	VerifyingContract string `json:"verifyingContract"`
}

// The EIP-712 types of an EIP-3009 authorization, in the order their type
// strings (eip712DomainTypehash, TransferWithAuthorizationTypehash) list
// their fields.
var (
	eip712DomainFields = []typedField{
		{"name", "string"}, {"version", "string"}, {"chainId", "uint256"}, {"verifyingContract", "address"},
	}
	transferWithAuthorizationFields = []typedField{
		{"from", "address"}, {"to", "address"}, {"value", "uint256"},
		{"validAfter", "uint256"}, {"validBefore", "uint256"}, {"nonce", "bytes32"},
	}
)

// MarshalJSON writes td as EIP-712 typed data JSON (types, primaryType,
// domain, message), the form eth_signTypedData_v4 and clef's
// account_signTypedData take; hashing it by EIP-712 gives Digest. Numbers
// are decimal strings, as EIP-712 signers accept them for uint256.
func (td TypedData) MarshalJSON() ([]byte, error) {
	chainID := "0"
	if td.Domain.ChainID != nil {
		chainID = td.Domain.ChainID.String()
	}
	return json.Marshal(typedDataJSON{
		Types: map[string][]typedField{
			"EIP712Domain":              eip712DomainFields,
			"TransferWithAuthorization": transferWithAuthorizationFields,
		},
		PrimaryType: "TransferWithAuthorization",
		Domain: typedDomainJSON{
			Name: td.Domain.Name, Version: td.Domain.Version, ChainID: chainID,
			VerifyingContract: td.Domain.VerifyingContract.Hex(),
		},
		Message: td.Message.JSON(),
	})
}
