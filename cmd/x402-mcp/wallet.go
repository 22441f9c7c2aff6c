package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/x402-mcp/x402-mcp/payments/wallet"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/ledger"
)

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
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
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
		w, err := wallet.Load(e.getenv)
		if err != nil {
			return err
		}
		if w.EVM == nil {
			return wallet.ErrNoWallet
		}
		fmt.Fprintln(e.stdout, w.EVM.Address().Hex())
		return nil
	default:
		return usageError{fmt.Sprintf("unknown wallet subcommand %q: use new, address or approve-permit2", args[0])}
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
