package tools

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/x402"

	"github.com/x402-mcp/x402-mcp/payments"
	"go.yaml.in/yaml/v4"
)

// Defaults that apply when registry.yaml sets none.
const (
	DefaultTimeout        = 30 * time.Second
	MaxTimeout            = 10 * time.Minute
	DefaultMaxResultBytes = 64 << 10
	MinResultBytes        = 1 << 10
	MaxResultBytesLimit   = 10 << 20
	// DefaultBudgetTotal is budget.total when unset: 1 USDC.
	DefaultBudgetTotal payments.Amount = 1_000_000
)

// DefaultNetworks are the networks allowed when defaults.networks is unset:
// Base and Base Sepolia.
var DefaultNetworks = []payments.Network{"eip155:8453", "eip155:84532"}

// methods are the HTTP methods an entry may use.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// Where a param goes in the request.
const (
	InPath   = "path"
	InQuery  = "query"
	InHeader = "header"
	InBody   = "body"
)

// ReservedPrefix starts the names of x402-mcp's built-in tools.
const ReservedPrefix = "x402_"

var toolNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Registry is a validated catalog: the operator's defaults and budget, and
// the paid tools.
type Registry struct {
	// Path names the file in messages.
	Path     string
	Defaults Defaults
	Budget   Budget
	// RPC maps a network to the JSON-RPC URL reconciliation reads the chain at.
	RPC map[payments.Network]string
	// Assets are the tokens other than USDC declared under assets:, in file
	// order.
	Assets []*Asset
	Tools  []*Entry
	// Tipping is the tipping section (x402_tip); nil when absent. Its
	// per_day is also Budget.TipPerDay.
	Tipping *payments.Tipping
	// Wallet is what the catalog asks of the wallet's keys.
	Wallet WalletRules
	// Gateway is the principals: and oauth: sections (who may call over
	// HTTP); nil when both are absent.
	Gateway *Gateway

	byName   map[string]*Entry
	tipURL   []part           // tipping.facilitator_url, parsed
	tipHdrs  []headerTemplate // tipping.headers, parsed, sorted by name
	rpcParts map[payments.Network][]part
	data     []byte // the file, to parse again once the chain gave decimals (WithDecimals)
	fams     payments.Families
}

// WalletRules are the wallet: section: what the catalog asks of where the
// wallet's keys live.
type WalletRules struct {
	// RequireProtectedKey: x402-mcp refuses to start when the catalog
	// allows a network where money is real and a key of its family is in
	// the clear (an environment variable or a hex key file), instead of
	// warning.
	RequireProtectedKey bool
}

// Defaults apply to every entry.
type Defaults struct {
	// Networks the wallet may pay on (CAIP-2).
	Networks []payments.Network
	// MaxPerCall caps any single payment.
	MaxPerCall payments.Amount
	// Timeout bounds a call (the request, its payment and the paid retry).
	Timeout time.Duration
	// MaxResultBytes caps what the model sees of an answer.
	MaxResultBytes int
	// ApproveAbove: a payment above it waits for a human's approval (MCP
	// elicitation). Zero asks for none.
	ApproveAbove payments.Amount
	// Expose is how the catalog is listed: ExposeTools (or "", the
	// default) or ExposeSearch.
	Expose string
	// GaslessApproval is the largest USDC payment for which x402-mcp may
	// sign an approval the seller's facilitator submits (EVM: an EIP-2612
	// permit of Permit2). Zero allows none.
	GaslessApproval payments.Amount
}

// Budget is the operator's spending limits (see payments.Budget).
type Budget = payments.Budget

// Entry is one paid tool.
type Entry struct {
	Name        string
	Description string
	Method      string
	// URL is the template as written, with ${ENV} and {param} unexpanded.
	URL string
	// Params is the param list; nil when the entry gives input_schema.
	Params []Param
	// Headers are static request headers as written (values unexpanded).
	// Their expanded values are secrets: never log or show them.
	Headers map[string]string
	// MaxPrice, Budget and ApproveAbove are in Currency's units.
	MaxPrice payments.Amount
	// Budget is the entry's own lifetime budget (zero: budget.per_tool,
	// for USDC).
	Budget payments.Amount
	// Pins: when set, a 402 asking for anything else is refused.
	PayTo   string
	Network payments.Network
	// Family is the network family the entry pays on (Family.Name: "evm",
	// "svm"; family: in the file), or "" for any.
	Family string
	// Asset is the pinned token's address, written as a symbol or an
	// address in the file.
	Asset string
	// Currency is what the entry pays in and its amounts are read in: USDC,
	// or the declared asset it pins.
	Currency payments.Currency
	// Result is a gjson path picked out of a JSON answer.
	Result  string
	Timeout time.Duration
	// ApproveAbove overrides defaults.approve_above; zero means the default.
	ApproveAbove payments.Amount
	// Enabled is false for a draft (`enabled: false`): the entry is parsed
	// and validated but Build does not list it as a tool.
	Enabled bool
	// Kind is KindHTTP (an x402 HTTP endpoint, the default) or KindMCP (a
	// remote MCP server whose tools are listed under Prefix).
	Kind string
	// Prefix starts the local names of a KindMCP entry's remote tools.
	Prefix string
	// AmountFrom names the argument that carries the call's price, for tips
	// and pay-what-you-want endpoints (`amount_from:`): a 402 asking any
	// other amount is refused. Empty for a seller-priced entry.
	AmountFrom string
	// Scheme is the x402 scheme the entry pays: SchemeExact (also when
	// empty) or SchemeUpto (a usage-priced endpoint: MaxPrice bounds the
	// maximum the seller asks; it settles what the call used).
	Scheme string
	// TransferMethod pins how the asset moves (eip3009 or permit2); empty
	// lets the seller and the asset decide.
	TransferMethod string

	networks []payments.Network // where the entry may pay: its pin, else defaults.networks
	fams     payments.Families  // name the networks
	schema   json.RawMessage    // the compiled input schema
	fields   []field            // how each argument is checked and placed
	extraIn  string             // where undeclared arguments go ("" refuses them)
	urlParts []part
	headers  []headerTemplate // sorted by name
	hasBody  bool             // send a JSON object body
}

// Param is one argument of an entry defined with `params:`.
type Param struct {
	Name        string
	In          string // path, query, header or body
	Type        string // a JSON Schema type
	Description string
	Required    bool
	Enum        []any
	// Default applies when the argument is absent; nil means none.
	Default any
}

// field is an argument as the request builder sees it, for both params and
// input_schema entries.
type field struct {
	name     string
	in       string
	types    []string // allowed JSON types; empty allows any
	enum     []any    // canonical
	def      any      // canonical
	hasDef   bool
	required bool
	items    []string // for arrays: allowed item types; empty allows any
	itemEnum []any
	amount   bool              // the price argument (amount_from): a decimal string of cur
	cur      payments.Currency // the entry's currency, for amount
}

type headerTemplate struct {
	name  string
	parts []part
}

// Families returns the network families the registry was read with.
func (r *Registry) Families() payments.Families { return r.fams }

// Entry returns the tool with that name.
func (r *Registry) Entry(name string) (*Entry, bool) {
	e, ok := r.byName[name]
	return e, ok
}

// Policy returns the payment policy the registry sets: with the declared
// assets whose decimals are known, each with its budget (an asset whose
// decimals are still to be read from the chain is not paid in).
func (r *Registry) Policy() payments.Policy {
	pol := payments.Policy{
		Networks:        slices.Clone(r.Defaults.Networks),
		PerCall:         r.Defaults.MaxPerCall,
		Budget:          r.Budget,
		ApproveAbove:    r.Defaults.ApproveAbove,
		GaslessApproval: r.Defaults.GaslessApproval,
	}
	pol.Budget.Assets = nil
	for _, a := range r.Assets {
		if !a.Resolved {
			continue
		}
		pol.Assets = append(pol.Assets, a.AssetPolicy)
		if pol.Budget.Assets == nil {
			pol.Budget.Assets = map[string]payments.AssetBudget{}
		}
		pol.Budget.Assets[a.Key()] = payments.AssetBudget{Currency: a.Currency(), Total: a.Total, PerDay: a.PerDay, Setting: a.Setting}
	}
	return pol
}

// Load reads and validates a registry file; fams read its networks and
// addresses (see Parse).
func Load(path string, fams payments.Families) (*Registry, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("registry file not found: %s", path)
	}
	if err != nil {
		return nil, fmt.Errorf("read registry: %w", err)
	}
	return Parse(path, b, fams)
}

// The raw shapes registry.yaml decodes into. Pointers tell "absent" from zero.
type rawRegistry struct {
	Version  *int              `yaml:"version"`
	Defaults rawDefaults       `yaml:"defaults"`
	Budget   rawBudget         `yaml:"budget"`
	RPC      map[string]string `yaml:"rpc"`
	Assets   []*rawAsset       `yaml:"assets"`
	Tools    []*rawTool        `yaml:"tools"`
	Tipping  *rawTipping       `yaml:"tipping"`
	Wallet   *rawWallet        `yaml:"wallet"`
	// Principals and OAuth are the gateway sections (gateway.go).
	Principals []*rawPrincipal `yaml:"principals"`
	OAuth      *rawOAuth       `yaml:"oauth"`
}

type rawWallet struct {
	RequireProtectedKey *bool `yaml:"require_protected_key"`
}

type rawTipping struct {
	Network         string            `yaml:"network"`
	Asset           string            `yaml:"asset"`
	AssetName       string            `yaml:"asset_name"`
	AssetVersion    string            `yaml:"asset_version"`
	FacilitatorURL  string            `yaml:"facilitator_url"`
	Headers         map[string]string `yaml:"headers"`
	PerDay          string            `yaml:"per_day"`
	MaxTip          string            `yaml:"max_tip"`
	AutoApproveUpTo string            `yaml:"auto_approve_up_to"`
	AllowAddresses  *bool             `yaml:"allow_addresses"`
	Timeout         string            `yaml:"timeout"`
	Recipients      map[string]string `yaml:"recipients"`
}

type rawDefaults struct {
	Networks       []string `yaml:"networks"`
	MaxPerCall     string   `yaml:"max_per_call"`
	Timeout        string   `yaml:"timeout"`
	MaxResultBytes *int     `yaml:"max_result_bytes"`
	ApproveAbove   string   `yaml:"approve_above"`
	Expose         string   `yaml:"expose"`
	// GaslessApproval is assets:'s gasless_approval for USDC.
	GaslessApproval string `yaml:"gasless_approval"`
}

type rawBudget struct {
	Total      string            `yaml:"total"`
	PerDay     string            `yaml:"per_day"`
	Day        string            `yaml:"day"`
	Timezone   string            `yaml:"timezone"`
	PerSession string            `yaml:"per_session"`
	PerTool    string            `yaml:"per_tool"`
	PerHost    string            `yaml:"per_host"`
	PerNetwork map[string]string `yaml:"per_network"`
}

type rawTool struct {
	Name        string      `yaml:"name"`
	Description string      `yaml:"description"`
	Method      string      `yaml:"method"`
	URL         string      `yaml:"url"`
	Params      []*rawParam `yaml:"params"`
	// A value, not a pointer: yaml v4.0.0 decodes into a *yaml.Node as if
	// it were a struct (and WithKnownFields then rejects every key).
	InputSchema  yaml.Node         `yaml:"input_schema"`
	Headers      map[string]string `yaml:"headers"`
	MaxPrice     string            `yaml:"max_price"`
	Budget       string            `yaml:"budget"`
	PayTo        string            `yaml:"pay_to"`
	Network      string            `yaml:"network"`
	Family       string            `yaml:"family"`
	Asset        string            `yaml:"asset"`
	Result       string            `yaml:"result"`
	Timeout      string            `yaml:"timeout"`
	ApproveAbove string            `yaml:"approve_above"`
	Enabled      *bool             `yaml:"enabled"`
	Kind         string            `yaml:"kind"`
	Prefix       string            `yaml:"prefix"`
	AmountFrom   string            `yaml:"amount_from"`
	Scheme       string            `yaml:"scheme"`
	Transfer     string            `yaml:"transfer_method"`
}

type rawParam struct {
	Name        string `yaml:"name"`
	In          string `yaml:"in"`
	Type        string `yaml:"type"`
	Description string `yaml:"description"`
	Required    bool   `yaml:"required"`
	Enum        []any  `yaml:"enum"`
	Default     any    `yaml:"default"`
}

// yamlPlaces maps the decoder's Go type names to places in the file, and
// yamlKeys lists the keys each place allows, for decode messages.
var yamlPlaces = map[string]string{
	"tools.rawRegistry":        "the top level",
	"tools.rawDefaults":        "defaults",
	"tools.rawBudget":          "budget",
	"tools.rawTipping":         "tipping",
	"tools.rawTool":            "a tool",
	"tools.rawParam":           "a param",
	"tools.rawAsset":           "an asset",
	"tools.rawAssetBudget":     "an asset's budget",
	"tools.rawEIP712":          "an asset's eip712",
	"[]*tools.rawTool":         "a list of tools",
	"[]*tools.rawParam":        "a list of params",
	"[]*tools.rawAsset":        "a list of assets",
	"tools.rawGateway":         "the top level",
	"tools.rawPrincipal":       "a principal",
	"tools.rawPrincipalBudget": "a principal's budget",
	"tools.rawOAuth":           "oauth",
	"[]*tools.rawPrincipal":    "a list of principals",
}

var yamlKeys = map[string]string{
	"tools.rawRegistry":        "version, defaults, budget, rpc, assets, tipping, principals, oauth, tools",
	"tools.rawGateway":         "version, principals, oauth",
	"tools.rawPrincipal":       "name, token, tokens, admin, tools, budget",
	"tools.rawPrincipalBudget": "total, per_day, per_tool",
	"tools.rawOAuth":           "issuer, resource, claim, subjects, scopes, jwks_uri",
	"tools.rawAsset":           "symbol, network, address, decimals, eip712, max_per_call, approve_above, budget",
	"tools.rawAssetBudget":     "total, per_day",
	"tools.rawEIP712":          "name, version",
	"tools.rawTipping":         "network, asset, asset_name, asset_version, facilitator_url, headers, per_day, max_tip, auto_approve_up_to, allow_addresses, timeout, recipients",
	"tools.rawDefaults":        "networks, max_per_call, timeout, max_result_bytes, approve_above, expose",
	"tools.rawBudget":          "total, per_day, day, timezone, per_session, per_tool, per_host, per_network",
	"tools.rawTool":            "name, description, method, url, params, input_schema, headers, max_price, budget, pay_to, network, asset, result, timeout, approve_above, enabled, kind, prefix, amount_from",
	"tools.rawParam":           "name, in, type, description, required, enum, default",
}

var unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)

// decodeError rewrites the YAML library's errors as "file:line: message".
func decodeError(name string, err error) error {
	var les *yaml.LoadErrors
	if errors.As(err, &les) {
		errs := make([]error, 0, len(les.Errors))
		for _, le := range les.Errors {
			errs = append(errs, loadError(name, le))
		}
		return errors.Join(errs...)
	}
	var le *yaml.LoadError
	if errors.As(err, &le) {
		return loadError(name, le)
	}
	return fmt.Errorf("%s: %v", name, err)
}

func loadError(name string, le *yaml.LoadError) error {
	msg := le.Message
	switch m := unknownFieldRE.FindStringSubmatch(msg); {
	case m != nil:
		msg = fmt.Sprintf("unknown key %q in %s: check the spelling; allowed keys are %s (see docs/registry.md)", m[1], yamlPlaces[m[2]], yamlKeys[m[2]])
	case strings.Contains(msg, "no documents in stream"):
		msg = "the file is empty: start it with `version: 1`"
	default:
		// Longest names first, so "[]*tools.rawTool" goes before "tools.rawTool".
		names := make([]string, 0, len(yamlPlaces))
		for k := range yamlPlaces {
			names = append(names, k)
		}
		sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
		for _, k := range names {
			msg = strings.ReplaceAll(msg, k, yamlPlaces[k])
		}
	}
	if le.Mark.Line > 0 {
		return fmt.Errorf("%s:%d: %s", name, le.Mark.Line, msg)
	}
	return fmt.Errorf("%s: %s", name, msg)
}

// problems collects validation errors, each prefixed with the file name.
type problems struct {
	file string
	errs []error
	// fams read networks and addresses.
	fams payments.Families
	// data is the file, root its YAML tree (parsed on demand), to name
	// the line of a problem; tool is the index of the entry being parsed.
	data []byte
	root *yaml.Node
	tool int
}

// pinNetwork is the network an entry pins, when it reads as one ("": none,
// or one that does not read, reported elsewhere): its family reads the
// entry's addresses.
func (p *problems) pinNetwork(s string) payments.Network {
	if s == "" {
		return ""
	}
	n, err := p.fams.ParseNetwork(s)
	if err != nil {
		return ""
	}
	return n
}

func (p *problems) add(where, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s: %s", p.file, where, fmt.Sprintf(format, args...)))
}

// Parse decodes and validates a registry. name is the file name used in
// messages; fams are the network families x402-mcp pays on, which read its
// networks and addresses. Every mistake is reported, joined with
// errors.Join. Declared assets whose decimals are left to the chain stay
// unresolved (Unresolved) until ResolveAssets reads them.
func Parse(name string, data []byte, fams payments.Families) (*Registry, error) {
	return parse(name, data, nil, fams)
}

// parse is Parse with the decimals read from the chain for the assets that
// declare none, by asset key.
func parse(name string, data []byte, chain map[string]int, fams payments.Families) (*Registry, error) {
	if name == "" {
		name = "registry.yaml"
	}
	if err := checkAliases(name, data); err != nil {
		return nil, err
	}
	var raw rawRegistry
	if err := yaml.Load(data, &raw, yaml.WithKnownFields()); err != nil {
		return nil, decodeError(name, err)
	}
	p := &problems{file: name, data: data, fams: fams}
	reg := &Registry{Path: name, byName: map[string]*Entry{}, data: data, fams: fams}

	switch {
	case raw.Version == nil:
		p.add("version", "missing: add `version: 1` at the top of the file")
	case *raw.Version != 1:
		p.add("version", "%d is not supported: this x402-mcp reads version 1", *raw.Version)
	}
	var perCallOK bool
	reg.Defaults, perCallOK = parseDefaults(p, &raw.Defaults)
	reg.Budget = parseBudget(p, &raw.Budget, reg.Defaults.Networks)
	reg.RPC, reg.rpcParts = parseRPC(p, raw.RPC)
	reg.Assets = parseAssets(p, raw.Assets, &reg.Defaults, reg.RPC, chain)
	if raw.Wallet != nil && raw.Wallet.RequireProtectedKey != nil {
		reg.Wallet.RequireProtectedKey = *raw.Wallet.RequireProtectedKey
	}
	if raw.Tipping != nil {
		reg.Tipping, reg.tipURL, reg.tipHdrs = parseTipping(p, raw.Tipping, reg.Defaults.Networks, reg.Assets)
		if reg.Tipping != nil {
			reg.Budget.TipPerDay, reg.Budget.TipCurrency = reg.Tipping.PerDay, reg.Tipping.Currency
		}
	}

	for i, rt := range raw.Tools {
		where := fmt.Sprintf("tools[%d]", i)
		if rt == nil {
			p.add(where, "empty entry: give at least name, description, url and max_price")
			continue
		}
		if rt.Name != "" {
			where += fmt.Sprintf(" %q", rt.Name)
		}
		p.tool = i
		e := parseEntry(p, where, rt, &reg.Defaults, perCallOK, reg.Assets)
		if prev, dup := reg.byName[e.Name]; dup && e.Name != "" {
			j := slices.Index(reg.Tools, prev)
			p.add(where, "name: %q is already used by tools[%d]: tool names must be unique", e.Name, j)
			continue
		}
		reg.byName[e.Name] = e
		reg.Tools = append(reg.Tools, e)
	}
	if reg.Gateway = parseGateway(p, raw.Principals, raw.OAuth); reg.Gateway != nil && len(p.errs) == 0 {
		if err := reg.CheckGateway(reg.Gateway); err != nil {
			p.errs = append(p.errs, err)
		}
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return reg, nil
}

// parseBudget reads the operator's budgets; a zero amount is refused (leave
// the key out for "no limit"), except that budget.total defaults to
// DefaultBudgetTotal.
func parseBudget(p *problems, rb *rawBudget, networks []payments.Network) Budget {
	b := Budget{Total: DefaultBudgetTotal}
	amount := func(field, v string, dst *payments.Amount) {
		if v == "" {
			return
		}
		switch a, err := payments.ParseAmount(v); {
		case err != nil:
			p.add(field, "%v", err)
		case a == 0:
			p.add(field, "0 would refuse every payment: write a positive amount such as 1.00, or leave the key out for no limit")
		default:
			*dst = a
		}
	}
	amount("budget.total", rb.Total, &b.Total)
	amount("budget.per_day", rb.PerDay, &b.PerDay)
	amount("budget.per_session", rb.PerSession, &b.PerSession)
	amount("budget.per_tool", rb.PerTool, &b.PerTool)
	amount("budget.per_host", rb.PerHost, &b.PerHost)
	switch rb.Day {
	case "", "rolling":
		if rb.Timezone != "" {
			p.add("budget.timezone", "a time zone only applies to calendar days: add `day: calendar` or remove timezone")
		}
	case "calendar":
		b.Day.Calendar = true
		b.Day.Location = time.UTC
		if rb.Timezone != "" {
			loc, err := time.LoadLocation(rb.Timezone)
			if err != nil {
				p.add("budget.timezone", "%q is not a time zone: write an IANA name such as Europe/Paris or UTC", rb.Timezone)
			} else {
				b.Day.Location = loc
			}
		}
	default:
		p.add("budget.day", "%q is not a day rule: write rolling (the last 24 hours, the default) or calendar (midnight to midnight in budget.timezone)", rb.Day)
	}
	if rb.Day != "" && rb.PerDay == "" {
		p.add("budget.day", "says how per_day is measured, but per_day is not set: add per_day or remove day")
	}
	for k, v := range rb.PerNetwork {
		field := "budget.per_network." + k
		n, err := p.fams.ParseNetwork(k)
		if err != nil {
			p.add(field, "%v", err)
			continue
		}
		if !slices.Contains(networks, n) {
			p.add(field, "%s is not in defaults.networks (%s): a budget for it would never apply", n, networkList(networks))
			continue
		}
		var a payments.Amount
		amount(field, v, &a)
		if a != 0 {
			if b.PerNetwork == nil {
				b.PerNetwork = map[payments.Network]payments.Amount{}
			}
			if _, dup := b.PerNetwork[n]; dup {
				p.add(field, "%s has a budget already (the same network under another name): keep one", n)
			}
			b.PerNetwork[n] = a
		}
	}
	return b
}

// parseRPC reads the JSON-RPC endpoints reconciliation uses, per network,
// as written (RPCURLs expands their ${ENV} references), and parsed.
func parseRPC(p *problems, raw map[string]string) (map[payments.Network]string, map[payments.Network][]part) {
	out, parsed := map[payments.Network]string{}, map[payments.Network][]part{}
	for k, v := range raw {
		field := "rpc." + k
		n, err := p.fams.ParseNetwork(k)
		if err != nil {
			p.add(field, "%v", err)
			continue
		}
		parts, ok := p.template(field, []any{"rpc", k}, v, false)
		if !ok {
			continue
		}
		probe, known := probeURL(parts)
		u, err := url.Parse(probe)
		if err != nil || known && (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss" || u.Host == "") {
			p.add(field, "%q is not a JSON-RPC URL: write https://… (or http:// for a local node), with ${NAME} for an API key", v)
			continue
		}
		out[n], parsed[n] = v, parts
	}
	return out, parsed
}

// parseDefaults also reports whether max_per_call is usable for comparisons.
func parseDefaults(p *problems, rd *rawDefaults) (Defaults, bool) {
	d := Defaults{
		Networks:       slices.Clone(DefaultNetworks),
		MaxPerCall:     payments.DefaultPerCall,
		Timeout:        DefaultTimeout,
		MaxResultBytes: DefaultMaxResultBytes,
	}
	if rd.Networks != nil {
		if len(rd.Networks) == 0 {
			p.add("defaults.networks", "the list is empty, which would allow no payment: list at least one network, such as eip155:8453")
		}
		d.Networks = nil
		for i, s := range rd.Networks {
			n, err := p.fams.ParseNetwork(s)
			if err != nil {
				p.add(fmt.Sprintf("defaults.networks[%d]", i), "%v", err)
				continue
			}
			if slices.Contains(d.Networks, n) {
				p.add(fmt.Sprintf("defaults.networks[%d]", i), "%s is listed twice: remove one", n)
				continue
			}
			d.Networks = append(d.Networks, n)
		}
	}
	perCallOK := true
	if rd.MaxPerCall != "" {
		switch a, err := payments.ParseAmount(rd.MaxPerCall); {
		case err != nil:
			p.add("defaults.max_per_call", "%v", err)
			perCallOK = false
		case a == 0:
			p.add("defaults.max_per_call", "0 would refuse every payment: write a positive amount such as 0.10")
			perCallOK = false
		default:
			d.MaxPerCall = a
		}
	}
	if rd.Timeout != "" {
		if t, err := parseTimeout(rd.Timeout); err != nil {
			p.add("defaults.timeout", "%v", err)
		} else {
			d.Timeout = t
		}
	}
	if rd.MaxResultBytes != nil {
		n := *rd.MaxResultBytes
		if n < MinResultBytes || n > MaxResultBytesLimit {
			p.add("defaults.max_result_bytes", "%d is out of range: write a byte count from %d to %d (default %d)", n, MinResultBytes, MaxResultBytesLimit, DefaultMaxResultBytes)
		} else {
			d.MaxResultBytes = n
		}
	}
	d.ApproveAbove = parseApproveAbove(p, "defaults.approve_above", rd.ApproveAbove, payments.USDC)
	if rd.GaslessApproval != "" {
		switch a, err := payments.ParseAmount(rd.GaslessApproval); {
		case err != nil:
			p.add("defaults.gasless_approval", "%v", err)
		case a == 0:
			p.add("defaults.gasless_approval", "0 allows none: leave it out to allow none, or write the largest USDC payment x402-mcp may sign a gasless approval of Permit2 for, such as 0.10")
		default:
			d.GaslessApproval = a
		}
	}
	d.Expose = parseExpose(p, rd.Expose)
	return d, perCallOK
}

// parseApproveAbove reads an approval threshold in cur; "" is none.
func parseApproveAbove(p *problems, where, s string, cur payments.Currency) payments.Amount {
	if s == "" {
		return 0
	}
	a, err := parseMoney(cur, s)
	switch {
	case err != nil:
		p.add(where, "%v", err)
	case a == 0:
		p.add(where, "0 is not a threshold: write the largest amount paid without asking, such as 0.05 (every payment above it waits for a human's approval), or leave it out")
	}
	return a
}

func parseTimeout(s string) (time.Duration, error) {
	t, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write a number with a unit, such as 30s or 2m", s)
	}
	if t <= 0 || t > MaxTimeout {
		return 0, fmt.Errorf("%s is out of range: write a positive duration up to %s", s, MaxTimeout)
	}
	return t, nil
}

// parseFamily reads an entry's family pin: the entry pays only on the
// family's allowed networks (its network pin, when it has one, must be of
// the family). It reports a problem and returns false when the pin cannot
// hold.
func parseFamily(p *problems, at, atNetwork, name string, e *Entry, d *Defaults) bool {
	f := familyNamed(p.fams, name)
	if f == nil {
		names := make([]string, len(p.fams))
		for i, x := range p.fams {
			names[i] = strings.ToLower(x.Title())
		}
		p.add(at, "%q is not a network family x402-mcp pays on: write %s", name, strings.Join(names, " or "))
		return false
	}
	e.Family = f.Name()
	if e.Network != "" {
		if p.fams.Family(e.Network) != f {
			p.add(atNetwork, "%s (%s) is not %s %s network, but family: pins %s: remove one of them", e.Network, p.fams.NetworkName(e.Network), article(f.Title()), f.Title(), name)
			return false
		}
		return true
	}
	var nets []payments.Network
	for _, n := range d.Networks {
		if p.fams.Family(n) == f {
			nets = append(nets, n)
		}
	}
	if len(nets) == 0 {
		example := ""
		for _, n := range []string{"solana-devnet", "eip155:84532"} {
			if _, ok, err := f.ParseNetwork(n); ok && err == nil {
				example = ", such as " + n
			}
		}
		p.add(at, "%s has no network in defaults.networks (%s): add one there%s", name, networkList(d.Networks), example)
		return false
	}
	e.networks = nets
	return true
}

// familyNamed finds a family by its name ("evm", "svm"), its title
// ("EVM", "Solana") or its CAIP-2 namespace ("eip155", "solana"), in any
// case.
func familyNamed(fams payments.Families, s string) payments.Family {
	for _, f := range fams {
		if strings.EqualFold(s, f.Name()) || strings.EqualFold(s, f.Title()) || strings.EqualFold(s, f.Namespace()) {
			return f
		}
	}
	return nil
}

// familyName is the name of n's family, or "".
func familyName(fams payments.Families, n payments.Network) string {
	if f := fams.Family(n); f != nil {
		return f.Name()
	}
	return ""
}

// article is "an" before a vowel sound of the family titles ("an EVM"),
// else "a".
func article(word string) string {
	if word != "" && strings.ContainsRune("AEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

func parseEntry(p *problems, where string, rt *rawTool, d *Defaults, perCallOK bool, assets []*Asset) *Entry {
	e := &Entry{
		Name:        rt.Name,
		Description: strings.TrimSpace(rt.Description),
		Method:      strings.ToUpper(strings.TrimSpace(rt.Method)),
		URL:         rt.URL,
		PayTo:       rt.PayTo,
		Currency:    payments.USDC,
		Result:      rt.Result,
		Timeout:     d.Timeout,
		Enabled:     rt.Enabled == nil || *rt.Enabled,
		Kind:        KindHTTP,
		fams:        p.fams,
		AmountFrom:  rt.AmountFrom,
		networks:    d.Networks,
	}
	at := func(f string) string { return where + ": " + f }
	switch rt.Kind {
	case "", KindHTTP:
		if rt.Prefix != "" {
			p.add(at("prefix"), "only applies to kind: mcp: remove it, or add kind: mcp")
		}
	case KindMCP:
		e.Kind = KindMCP
	default:
		p.add(at("kind"), "%q is not a kind of entry: write http (an x402 HTTP endpoint, the default) or mcp (a remote MCP server)", rt.Kind)
	}
	mcpKind := e.Kind == KindMCP
	if mcpKind {
		parseMCPFields(p, at, rt, e)
	}

	switch {
	case rt.Name == "":
		p.add(at("name"), "missing: give the tool a name such as get_weather")
	case strings.HasPrefix(rt.Name, ReservedPrefix):
		p.add(at("name"), "names starting with %q are reserved for x402-mcp's built-in tools: choose another name", ReservedPrefix)
	case !toolNameRE.MatchString(rt.Name):
		p.add(at("name"), "%q is not a valid tool name: use 1 to 64 lowercase letters, digits and _, starting with a letter (such as get_weather)", rt.Name)
	}
	if e.Description == "" && !mcpKind {
		p.add(at("description"), "missing: say in a sentence what the tool returns; the model reads it to decide when to call the tool")
	}
	if e.Method == "" {
		e.Method = http.MethodGet
	} else if !slices.Contains(methods, e.Method) {
		p.add(at("method"), "%q is not supported: use one of %s", rt.Method, strings.Join(methods, ", "))
	}

	// url
	if mcpKind {
		// checked by parseMCPFields
	} else if rt.URL == "" {
		p.add(at("url"), "missing: give the endpoint's http or https URL, such as https://api.example.com/v1/weather/{city}")
	} else if parts, ok := p.template(at("url"), []any{"tools", p.tool, "url"}, rt.URL, true); !ok {
		// reported
	} else {
		e.urlParts = parts
		probe, known := probeURL(parts)
		u, err := url.Parse(probe)
		switch {
		case err != nil:
			p.add(at("url"), "%q is not a valid URL: %v", rt.URL, errors.Unwrap(err))
		case u.User != nil:
			p.add(at("url"), "credentials in the URL would be logged: remove user:password@ and send them in headers with ${ENV} instead")
		case known && u.Scheme != "http" && u.Scheme != "https":
			p.add(at("url"), "%q is not an http or https URL: start it with https:// (or http:// for a local seller)", rt.URL)
		case known && u.Host == "":
			p.add(at("url"), "%q has no host: write a full URL such as https://api.example.com/path", rt.URL)
		}
	}

	// the pins, then max_price in the pinned asset's units
	if rt.PayTo != "" {
		if _, err := p.fams.ParseAddress(p.pinNetwork(rt.Network), rt.PayTo); err != nil {
			p.add(at("pay_to"), "%v", err)
		}
	}
	networkOK := true
	if rt.Network != "" {
		n, err := p.fams.ParseNetwork(rt.Network)
		switch {
		case err != nil:
			p.add(at("network"), "%v", err)
			networkOK = false
		case !slices.Contains(d.Networks, n):
			p.add(at("network"), "%s (%s) is not in defaults.networks (%s): add it there or change the pin", n, p.fams.NetworkName(n), networkList(d.Networks))
			networkOK = false
		default:
			e.Network = n
			e.networks = []payments.Network{n}
		}
	}
	if rt.Family != "" && networkOK {
		networkOK = parseFamily(p, at("family"), at("network"), rt.Family, e, d)
	}
	var asset *Asset
	if rt.Asset != "" && networkOK {
		a, addr, err := findAsset(p.fams, assets, rt.Asset, e.Network, e.networks)
		switch {
		case err != nil:
			p.add(at("asset"), "%v", err)
			networkOK = false
		case a != nil && e.Network != "" && a.Network != e.Network:
			p.add(at("network"), "%s is not the network of asset %s (%s): remove network: or change it", e.Network, a.Symbol, a.Network)
			networkOK = false
		case a != nil && e.Family != "" && familyName(p.fams, a.Network) != e.Family:
			p.add(at("asset"), "%s is on %s (%s), not a network of the family pinned by family:: remove one of them", a.Symbol, a.Network, p.fams.NetworkName(a.Network))
			networkOK = false
		case a != nil:
			asset, e.Asset, e.Currency = a, addr, a.Currency()
			e.Network, e.networks = a.Network, []payments.Network{a.Network}
		default:
			e.Asset = addr
		}
	}
	cur := e.Currency
	perCall, perCallName := d.MaxPerCall, "defaults.max_per_call"
	if asset != nil {
		perCall, perCallName, perCallOK = asset.PerCall, asset.Setting+".max_per_call", asset.PerCall != 0 && known(cur)
	}
	switch {
	case rt.MaxPrice == "":
		p.add(at("max_price"), "missing: every tool needs the most it may pay per call, in %s, such as max_price: \"0.01\"", cur.Symbol)
	default:
		a, err := parseMoney(cur, rt.MaxPrice)
		switch {
		case err != nil:
			p.add(at("max_price"), "%v", err)
		case a == 0:
			p.add(at("max_price"), "0 would refuse every payment: write the most the tool may pay, such as 0.01")
		case a > perCall && perCallOK:
			p.add(at("max_price"), "%s is above %s (%s): lower max_price or raise %s", cur.Format(a), perCallName, cur.Format(perCall), perCallName)
		default:
			e.MaxPrice = a
		}
	}
	if rt.Budget != "" {
		switch a, err := parseMoney(cur, rt.Budget); {
		case err != nil:
			p.add(at("budget"), "%v", err)
		case a == 0:
			p.add(at("budget"), "0 would refuse every payment: write the most this tool may spend in all, such as 0.50, or leave it out")
		default:
			e.Budget = a
		}
	}
	if rt.Result != "" {
		if err := checkResultPath(rt.Result); err != nil {
			p.add(at("result"), "%q is not a valid gjson path: %v", rt.Result, err)
		}
	}
	if rt.Timeout != "" {
		if t, err := parseTimeout(rt.Timeout); err != nil {
			p.add(at("timeout"), "%v", err)
		} else {
			e.Timeout = t
		}
	}
	e.ApproveAbove = parseApproveAbove(p, at("approve_above"), rt.ApproveAbove, cur)

	// headers
	var seen map[string]string
	e.headers, seen = parseHeaders(p, at("headers"), []any{"tools", p.tool, "headers"}, rt.Headers)
	if len(rt.Headers) > 0 {
		e.Headers = rt.Headers
	}

	// arguments
	switch {
	case mcpKind:
		// the remote server's input schemas
	case rt.Params != nil && rt.InputSchema.Kind != 0:
		p.add(where, "params and input_schema are both set: use one (params for simple lists, input_schema for a full JSON Schema)")
	case rt.InputSchema.Kind != 0:
		parseInputSchema(p, where, &rt.InputSchema, e)
	default:
		parseParams(p, where, rt.Params, e, seen)
	}
	if rt.AmountFrom != "" {
		parseAmountFrom(p, where, rt, e)
	}
	parseScheme(p, at, rt, e)
	if networkOK {
		// the pins held: e.networks are the networks the entry may pay on
		checkPayable(p, at, rt, e)
	}
	return e
}

// The x402 schemes an entry may pay (scheme:), and the transfer methods it
// may pin (transfer_method:) and an asset may declare (transfer:).
const (
	SchemeExact = "exact"
	SchemeUpto  = "upto"
)

// TransferMethods are the values of transfer_method: and transfer:.
var TransferMethods = []string{"eip3009", "permit2"}

// parseScheme reads scheme: and transfer_method:.
func parseScheme(p *problems, at func(string) string, rt *rawTool, e *Entry) {
	switch rt.Scheme {
	case "", SchemeExact:
	case SchemeUpto:
		e.Scheme = SchemeUpto
		if e.AmountFrom != "" {
			p.add(at("scheme"), "upto settles what a call used, up to the maximum the seller asks; amount_from fixes the price: use one or the other")
		}
	default:
		p.add(at("scheme"), "%q is not a scheme x402-mcp pays: write exact (the default: the seller's price, paid in full) or upto (a usage-priced endpoint: the seller asks a maximum, capped by max_price, and settles what the call used)", rt.Scheme)
	}
	switch {
	case rt.Transfer == "":
	case !slices.Contains(TransferMethods, rt.Transfer):
		p.add(at("transfer_method"), "%q is not a transfer method: write eip3009 (transferWithAuthorization, as USDC) or permit2 (any ERC-20, through Permit2 and an allowance)", rt.Transfer)
	case e.Scheme == SchemeUpto && rt.Transfer != "permit2":
		p.add(at("transfer_method"), "upto pays through Permit2 only: write permit2, or leave it out")
	default:
		e.TransferMethod = rt.Transfer
	}
}

// checkPayable refuses an entry's scheme: or transfer_method: that no
// network it may pay on could pay: every one of them is of a family that
// does not pay the scheme (Family.Schemes) or let a call pin the method
// (Family.TransferMethods), as upto and Permit2 on Solana. Those networks
// are known at load when a pin (network:, family:, asset:) or
// defaults.networks confine the entry to one family. An entry open to
// networks of several families is accepted: the policy pays only an
// option whose family pays the scheme, at pay time.
func checkPayable(p *problems, at func(string) string, rt *rawTool, e *Entry) {
	scheme := e.Scheme
	if scheme == "" {
		scheme = SchemeExact
	}
	here := p.fams.Of(e.networks)
	if len(here) == 0 {
		return
	}
	var field, noun, value, fix string
	var payers payments.Families
	switch {
	case len(here.Paying(scheme, "")) == 0:
		field, noun, value, payers = "scheme", "scheme", scheme, p.fams.Paying(scheme, "")
		fix = fmt.Sprintf("%s sellers are paid with %s; remove scheme:", here.Titles(), schemesOf(here))
	case e.TransferMethod != "" && len(here.Paying(scheme, e.TransferMethod)) == 0:
		field, noun, value, payers = "transfer_method", "transfer method", e.TransferMethod, p.fams.Paying(scheme, e.TransferMethod)
		fix = methodsOf(here) + "; remove transfer_method:"
	default:
		return
	}
	if len(payers) == 0 {
		p.add(at(field), "x402-mcp pays %s on no network family it was built with (%s): remove %s:", value, p.fams.Titles(), field)
		return
	}
	titles := payers.Titles()
	nets := networkNames(p.fams, e.networks)
	var pins, other string
	switch {
	case rt.Asset != "" && rt.Network == "" && e.Network != "":
		pins, other = fmt.Sprintf("asset: %s is on %s", rt.Asset, nets), fmt.Sprintf("pin an asset on %s %s network", article(titles), titles)
	case rt.Network != "":
		pins, other = "network: pins "+nets, fmt.Sprintf("pin %s %s network", article(titles), titles)
	case rt.Family != "":
		pins, other = fmt.Sprintf("family: %s pins %s", rt.Family, nets), "pin family: "+strings.ToLower(payers[0].Title())+" instead"
	default:
		pins, other = "defaults.networks allow only "+nets, fmt.Sprintf("add %s %s network to defaults.networks", article(titles), titles)
	}
	p.add(at(field), "%s is %s %s %s, and %s: %s, or %s", value, article(titles), titles, noun, pins, fix, other)
}

// schemesOf names the schemes that families pay: "exact", "exact or upto".
func schemesOf(fams payments.Families) string {
	var names []string
	for _, f := range fams {
		for _, s := range f.Schemes() {
			if !slices.Contains(names, s) {
				names = append(names, s)
			}
		}
	}
	return strings.Join(names, " or ")
}

// methodsOf says which transfer methods a call may pin on families'
// networks: "Solana has no transfer method to pin", "EVM's are eip3009 or
// permit2".
func methodsOf(fams payments.Families) string {
	var names []string
	for _, f := range fams {
		for _, m := range f.TransferMethods() {
			if !slices.Contains(names, m) {
				names = append(names, m)
			}
		}
	}
	if len(names) == 0 {
		return fams.Titles() + " has no transfer method to pin"
	}
	return fams.Titles() + "'s are " + strings.Join(names, " or ")
}

// parseHeaders reads static request headers (where names the map, path
// locates it in the file), sorted by name. It also returns the canonical
// names seen, with the names as written.
func parseHeaders(p *problems, where string, path []any, raw map[string]string) ([]headerTemplate, map[string]string) {
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []headerTemplate
	seen := map[string]string{}
	for _, k := range names {
		v := raw[k]
		hw := where + "." + k
		if msg := checkHeaderName(k); msg != "" {
			p.add(hw, "%s", msg)
			continue
		}
		canon := http.CanonicalHeaderKey(k)
		if prev, dup := seen[canon]; dup {
			p.add(hw, "is the same header as %s (header names ignore case): keep one", prev)
			continue
		}
		seen[canon] = k
		// Never quote the value: it may be a secret.
		if strings.ContainsAny(v, "\r\n\x00") {
			p.add(hw, "the value contains a line break or NUL: write it on one line")
			continue
		}
		parts, ok := p.template(hw, append(slices.Clone(path), k), v, false)
		if !ok {
			continue
		}
		out = append(out, headerTemplate{name: canon, parts: parts})
	}
	return out, seen
}

// reservedHeaders may not be set by the registry: the HTTP stack or the
// payment client owns them.
var reservedHeaders = []string{
	"Host", "Content-Length", "Transfer-Encoding", "Connection",
	x402.HeaderPaymentSignature, x402.HeaderXPayment, x402.HeaderPaymentRequired,
	x402.HeaderPaymentResponse, x402.HeaderXPaymentResponse,
}

func checkHeaderName(k string) string {
	if k == "" || !isToken(k) {
		return fmt.Sprintf("%q is not a valid header name: use letters, digits and - (such as X-Api-Key)", k)
	}
	for _, r := range reservedHeaders {
		if strings.EqualFold(k, r) {
			return fmt.Sprintf("%s is set by x402-mcp itself and cannot be configured: remove it", r)
		}
	}
	return ""
}

// isToken reports whether s is an RFC 9110 token (a valid header name).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// checkResultPath rejects gjson paths that cannot be what the author meant:
// gjson itself never reports a bad path, it just matches nothing.
func checkResultPath(path string) error {
	if strings.TrimSpace(path) != path {
		return errors.New("remove the spaces around it")
	}
	if len(path) > 512 {
		return errors.New("it is longer than 512 bytes")
	}
	var stack []byte
	inStr := false
	prev := byte(0)
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c < 0x20 || c == 0x7f {
			return errors.New("it contains a control character")
		}
		if c == '\\' {
			i++ // the next byte is escaped
			if i == len(path) {
				return errors.New("it ends with a lone backslash")
			}
			prev = 0
			continue
		}
		if inStr {
			if c == '"' {
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			if len(stack) == 0 {
				return errors.New(`a quote appears outside a query or a literal: escape it as \"`)
			}
			inStr = true
		case '(', '[', '{':
			stack = append(stack, c)
		case ')', ']', '}':
			open := map[byte]byte{')': '(', ']': '[', '}': '{'}[c]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return fmt.Errorf("%q at byte %d closes nothing", c, i)
			}
			stack = stack[:len(stack)-1]
		case '.', '|':
			if len(stack) == 0 && (i == 0 || i == len(path)-1 || prev == '.' || prev == '|') {
				return fmt.Errorf("%q at byte %d leaves an empty path component", c, i)
			}
		case '@':
			if len(stack) == 0 && (i == 0 || prev == '.' || prev == '|') {
				name := path[i+1:]
				if j := strings.IndexAny(name, ".|:"); j >= 0 {
					name = name[:j]
				}
				if !gjsonModifierExists(name) {
					return fmt.Errorf("@%s is not a gjson modifier", name)
				}
			}
		}
		prev = c
	}
	if inStr {
		return errors.New("a quoted string is not closed")
	}
	if len(stack) > 0 {
		return fmt.Errorf("%q is never closed", stack[len(stack)-1])
	}
	return nil
}

func networkList(ns []payments.Network) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}
