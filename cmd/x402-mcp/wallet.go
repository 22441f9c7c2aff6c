package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

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
		inKeychain := fs.Bool("keychain", false, "store the new key in the OS keychain (Secret Service, macOS Keychain, Windows Credential Manager) instead of a keystore file")
		entry := fs.String("entry", wallet.DefaultKeychainService+"/default", "with --keychain: the keychain entry, <service>/<account>")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if *inKeychain {
			if *dir != "" {
				return usageError{"--dir writes a keystore file; --keychain writes none: give one of them"}
			}
			return newInKeychain(ctx, e, *entry)
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
		pass := e.getenv(payments.EnvKeystorePassword)
		if pass == "" && e.getenv(payments.EnvKeystorePassFile) != "" {
			b, err := os.ReadFile(e.getenv(payments.EnvKeystorePassFile))
			if err != nil {
				return fmt.Errorf("%s: %w", payments.EnvKeystorePassFile, err)
			}
			pass = string(trimNewline(b))
		}
		if len(pass) < 8 {
			return fmt.Errorf("set %s or %s to a passphrase of at least 8 characters: the keystore is encrypted with it", payments.EnvKeystorePassword, payments.EnvKeystorePassFile)
		}
		w, err := wallet.GenerateEVMKey()
		if err != nil {
			return err
		}
		path, err := w.WriteKeystore(*dir, pass)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "address:  %s\nkeystore: %s\n\nUse it with:\n  X402_KEYSTORE=%s\n  X402_KEYSTORE_PASSWORD_FILE=<file holding the passphrase>\nFund the address with USDC on a network your registry allows. The key never leaves the keystore file.\n",
			w.Address().Hex(), path, path)
		return nil
	case "address":
		w, err := wallet.Load(ctx, e.getenv)
		if err != nil {
			return err
		}
		if w.EVM() == nil {
			return wallet.ErrNoWallet
		}
		fmt.Fprintln(e.stdout, w.EVM().Address().Hex())
		return nil
	case "show":
		fs := newFlags("wallet show", e)
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		w, err := wallet.Load(ctx, e.getenv)
		if err != nil {
			return err
		}
		showWallet(e.stdout, w)
		return nil
	default:
		return usageError{fmt.Sprintf("unknown wallet subcommand %q: use new, address, show or approve-permit2", args[0])}
	}
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

// newInKeychain creates a key in the OS keychain's entry spec and prints
// its address and how to use it. The key never touches a file.
func newInKeychain(ctx context.Context, e env, spec string) error {
	entry, err := wallet.ParseKeychainEntry(spec)
	if err != nil {
		return usageError{"--entry: " + err.Error()}
	}
	w, err := wallet.GenerateEVMKey()
	if err != nil {
		return err
	}
	if err := w.StoreInKeychain(ctx, wallet.OSKeychain, entry); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "address:  %s\nkeychain: %s\n\nUse it with:\n  %s=%s\nFund the address with USDC on a network your registry allows. The key is in the OS keychain, encrypted under your login; it never touches a file.\n",
		w.Address().Hex(), entry, payments.EnvKeychain, entry)
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
func showWallet(out io.Writer, w *wallet.Wallet) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "family\taddress\tthe key lives in")
	for _, k := range w.Keys() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", familyTitle(k.Signer.Family()), k.Signer.Payer(), k.Source)
	}
	_ = tw.Flush()
	for _, k := range w.Keys() {
		if k.Source.Plain() {
			fmt.Fprintf(out, "\nThe %s key is in the clear (%s): anything that reads this process's environment or that file can spend from it. For real money keep it in %s.\n",
				familyTitle(k.Signer.Family()), k.Source, wallet.SaferSources)
		}
	}
}

// familyTitle names a network family for people.
func familyTitle(name string) string {
	if f := families.Named(name); f != nil {
		return f.Title()
	}
	return name
}
