// Package evm is x402-mcp's EVM network family: eip155 networks (CAIP-2
// ids and x402 v1 names), 0x addresses, the USDC contracts it knows
// (Family), and the exact scheme with EIP-3009 authorizations (Exact): the
// EIP-712 domain and hashing, signing through an EVM Signer that never
// shows its key (package wallet's keys), and proving a payment's fate by
// reading USDC's authorizationState(payer, nonce) at one block, with the
// transaction from its AuthorizationUsed log. It speaks JSON-RPC and the
// token's three view calls itself (RPCChecker, Client, token.go), so that
// the binary links neither go-ethereum's rpc and ethclient (OpenTelemetry,
// gopsutil, metrics) nor its abi and core/types (KZG and BLS12-381 crypto);
// RPCChecker dials lazily, checks once per URL that the node serves the
// network's chain id, and keeps URL secrets out of its errors. A real EVM to
// test against (go-ethereum's simulated chain with the EIP-3009 test token)
// is internal/simchain, kept apart so the binary links no Ethereum node.
package evm
