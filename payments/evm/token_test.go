package evm

import (
	"bytes"
	"context"
	"crypto/rand"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/contracts"
)

// The hand-written encoding agrees with go-ethereum's ABI package on the
// token's ABI (a test dependency only: the binary does not link abi).
func TestCalldataMatchesABI(t *testing.T) {
	a, err := abi.JSON(strings.NewReader(contracts.EIP3009TokenABI))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		var addr common.Address
		var nonce [32]byte
		rand.Read(addr[:])
		rand.Read(nonce[:])
		tests := []struct {
			name string
			args []any
			got  []byte
		}{
			{"authorizationState", []any{addr, nonce}, calldata(selAuthorizationState, addressWord(addr), nonce)},
			{"balanceOf", []any{addr}, calldata(selBalanceOf, addressWord(addr))},
			{"DOMAIN_SEPARATOR", nil, calldata(selDomainSeparator)},
			{"decimals", nil, calldata(selDecimals)},
		}
		for _, tt := range tests {
			want, err := a.Pack(tt.name, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tt.got, want) {
				t.Fatalf("%s calldata %x, abi packs %x", tt.name, tt.got, want)
			}
		}
	}
}

// caller answers every call with out.
type caller []byte

func (c caller) Call(context.Context, common.Address, []byte) ([]byte, error) { return c, nil }

func TestDecodingMatchesABI(t *testing.T) {
	a, err := abi.JSON(strings.NewReader(contracts.EIP3009TokenABI))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, v := range []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(1_500_000), new(big.Int).SetUint64(^uint64(0))} {
		out, err := a.Methods["balanceOf"].Outputs.Pack(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := BalanceOf(ctx, caller(out), common.Address{}, common.Address{})
		if err != nil || uint64(got) != v.Uint64() {
			t.Fatalf("balanceOf %s decoded as %d, %v", v, got, err)
		}
	}
	for _, v := range []bool{false, true} {
		out, err := a.Methods["authorizationState"].Outputs.Pack(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AuthorizationState(ctx, caller(out), common.Address{}, common.Address{}, [32]byte{})
		if err != nil || got != v {
			t.Fatalf("authorizationState %v decoded as %v, %v", v, got, err)
		}
	}
	var h [32]byte
	rand.Read(h[:])
	out, err := a.Methods["DOMAIN_SEPARATOR"].Outputs.Pack(h)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DomainSeparator(ctx, caller(out), common.Address{}); err != nil || got != h {
		t.Fatalf("DOMAIN_SEPARATOR %x decoded as %s, %v", h, got.Hex(), err)
	}
	// Selectors are the ABI's method ids.
	for name, sel := range map[string][4]byte{"authorizationState": selAuthorizationState, "balanceOf": selBalanceOf, "DOMAIN_SEPARATOR": selDomainSeparator, "decimals": selDecimals} {
		if !bytes.Equal(a.Methods[name].ID, sel[:]) {
			t.Errorf("%s selector %x, abi %x", name, sel, a.Methods[name].ID)
		}
	}
}

// TestDecimalsDecoding: decimals() is read as the ABI packs a uint8, and an
// answer a token could not give (not a uint8) or one x402-mcp cannot count
// (more than 18 decimals) is an error, never a guess. (The answers come from
// a stub caller: no real token answers these.)
func TestDecimalsDecoding(t *testing.T) {
	a, err := abi.JSON(strings.NewReader(contracts.EIP3009TokenABI))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		d       uint8
		wantErr string
	}{{0, ""}, {2, ""}, {6, ""}, {18, ""}, {19, "at most 18"}, {255, "at most 18"}} {
		out, err := a.Methods["decimals"].Outputs.Pack(tc.d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decimals(ctx, caller(out), common.Address{})
		switch {
		case tc.wantErr == "" && (err != nil || got != int(tc.d)):
			t.Errorf("decimals %d decoded as %d, %v", tc.d, got, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("decimals %d: error %v, want %q", tc.d, err, tc.wantErr)
		}
	}
	wide := make([]byte, 32)
	wide[30] = 1 // 256: not a uint8
	if _, err := Decimals(ctx, caller(wide), common.Address{}); err == nil || !strings.Contains(err.Error(), "not a uint8") {
		t.Errorf("decimals 256: %v", err)
	}
}
