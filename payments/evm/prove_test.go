package evm

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/x402-mcp/x402-mcp/payments"
)

// proofNode is a Base node whose finalized block is 0x10 (time 0x6553f100),
// whose head is 0x14, and whose token marks the nonce used at block 0x13:
// used at the head, unused at the finalized block. finalized, when false,
// makes it answer the "finalized" tag with an error (a node without it)
// and "safe" with 0x11.
func proofNode(t *testing.T, finalized bool) *node {
	const tx = "0x" + "cd" + "00000000000000000000000000000000000000000000000000000000000000"
	return &node{t: t, answer: func(r request) (string, bool) {
		switch r.Method {
		case "eth_chainId":
			return `"result":"0x2105"`, false
		case "eth_getBlockByNumber":
			var which string
			json.Unmarshal(r.Params[0], &which)
			switch which {
			case "finalized":
				if !finalized {
					return `"error":{"code":-39001,"message":"unknown block"}`, false
				}
				return `"result":{"number":"0x10","timestamp":"0x6553f100"}`, false
			case "safe":
				return `"result":{"number":"0x11","timestamp":"0x6553f102"}`, false
			case "latest":
				return `"result":{"number":"0x14","timestamp":"0x6553f108"}`, false
			}
			return `"result":{"number":"` + which + `","timestamp":"0x6553f000"}`, false
		case "eth_call":
			var block string
			json.Unmarshal(r.Params[1], &block)
			word := strings.Repeat("0", 64)
			if block == "0x14" {
				word = strings.Repeat("0", 63) + "1"
			}
			return `"result":"0x` + word + `"`, false
		case "eth_getLogs":
			return `"result":[{"transactionHash":"` + tx + `","blockNumber":"0x13","removed":false}]`, false
		}
		return `"error":{"code":-32601,"message":"the method does not exist"}`, false
	}}
}

// TestCheckAuthorizationReadsOneBlock: the nonce is asked at the number of
// the reference block read just before (finalized, else safe), never at
// "latest" beside another block's time; a use seen only at the head is a
// use, with the transaction from the AuthorizationUsed log.
func TestCheckAuthorizationReadsOneBlock(t *testing.T) {
	token := common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")
	payer := common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
	var nonce [32]byte
	nonce[0] = 0x42
	for _, tt := range []struct {
		name      string
		finalized bool
		refBlock  string
		refTime   int64
	}{{"finalized", true, "0x10", 0x6553f100}, {"safe when no finalized", false, "0x11", 0x6553f102}} {
		t.Run(tt.name, func(t *testing.T) {
			n := proofNode(t, tt.finalized)
			c := NewRPCChecker(map[payments.Network]string{"eip155:8453": n.serve(t) + "/rpc/k"})
			defer c.Close()
			ref := AuthorizationRef{Network: "eip155:8453", Asset: token, Payer: payer, Nonce: nonce}
			st, err := c.CheckAuthorization(context.Background(), ref)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Used || st.Block != 0x14 || st.Transaction != "0xcd"+strings.Repeat("0", 62) {
				t.Fatalf("status %+v", st)
			}
			var calls []string
			for _, r := range n.requests() {
				switch r.Method {
				case "eth_call":
					calls = append(calls, string(r.Params[1]))
				case "eth_getLogs":
					var f map[string]any
					json.Unmarshal(r.Params[0], &f)
					topics, _ := json.Marshal(f["topics"])
					want := `["` + TopicAuthorizationUsed.Hex() + `","0x000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266","0x42` + strings.Repeat("0", 62) + `"]`
					if string(topics) != want || f["toBlock"] != "0x14" || f["fromBlock"] != "0x0" || f["address"] != token.Hex() {
						t.Errorf("eth_getLogs %v %s", f, topics)
					}
				}
			}
			if got := strings.Join(calls, " "); got != `"`+tt.refBlock+`" "0x14"` {
				t.Fatalf("eth_call blocks %s, want the reference block's number, then the head's", got)
			}
			// An unused nonce is reported at the reference block, with its time.
			nonce2 := nonce
			nonce2[0] = 0x43
			n2 := proofNode(t, tt.finalized)
			n2.answer = func(inner func(request) (string, bool)) func(request) (string, bool) {
				return func(r request) (string, bool) {
					if r.Method == "eth_call" {
						return `"result":"0x` + strings.Repeat("0", 64) + `"`, false
					}
					return inner(r)
				}
			}(n2.answer)
			c2 := NewRPCChecker(map[payments.Network]string{"eip155:8453": n2.serve(t) + "/rpc/k"})
			defer c2.Close()
			ref.Nonce = nonce2
			st, err = c2.CheckAuthorization(context.Background(), ref)
			if err != nil || st.Used || hexBlock(st.Block) != tt.refBlock || st.BlockTime.Unix() != tt.refTime || st.Transaction != "" {
				t.Fatalf("unused: %+v %v", st, err)
			}
		})
	}
}

func hexBlock(n uint64) string { return quantity(n) }

// TestCheckAuthorizationErrors: a node without the block asked for, or
// without any reference block, fails the check; a network without an rpc
// endpoint wraps payments.ErrNoRPC.
func TestCheckAuthorizationErrors(t *testing.T) {
	n := &node{t: t, answer: func(r request) (string, bool) {
		switch r.Method {
		case "eth_chainId":
			return `"result":"0x2105"`, false
		case "eth_getBlockByNumber":
			return `"result":null`, false
		}
		return `"error":{"code":-32000,"message":"header not found"}`, false
	}}
	c := NewRPCChecker(map[payments.Network]string{"eip155:8453": n.serve(t) + "/rpc/k"})
	defer c.Close()
	_, err := c.CheckAuthorization(context.Background(), AuthorizationRef{Network: "eip155:8453"})
	if err == nil || !strings.Contains(err.Error(), "no reference block") || !errors.Is(err, ErrNoBlock) {
		t.Fatalf("no blocks: %v", err)
	}
	_, err = c.CheckAuthorization(context.Background(), AuthorizationRef{Network: "eip155:84532"})
	if !errors.Is(err, payments.ErrNoRPC) || !strings.Contains(err.Error(), "no rpc_url configured for eip155:84532") {
		t.Fatalf("no rpc: %v", err)
	}
}
