// Package evm is x402-mcp's EVM network family: eip155 networks (CAIP-2
// ids and x402 v1 names), 0x addresses, the USDC contracts it knows
// (Family), the exact scheme (Exact) with its two asset transfer methods,
// EIP-3009 authorizations and Permit2 PermitWitnessTransferFrom for the
// x402 exact proxy, and the upto scheme (UpTo: a Permit2 maximum for the
// x402 upto proxy, settled for what was used). It holds the EIP-712
// domains and hashing (eip3009.go, permit2.go), signing through an EVM
// Signer that never shows its key (package wallet's keys), the allowance a
// Permit2 payment needs and the EIP-2612 permit a gas-sponsoring seller may
// submit instead (permit2_scheme.go), and proving a payment's fate by
// reading, at one block, USDC's authorizationState(payer, nonce) or
// Permit2's nonceBitmap, with the transaction (and, for Permit2, the
// amount transferred) from its logs. It speaks JSON-RPC and the contracts'
// view calls itself (RPCChecker, Client, token.go, permit2_chain.go), and
// encodes the one transaction x402-mcp sends (approve.go: an ERC-20
// approval of Permit2), so that the binary links neither go-ethereum's rpc
// and ethclient (OpenTelemetry, gopsutil, metrics) nor its abi and
// core/types (KZG and BLS12-381 crypto); RPCChecker dials lazily, checks
// once per URL that the node serves the network's chain id, and keeps URL
// secrets out of its errors. A real EVM to test against (go-ethereum's
// simulated chain with the EIP-3009 test token, Permit2 and the x402
// proxies) is internal/simchain, kept apart so the binary links no
// Ethereum node.
package evm
