// Package wallet holds x402-mcp's keys, one per network family at most: it
// reads them from where the operator keeps them and gives each network
// family a signer that never shows its key (an evm.Signer for EVM, an
// svm.Signer for Solana). The sources (Source): the OS keychain (Keychain,
// through go-keyring; an entry records its key's family, so that one
// X402_KEYCHAIN can name an EVM key and a Solana key), and for EVM
// go-ethereum's clef (Clef, an external signer over JSON-RPC that applies
// its own rules), an AWS KMS key (KMS), a Web3 Secret Storage v3 keystore
// (which it also writes for `wallet new`), a hex key file and a hex key in
// the environment; for Solana svm.LoadKey's keystore, Solana CLI keypair
// file and base58 secret. Keys held in memory (EVMKey, svm.Key) sign by
// computing; clef and KMS are asked over the network, and their refusals
// and failures are *payments.SignerError, "not charged".
//
// Keys come from the environment, files or the keychain, never from flags
// or the catalog; no function returns a key, errors never hold key
// material, and String, GoString and LogValue show only addresses and
// where keys live. Keystores are read and written without go-ethereum's
// accounts/keystore, and EIP-712 typed data is written without its
// signer/core/apitypes, which would link its transaction types and their
// KZG cryptography into the binary.
package wallet
