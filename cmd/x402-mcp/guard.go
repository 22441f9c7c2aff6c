package main

import (
	"fmt"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments/wallet"
	"github.com/x402-mcp/x402-mcp/tools"
)

// keyGuard checks where the wallet's keys live against the networks the
// catalog allows (the mainnet guard). A key in the clear (an environment
// variable or a hex key file) of a family the catalog allows a network
// with real money on (any network its family does not know as a test
// network) gets a warning naming the safer sources; when required
// (--require-protected-key, or wallet.require_protected_key in the catalog)
// it is an error, and x402-mcp does not start.
func keyGuard(reg *tools.Registry, w *wallet.Wallet, requireFlag bool) (warnings []string, err error) {
	fams := reg.Families()
	require := requireFlag || reg.Wallet.RequireProtectedKey
	var refused []string
	for _, k := range w.Keys() {
		if !k.Source.Plain() {
			continue
		}
		var real []string
		for _, n := range reg.Policy().Networks {
			if f := fams.Family(n); f != nil && f.Name() == k.Signer.Family() && !fams.IsTestnet(n) {
				real = append(real, fmt.Sprintf("%s (%s)", fams.NetworkName(n), n))
			}
		}
		if len(real) == 0 {
			continue
		}
		msg := fmt.Sprintf("the catalog allows %s, where money is real, and the %s key %s is in the clear (%s): anything that reads x402-mcp's environment or that file can spend from it; keep it in %s",
			strings.Join(real, ", "), familyTitle(k.Signer.Family()), k.Signer.Payer(), k.Source, wallet.SaferSources(k.Signer.Family()))
		if require {
			refused = append(refused, msg)
			continue
		}
		warnings = append(warnings, msg+" (--require-protected-key, or `wallet: {require_protected_key: true}` in the catalog, makes this an error)")
	}
	if len(refused) > 0 {
		why := "--require-protected-key"
		if reg.Wallet.RequireProtectedKey {
			why = "wallet.require_protected_key in " + reg.Path
		}
		return warnings, fmt.Errorf("refusing to start (%s): %s", why, strings.Join(refused, "; "))
	}
	return warnings, nil
}
