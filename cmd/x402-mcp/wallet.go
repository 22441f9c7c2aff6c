package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
	"github.com/x402-mcp/x402-mcp/payments/svm"
	"github.com/x402-mcp/x402-mcp/payments/wallet"
)

// solanaKeystoreCost is the scrypt cost (N, p) of the Solana keystores
// `wallet new --family solana` writes: geth's standard.
var solanaKeystoreCost = [2]int{svm.StandardScryptN, svm.StandardScryptP}

// familyFlag reads --family: evm (the default) or solana (svm).
func familyFlag(v string) (string, error) {
	switch strings.ToLower(v) {
	case "", "evm":
		return "evm", nil
	case "solana", "svm":
		return svm.Name, nil
	}
	return "", usageError{fmt.Sprintf("--family %q: write evm or solana", v)}
}

func cmdWallet(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usageError{"wallet needs a subcommand: new, address or approve-permit2"}
	}
	switch args[0] {
	case "approve-permit2":
		return cmdApprovePermit2(ctx, e, args[1:])
	case "new":
		fs := newFlags("wallet new", e)
		dir := fs.String("dir", "", "where to write the keystore (default: the user's state directory)")
		family := fs.String("family", "evm", "the key's network family: evm or solana")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		fam, err := familyFlag(*family)
		if err != nil {
			return err
		}
		if *dir == "" {
			d, err := stateDir(e)
			if err != nil {
				return err
			}
			*dir = filepath.Join(d, "keystore")
		}
		if fam == svm.Name {
			return newSolanaKeystore(e, *dir)
		}
		pass, err := passphrase(e, payments.EnvKeystorePassword, payments.EnvKeystorePassFile)
		if err != nil {
			return err
		}
		w, err := wallet.GenerateEVMKey()
		if err != nil {
			return err
		}
		path, err := w.WriteKeystore(*dir, pass)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "address:  %s\nkeystore: %s\n\nUse it with:\n  %s=%s\n  %s=<file holding the passphrase>\nFund the address with USDC on a network your registry allows. The key never leaves the keystore file.\n",
			w.Address().Hex(), path, payments.EnvKeystore, path, payments.EnvKeystorePassFile)
		return nil
	case "address":
		fs := newFlags("wallet address", e)
		family := fs.String("family", "", "show only this family's address: evm or solana (default: every key's, EVM first)")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		w, err := wallet.Load(e.getenv)
		if err != nil {
			return err
		}
		return printAddresses(e.stdout, w, *family)
	default:
		return usageError{fmt.Sprintf("unknown wallet subcommand %q: use new, address or approve-permit2", args[0])}
	}
}

// printAddresses writes the wallet's addresses, one a line, EVM first; with
// family set, that family's alone.
func printAddresses(out io.Writer, w *wallet.Wallet, family string) error {
	if family == "" {
		for _, s := range w.Signers() {
			fmt.Fprintln(out, s.Payer())
		}
		return nil
	}
	fam, err := familyFlag(family)
	if err != nil {
		return err
	}
	s := w.Signers().For(fam)
	if s == nil {
		title := families.Named(fam).Title()
		return fmt.Errorf("the wallet holds no %s key: %w", title, wallet.ErrNoWallet)
	}
	fmt.Fprintln(out, s.Payer())
	return nil
}

// newSolanaKeystore writes a new Solana key to an encrypted keystore in
// dir, under the passphrase of the Solana keystore's variables.
func newSolanaKeystore(e env, dir string) error {
	pass, err := passphrase(e, payments.EnvSolanaKeystorePassword, payments.EnvSolanaKeystorePassFile)
	if err != nil {
		return err
	}
	k, err := svm.GenerateKey()
	if err != nil {
		return err
	}
	path, err := k.WriteKeystore(dir, pass, solanaKeystoreCost[0], solanaKeystoreCost[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "address:  %s\nkeystore: %s\n\nUse it with:\n  %s=%s\n  %s=<file holding the passphrase>\nFund the address with USDC on a Solana network your registry allows (its USDC token account receives it). The key never leaves the keystore file.\n",
		k.Address(), path, payments.EnvSolanaKeystore, path, payments.EnvSolanaKeystorePassFile)
	return nil
}

// passphrase reads a new keystore's passphrase from the variable named
// pass, else from the file the variable named file gives, and refuses one
// shorter than 8 characters.
func passphrase(e env, pass, file string) (string, error) {
	p := e.getenv(pass)
	if p == "" && e.getenv(file) != "" {
		b, err := os.ReadFile(e.getenv(file))
		if err != nil {
			return "", fmt.Errorf("%s: %w", file, err)
		}
		p = string(trimNewline(b))
	}
	if len(p) < 8 {
		return "", fmt.Errorf("set %s or %s to a passphrase of at least 8 characters: the keystore is encrypted with it", pass, file)
	}
	return p, nil
}

// stateDir is the folder the durable ledger lives in by default
// ($XDG_STATE_HOME/x402-mcp, ~/.local/state/x402-mcp, …; see ledger.DefaultPath).
func stateDir(e env) (string, error) {
	p, err := ledger.DefaultPath(e.getenv)
	if err != nil {
		return "", fmt.Errorf("no state directory: pass --dir (%w)", err)
	}
	return filepath.Dir(p), nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
