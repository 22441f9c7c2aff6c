// Package wallet holds x402-mcp's keys, one per network family at most:
// it reads them from where the operator keeps them (EVM: a hex key in the
// environment, a key file, a Web3 Secret Storage v3 keystore, which it also
// writes for `wallet new`; Solana: svm.LoadKey's base58 secret, Solana CLI
// keypair file or keystore) and gives each network family a signer that
// never shows its key (EVMKey is an evm.Signer, svm.Key an svm.Signer).
// Keys come from the environment or files, never from flags or the
// catalog; errors never hold key material, and String, GoString
// and LogValue show only addresses. Keystores are read and written without
// go-ethereum's accounts/keystore, which would link its transaction types
// and their KZG cryptography into the binary.
package wallet
