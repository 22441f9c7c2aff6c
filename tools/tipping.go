package tools

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/facilitator"
)

// Tipping defaults.
const (
	// DefaultMaxTip is tipping.max_tip when unset (but never above per_day).
	DefaultMaxTip payments.Amount = 1_000_000
	// DefaultTipTimeout bounds each facilitator request of a tip.
	DefaultTipTimeout = facilitator.DefaultTimeout
)

var recipientNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$`)

// parseTipping reads the tipping section: where tips are paid, through
// which facilitator, the caps, the approval rule and the address book. It
// returns nil when the section has mistakes (they are reported to p).
func parseTipping(p *problems, rt *rawTipping, networks []payments.Network, assets []*Asset) (*payments.Tipping, []part, []headerTemplate) {
	n0 := len(p.errs)
	t := &payments.Tipping{AllowAddresses: rt.AllowAddresses == nil || *rt.AllowAddresses, Timeout: DefaultTipTimeout, Currency: payments.USDC}

	// network
	switch {
	case rt.Network == "" && len(networks) == 1:
		t.Network = networks[0]
	case rt.Network == "":
		p.add("tipping.network", "missing: name the network tips are paid on, one of defaults.networks (%s)", networkList(networks))
	default:
		n, err := p.fams.ParseNetwork(rt.Network)
		switch {
		case err != nil:
			p.add("tipping.network", "%v", err)
		case !slices.Contains(networks, n):
			p.add("tipping.network", "%s (%s) is not in defaults.networks (%s): add it there or tip on an allowed network", n, p.fams.NetworkName(n), networkList(networks))
		default:
			t.Network = n
		}
	}

	// asset (USDC, or a declared one), with what its family needs to pay in
	// it with no seller's word (EVM: its EIP-712 domain)
	if t.Network != "" {
		t.Family = p.fams.Family(t.Network)
		known, isKnown := t.Family.KnownUSDC(t.Network)
		var declared *Asset
		switch {
		case rt.Asset == "" && !isKnown:
			p.add("tipping.asset", "missing: x402-mcp knows no USDC on %s; declare the token under assets: and write its symbol or address here", t.Network)
		case rt.Asset == "":
			t.Asset = known
		default:
			a, addr, err := findAsset(p.fams, assets, rt.Asset, t.Network, []payments.Network{t.Network})
			switch {
			case err != nil:
				p.add("tipping.asset", "%v", err)
			case a != nil:
				declared, t.Asset = a, a.Asset
			case addr == "" || isKnown && addr == known.Address:
				t.Asset = known
			default:
				t.Asset = payments.Asset{Network: t.Network, Address: addr}
			}
		}
		if declared != nil {
			t.Currency = declared.Currency()
		}
		if rt.AssetName != "" {
			t.Asset.Name = rt.AssetName
		}
		if rt.AssetVersion != "" {
			t.Asset.Version = rt.AssetVersion
		}
		if t.Asset.Address != "" {
			if err := t.Family.CheckAsset(t.Asset); err != nil {
				p.add("tipping.asset", "%v: give asset_name and asset_version here, or eip712 under its assets: entry (such as \"USD Coin\" and \"2\")", err)
			}
		}
	}
	cur := t.Currency

	// facilitator_url: a template, expanded at call time like a tool's url
	var urlParts []part
	if rt.FacilitatorURL == "" {
		p.add("tipping.facilitator_url", "missing: give the facilitator's base URL, such as https://x402.org/facilitator (tips are POSTed to its /verify and /settle)")
	} else if parts, ok := p.template("tipping.facilitator_url", []any{"tipping", "facilitator_url"}, rt.FacilitatorURL, false); !ok {
		// reported
	} else {
		probe, known := probeURL(parts)
		u, err := url.Parse(probe)
		switch {
		case err != nil || known && (u.Scheme != "http" && u.Scheme != "https" || u.Host == ""):
			p.add("tipping.facilitator_url", "%q is not an http or https URL: write https://… (or http:// for a local facilitator)", rt.FacilitatorURL)
		case u.User != nil:
			p.add("tipping.facilitator_url", "credentials in the URL would be logged: remove user:password@")
		case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(probe, "?"):
			p.add("tipping.facilitator_url", "remove the query string and fragment: /verify and /settle are appended to the URL's path")
		default:
			t.Facilitator = rt.FacilitatorURL
			urlParts = parts
		}
	}

	// headers: the facilitator's credentials, expanded at call time
	// (The names it returns are for clashes with params, which tipping
	// has none of; its problems go to p.)
	hdrs, _ := parseHeaders(p, "tipping.headers", []any{"tipping", "headers"}, rt.Headers)

	// the caps and the approval rule
	amount := func(field, v string, zero string) payments.Amount {
		if v == "" {
			return 0
		}
		a, err := parseMoney(cur, v)
		switch {
		case err != nil:
			p.add(field, "%v", err)
		case a == 0:
			p.add(field, "%s", zero)
		}
		return a
	}
	if rt.PerDay == "" {
		p.add("tipping.per_day", "missing: set the most tips may spend per day in %s, such as per_day: \"5.00\" (tips also count against the other budgets of %s)", cur.Symbol, cur.Symbol)
	}
	t.PerDay = amount("tipping.per_day", rt.PerDay, "0 would refuse every tip: write the most tips may spend per day, such as 5.00, or remove the tipping section")
	t.MaxTip = amount("tipping.max_tip", rt.MaxTip, "0 would refuse every tip: write the most one tip may be, such as 2.00, or leave it out")
	switch {
	case rt.MaxTip == "" && cur.IsUSDC():
		t.MaxTip = min(DefaultMaxTip, t.PerDay)
	case rt.MaxTip == "":
		t.MaxTip = t.PerDay // DefaultMaxTip is in USDC
	case t.PerDay != 0 && t.MaxTip > t.PerDay && known(cur):
		p.add("tipping.max_tip", "%s is above tipping.per_day (%s): no tip could ever be that large; lower max_tip or raise per_day", cur.Format(t.MaxTip), cur.Format(t.PerDay))
	}
	t.AutoApproveUpTo = amount("tipping.auto_approve_up_to", rt.AutoApproveUpTo, "0 would change nothing (every tip asks the human unless this is set): leave it out, or write the largest tip to send without asking, such as 0.25")
	if t.AutoApproveUpTo != 0 && t.MaxTip != 0 && t.AutoApproveUpTo > t.MaxTip && known(cur) {
		p.add("tipping.auto_approve_up_to", "%s is above tipping.max_tip (%s): write at most max_tip", cur.Format(t.AutoApproveUpTo), cur.Format(t.MaxTip))
	}
	if rt.Timeout != "" {
		if d, err := parseTimeout(rt.Timeout); err != nil {
			p.add("tipping.timeout", "%v", err)
		} else {
			t.Timeout = d
		}
	}

	// the address book
	names := make([]string, 0, len(rt.Recipients))
	for k := range rt.Recipients {
		names = append(names, k)
	}
	sort.Strings(names)
	seen := map[string]string{}
	for _, k := range names {
		field := "tipping.recipients." + k
		name := strings.TrimSpace(k)
		if !recipientNameRE.MatchString(name) {
			p.add(field, "%q is not a recipient name: use 1 to 64 letters, digits, spaces and . _ @ -, starting with a letter or digit", k)
			continue
		}
		if strings.HasPrefix(strings.ToLower(name), "0x") {
			p.add(field, "a name may not start with 0x: it would read as an address")
			continue
		}
		if prev, dup := seen[strings.ToLower(name)]; dup {
			p.add(field, "is the same name as %q (names ignore case): keep one", prev)
			continue
		}
		seen[strings.ToLower(name)] = k
		if t.Family == nil {
			continue // the network is wrong: reported above
		}
		addr, err := t.Family.CheckAddress(strings.TrimSpace(rt.Recipients[k]))
		if err != nil {
			p.add(field, "%v", err)
			continue
		}
		if addr == t.Asset.Address {
			p.add(field, "%s is the token contract itself: tokens sent there are lost", addr)
			continue
		}
		t.Recipients = append(t.Recipients, payments.Recipient{Name: name, Address: addr})
	}
	if !t.AllowAddresses && len(t.Recipients) == 0 {
		p.add("tipping.allow_addresses", "false with an empty address book would refuse every tip: add recipients, or remove allow_addresses")
	}
	if len(p.errs) > n0 {
		return nil, nil, nil
	}
	return t, urlParts, hdrs
}

// TippingFor returns the tipping section to pay a tip with (nil when the
// registry has none): its facilitator_url and headers expanded, ${VAR}
// taken from getenv, with the Redaction that hides what they expanded to. A
// variable that is unset, or a URL that does not expand to an http(s) one,
// is a *ConfigError.
func (r *Registry) TippingFor(getenv func(string) string) (*payments.Tipping, error) {
	if r.Tipping == nil {
		return nil, nil
	}
	fail := func(msg string) error {
		return &ConfigError{Tool: "x402_tip", Msg: msg + " Nothing was signed or charged."}
	}
	x, err := expandSpans(r.tipURL, getenv, nil, "tipping.facilitator_url")
	if err != nil {
		return nil, fail(err.Error() + ". The operator must set it and restart x402-mcp.")
	}
	raw := strings.TrimRight(x.text, "/")
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		// Do not quote the URL: an environment variable may hold a secret.
		return nil, fail(fmt.Sprintf("tipping.facilitator_url does not expand to a valid http or https URL (check %s).", envHint(r.tipURL)))
	}
	red := payments.NewRedaction(raw, "")
	x.text = raw
	red.URL = redactedURL(x, red)
	var hdr http.Header
	for _, h := range r.tipHdrs {
		hx, err := expandSpans(h.parts, getenv, nil, "tipping.headers."+h.name)
		if err != nil {
			return nil, fail(err.Error() + ". The operator must set it and restart x402-mcp.")
		}
		if strings.ContainsAny(hx.text, "\r\n\x00") {
			return nil, fail(fmt.Sprintf("tipping.headers.%s expands to a value with a line break (check %s).", h.name, envHint(h.parts)))
		}
		if hdr == nil {
			hdr = http.Header{}
		}
		hdr.Set(h.name, hx.text)
		addHeaderSecrets(hx, red)
	}
	t := *r.Tipping
	t.Facilitator, t.FacilitatorHeader, t.FacilitatorRedaction = raw, hdr, red
	return &t, nil
}
