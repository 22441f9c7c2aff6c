package tools

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Assets other than USDC. USDC, the contracts x402-mcp knows
// (payments.Family.KnownUSDC), is what registry.yaml's amounts are in by default,
// and what budget: counts. Any other token is paid only when the catalog
// declares it under assets:, with its symbol, its network and address, its
// decimals (declared, or read from the chain through rpc: at start), and a
// budget of its own; entries and tipping then pin it by symbol or address,
// and their amounts are read in its units. It is counted only by its own
// budget (and its entries' own budgets), never by USDC's.

// Asset is a token declared under assets:.
type Asset struct {
	// AssetPolicy is the token (network, address, EIP-712 domain, symbol,
	// decimals) with its per-call cap and approval threshold, and Setting
	// "assets[i]".
	payments.AssetPolicy
	// Total and PerDay are its budget (budget.total, budget.per_day), in its
	// units.
	Total, PerDay payments.Amount
	// DecimalsDeclared says the catalog declares the decimals; otherwise
	// they are read from the chain (rpc:) at start (see ResolveAssets).
	DecimalsDeclared bool
	// Resolved says the decimals are known, so its amounts are: an asset
	// whose decimals are left to the chain is not resolved until
	// ResolveAssets has read them, and is paid in only once it is.
	Resolved bool
}

// Currency returns the asset's currency (its decimals are -1 while they
// are not known).
func (a *Asset) Currency() payments.Currency {
	c := a.AssetPolicy.Currency()
	if !a.Resolved {
		c.Decimals = -1
	}
	return c
}

// Key is the asset's payments.AssetKey: "eip155:8453/0x…".
func (a *Asset) Key() string { return payments.AssetKey(a.Network, a.Address) }

type rawAsset struct {
	Symbol       string         `yaml:"symbol"`
	Network      string         `yaml:"network"`
	Address      string         `yaml:"address"`
	Decimals     *int           `yaml:"decimals"`
	EIP712       *rawEIP712     `yaml:"eip712"`
	MaxPerCall   string         `yaml:"max_per_call"`
	ApproveAbove string         `yaml:"approve_above"`
	Budget       rawAssetBudget `yaml:"budget"`
	// Transfer is how the token moves when a seller does not say
	// (eip3009 or permit2).
	Transfer string `yaml:"transfer"`
	// GaslessApproval is the largest payment for which x402-mcp may sign an
	// approval the seller's facilitator submits (EVM: an EIP-2612 permit of
	// Permit2 for exactly the payment).
	GaslessApproval string `yaml:"gasless_approval"`
}

type rawEIP712 struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
}

type rawAssetBudget struct {
	Total  string `yaml:"total"`
	PerDay string `yaml:"per_day"`
}

var symbolRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]{0,15}$`)

// parseAssets reads the assets: section. chain holds decimals read from the
// chain, by asset key, for the assets that declare none.
func parseAssets(p *problems, raw []*rawAsset, d *Defaults, rpc map[payments.Network]string, chain map[string]int) []*Asset {
	var out []*Asset
	for i, ra := range raw {
		where := fmt.Sprintf("assets[%d]", i)
		if ra == nil {
			p.add(where, "empty entry: give at least symbol, network, address and budget.total")
			continue
		}
		if ra.Symbol != "" {
			where += fmt.Sprintf(" %q", ra.Symbol)
		}
		at := func(f string) string { return where + ": " + f }
		n0 := len(p.errs)
		a := &Asset{AssetPolicy: payments.AssetPolicy{Setting: fmt.Sprintf("assets[%d]", i)}}
		a.Symbol = ra.Symbol

		switch {
		case ra.Network == "":
			p.add(at("network"), "missing: name the network the token is on, one of defaults.networks (%s)", networkList(d.Networks))
		default:
			n, err := p.fams.ParseNetwork(ra.Network)
			switch {
			case err != nil:
				p.add(at("network"), "%v", err)
			case !slices.Contains(d.Networks, n):
				p.add(at("network"), "%s (%s) is not in defaults.networks (%s): add it there, or remove the asset", n, p.fams.NetworkName(n), networkList(d.Networks))
			default:
				a.Network = n
			}
		}
		switch addr, err := p.fams.CheckAddress(a.Network, ra.Address); {
		case ra.Address == "":
			p.add(at("address"), "missing: write the token's address (%s)", p.addressForms(a.Network))
		case err != nil:
			p.add(at("address"), "%v", err)
		default:
			a.Address = addr
		}
		known, hasUSDC := p.fams.KnownUSDC(a.Network)
		switch {
		case ra.Symbol == "":
			p.add(at("symbol"), "missing: write the token's symbol, such as EURC: amounts in it are shown with it, and entries pin it by it")
		case !symbolRE.MatchString(ra.Symbol):
			p.add(at("symbol"), "%q is not a symbol: use 1 to 16 letters, digits and . _ -, starting with a letter (such as EURC or USDC.e)", ra.Symbol)
		case a.Network != "" && hasUSDC && known.Address == a.Address:
			p.add(at("address"), "%s is the USDC x402-mcp knows on %s: it needs no declaration, and budget: counts it; remove this asset", a.Address, a.Network)
		case a.Network != "" && hasUSDC && strings.EqualFold(ra.Symbol, payments.USDC.Symbol):
			p.add(at("symbol"), "USDC on %s is %s; a token at another address named %s would be mistaken for it: give it another symbol (such as USDC.e)", a.Network, known.Address, ra.Symbol)
		}
		for _, prev := range out {
			switch {
			case prev.Network != a.Network:
			case prev.Address == a.Address && a.Address != "":
				p.add(at("address"), "%s on %s is already declared as %s: declare each token once", a.Address, a.Network, prev.Setting)
			case strings.EqualFold(prev.Symbol, a.Symbol) && a.Symbol != "":
				p.add(at("symbol"), "%s on %s is already declared by %s: symbols are unique per network (ignoring case)", a.Symbol, a.Network, prev.Setting)
			}
		}

		// decimals: declared, or read from the chain at start
		_, hasRPC := rpc[a.Network]
		switch {
		case ra.Decimals != nil && (*ra.Decimals < 0 || *ra.Decimals > payments.MaxDecimals):
			p.add(at("decimals"), "%d is out of range: write the token's decimals() from 0 to %d (x402-mcp counts at most 18.4 whole tokens of 18 decimals)", *ra.Decimals, payments.MaxDecimals)
		case ra.Decimals != nil:
			a.Decimals, a.DecimalsDeclared, a.Resolved = *ra.Decimals, true, true
		case a.Network != "" && !hasRPC:
			p.add(at("decimals"), "missing, and rpc: has no endpoint for %s to read them from, so amounts in %s are ambiguous: declare decimals: (the token's decimals(), such as 6 or 18), or add rpc: {%s: https://…} to read them at start", a.Network, ra.Symbol, a.Network)
		default:
			if dec, ok := chain[payments.AssetKey(a.Network, a.Address)]; ok {
				a.Decimals, a.Resolved = dec, true
			}
		}
		if e := ra.EIP712; e != nil {
			switch {
			case e.Name == "" || e.Version == "":
				p.add(at("eip712"), "give both name and version, the token's EIP-712 domain (such as name: \"EURC\", version: \"2\"), or leave eip712 out to take them from the seller")
			default:
				a.Name, a.Version = e.Name, e.Version
			}
		}

		cur := a.Currency()
		amount := func(field, v, zero string) payments.Amount {
			if v == "" {
				return 0
			}
			x, err := parseMoney(cur, v)
			switch {
			case err != nil:
				p.add(at(field), "%v", err)
			case x == 0:
				p.add(at(field), "%s", zero)
			}
			return x
		}
		a.PerCall = amount("max_per_call", ra.MaxPerCall, "0 would refuse every payment: write a positive amount, or leave it out (each entry's max_price then bounds its calls)")
		a.GaslessApproval = amount("gasless_approval", ra.GaslessApproval, "0 allows none: leave gasless_approval out to allow none, or write the largest payment x402-mcp may sign a gasless approval of Permit2 for")
		if ra.Transfer != "" {
			here := p.fams.Of([]payments.Network{a.Network})
			switch payers := p.fams.Paying(SchemeExact, ra.Transfer); {
			case !slices.Contains(TransferMethods, ra.Transfer):
				p.add(at("transfer"), "%q is not a transfer method: write eip3009 (transferWithAuthorization, as USDC) or permit2 (any ERC-20, through Permit2 and an allowance)", ra.Transfer)
			case len(here) == 1 && len(here.Paying(SchemeExact, ra.Transfer)) == 0 && len(payers) == 0:
				p.add(at("transfer"), "x402-mcp pays %s on no network family it was built with (%s): remove transfer:", ra.Transfer, p.fams.Titles())
			case len(here) == 1 && len(here.Paying(SchemeExact, ra.Transfer)) == 0:
				// the asset's network is of a family with no such method
				p.add(at("transfer"), "%s is %s %s transfer method, and the asset is on %s: %s; remove transfer:",
					ra.Transfer, article(payers.Titles()), payers.Titles(), networkNames(p.fams, []payments.Network{a.Network}), methodsOf(here))
			default:
				a.Transfer = ra.Transfer
			}
		}
		a.ApproveAbove = amount("approve_above", ra.ApproveAbove, "0 is not a threshold: write the largest amount paid without asking, or leave it out")
		if ra.ApproveAbove == "" && d.ApproveAbove != 0 {
			p.add(at("approve_above"), "missing while defaults.approve_above is set: that threshold is in USDC, so a payment in %s would never ask; write this asset's threshold in %s, such as approve_above: \"0.05\"", ra.Symbol, ra.Symbol)
		}
		if ra.Budget.Total == "" {
			p.add(at("budget.total"), "missing: every asset needs a budget of its own, the most the ledger may ever count in it (budget: counts only USDC), such as budget: {total: \"5.00\"}")
		}
		a.Total = amount("budget.total", ra.Budget.Total, "0 would refuse every payment: write a positive amount, or remove the asset")
		a.PerDay = amount("budget.per_day", ra.Budget.PerDay, "0 would refuse every payment: write a positive amount, or leave it out for no daily limit")
		if len(p.errs) == n0 {
			out = append(out, a)
		}
	}
	return out
}

// parseMoney reads a decimal amount in cur. While cur's decimals are not
// known (an asset whose decimals are read from the chain at start), only
// its form is checked, and any positive amount reads as 1: its value comes
// once the decimals are known.
func parseMoney(cur payments.Currency, s string) (payments.Amount, error) {
	if cur.Decimals >= 0 {
		return cur.Parse(s)
	}
	wide := cur
	wide.Decimals = payments.MaxDecimals
	if _, err := wide.Parse(s); err != nil && !strings.Contains(err.Error(), "too large") {
		return 0, err
	}
	if strings.Trim(s, "0.") == "" {
		return 0, nil
	}
	return 1, nil
}

// known says whether amounts in cur can be compared (its decimals are known).
func known(cur payments.Currency) bool { return cur.Decimals >= 0 }

// findAsset resolves an `asset:` pin: a declared symbol (on the entry's
// network when it pins one), USDC, or the address of a declared asset or of
// the USDC x402-mcp knows on one of networks, as its family reads it. It
// returns the declared asset (nil for USDC) and the token address to pin
// ("" for USDC on any network), in its family's canonical form.
func findAsset(fams payments.Families, assets []*Asset, pin string, network payments.Network, networks []payments.Network) (*Asset, string, error) {
	addr, err := fams.ParseAddress(network, pin)
	switch {
	case err != nil && !errors.Is(err, payments.ErrNotAddress):
		return nil, "", fmt.Errorf("%q is not a token address: write the token's %s, or the symbol of an asset declared under assets:", pin, addressForms(fams, networks))
	case err == nil:
		var found []*Asset
		for _, a := range assets {
			if a.Address == addr && (network == "" || a.Network == network) {
				found = append(found, a)
			}
		}
		switch len(found) {
		case 1:
			return found[0], addr, nil
		case 0:
		default:
			return nil, "", fmt.Errorf("%s is declared on several networks (%s and %s): pin network: too", addr, found[0].Network, found[1].Network)
		}
		for _, n := range networks {
			if k, ok := fams.KnownUSDC(n); ok && k.Address == addr {
				return nil, addr, nil
			}
		}
		return nil, "", fmt.Errorf("%s is neither the USDC x402-mcp knows on %s nor declared under assets:, so its units and budget are unknown: declare it there (symbol, network, address, decimals or an rpc: endpoint to read them, budget.total) and pin it by its symbol", addr, networkList(networks))
	}
	var found []*Asset
	for _, a := range assets {
		if a.Symbol == pin && (network == "" || a.Network == network) {
			found = append(found, a)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], found[0].Address, nil
	case len(found) > 1:
		return nil, "", fmt.Errorf("%s is declared on several networks (%s and %s): pin network: too", pin, found[0].Network, found[1].Network)
	case network != "" && slices.ContainsFunc(assets, func(a *Asset) bool { return a.Symbol == pin }):
		i := slices.IndexFunc(assets, func(a *Asset) bool { return a.Symbol == pin })
		return nil, "", fmt.Errorf("%s is declared on %s, not on %s (the entry's network:): remove network: or pin another asset", pin, assets[i].Network, network)
	case pin == payments.USDC.Symbol:
		if network != "" {
			k, ok := fams.KnownUSDC(network)
			if !ok {
				return nil, "", fmt.Errorf("x402-mcp knows no USDC on %s: declare the token under assets: and pin it by its symbol", network)
			}
			return nil, k.Address, nil
		}
		return nil, "", nil
	}
	var syms []string
	for _, a := range assets {
		syms = append(syms, a.Symbol)
	}
	declared := "none are"
	if len(syms) > 0 {
		declared = "declared: " + strings.Join(syms, ", ")
	}
	return nil, "", fmt.Errorf("%q is not a token address (%s) nor the symbol of an asset declared under assets: (USDC, or one declared there; %s)", pin, addressForms(fams, networks), declared)
}

// addressForms says how the addresses of the families of networks are
// written: "0x and 40 hex digits" (every family's when networks is empty,
// or names none x402-mcp knows).
func addressForms(fams payments.Families, networks []payments.Network) string {
	var forms []string
	for _, n := range networks {
		if f := fams.Family(n); f != nil && !slices.Contains(forms, f.AddressForm()) {
			forms = append(forms, f.AddressForm())
		}
	}
	if len(forms) == 0 {
		for _, f := range fams {
			forms = append(forms, f.AddressForm())
		}
	}
	return strings.Join(forms, ", or ")
}

// addressForms says how an address on n (any network when empty) is
// written.
func (p *problems) addressForms(n payments.Network) string {
	if n == "" {
		return addressForms(p.fams, nil)
	}
	return addressForms(p.fams, []payments.Network{n})
}

// Unresolved returns the declared assets whose decimals are left to the
// chain and not read yet: ResolveAssets reads them. Until then nothing is
// paid in them.
func (r *Registry) Unresolved() []*Asset {
	var out []*Asset
	for _, a := range r.Assets {
		if !a.Resolved {
			out = append(out, a)
		}
	}
	return out
}

// DecimalsReader reads a token's decimals on a network from the chain, the
// token named by its address in its family's canonical form
// (payments/evm.RPCChecker does, through the rpc: endpoints).
type DecimalsReader interface {
	Decimals(ctx context.Context, network payments.Network, asset string) (int, error)
}

// ResolveAssets reads, through dr, the decimals of every declared asset on
// a network with an rpc: endpoint: an asset that declares none takes the
// chain's, and one that declares decimals other than the chain's is an
// error (amounts in it would be misread). It returns the registry with those
// decimals (r itself when nothing was read) and, for assets that declare
// their decimals but could not be checked (the chain did not answer),
// notes to log: their declared decimals stand.
func (r *Registry) ResolveAssets(ctx context.Context, dr DecimalsReader) (*Registry, []string, error) {
	var errs []error
	var notes []string
	chain := map[string]int{}
	for _, a := range r.Assets {
		if _, ok := r.RPC[a.Network]; !ok {
			continue
		}
		d, err := dr.Decimals(ctx, a.Network, a.Address)
		switch {
		case err != nil && a.DecimalsDeclared:
			notes = append(notes, fmt.Sprintf("%s: %s: could not read decimals() to check the declared %d: %v", r.Path, a.Setting, a.Decimals, err))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %s %q: decimals: not declared, and reading decimals() of %s on %s failed: %w; declare decimals: or fix rpc.%s",
				r.Path, a.Setting, a.Symbol, a.Address, a.Network, err, a.Network))
		case a.DecimalsDeclared && d != a.Decimals:
			errs = append(errs, fmt.Errorf("%s: %s %q: decimals: %d declared, but the token at %s on %s says %d (decimals()): amounts in %s would be misread by a factor of 10^%d; fix decimals",
				r.Path, a.Setting, a.Symbol, a.Decimals, a.Address, a.Network, d, a.Symbol, abs(d-a.Decimals)))
		case !a.DecimalsDeclared:
			chain[a.Key()] = d
		}
	}
	if len(errs) > 0 {
		return nil, notes, errors.Join(errs...)
	}
	if len(chain) == 0 {
		return r, notes, nil
	}
	out, err := r.WithDecimals(chain)
	return out, notes, err
}

// ChainDecimals returns the decimals read from the chain for the assets
// that declare none, by asset key: WithDecimals gives them to a reloaded
// catalog.
func (r *Registry) ChainDecimals() map[string]int {
	out := map[string]int{}
	for _, a := range r.Assets {
		if a.Resolved && !a.DecimalsDeclared {
			out[a.Key()] = a.Decimals
		}
	}
	return out
}

// WithDecimals parses the catalog again with the decimals of the assets
// that declare none (by asset key), so that their amounts are read in their
// units. Assets it has no decimals for stay unresolved.
func (r *Registry) WithDecimals(chain map[string]int) (*Registry, error) {
	if len(r.Unresolved()) == 0 {
		return r, nil
	}
	for k, d := range chain {
		if d < 0 || d > payments.MaxDecimals {
			return nil, fmt.Errorf("%s: the chain says %s has %d decimals: x402-mcp counts tokens of at most %d", r.Path, k, d, payments.MaxDecimals)
		}
	}
	return parse(r.Path, r.data, chain, r.fams)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
