package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

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
		return usageError{"wallet needs a subcommand: new, address, show or approve-permit2"}
	}
	switch args[0] {
	case "approve-permit2":
		return cmdApprovePermit2(ctx, e, args[1:])
	case "new":
		fs := newFlags("wallet new", e)
		dir := fs.String("dir", "", "where to write the keystore (default: the user's state directory)")
		family := fs.String("family", "evm", "the key's network family: evm or solana")
		inKeychain := fs.Bool("keychain", false, "store the new key in the OS keychain (Secret Service, macOS Keychain, Windows Credential Manager) instead of a keystore file")
		entry := fs.String("entry", "", "with --keychain: the keychain entry, <service>/<account> (default "+wallet.DefaultKeychainService+"/default for EVM, "+wallet.DefaultKeychainService+"/solana for Solana)")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		fam, err := familyFlag(*family)
		if err != nil {
			return err
		}
		if *inKeychain {
			if *dir != "" {
				return usageError{"--dir writes a keystore file; --keychain writes none: give one of them"}
			}
			return newInKeychain(ctx, e, fam, *entry)
		}
		if flagSet(fs, "entry") {
			return usageError{"--entry names a keychain entry: give --keychain with it"}
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
		w, err := wallet.Load(ctx, e.getenv)
		if err != nil {
			return err
		}
		return printAddresses(e.stdout, w, *family)
	case "show":
		fs := newFlags("wallet show", e)
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		w, err := wallet.Load(ctx, e.getenv)
		if err != nil {
			return err
		}
		return showWallet(e.stdout, w)
	default:
		return usageError{fmt.Sprintf("unknown wallet subcommand %q: use new, address, show or approve-permit2", args[0])}
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

// newInKeychain creates a key of the family fam in the OS keychain's entry
// spec (empty: the family's default entry) and prints its address and how
// to use it. The key never touches a file.
func newInKeychain(ctx context.Context, e env, fam, spec string) error {
	if spec == "" {
		spec = wallet.DefaultKeychainEntry(fam).String()
	}
	entry, err := wallet.ParseKeychainEntry(spec)
	if err != nil {
		return usageError{"--entry: " + err.Error()}
	}
	var k payments.Signer
	where := "a network your registry allows"
	if fam == svm.Name {
		sk, err := svm.GenerateKey()
		if err != nil {
			return err
		}
		k, where = sk, "a Solana network your registry allows (its USDC token account receives it)"
	} else {
		ek, err := wallet.GenerateEVMKey()
		if err != nil {
			return err
		}
		k = ek
	}
	if err := wallet.StoreInKeychain(ctx, wallet.OSKeychain, entry, k); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "address:  %s\nkeychain: %s\n\nUse it with:\n  %s=%s\n(one entry per family, separated by commas). Fund the address with USDC on %s. The key is in the OS keychain, encrypted under your login; it never touches a file.\n",
		k.Payer(), entry, payments.EnvKeychain, entry, where)
	return nil
}

// flagSet says whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// showWallet prints each key's family, address and where it lives: never
// the key. A key kept in the clear gets a line naming the safer sources.
func showWallet(out io.Writer, w *wallet.Wallet) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "family\taddress\tthe key lives in")
	for _, k := range w.Keys() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", familyTitle(k.Signer.Family()), k.Signer.Payer(), k.Source)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("wallet show: write: %w", err)
	}
	for _, k := range w.Keys() {
		if k.Source.Plain() {
			if _, err := fmt.Fprintf(out, "\nThe %s key is in the clear (%s): anything that reads this process's environment or that file can spend from it. For real money keep it in %s.\n",
				familyTitle(k.Signer.Family()), k.Source, wallet.SaferSources(k.Signer.Family())); err != nil {
				return fmt.Errorf("wallet show: write: %w", err)
			}
		}
	}
	return nil
}

// familyTitle names a network family for people.
func familyTitle(name string) string {
	if f := families.Named(name); f != nil {
		return f.Title()
	}
	return name
}
