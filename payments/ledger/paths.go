package ledger

import (
	"errors"
	"path/filepath"
	"runtime"
)

// FileName is the ledger's file name in the state directory.
const FileName = "ledger.db"

// DefaultPath returns where the ledger lives unless --ledger says otherwise:
// the user's state directory.
//
//   - Linux and other Unix: $XDG_STATE_HOME/x402-mcp/ledger.db, else
//     $HOME/.local/state/x402-mcp/ledger.db
//   - macOS: $HOME/Library/Application Support/x402-mcp/ledger.db
//   - Windows: %LocalAppData%\x402-mcp\ledger.db
//
// getenv reads the environment (os.Getenv in production).
func DefaultPath(getenv func(string) string) (string, error) {
	return defaultPath(runtime.GOOS, getenv)
}

func defaultPath(goos string, getenv func(string) string) (string, error) {
	switch goos {
	case "windows":
		if d := getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "x402-mcp", FileName), nil
		}
		return "", errors.New("ledger: %LocalAppData% is not set: pass --ledger PATH")
	case "darwin", "ios":
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, "Library", "Application Support", "x402-mcp", FileName), nil
		}
	default:
		if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
			return filepath.Join(d, "x402-mcp", FileName), nil
		}
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, ".local", "state", "x402-mcp", FileName), nil
		}
	}
	return "", errors.New("ledger: $HOME is not set, so there is no state directory: pass --ledger PATH")
}
