// This file is the Permit2 mechanism the exact and upto schemes share:
// the allowance it needs (and the EIP-2612 permit a gas-sponsoring
// facilitator submits instead), signing, and proving a payment's fate
// through Permit2's nonce bitmap.

package evm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

// prepareAllowance checks, when the chain can be read, that the payer's
// ERC-20 allowance to Permit2 covers the payment: a Permit2 signature is
// worthless to the seller without it (its facilitator answers 412
// permit2_allowance_required). When it does not, and the seller's
// facilitator offers eip2612GasSponsoring, the operator allows a gasless
// approval of this amount (gasless_approval:) and the token's EIP-712
// domain is known and matches the token's DOMAIN_SEPARATOR, it reads the
// token's EIP-2612 nonce for Sign to sign a permit of Permit2 for exactly
// the payment. Otherwise it refuses before anything is signed, saying what
// to approve and how. A chain that cannot be read (no rpc endpoint, a node
// error) leaves the check to the seller: it signs.
func prepareAllowance(ctx context.Context, chain Checker, t *payments.Terms, d *terms) error {
	pc, ok := chain.(Permit2Checker)
	if !ok || !common.IsHexAddress(t.Payer) {
		return nil
	}
	owner := common.HexToAddress(t.Payer)
	allowance, err := pc.Allowance(ctx, t.Network, d.token, owner, Permit2Address)
	if err != nil {
		return nil // unreadable: the seller's facilitator checks it, and a 412 is a clear refusal
	}
	need := new(big.Int).SetUint64(uint64(t.Amount))
	if allowance.Cmp(need) >= 0 {
		return nil
	}
	why := ""
	switch {
	case d.sponsor == nil:
	case d.gaslessCap < t.Amount:
		why = fmt.Sprintf(" The seller's facilitator would submit a gasless EIP-2612 approval (eip2612GasSponsoring), but registry.yaml allows none for a payment of %s in this asset (gasless_approval: under the asset, or defaults.gasless_approval for USDC).", t.Currency.Format(t.Amount))
	case !d.hasDomain:
		why = " The seller's facilitator would submit a gasless EIP-2612 approval, but the token's EIP-712 name and version are not known (extra.name and extra.version, or the asset's name: and version: in registry.yaml)."
	default:
		sep, err := pc.DomainSeparatorOf(ctx, t.Network, d.token)
		if err == nil && sep == d.domain.Separator() {
			nonce, err := pc.PermitNonce(ctx, t.Network, d.token, owner)
			if err == nil {
				d.permitNonce = nonce
				return nil
			}
			why = " The seller's facilitator would submit a gasless EIP-2612 approval, but the token's nonces() could not be read: " + payments.Sanitize(err.Error(), 200) + "."
		} else {
			why = fmt.Sprintf(" The seller's facilitator would submit a gasless EIP-2612 approval, but the token's DOMAIN_SEPARATOR is not that of the EIP-712 domain %q version %q (or could not be read): it does not take such permits.", d.domain.Name, d.domain.Version)
		}
	}
	return &payments.Refusal{Code: payments.CodeAllowanceRequired, Message: AllowanceMessage(t.Network, t.Payer, t.Asset, t.Currency, allowance, t.Amount) + why}
}

// AllowanceMessage says that payer's allowance to Permit2 of asset on
// network (allowance, atomic units) is below amount, and how to approve it
// with `x402-mcp wallet approve-permit2`. allowance may be nil (not known).
func AllowanceMessage(network payments.Network, payer, asset string, cur payments.Currency, allowance *big.Int, amount payments.Amount) string {
	has := "no known allowance"
	if allowance != nil {
		has = "an allowance of " + allowance.String() + " atomic units"
		if allowance.IsUint64() {
			has = "an allowance of " + cur.Format(payments.Amount(allowance.Uint64()))
		}
	}
	return fmt.Sprintf("a Permit2 payment of %s needs the wallet's ERC-20 allowance to Permit2 (%s), and the wallet %s has %s for %s on %s. Approve it once, from a shell: `x402-mcp wallet approve-permit2 --network %s --asset %s --amount %s` (it shows what it will do, then sends approve(Permit2, amount) from the wallet, which pays the gas, through the network's rpc: endpoint)",
		cur.Format(amount), Permit2Address.Hex(), payer, has, asset, network, network, asset, cur.Decimal(amount))
}

// permit2Data is a Permit2 payment's own record in its Proof: what
// proving its fate needs beyond the columns (the payee, whose Transfer log
// names the amount, and the spender).
type permit2Data struct {
	Method  string `json:"method"`
	PayTo   string `json:"payTo"`
	Spender string `json:"spender"`
}

// isPermit2Proof says whether p is a Permit2 payment's proof.
func isPermit2Proof(p payments.Proof) bool {
	var d permit2Data
	return len(p.Data) > 0 && json.Unmarshal(p.Data, &d) == nil && d.Method == MethodPermit2
}

// signPermit2 signs a PermitWitnessTransferFrom of t.Amount (upto: the
// maximum) of the token, spendable once by spender, to the payee (upto:
// only through the witness's facilitator): a random 32-byte nonce written
// as a decimal uint256, deadline now plus timeout, validAfter 0. With an
// EIP-2612 permit planned (Prepare), it also signs Permit(payer, Permit2,
// t.Amount, nonce, deadline) and attaches it as the payload's
// eip2612GasSponsoring, keeping the seller's fields of that extension. The
// proof's id is the nonce, its expiry the first second past the deadline
// (Permit2 takes a signature while block.timestamp <= deadline).
func signPermit2(ctx context.Context, t *payments.Terms, d *terms, es Signer, now time.Time, scheme string, spender common.Address) (json.RawMessage, payments.Proof, error) {
	var n [32]byte
	if _, err := rand.Read(n[:]); err != nil {
		return nil, payments.Proof{}, fmt.Errorf("nonce: %w", err)
	}
	deadline := now.Unix() + timeout(t)
	amount := new(big.Int).SetUint64(uint64(t.Amount))
	auth := Permit2Authorization{
		From: es.Address(), Token: d.token, Amount: amount, Spender: spender, Nonce: new(big.Int).SetBytes(n[:]),
		Deadline: big.NewInt(deadline), To: d.payTo, ValidAfter: big.NewInt(0), Facilitator: d.facilitator,
	}
	sig, err := es.SignDigest(ctx, auth.Digest(ChainID(t.Network)))
	if err != nil {
		return nil, payments.Proof{}, err
	}
	payload, err := json.Marshal(Permit2Payload{Signature: "0x" + hex.EncodeToString(sig), Authorization: auth.JSON()})
	if err != nil {
		return nil, payments.Proof{}, fmt.Errorf("encode the payload: %w", err)
	}
	if d.permitNonce != nil {
		permit := EIP2612Permit{Domain: d.domain, Owner: es.Address(), Spender: Permit2Address, Value: amount, Nonce: d.permitNonce, Deadline: big.NewInt(deadline)}
		psig, err := es.SignDigest(ctx, permit.Digest())
		if err != nil {
			return nil, payments.Proof{}, err
		}
		ext, err := sponsoring(d.sponsor, EIP2612SponsoringInfo{
			From: es.Address().Hex(), Asset: d.token.Hex(), Spender: Permit2Address.Hex(), Amount: amount.String(),
			Nonce: d.permitNonce.String(), Deadline: permit.Deadline.String(), Signature: "0x" + hex.EncodeToString(psig), Version: "1",
		})
		if err != nil {
			return nil, payments.Proof{}, err
		}
		t.Attach = map[string]json.RawMessage{ExtEIP2612GasSponsoring: ext}
	}
	data, err := json.Marshal(permit2Data{Method: MethodPermit2, PayTo: d.payTo.Hex(), Spender: spender.Hex()})
	if err != nil {
		return nil, payments.Proof{}, err
	}
	proof := payments.Proof{
		Family: Name, Scheme: scheme, Network: t.Network, Payer: es.Payer(), Asset: t.Asset,
		ID: auth.Nonce.String(), Expiry: uint64(deadline + 1), ValidAfter: time.Unix(0, 0), Deadline: time.Unix(deadline+1, 0), Since: now,
		Data: data,
	}
	return payload, proof, nil
}

// sponsoring is the payload's eip2612GasSponsoring: the seller's object
// (info and schema) with the payer's fields added to info. Fields the
// seller wrote stay as written (x402 §7: add, never change or drop), but
// for version, which the payer's info always carries.
func sponsoring(offered json.RawMessage, info EIP2612SponsoringInfo) (json.RawMessage, error) {
	obj := map[string]json.RawMessage{}
	if len(offered) > 0 {
		if err := json.Unmarshal(offered, &obj); err != nil {
			return nil, fmt.Errorf("the seller's eip2612GasSponsoring is not an object: %w", err)
		}
	}
	in := map[string]json.RawMessage{}
	if raw, ok := obj["info"]; ok && len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, fmt.Errorf("the seller's eip2612GasSponsoring.info is not an object: %w", err)
		}
	}
	ours, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(ours, &fields); err != nil {
		return nil, err
	}
	for k, v := range fields {
		if _, seller := in[k]; !seller || k == "version" {
			in[k] = v
		}
	}
	if obj["info"], err = json.Marshal(in); err != nil {
		return nil, err
	}
	return json.Marshal(obj)
}

// provePermit2 proves a Permit2 payment's fate from Permit2's nonce bitmap
// at one block (Permit2Checker.CheckPermit2Nonce), with the transfer that
// used the nonce (its transaction and amount) when found.
func provePermit2(ctx context.Context, chain Checker, p payments.Proof) (payments.Fate, error) {
	pc, ok := chain.(Permit2Checker)
	if !ok {
		return payments.Fate{}, errors.New("evm: the chain client reads no Permit2 nonces")
	}
	var d permit2Data
	if err := json.Unmarshal(p.Data, &d); err != nil || !common.IsHexAddress(d.PayTo) {
		return payments.Fate{}, fmt.Errorf("the Permit2 proof's record %q names no payee", payments.Sanitize(string(p.Data), 120))
	}
	if !common.IsHexAddress(p.Asset) || !common.IsHexAddress(p.Payer) {
		return payments.Fate{}, fmt.Errorf("asset %q or payer %q is not an address", p.Asset, p.Payer)
	}
	nonce, ok := parseUint256(p.ID)
	if !ok {
		return payments.Fate{}, fmt.Errorf("Permit2 nonce %q is not a uint256 decimal", payments.Sanitize(p.ID, 90))
	}
	st, err := pc.CheckPermit2Nonce(ctx, Permit2NonceRef{
		Network: p.Network, Token: common.HexToAddress(p.Asset), Owner: common.HexToAddress(p.Payer),
		PayTo: common.HexToAddress(d.PayTo), Nonce: nonce, Since: p.Since,
	})
	return fateOf(st, err, p)
}
