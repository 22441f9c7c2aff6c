package evm

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// TransferWithAuthorizationTypehash is keccak256 of the EIP-3009 type string.
var TransferWithAuthorizationTypehash = crypto.Keccak256Hash([]byte(
	"TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"))

var eip712DomainTypehash = crypto.Keccak256Hash([]byte(
	"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"))

// Domain is an EIP-712 domain for an EIP-3009 token.
type Domain struct {
	Name              string
	Version           string
	ChainID           *big.Int
	VerifyingContract common.Address
}

// Separator returns the EIP-712 domain separator. Separators are computed
// once per domain and remembered: a process pays few assets on few chains.
func (d Domain) Separator() common.Hash {
	k := domainKey{d.Name, d.Version, d.ChainID.String(), d.VerifyingContract}
	if h, ok := separators.Load(k); ok {
		return h.(common.Hash)
	}
	h := d.separator()
	if separatorCount.Add(1) <= maxSeparators {
		separators.Store(k, h)
	}
	return h
}

// domainKey identifies a Domain (ChainID in decimal, as a comparable key).
type domainKey struct {
	name, version, chainID string
	contract               common.Address
}

var (
	separators     sync.Map // domainKey → common.Hash
	separatorCount atomic.Int64
)

// maxSeparators bounds the separator cache: domains come from sellers'
// 402 answers, and a hostile seller must not grow it without end.
const maxSeparators = 1024

func (d Domain) separator() common.Hash {
	buf := make([]byte, 0, 5*32)
	buf = append(buf, eip712DomainTypehash[:]...)
	buf = append(buf, crypto.Keccak256([]byte(d.Name))...)
	buf = append(buf, crypto.Keccak256([]byte(d.Version))...)
	buf = append(buf, word(d.ChainID)...)
	buf = append(buf, common.LeftPadBytes(d.VerifyingContract[:], 32)...)
	return crypto.Keccak256Hash(buf)
}

// Authorization is an EIP-3009 transferWithAuthorization message.
type Authorization struct {
	From        common.Address
	To          common.Address
	Value       *big.Int
	ValidAfter  *big.Int
	ValidBefore *big.Int
	Nonce       [32]byte
}

// StructHash returns hashStruct(message).
func (a Authorization) StructHash() common.Hash {
	buf := make([]byte, 0, 7*32)
	buf = append(buf, TransferWithAuthorizationTypehash[:]...)
	buf = append(buf, common.LeftPadBytes(a.From[:], 32)...)
	buf = append(buf, common.LeftPadBytes(a.To[:], 32)...)
	buf = append(buf, word(a.Value)...)
	buf = append(buf, word(a.ValidAfter)...)
	buf = append(buf, word(a.ValidBefore)...)
	buf = append(buf, a.Nonce[:]...)
	return crypto.Keccak256Hash(buf)
}

// JSON returns the authorization as x402 puts it on the wire.
func (a Authorization) JSON() AuthorizationJSON {
	return AuthorizationJSON{
		From:        a.From.Hex(),
		To:          a.To.Hex(),
		Value:       a.Value.String(),
		ValidAfter:  a.ValidAfter.String(),
		ValidBefore: a.ValidBefore.String(),
		Nonce:       hexBytes(a.Nonce[:]),
	}
}

// ParseAuthorization reads an authorization from its wire form, strictly.
func ParseAuthorization(j AuthorizationJSON) (Authorization, error) {
	var a Authorization
	var err error
	if a.From, err = parseAddress("from", j.From); err != nil {
		return a, err
	}
	if a.To, err = parseAddress("to", j.To); err != nil {
		return a, err
	}
	for _, f := range []struct {
		name, s string
		dst     **big.Int
	}{{"value", j.Value, &a.Value}, {"validAfter", j.ValidAfter, &a.ValidAfter}, {"validBefore", j.ValidBefore, &a.ValidBefore}} {
		v, ok := new(big.Int).SetString(f.s, 10)
		if !ok || v.Sign() < 0 || v.BitLen() > 256 || !allDigits(f.s) {
			return a, fmt.Errorf("authorization.%s %q is not a uint256 decimal", f.name, f.s)
		}
		*f.dst = v
	}
	n, err := decodeHex(j.Nonce)
	if err != nil || len(n) != 32 {
		return a, fmt.Errorf("authorization.nonce %q is not 32 bytes of 0x-hex", j.Nonce)
	}
	copy(a.Nonce[:], n)
	return a, nil
}

// Digest returns the EIP-712 digest keccak256(0x1901 ‖ domainSeparator ‖ structHash).
func Digest(domainSeparator, structHash common.Hash) common.Hash {
	buf := make([]byte, 0, 66)
	buf = append(buf, 0x19, 0x01)
	buf = append(buf, domainSeparator[:]...)
	buf = append(buf, structHash[:]...)
	return crypto.Keccak256Hash(buf)
}

// RecoverSigner returns the address that produced a 65-byte r‖s‖v signature
// (v = 27/28 or 0/1) over digest. It refuses high-s signatures.
func RecoverSigner(digest common.Hash, sig []byte) (common.Address, error) {
	if len(sig) != 65 {
		return common.Address{}, fmt.Errorf("signature is %d bytes, want 65", len(sig))
	}
	s := make([]byte, 65)
	copy(s, sig)
	if s[64] >= 27 {
		s[64] -= 27
	}
	if s[64] > 1 {
		return common.Address{}, errors.New("signature has an invalid recovery id")
	}
	r, sv := new(big.Int).SetBytes(s[:32]), new(big.Int).SetBytes(s[32:64])
	if !crypto.ValidateSignatureValues(s[64], r, sv, true) {
		return common.Address{}, errors.New("signature values are out of range (high s?)")
	}
	pub, err := crypto.SigToPub(digest[:], s)
	if err != nil {
		return common.Address{}, fmt.Errorf("recover signer: %w", err)
	}
	return crypto.PubkeyToAddress(*pub), nil
}

// word encodes a non-negative integer as a 32-byte big-endian word.
func word(v *big.Int) []byte {
	if v == nil {
		return make([]byte, 32)
	}
	return common.LeftPadBytes(v.Bytes(), 32)
}

func parseAddress(field, s string) (common.Address, error) {
	if len(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !common.IsHexAddress(s) {
		return common.Address{}, fmt.Errorf("%s %q is not a 0x-prefixed 20-byte address", field, s)
	}
	return common.HexToAddress(s), nil
}

func hexBytes(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2+2*len(b))
	out[0], out[1] = '0', 'x'
	for i, c := range b {
		out[2+2*i], out[3+2*i] = digits[c>>4], digits[c&0xf]
	}
	return string(out)
}

func decodeHex(s string) ([]byte, error) {
	if len(s) < 2 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return nil, errors.New("missing 0x prefix")
	}
	return hex.DecodeString(s[2:])
}

// Payload is the EVM exact scheme's payload.
type Payload struct {
	Signature     string            `json:"signature"`
	Authorization AuthorizationJSON `json:"authorization"`
}

// AuthorizationJSON is an EIP-3009 authorization as it travels in JSON.
type AuthorizationJSON struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Value       string `json:"value"`
	ValidAfter  string `json:"validAfter"`
	ValidBefore string `json:"validBefore"`
	Nonce       string `json:"nonce"`
}

// Extra is the EVM scheme's `extra` object.
type Extra struct {
	Name                string `json:"name"`
	Version             string `json:"version"`
	AssetTransferMethod string `json:"assetTransferMethod,omitempty"`
	PaymentFlow         string `json:"paymentFlow,omitempty"`
	// FacilitatorAddress is, for upto, the facilitator that alone may
	// settle (it goes into the witness).
	FacilitatorAddress string `json:"facilitatorAddress,omitempty"`
}

// ParseExtra decodes an option's extra leniently: a seller may add keys we
// do not know.
func ParseExtra(r *x402.Requirement) (Extra, error) {
	var e Extra
	if len(r.Extra) == 0 || string(r.Extra) == "null" {
		return e, nil
	}
	if err := json.Unmarshal(r.Extra, &e); err != nil {
		return e, fmt.Errorf("extra is not an object of strings: %w", err)
	}
	return e, nil
}

// ParsePayload reads the EVM exact scheme's payload from its JSON.
func ParsePayload(raw json.RawMessage) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("payload is not an EIP-3009 authorization with its signature: %w", err)
	}
	return p, nil
}

// MustPayload is ParsePayload for a payload x402-mcp wrote
// itself (tests): it panics on one it cannot read.
func MustPayload(raw json.RawMessage) Payload {
	p, err := ParsePayload(raw)
	if err != nil {
		panic(err)
	}
	return p
}

// Raw returns the payload as JSON, as PaymentPayload.Payload carries it.
func (p Payload) Raw() json.RawMessage {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // a struct of strings always encodes
	}
	return b
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
