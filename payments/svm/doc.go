// Package svm is x402-mcp's Solana family: the x402 "exact" scheme on
// Solana (spec: x402-foundation/x402 specs/schemes/exact/scheme_exact_svm.md),
// plugged into the paying core as payments.Family (Family) and
// payments.Scheme (Exact). It owns everything that is Solana's and nothing
// of the paying flow: the networks (v1 names and CAIP-2 ids) and their USDC
// mints, base58 addresses, judging a payment option, reading from the chain
// what paying needs and refusing before signing what could not land
// (Client.Prepare), building and partially signing the v0 transaction the
// seller's facilitator completes and sends (Prepared.Sign), the key sources
// of a Solana wallet (Signer, Key, LoadKey), what the ledger must keep
// (Proof), and proving a payment's fate from the chain during
// reconciliation (Client.Prove): settled with its id, or unusable forever
// once the chain's block height has passed its blockhash's last valid block
// height. It uses
// github.com/gagliardetto/solana-go for keys, addresses, instructions and the
// transaction wire format, so that no byte of a transaction is encoded by
// hand; its JSON-RPC calls are its own, few, bounded in size and time, and
// never show the RPC URL (which may carry an API key).
package svm
