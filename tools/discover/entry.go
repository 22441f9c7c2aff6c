package discover

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/tools"
)

// Draft is a proposed registry entry, in the order registry.yaml lists keys.
type Draft struct {
	Name        string  `yaml:"name"`
	Description string  `yaml:"description"`
	Method      string  `yaml:"method"`
	URL         string  `yaml:"url"`
	Params      []Param `yaml:"params,omitempty"`
	// InputSchema replaces Params when the seller's input says more than
	// params can (see input.go).
	InputSchema *omap           `yaml:"input_schema,omitempty"`
	MaxPrice    payments.Amount `yaml:"max_price"`
	PayTo       string          `yaml:"pay_to"`
	Network     string          `yaml:"network"`
	Asset       string          `yaml:"asset"`
	// Scheme is "upto" for a usage-priced endpoint (MaxPrice is then the
	// maximum the seller asks), empty for exact.
	Scheme string `yaml:"scheme,omitempty"`
	// TransferMethod pins the method the seller named (permit2), so that a
	// later 402 cannot switch it.
	TransferMethod string `yaml:"transfer_method,omitempty"`
	// Enabled is nil for a probed entry (enabled) and false for a draft.
	Enabled *bool `yaml:"enabled,omitempty"`
}

// Param is one param of a Draft.
type Param struct {
	Name        string `yaml:"name"`
	In          string `yaml:"in"`
	Type        string `yaml:"type"`
	Description string `yaml:"description,omitempty"`
	Required    bool   `yaml:"required,omitempty"`
	Enum        []any  `yaml:"enum,omitempty"`
}

// Filter narrows the accepts a draft may pin: zero values allow any.
type Filter struct {
	Network  payments.Network
	MaxPrice payments.Amount
}

// offerInfo is what a seller says about one resource, from a 402 or a
// discovery item.
type offerInfo struct {
	url         string
	method      string // from the flag; "" lets the seller's info decide
	description string
	accepts     []x402.Requirement
	info        *httpInfo // bazaar info.input and schema, or v1 outputSchema.input
}

// acceptExtra is what the draft reads of an accept's extra: the transfer
// method the seller names and upto's facilitator.
type acceptExtra struct {
	AssetTransferMethod string `json:"assetTransferMethod"`
	FacilitatorAddress  string `json:"facilitatorAddress"`
}

// cheapest picks the cheapest accept x402-mcp can pay (the exact or upto
// scheme, a network of one of fams, an atomic amount, a payee and asset
// its family reads, USDC, a transfer method it pays: eip3009 or permit2;
// upto through Permit2, with its facilitator named) within the filter. On
// a tie, exact comes before upto. It returns the option with its extra as
// read.
func cheapest(accepts []x402.Requirement, f Filter, fams payments.Families) (x402.Requirement, acceptExtra, payments.Network, payments.Amount, error) {
	var (
		best    x402.Requirement
		bestEx  acceptExtra
		bestNet payments.Network
		bestAmt payments.Amount
		found   bool
		why     []string
	)
	for i, a := range accepts {
		n, err := fams.ParseNetwork(a.Network)
		amt, aerr := payments.ParseAtomic(a.Price())
		var payTo, asset string
		var perr, serr error
		if err == nil {
			payTo, perr = fams.ParseAddress(n, a.PayTo)
			asset, serr = fams.ParseAddress(n, a.Asset)
		}
		var ex acceptExtra
		exErr := error(nil)
		if len(a.Extra) > 0 && string(a.Extra) != "null" {
			exErr = json.Unmarshal(a.Extra, &ex)
		}
		_, facErr := fams.ParseAddress(n, ex.FacilitatorAddress)
		switch {
		case a.Scheme != x402.SchemeExact && a.Scheme != x402.SchemeUpto:
			why = append(why, fmt.Sprintf("accepts[%d]: scheme %q is neither exact nor upto", i, SellerText(a.Scheme, 40)))
		case exErr != nil:
			why = append(why, fmt.Sprintf("accepts[%d]: extra is not an object of strings", i))
		case ex.AssetTransferMethod != "" && ex.AssetTransferMethod != "eip3009" && ex.AssetTransferMethod != "permit2":
			why = append(why, fmt.Sprintf("accepts[%d]: assetTransferMethod %q is not one x402-mcp pays (eip3009, permit2)", i, SellerText(ex.AssetTransferMethod, 40)))
		case err == nil && len(fams.Of([]payments.Network{n}).Paying(a.Scheme, "")) == 0:
			// the catalog would refuse the entry (its network's family
			// does not pay the scheme: upto on Solana)
			here := fams.Of([]payments.Network{n})
			why = append(why, fmt.Sprintf("accepts[%d]: scheme %s is not paid on %s (%s sellers are paid with %s)", i, a.Scheme, fams.NetworkName(n), here.Titles(), strings.Join(schemesOf(here), " or ")))
		case a.Scheme == x402.SchemeUpto && ex.AssetTransferMethod == "eip3009":
			why = append(why, fmt.Sprintf("accepts[%d]: upto through eip3009 cannot be paid (upto is Permit2 only)", i))
		case a.Scheme == x402.SchemeUpto && (err != nil || facErr != nil):
			why = append(why, fmt.Sprintf("accepts[%d]: upto names no facilitatorAddress (the one facilitator that may settle)", i))
		case err != nil:
			why = append(why, fmt.Sprintf("accepts[%d]: network %q is not %s network", i, SellerText(a.Network, 40), article(fams.Titles())))
		case aerr != nil || amt == 0:
			why = append(why, fmt.Sprintf("accepts[%d]: amount %q is not a positive atomic amount", i, SellerText(a.Price(), 40)))
		case perr != nil || serr != nil:
			why = append(why, fmt.Sprintf("accepts[%d]: payTo or asset is not %s", i, article(fams.Family(n).AddressName())))
		case f.Network != "" && n != f.Network:
			why = append(why, fmt.Sprintf("accepts[%d]: network %s is not %s", i, n, f.Network))
		case !isUSDC(fams, n, asset):
			// A draft's max_price is written in USDC: another token needs
			// its own declaration (assets:) first.
			why = append(why, fmt.Sprintf("accepts[%d]: asset %s is not the USDC x402-mcp knows on %s (to pay it, declare it under assets: and write the entry by hand)", i, asset, n))
		case f.MaxPrice != 0 && amt > f.MaxPrice:
			why = append(why, fmt.Sprintf("accepts[%d]: price %s is over %s", i, amt.USDC(), f.MaxPrice.USDC()))
		case !found || amt < bestAmt || amt == bestAmt && best.Scheme == x402.SchemeUpto && a.Scheme == x402.SchemeExact:
			a.PayTo, a.Asset = payTo, asset
			best, bestEx, bestNet, bestAmt, found = a, ex, n, amt, true
		}
	}
	if !found {
		if len(why) == 0 {
			why = []string{"no accepts"}
		}
		return best, bestEx, "", 0, fmt.Errorf("no payment option x402-mcp can pay: %s", joinReasons(why, maxReasons))
	}
	return best, bestEx, bestNet, bestAmt, nil
}

// schemesOf names the schemes fams pay, each once.
func schemesOf(fams payments.Families) []string {
	var out []string
	for _, f := range fams {
		for _, s := range f.Schemes() {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// maxReasons is how many refused options an error names: a seller may
// list thousands, and an error is read by a person (or a model) whole.
const maxReasons = 8

// joinReasons joins at most max reasons and counts the rest, so an error
// stays a few hundred bytes however many options a seller lists.
func joinReasons(why []string, max int) string {
	if len(why) <= max {
		return strings.Join(why, "; ")
	}
	return fmt.Sprintf("%s; and %d more options refused", strings.Join(why[:max], "; "), len(why)-max)
}

// article puts "a" or "an" before a noun phrase: "an EVM", "a 0x address".
func article(s string) string {
	if s != "" && strings.ContainsRune("AEIOUaeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// draft builds the entry for one offer. Warnings say what was left out.
func draft(o offerInfo, name string, f Filter, fams payments.Families) (Draft, []string, error) {
	var warn []string
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Draft{}, nil, fmt.Errorf("%q is not an http(s) URL", SellerText(o.url, 200))
	}
	if strings.Contains(o.url, "${") {
		return Draft{}, nil, errors.New("the URL contains ${: the registry would read it as an environment reference")
	}
	if u.User != nil {
		return Draft{}, nil, errors.New("the URL carries credentials (user:password@): leave them out")
	}
	acc, ex, net, price, err := cheapest(o.accepts, f, fams)
	if err != nil {
		return Draft{}, nil, err
	}
	method := o.method
	if method == "" && o.info != nil && o.info.Method != "" {
		method = strings.ToUpper(o.info.Method)
	}
	if method == "" {
		method = http.MethodGet
	}
	if o.info != nil && o.info.Method != "" && !strings.EqualFold(o.info.Method, method) {
		warn = append(warn, fmt.Sprintf("the seller describes method %s, the entry uses %s", SellerText(o.info.Method, 10), method))
	}
	if !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE"}, method) {
		return Draft{}, nil, fmt.Errorf("method %q is not one x402-mcp calls (GET, POST, PUT, PATCH, DELETE)", SellerText(method, 20))
	}
	params, schema, rawURL, warn := input(o, method, warn)
	if u, err = url.Parse(rawURL); err != nil {
		return Draft{}, warn, fmt.Errorf("%q is not an http(s) URL", SellerText(rawURL, 200))
	}
	if name == "" {
		name = NameFromURL(u)
	}
	if !validName(name) {
		return Draft{}, nil, fmt.Errorf("%q is not a valid tool name: use 1 to 64 of a-z, 0-9 and _, starting with a letter, not starting with x402_", name)
	}
	desc := Quoted(o.description, MaxDescription)
	if desc == "" {
		desc = "Paid endpoint " + method + " " + u.Host + u.EscapedPath() + " (the seller gave no description)."
	}
	d := Draft{
		Name: name, Description: desc, Method: method, URL: rawURL, MaxPrice: price, Params: params, InputSchema: schema,
		PayTo: acc.PayTo, Network: string(net), Asset: acc.Asset,
	}
	if acc.Scheme == x402.SchemeUpto {
		d.Scheme = x402.SchemeUpto
		warn = append(warn, fmt.Sprintf("usage-priced (upto): each call authorizes up to %s and is charged what it used; max_price caps that maximum", price.USDC()))
	}
	// Permit2 is pinned where the network's family moves tokens by it (not
	// on Solana, whose payments have no method to pin: a seller's
	// assetTransferMethod there means nothing).
	permit2 := len(fams.Of([]payments.Network{net}).Paying(acc.Scheme, "permit2")) > 0
	if permit2 && (ex.AssetTransferMethod == "permit2" || acc.Scheme == x402.SchemeUpto) {
		d.TransferMethod = "permit2"
		warn = append(warn, "paid through Permit2: the wallet needs an ERC-20 allowance to Permit2 first (`x402-mcp wallet approve-permit2 --network "+string(net)+" --asset "+acc.Asset+" --amount …`)")
	}
	if err := validate(d, fams); err != nil {
		return Draft{}, warn, fmt.Errorf("the proposed entry is not valid: %w", err)
	}
	return d, warn, nil
}

var (
	templateRE  = regexp.MustCompile(`\{([^{}]*)\}`)
	paramNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)
	nameCharRE  = regexp.MustCompile(`[^a-z0-9]+`)
	versionRE   = regexp.MustCompile(`^v[0-9]+$`)
	jsonTypes   = []string{"string", "integer", "number", "boolean", "array", "object"}
)

func validName(n string) bool {
	return regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`).MatchString(n) && !strings.HasPrefix(n, tools.ReservedPrefix)
}

// NameFromURL derives a tool name from a URL's path: its segments without
// {templates} or version segments (v1, v2), lowercased, joined with _; the
// host when nothing is left.
func NameFromURL(u *url.URL) string {
	var parts []string
	for _, seg := range strings.Split(u.Path, "/") {
		seg = strings.ToLower(seg)
		if seg == "" || strings.Contains(seg, "{") || versionRE.MatchString(seg) {
			continue
		}
		if s := strings.Trim(nameCharRE.ReplaceAllString(seg, "_"), "_"); s != "" {
			parts = append(parts, s)
		}
	}
	n := strings.Join(parts, "_")
	if n == "" {
		n = strings.Trim(nameCharRE.ReplaceAllString(strings.ToLower(u.Hostname()), "_"), "_")
	}
	if n == "" || n[0] < 'a' || n[0] > 'z' || strings.HasPrefix(n, tools.ReservedPrefix) {
		n = "paid_" + n
	}
	if len(n) > 64 {
		n = strings.TrimRight(n[:64], "_")
	}
	return n
}

// exampleType is the JSON Schema type of an example value.
func exampleType(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "string"
	}
	switch x := v.(type) {
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "string"
}

// isUSDC says whether asset (canonical) is the USDC x402-mcp knows on n.
func isUSDC(fams payments.Families, n payments.Network, asset string) bool {
	k, ok := fams.KnownUSDC(n)
	return ok && k.Address == asset
}

// maxNotes is how many notes (warnings) Probe and Import return; the rest
// are counted in one more.
const maxNotes = 20

// capNotes returns the first maxNotes notes of warn and one that counts
// the rest: a seller or a facilitator may describe thousands of things
// that cannot be drafted, and a person reads every note.
func capNotes(warn []string) []string {
	if len(warn) <= maxNotes {
		return warn
	}
	return append(warn[:maxNotes:maxNotes], fmt.Sprintf("and %d more notes like these", len(warn)-maxNotes))
}
