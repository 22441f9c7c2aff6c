// This file is Permit2 as x402 uses it (x402-protocol.md §3.2 and §4): the
// canonical addresses, Permit2's EIP-712 domain (a name, no version), the
// PermitWitnessTransferFrom message with the exact and upto witnesses, the
// payload's permit2Authorization, and the EIP-2612 Permit a gas-sponsoring
// facilitator submits to give Permit2 its allowance.

package evm

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// The canonical addresses of Permit2 and the x402 Permit2 proxies, the same
// on every chain (CREATE2).
var (
	Permit2Address           = common.HexToAddress("0x000000000022D473030F116dDEE9F6B43aC78BA3")
	ExactPermit2ProxyAddress = common.HexToAddress("0x402085c248EeA27D92E8b30b2C58ed07f9E20001")
	UptoPermit2ProxyAddress  = common.HexToAddress("0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002")
)

// Asset transfer methods of the EVM exact scheme (extra.assetTransferMethod).
const (
	MethodEIP3009 = "eip3009"
	MethodPermit2 = "permit2"
)

// The type strings and typehashes of Permit2's signature transfers with
// x402's witnesses.
const (
	// Permit2DomainType is Permit2's EIP-712 domain type: no version.
	Permit2DomainType = "EIP712Domain(string name,uint256 chainId,address verifyingContract)"
	// TokenPermissionsType is the permitted token and amount.
	TokenPermissionsType = "TokenPermissions(address token,uint256 amount)"
	// PermitWitnessStub starts every PermitWitnessTransferFrom type; the
	// witness type string completes it.
	PermitWitnessStub = "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,"
	// ExactWitnessType and UptoWitnessType are the witnesses of the exact
	// and upto proxies; the *WitnessTypeString are what the proxies pass to
	// Permit2 after the stub.
	ExactWitnessType       = "Witness(address to,uint256 validAfter)"
	UptoWitnessType        = "Witness(address to,address facilitator,uint256 validAfter)"
	ExactWitnessTypeString = "Witness witness)" + TokenPermissionsType + ExactWitnessType
	UptoWitnessTypeString  = "Witness witness)" + TokenPermissionsType + UptoWitnessType
	// EIP2612PermitType is an EIP-2612 permit.
	EIP2612PermitType = "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
)

// The typehashes: keccak256 of the type strings above.
var (
	Permit2DomainTypehash      = crypto.Keccak256Hash([]byte(Permit2DomainType))
	TokenPermissionsTypehash   = crypto.Keccak256Hash([]byte(TokenPermissionsType))
	ExactWitnessTypehash       = crypto.Keccak256Hash([]byte(ExactWitnessType))
	UptoWitnessTypehash        = crypto.Keccak256Hash([]byte(UptoWitnessType))
	ExactPermitWitnessTypehash = crypto.Keccak256Hash([]byte(PermitWitnessStub + ExactWitnessTypeString))
	UptoPermitWitnessTypehash  = crypto.Keccak256Hash([]byte(PermitWitnessStub + UptoWitnessTypeString))
	EIP2612PermitTypehash      = crypto.Keccak256Hash([]byte(EIP2612PermitType))
)

// Permit2DomainSeparator returns Permit2's EIP-712 domain separator on the
// chain: name "Permit2", no version, verifyingContract Permit2Address.
func Permit2DomainSeparator(chainID *big.Int) common.Hash {
	buf := make([]byte, 0, 4*32)
	buf = append(buf, Permit2DomainTypehash[:]...)
	buf = append(buf, crypto.Keccak256([]byte("Permit2"))...)
	buf = append(buf, word(chainID)...)
	buf = append(buf, common.LeftPadBytes(Permit2Address[:], 32)...)
	return crypto.Keccak256Hash(buf)
}

// Permit2Authorization is a Permit2 PermitWitnessTransferFrom with x402's
// witness, as the payer signs it: Amount of Token, spendable by Spender
// (an x402 proxy) once (Nonce) until Deadline, to To from ValidAfter on;
// Facilitator is set for upto only (the one facilitator that may settle).
type Permit2Authorization struct {
	From        common.Address
	Token       common.Address
	Amount      *big.Int
	Spender     common.Address
	Nonce       *big.Int
	Deadline    *big.Int
	To          common.Address
	ValidAfter  *big.Int
	Facilitator *common.Address
}

// Upto says whether the witness is the upto proxy's (it names a
// facilitator).
func (a Permit2Authorization) Upto() bool { return a.Facilitator != nil }

// WitnessHash returns hashStruct(witness).
func (a Permit2Authorization) WitnessHash() common.Hash {
	buf := make([]byte, 0, 4*32)
	if a.Facilitator != nil {
		buf = append(buf, UptoWitnessTypehash[:]...)
		buf = append(buf, common.LeftPadBytes(a.To[:], 32)...)
		buf = append(buf, common.LeftPadBytes(a.Facilitator[:], 32)...)
	} else {
		buf = append(buf, ExactWitnessTypehash[:]...)
		buf = append(buf, common.LeftPadBytes(a.To[:], 32)...)
	}
	buf = append(buf, word(a.ValidAfter)...)
	return crypto.Keccak256Hash(buf)
}

// StructHash returns hashStruct(PermitWitnessTransferFrom): the typehash
// of the exact or upto witness, the token permissions, the spender, the
// nonce, the deadline and the witness.
func (a Permit2Authorization) StructHash() common.Hash {
	tp := make([]byte, 0, 3*32)
	tp = append(tp, TokenPermissionsTypehash[:]...)
	tp = append(tp, common.LeftPadBytes(a.Token[:], 32)...)
	tp = append(tp, word(a.Amount)...)
	typehash := ExactPermitWitnessTypehash
	if a.Facilitator != nil {
		typehash = UptoPermitWitnessTypehash
	}
	w := a.WitnessHash()
	buf := make([]byte, 0, 6*32)
	buf = append(buf, typehash[:]...)
	buf = append(buf, crypto.Keccak256(tp)...)
	buf = append(buf, common.LeftPadBytes(a.Spender[:], 32)...)
	buf = append(buf, word(a.Nonce)...)
	buf = append(buf, word(a.Deadline)...)
	buf = append(buf, w[:]...)
	return crypto.Keccak256Hash(buf)
}

// Digest returns the EIP-712 digest the payer signs on chainID.
func (a Permit2Authorization) Digest(chainID *big.Int) common.Hash {
	return Digest(Permit2DomainSeparator(chainID), a.StructHash())
}

// JSON returns the authorization as x402 puts it on the wire.
func (a Permit2Authorization) JSON() Permit2AuthorizationJSON {
	j := Permit2AuthorizationJSON{
		Permitted: TokenPermissionsJSON{Token: a.Token.Hex(), Amount: a.Amount.String()},
		From:      a.From.Hex(), Spender: a.Spender.Hex(), Nonce: a.Nonce.String(), Deadline: a.Deadline.String(),
		Witness: WitnessJSON{To: a.To.Hex(), ValidAfter: a.ValidAfter.String()},
	}
	if a.Facilitator != nil {
		j.Witness.Facilitator = a.Facilitator.Hex()
	}
	return j
}

// Permit2Payload is the payload of a Permit2 payment (exact or upto).
type Permit2Payload struct {
	Signature     string                   `json:"signature"`
	Authorization Permit2AuthorizationJSON `json:"permit2Authorization"`
}

// Permit2AuthorizationJSON is a Permit2Authorization as it travels in JSON:
// amounts, the nonce and times as decimal strings.
type Permit2AuthorizationJSON struct {
	Permitted TokenPermissionsJSON `json:"permitted"`
	From      string               `json:"from"`
	Spender   string               `json:"spender"`
	Nonce     string               `json:"nonce"`
	Deadline  string               `json:"deadline"`
	Witness   WitnessJSON          `json:"witness"`
}

// TokenPermissionsJSON is the permitted token and amount.
type TokenPermissionsJSON struct {
	Token  string `json:"token"`
	Amount string `json:"amount"`
}

// WitnessJSON is x402's witness: Facilitator only for upto.
type WitnessJSON struct {
	To          string `json:"to"`
	Facilitator string `json:"facilitator,omitempty"`
	ValidAfter  string `json:"validAfter"`
}

// Raw returns the payload as JSON, as PaymentPayload.Payload carries it.
func (p Permit2Payload) Raw() json.RawMessage {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // a struct of strings always encodes
	}
	return b
}

// IsPermit2Payload says whether a payload's JSON is a Permit2 payment (it
// has a permit2Authorization), as opposed to an EIP-3009 one.
func IsPermit2Payload(raw json.RawMessage) bool {
	var probe struct {
		P json.RawMessage `json:"permit2Authorization"`
	}
	return json.Unmarshal(raw, &probe) == nil && len(probe.P) > 0 && string(probe.P) != "null"
}

// ParsePermit2Payload reads a Permit2 payload from its JSON.
func ParsePermit2Payload(raw json.RawMessage) (Permit2Payload, error) {
	var p Permit2Payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("payload is not a Permit2 authorization with its signature: %w", err)
	}
	return p, nil
}

// ParsePermit2Authorization reads an authorization from its wire form,
// strictly: 0x addresses, uint256 decimals. A witness with a facilitator is
// an upto one.
func ParsePermit2Authorization(j Permit2AuthorizationJSON) (Permit2Authorization, error) {
	var a Permit2Authorization
	var err error
	for _, f := range []struct {
		name, s string
		dst     *common.Address
	}{
		{"permitted.token", j.Permitted.Token, &a.Token}, {"from", j.From, &a.From},
		{"spender", j.Spender, &a.Spender}, {"witness.to", j.Witness.To, &a.To},
	} {
		if *f.dst, err = parseAddress("permit2Authorization."+f.name, f.s); err != nil {
			return a, err
		}
	}
	if j.Witness.Facilitator != "" {
		fac, err := parseAddress("permit2Authorization.witness.facilitator", j.Witness.Facilitator)
		if err != nil {
			return a, err
		}
		a.Facilitator = &fac
	}
	for _, f := range []struct {
		name, s string
		dst     **big.Int
	}{
		{"permitted.amount", j.Permitted.Amount, &a.Amount}, {"nonce", j.Nonce, &a.Nonce},
		{"deadline", j.Deadline, &a.Deadline}, {"witness.validAfter", j.Witness.ValidAfter, &a.ValidAfter},
	} {
		v, ok := parseUint256(f.s)
		if !ok {
			return a, fmt.Errorf("permit2Authorization.%s %q is not a uint256 decimal", f.name, clip(f.s))
		}
		*f.dst = v
	}
	return a, nil
}

// parseUint256 reads a decimal uint256, digits only.
func parseUint256(s string) (*big.Int, bool) {
	if s == "" || len(s) > 78 || !allDigits(s) {
		return nil, false
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.BitLen() > 256 {
		return nil, false
	}
	return v, true
}

// NonceWord returns the position of a Permit2 unordered nonce in its
// owner's nonceBitmap: the word (nonce >> 8) and the bit (nonce & 0xff).
func NonceWord(nonce *big.Int) (wordPos *big.Int, bit uint) {
	return new(big.Int).Rsh(nonce, 8), uint(new(big.Int).And(nonce, big.NewInt(0xff)).Uint64())
}

// EIP2612Permit is an EIP-2612 Permit(owner, spender, value, nonce,
// deadline) on a token whose EIP-712 domain is Domain.
type EIP2612Permit struct {
	Domain   Domain
	Owner    common.Address
	Spender  common.Address
	Value    *big.Int
	Nonce    *big.Int
	Deadline *big.Int
}

// Digest returns the EIP-712 digest the owner signs.
func (p EIP2612Permit) Digest() common.Hash {
	buf := make([]byte, 0, 6*32)
	buf = append(buf, EIP2612PermitTypehash[:]...)
	buf = append(buf, common.LeftPadBytes(p.Owner[:], 32)...)
	buf = append(buf, common.LeftPadBytes(p.Spender[:], 32)...)
	buf = append(buf, word(p.Value)...)
	buf = append(buf, word(p.Nonce)...)
	buf = append(buf, word(p.Deadline)...)
	return Digest(p.Domain.Separator(), crypto.Keccak256Hash(buf))
}

// ExtEIP2612GasSponsoring is the key of the gas-sponsoring extension with
// which a facilitator submits the payer's EIP-2612 permit of Permit2 before
// settling (x402-protocol.md §3.2).
const ExtEIP2612GasSponsoring = "eip2612GasSponsoring"

// EIP2612SponsoringInfo is the payer's info of eip2612GasSponsoring: the
// signed permit of Permit2 (spender) for amount of asset.
type EIP2612SponsoringInfo struct {
	From      string `json:"from"`
	Asset     string `json:"asset"`
	Spender   string `json:"spender"`
	Amount    string `json:"amount"`
	Nonce     string `json:"nonce"`
	Deadline  string `json:"deadline"`
	Signature string `json:"signature"`
	Version   string `json:"version"`
}

// ParseEIP2612Sponsoring reads the info of a payload's eip2612GasSponsoring
// extension ({"info": {...}, "schema": ...}) into the permit it carries and
// its signature. domain is the token's EIP-712 domain.
func ParseEIP2612Sponsoring(ext json.RawMessage, domain Domain) (EIP2612Permit, []byte, error) {
	var e struct {
		Info EIP2612SponsoringInfo `json:"info"`
	}
	if err := json.Unmarshal(ext, &e); err != nil {
		return EIP2612Permit{}, nil, fmt.Errorf("eip2612GasSponsoring is not an object with info: %w", err)
	}
	i := e.Info
	p := EIP2612Permit{Domain: domain}
	var err error
	if p.Owner, err = parseAddress("eip2612GasSponsoring.info.from", i.From); err != nil {
		return p, nil, err
	}
	if p.Spender, err = parseAddress("eip2612GasSponsoring.info.spender", i.Spender); err != nil {
		return p, nil, err
	}
	asset, err := parseAddress("eip2612GasSponsoring.info.asset", i.Asset)
	if err != nil {
		return p, nil, err
	}
	if asset != domain.VerifyingContract {
		return p, nil, fmt.Errorf("eip2612GasSponsoring.info.asset %s is not the token %s", asset.Hex(), domain.VerifyingContract.Hex())
	}
	for _, f := range []struct {
		name, s string
		dst     **big.Int
	}{{"amount", i.Amount, &p.Value}, {"nonce", i.Nonce, &p.Nonce}, {"deadline", i.Deadline, &p.Deadline}} {
		v, ok := parseUint256(f.s)
		if !ok {
			return p, nil, fmt.Errorf("eip2612GasSponsoring.info.%s %q is not a uint256 decimal", f.name, clip(f.s))
		}
		*f.dst = v
	}
	sig, err := decodeHex(strings.TrimSpace(i.Signature))
	if err != nil || len(sig) != 65 {
		return p, nil, fmt.Errorf("eip2612GasSponsoring.info.signature is not 65 bytes of 0x-hex")
	}
	return p, sig, nil
}

// Permit2Settlement is a Permit2 payment as a facilitator submits it
// through an x402 proxy (the test facilitator of internal/localseller on
// the simulated chain): the payer's signed authorization, the amount to
// move (exact: the permitted amount; upto: from 1 up to it), and, for
// eip2612GasSponsoring, the payer's signed EIP-2612 permit of Permit2.
type Permit2Settlement struct {
	Auth      Permit2Authorization
	Signature []byte
	Amount    *big.Int
	// Permit and PermitSig, when set, make it settleWithPermit.
	Permit    *EIP2612Permit
	PermitSig []byte
}
