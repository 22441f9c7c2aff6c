package simchain

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/x402-mcp/x402-mcp/contracts"
	"github.com/x402-mcp/x402-mcp/payments/evm"
)

// The spec's values (x402-protocol.md §3.2 and §4; specs/schemes/exact/
// scheme_exact_evm.md and specs/schemes/upto/scheme_upto_evm.md of
// x402-foundation/x402): keccak256 of each type string, written out here
// once so that a change to a type string anywhere (Go or Solidity) fails.
var specTypehashes = []struct {
	name, typ, hash string
	goValue         common.Hash
	// contract and getter read the same value from the deployed contract
	// (empty: no contract exposes it).
	contract common.Address
	getter   string
}{
	{"Permit2 domain", evm.Permit2DomainType, "0x8cad95687ba82c2ce50e74f7b754645e5117c3a5bec8151c0726d5857980a866",
		evm.Permit2DomainTypehash, evm.Permit2Address, "_DOMAIN_TYPEHASH()"},
	{"TokenPermissions", evm.TokenPermissionsType, "0x618358ac3db8dc274f0cd8829da7e234bd48cd73c4a740aede1adec9846d06a1",
		evm.TokenPermissionsTypehash, evm.Permit2Address, "_TOKEN_PERMISSIONS_TYPEHASH()"},
	{"exact witness", evm.ExactWitnessType, "0xd97b3239a7f32295517bd14cb074edfdd188dfe5eb42f802bb26d4fd1eb12c37",
		evm.ExactWitnessTypehash, evm.ExactPermit2ProxyAddress, "WITNESS_TYPEHASH()"},
	{"upto witness", evm.UptoWitnessType, "0xd4171c445a74218b01d4fd8af34ff1106580ea1e36ff837e64484bfaa2253b75",
		evm.UptoWitnessTypehash, evm.UptoPermit2ProxyAddress, "WITNESS_TYPEHASH()"},
	{"exact PermitWitnessTransferFrom",
		"PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)",
		"0xebc156cd23678a74c94df13d772ef5478420637f0c94bd10d509e1dc98f521c7", evm.ExactPermitWitnessTypehash, common.Address{}, ""},
	{"upto PermitWitnessTransferFrom",
		"PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)",
		"0x51dff6974ad4388c499e7fcfe838d2bd767162553a144098ce20ea661d70c2ee", evm.UptoPermitWitnessTypehash, common.Address{}, ""},
	{"EIP-2612 Permit", evm.EIP2612PermitType, "0x6e71edae12b1b97f4d1f60370fef10105fa2faae0126114a169c64845d6126c9",
		evm.EIP2612PermitTypehash, common.Address{}, ""},
}

// TestPermit2TypehashesAndDomain pins every typehash, type string and
// domain of Permit2 and the x402 proxies to the spec's values: computed in
// Go (payments/evm) and read from the contracts the chain runs at their
// canonical addresses.
func TestPermit2TypehashesAndDomain(t *testing.T) {
	ctx := context.Background()
	s := startSim(t)
	for _, c := range []common.Address{evm.Permit2Address, evm.ExactPermit2ProxyAddress, evm.UptoPermit2ProxyAddress} {
		code, err := s.Code(ctx, c)
		if err != nil || len(code) == 0 {
			t.Fatalf("no contract at the canonical address %s (%v)", c.Hex(), err)
		}
	}
	for _, tt := range specTypehashes {
		want := common.HexToHash(tt.hash)
		if got := crypto.Keccak256Hash([]byte(tt.typ)); got != want {
			t.Errorf("%s: keccak256(%q) = %s, the spec's is %s", tt.name, tt.typ, got.Hex(), tt.hash)
		}
		if tt.goValue != want {
			t.Errorf("%s: payments/evm has %s, the spec's is %s", tt.name, tt.goValue.Hex(), tt.hash)
		}
		if tt.getter == "" {
			continue
		}
		out, err := s.Call(ctx, tt.contract, crypto.Keccak256([]byte(tt.getter))[:4])
		if err != nil {
			t.Fatalf("%s: %s on %s: %v", tt.name, tt.getter, tt.contract.Hex(), err)
		}
		if common.BytesToHash(out) != want {
			t.Errorf("%s: the contract at %s answers %s() = %x, the spec's is %s", tt.name, tt.contract.Hex(), tt.getter, out, tt.hash)
		}
	}

	// The type strings the proxies hand Permit2, and Permit2's stub.
	for _, tt := range []struct {
		contract common.Address
		a        string
		getter   string
		want     string
	}{
		{evm.ExactPermit2ProxyAddress, contracts.ExactPermit2ProxyABI, "WITNESS_TYPE_STRING",
			"Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)"},
		{evm.UptoPermit2ProxyAddress, contracts.UptoPermit2ProxyABI, "WITNESS_TYPE_STRING",
			"Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)"},
		{evm.Permit2Address, contracts.Permit2ABI, "_PERMIT_TRANSFER_FROM_WITNESS_TYPEHASH_STUB",
			"PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,"},
	} {
		a := mustABI(tt.getter, tt.a)
		var got string
		if err := s.callABI(ctx, a, tt.contract, tt.getter, &got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s.%s = %q, the spec's is %q", tt.contract.Hex(), tt.getter, got, tt.want)
		}
	}
	if evm.ExactWitnessTypeString != "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)" ||
		evm.UptoWitnessTypeString != "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)" ||
		evm.PermitWitnessStub != "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline," {
		t.Errorf("payments/evm's type strings differ from the spec's: %q, %q, %q", evm.ExactWitnessTypeString, evm.UptoWitnessTypeString, evm.PermitWitnessStub)
	}

	// Both proxies name Permit2 at its canonical address.
	for _, p := range []struct {
		addr common.Address
		a    string
	}{{evm.ExactPermit2ProxyAddress, contracts.ExactPermit2ProxyABI}, {evm.UptoPermit2ProxyAddress, contracts.UptoPermit2ProxyABI}} {
		var got common.Address
		if err := s.callABI(ctx, mustABI("proxy", p.a), p.addr, "PERMIT2", &got); err != nil {
			t.Fatal(err)
		}
		if got != evm.Permit2Address {
			t.Errorf("the proxy at %s names Permit2 %s, not %s", p.addr.Hex(), got.Hex(), evm.Permit2Address.Hex())
		}
	}

	// Permit2's domain: name "Permit2", no version, this chain, its address.
	var onChain [32]byte
	if err := s.callABI(ctx, Permit2ABI, evm.Permit2Address, "DOMAIN_SEPARATOR", &onChain); err != nil {
		t.Fatal(err)
	}
	if got := evm.Permit2DomainSeparator(big.NewInt(ChainID)); got != common.Hash(onChain) {
		t.Errorf("Permit2's DOMAIN_SEPARATOR on chain is %x, payments/evm computes %s", onChain, got.Hex())
	}

	// An EIP-2612 token: its PERMIT_TYPEHASH and its domain (name,
	// version, chain, address) are what payments/evm signs permits over.
	tok, err := s.DeployEIP2612(ctx, TokenOptions{Name: "Mega USD", Version: "1", Symbol: "USDM", Decimals: 6})
	if err != nil {
		t.Fatal(err)
	}
	var permitTypehash, tokenDomain [32]byte
	if err := s.callABI(ctx, EIP2612ABI, tok.Address(), "PERMIT_TYPEHASH", &permitTypehash); err != nil {
		t.Fatal(err)
	}
	if common.Hash(permitTypehash) != evm.EIP2612PermitTypehash {
		t.Errorf("the EIP-2612 token's PERMIT_TYPEHASH is %x, payments/evm has %s", permitTypehash, evm.EIP2612PermitTypehash.Hex())
	}
	if err := s.callABI(ctx, EIP2612ABI, tok.Address(), "DOMAIN_SEPARATOR", &tokenDomain); err != nil {
		t.Fatal(err)
	}
	if got := tok.Domain().Separator(); got != common.Hash(tokenDomain) {
		t.Errorf("the EIP-2612 token's DOMAIN_SEPARATOR is %x, payments/evm computes %s", tokenDomain, got.Hex())
	}

	// The spec's vector (x402-protocol.md §9, "Permit2 on 84532").
	a := evm.Permit2Authorization{
		From: key(t, anvilKey0).Address(), Token: common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e"), Amount: big.NewInt(10000),
		Spender: evm.ExactPermit2ProxyAddress, Deadline: big.NewInt(1740672154),
		To: common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"), ValidAfter: big.NewInt(0),
	}
	a.Nonce, _ = new(big.Int).SetString("33247007178036348590600198031289925668252061821958005840077069883511451257277", 10)
	if got, want := evm.Permit2DomainSeparator(big.NewInt(84532)).Hex(), "0x010f27a92fb9a32622f44f001dc4d15706a85b33499cfc2ce9033113ab26592c"; got != want {
		t.Errorf("Permit2's domain separator on 84532 = %s, the vector's is %s", got, want)
	}
	digest := a.Digest(big.NewInt(84532))
	if want := "0x285964a32aa808d110ebbbdc1872bc8884a1b19bd3bf3d7d761cba18d86b1092"; digest.Hex() != want {
		t.Errorf("the vector's digest = %s, want %s", digest.Hex(), want)
	}
	sig, err := key(t, anvilKey0).SignDigest(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	if want := "9d60114705412b170bf24af3dc74cd8980beae6418c1d80c36a6c2e5886b7bde1297655f00e425b238ad31b94558491313561dcf74801f4473b712b7387cf76d1c"; common.Bytes2Hex(sig) != want {
		t.Errorf("the vector's signature = %x, want %s", sig, want)
	}
}

// permitFixture is a payer with 1,000,000 atomic units of a token without
// EIP-3009 and some ETH for gas, on a fresh chain.
type permitFixture struct {
	s     *Sim
	tok   *Token
	payer *ecdsa.PrivateKey
	from  common.Address
}

func newPermitFixture(t *testing.T, kind TokenKind) permitFixture {
	t.Helper()
	ctx := context.Background()
	s := startSim(t)
	var tok *Token
	var err error
	if kind == KindEIP2612 {
		tok, err = s.DeployEIP2612(ctx, TokenOptions{Name: "Mega USD", Version: "1", Symbol: "USDM", Decimals: 6})
	} else {
		tok, err = s.DeployERC20(ctx, "Plain Dollar", "PUSD", 6)
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypto.HexToECDSA(anvilKey1)
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(k.PublicKey)
	if err := tok.Mint(ctx, from, 1_000_000); err != nil {
		t.Fatal(err)
	}
	if err := s.FundETH(ctx, from, big.NewInt(1e17)); err != nil {
		t.Fatal(err)
	}
	return permitFixture{s: s, tok: tok, payer: k, from: from}
}

// authorization returns a signed authorization of amount to payee through
// spender (the upto proxy with facilitator set), valid for an hour.
func (f permitFixture) authorization(t *testing.T, spender common.Address, facilitator *common.Address, amount int64, deadline time.Time) (evm.Permit2Authorization, []byte) {
	t.Helper()
	var n [32]byte
	if _, err := rand.Read(n[:]); err != nil {
		t.Fatal(err)
	}
	a := evm.Permit2Authorization{
		From: f.from, Token: f.tok.Address(), Amount: big.NewInt(amount), Spender: spender,
		Nonce: new(big.Int).SetBytes(n[:]), Deadline: big.NewInt(deadline.Unix()), To: payee, ValidAfter: big.NewInt(0),
		Facilitator: facilitator,
	}
	sig, err := crypto.Sign(a.Digest(big.NewInt(ChainID)).Bytes(), f.payer)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	return a, sig
}

func (f permitFixture) balances(t *testing.T) (payer, to int64) {
	t.Helper()
	ctx := context.Background()
	p, err := f.tok.Balance(ctx, f.from)
	if err != nil {
		t.Fatal(err)
	}
	q, err := f.tok.Balance(ctx, payee)
	if err != nil {
		t.Fatal(err)
	}
	return int64(p), int64(q)
}

// TestPermit2SettlesOnChain: a payer's Go-signed Permit2 authorization
// settles through each x402 proxy on the simulated chain, moving exactly
// the amount, once: with an allowance given by approve, and with none but
// an EIP-2612 permit submitted by settleWithPermit.
func TestPermit2SettlesOnChain(t *testing.T) {
	ctx := context.Background()
	hour := time.Now().Add(time.Hour)
	t.Run("exact", func(t *testing.T) {
		f := newPermitFixture(t, KindERC20)
		if _, err := f.tok.Approve(ctx, f.payer, evm.Permit2Address, big.NewInt(10_000)); err != nil {
			t.Fatal(err)
		}
		a, sig := f.authorization(t, evm.ExactPermit2ProxyAddress, nil, 2_500, hour)
		if used, err := f.s.Permit2NonceUsed(ctx, f.from, a.Nonce); err != nil || used {
			t.Fatalf("fresh nonce used = %v (%v)", used, err)
		}
		if _, err := f.tok.SettlePermit2(ctx, Permit2Settlement{Auth: a, Signature: sig, Amount: a.Amount}); err != nil {
			t.Fatal(err)
		}
		if p, q := f.balances(t); p != 997_500 || q != 2_500 {
			t.Errorf("balances after settling 2500: payer %d payee %d, want 997500 and 2500", p, q)
		}
		if used, err := f.s.Permit2NonceUsed(ctx, f.from, a.Nonce); err != nil || !used {
			t.Errorf("the settled nonce is not used in nonceBitmap (%v)", err)
		}
		if allow, _ := f.tok.Allowance(ctx, f.from, evm.Permit2Address); allow.Int64() != 7_500 {
			t.Errorf("Permit2's allowance after 2500 of 10000: %s, want 7500", allow)
		}
		_, err := f.tok.SettlePermit2(ctx, Permit2Settlement{Auth: a, Signature: sig, Amount: a.Amount})
		if !errors.Is(err, evm.ErrReverted) || !strings.Contains(err.Error(), "nonce already used") {
			t.Errorf("second settlement of one nonce: %v, want a revert for the used nonce", err)
		}
		if p, q := f.balances(t); p != 997_500 || q != 2_500 {
			t.Errorf("a refused second settlement moved money: payer %d payee %d", p, q)
		}
	})
	t.Run("upto", func(t *testing.T) {
		f := newPermitFixture(t, KindERC20)
		if _, err := f.tok.Approve(ctx, f.payer, evm.Permit2Address, big.NewInt(10_000)); err != nil {
			t.Fatal(err)
		}
		fac := f.s.Relayer()
		a, sig := f.authorization(t, evm.UptoPermit2ProxyAddress, &fac, 5_000, hour)
		if _, err := f.tok.SettlePermit2(ctx, Permit2Settlement{Auth: a, Signature: sig, Amount: big.NewInt(1_858)}); err != nil {
			t.Fatal(err)
		}
		if p, q := f.balances(t); p != 998_142 || q != 1_858 {
			t.Errorf("balances after settling 1858 of at most 5000: payer %d payee %d", p, q)
		}
		if used, _ := f.s.Permit2NonceUsed(ctx, f.from, a.Nonce); !used {
			t.Error("a partial upto settlement leaves its nonce unused: the rest could be settled again")
		}
	})
	t.Run("eip2612 permit instead of an allowance", func(t *testing.T) {
		f := newPermitFixture(t, KindEIP2612)
		a, sig := f.authorization(t, evm.ExactPermit2ProxyAddress, nil, 3_000, hour)
		pn, err := f.tok.PermitNonce(ctx, f.from)
		if err != nil {
			t.Fatal(err)
		}
		permit := evm.EIP2612Permit{Domain: f.tok.Domain(), Owner: f.from, Spender: evm.Permit2Address, Value: big.NewInt(3_000), Nonce: pn, Deadline: big.NewInt(hour.Unix())}
		psig, err := crypto.Sign(permit.Digest().Bytes(), f.payer)
		if err != nil {
			t.Fatal(err)
		}
		psig[64] += 27
		if _, err := f.tok.SettlePermit2(ctx, Permit2Settlement{Auth: a, Signature: sig, Amount: a.Amount, Permit: &permit, PermitSig: psig}); err != nil {
			t.Fatal(err)
		}
		if p, q := f.balances(t); p != 997_000 || q != 3_000 {
			t.Errorf("balances after a sponsored approval and 3000: payer %d payee %d", p, q)
		}
		if allow, _ := f.tok.Allowance(ctx, f.from, evm.Permit2Address); allow.Sign() != 0 {
			t.Errorf("Permit2's allowance after the permit was spent: %s, want 0 (the permit approves the payment only)", allow)
		}
	})
}

// TestPermit2Refusals: what the contracts refuse, and that nothing moves.
func TestPermit2Refusals(t *testing.T) {
	ctx := context.Background()
	hour := time.Now().Add(time.Hour)
	for _, tt := range []struct {
		name    string
		approve int64
		setup   func(t *testing.T, f permitFixture) Permit2Settlement
		want    string
	}{
		{"no allowance", 0, func(t *testing.T, f permitFixture) Permit2Settlement {
			a, sig := f.authorization(t, evm.ExactPermit2ProxyAddress, nil, 1_000, hour)
			return Permit2Settlement{Auth: a, Signature: sig, Amount: a.Amount}
		}, "insufficient allowance"},
		{"allowance too small", 999, func(t *testing.T, f permitFixture) Permit2Settlement {
			a, sig := f.authorization(t, evm.ExactPermit2ProxyAddress, nil, 1_000, hour)
			return Permit2Settlement{Auth: a, Signature: sig, Amount: a.Amount}
		}, "insufficient allowance"},
		{"wrong spender: signed for the exact proxy, settled through the upto proxy", 10_000, func(t *testing.T, f permitFixture) Permit2Settlement {
			fac := f.s.Relayer()
			a, sig := f.authorization(t, evm.ExactPermit2ProxyAddress, &fac, 1_000, hour)
			a.Spender = evm.UptoPermit2ProxyAddress
			return Permit2Settlement{Auth: a, Signature: sig, Amount: a.Amount}
		}, "signature is not the owner's"},
		{"expired deadline", 10_000, func(t *testing.T, f permitFixture) Permit2Settlement {
			a, sig := f.authorization(t, evm.ExactPermit2ProxyAddress, nil, 1_000, time.Now().Add(-time.Minute))
			return Permit2Settlement{Auth: a, Signature: sig, Amount: a.Amount}
		}, "signature expired"},
		{"upto above the maximum", 10_000, func(t *testing.T, f permitFixture) Permit2Settlement {
			fac := f.s.Relayer()
			a, sig := f.authorization(t, evm.UptoPermit2ProxyAddress, &fac, 1_000, hour)
			return Permit2Settlement{Auth: a, Signature: sig, Amount: big.NewInt(1_001)}
		}, "exceeds the permitted maximum"},
		{"upto settled by another facilitator than the witness names", 10_000, func(t *testing.T, f permitFixture) Permit2Settlement {
			other := common.HexToAddress("0x4020000000000000000000000000000000000402")
			a, sig := f.authorization(t, evm.UptoPermit2ProxyAddress, &other, 1_000, hour)
			return Permit2Settlement{Auth: a, Signature: sig, Amount: big.NewInt(500)}
		}, "not the witness's facilitator"},
		{"payee changed after signing", 10_000, func(t *testing.T, f permitFixture) Permit2Settlement {
			a, sig := f.authorization(t, evm.ExactPermit2ProxyAddress, nil, 1_000, hour)
			a.To = common.HexToAddress("0x5B38Da6a701c568545dCfcB03FcB875f56beddC4")
			return Permit2Settlement{Auth: a, Signature: sig, Amount: a.Amount}
		}, "signature is not the owner's"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newPermitFixture(t, KindERC20)
			if tt.approve > 0 {
				if _, err := f.tok.Approve(ctx, f.payer, evm.Permit2Address, big.NewInt(tt.approve)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := f.tok.SettlePermit2(ctx, tt.setup(t, f))
			if !errors.Is(err, evm.ErrReverted) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("settlement: %v, want a revert saying %q", err, tt.want)
			}
			if p, q := f.balances(t); p != 1_000_000 || q != 0 {
				t.Errorf("a refused settlement moved money: payer %d payee %d", p, q)
			}
		})
	}
}
