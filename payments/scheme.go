package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/payments/x402"
)

// A network family (EVM, Solana) plugs into the core through two
// interfaces, each implemented in the family's own package (payments/evm,
// payments/svm):
//
//   - Family is what x402-mcp knows of the family's networks and addresses:
//     reading a network id or an address, naming a network for people, the
//     USDC it knows there. It needs no configuration; the catalog (package
//     tools) reads registry.yaml with it.
//   - Scheme pays one x402 scheme on the family's networks: it judges an
//     option of a 402 in the family's terms, signs the payment with the
//     family's Signer, names the Proof the ledger keeps, and proves the
//     payment's fate on chain. It holds what it needs to reach a chain (rpc
//     endpoints per network).
//
// The command wires the families in: a Families for the catalog, a Schemes
// for the Client and the ledger's reconciliation, and the wallet's Signers.
// The paying flow, the policy, the budgets and the ledger go through these
// and know no chain.

// Family is one network family's networks and addresses.
type Family interface {
	// Name is the family's short name, as the ledger and Signer.Family
	// write it: "evm", "svm".
	Name() string
	// Title is how people call the family: "EVM", "Solana".
	Title() string
	// Namespace is the CAIP-2 namespace of its networks: "eip155", "solana".
	Namespace() string
	// ParseNetwork reads a network id of the family, a CAIP-2 id or an x402
	// v1 name, into its CAIP-2 form. ok is false when s is not of this
	// family; err then says what the family reads (with ok true, what is
	// wrong with s).
	ParseNetwork(s string) (n Network, ok bool, err error)
	// NetworkName names a network of the family for people ("Base
	// Sepolia"), or returns its id when it has no name.
	NetworkName(n Network) string
	// ParseAddress reads an address of the family as a seller or a catalog
	// writes it (a payee, a token) and returns its canonical form, the one
	// pins are compared in and the ledger keeps (EVM: EIP-55 checksummed).
	// Its error names the problem and the fix, and wraps ErrNotAddress when
	// s is not written like an address of the family at all.
	ParseAddress(s string) (string, error)
	// CheckAddress is ParseAddress for an address a person typed that money
	// is sent to (a tipping recipient, a declared token): it also refuses a
	// typo the family can catch (EVM: mixed case with a wrong EIP-55
	// checksum) and an address that burns what it receives.
	CheckAddress(s string) (string, error)
	// AddressName names the family's addresses in messages: "0x address".
	AddressName() string
	// AddressForm says how one is written: "0x and 40 hex digits".
	AddressForm() string
	// KnownUSDC returns the USDC x402-mcp knows on n (Asset.USDC set):
	// paid without a declaration and counted by the operator's USDC
	// budgets.
	KnownUSDC(n Network) (Asset, bool)
	// ExplorerURL links transaction tx on n to a block explorer the family
	// knows for the network (an https URL), or returns "" when it knows
	// none or tx is not a transaction id of its kind.
	ExplorerURL(n Network, tx string) string
	// CheckAsset says what the family still needs to know of a token to
	// pay in it with no seller to state it (a tip): EVM, its EIP-712
	// domain (Asset.Name and Version). Nil when nothing is missing.
	CheckAsset(a Asset) error
	// Schemes names the x402 schemes x402-mcp pays on the family's
	// networks, its Scheme implementations (EVM: "exact", "upto"; Solana:
	// "exact"). The catalog refuses an entry whose scheme no family of its
	// networks pays.
	Schemes() []string
	// TransferMethods names the ways a token moves that a call may pin on
	// the family's networks (Want.Method, the catalog's transfer_method:),
	// in the family's words (EVM: "eip3009", "permit2"); none when its
	// payments move a token one way only (Solana's SPL transfer).
	TransferMethods() []string
}

// ErrNotAddress is wrapped by a Family's address errors for text that is not
// written like one of its addresses at all (as opposed to one with a
// defect: a wrong length, a bad checksum).
var ErrNotAddress = errors.New("not an address")

// NotAddressf formats a Family's error for text that is not written like
// one of its addresses: it reads as formatted and wraps ErrNotAddress.
func NotAddressf(format string, a ...any) error {
	return notAddress(fmt.Sprintf(format, a...))
}

type notAddress string

func (e notAddress) Error() string { return string(e) }
func (e notAddress) Unwrap() error { return ErrNotAddress }

// Scheme pays one x402 scheme on one family's networks.
type Scheme interface {
	// Family is the network family the scheme pays on.
	Family() Family
	// Scheme is the x402 scheme name: "exact".
	Scheme() string
	// Judge checks one option of a 402 (r, on network n of the family, in
	// the allowed networks and the call's network pin) against what the
	// call allows: the family's `extra`, the address forms of the payee and
	// the asset, the payee pin compared in the family's canonical form, and
	// the asset, the known USDC or a declared one (Want.Payee and
	// Want.PickAsset say it the same way for every family). The core checks
	// the amount afterwards. On a refusal the Terms hold what was learnt
	// (their Currency, once the asset is known).
	Judge(r *x402.Requirement, n Network, want Want) (Terms, *Refusal)
	// Prepare reads from the chain what signing t with s (the wallet's
	// Signer of the family) needs (a recent blockhash, the mint's program
	// and decimals, the payer's balance) and keeps it in t.Data; it is
	// called once the payment is allowed, just before Sign, outside any
	// lock of the ledger. A *Refusal error says the option cannot be paid
	// now and why (such as insufficient funds); nothing was signed. A
	// family that needs nothing returns nil.
	Prepare(ctx context.Context, t *Terms, s Signer) error
	// Sign builds and signs the payload that pays t with s, the wallet's
	// Signer of the family, valid for at most MaxValidity from now, and
	// returns it with the Proof the ledger keeps. It sends nothing, and it
	// may run while the ledger holds its write lock (SigningLedger): it
	// only computes, with what Judge and Prepare put in t. A *Refusal error
	// says nothing was signed and why; any other error is a failure to
	// sign.
	Sign(ctx context.Context, t *Terms, s Signer, now time.Time) (payload json.RawMessage, proof Proof, err error)
	// Prove reads from the chain what became of a signed payment: settled
	// (with its transaction when found), unusable forever, or still open.
	// Nothing is concluded from the clock. An error wrapping ErrNoRPC says
	// the network has no rpc endpoint; any error means nothing was proven.
	Prove(ctx context.Context, p Proof) (Fate, error)
	// Offer states the option a seller would for a payment with no seller
	// (a tip), to be judged and signed like any other.
	Offer(o Offer) (x402.Requirement, error)
}

// MaxValidity is the longest a signed payment may stay usable, whatever
// the seller asks: one that is never used is held against the budgets
// until the chain proves it expired.
const MaxValidity = 15 * time.Minute

// Terms is one option of a 402 that a Scheme judged payable: what the core
// counts, shows and asks the scheme to sign.
type Terms struct {
	// Scheme judged the option and signs it.
	Scheme Scheme
	// Requirement is the option as the seller sent it; Version the x402
	// version of its challenge.
	Requirement *x402.Requirement
	Version     int
	Network     Network
	// PayTo and Asset are in the family's canonical form.
	PayTo, Asset string
	// Amount is the price in the asset's atomic units (set by the core
	// once the scheme judged the rest).
	Amount Amount
	// Currency is the asset's: how Amount reads, which budgets count it.
	Currency Currency
	// Rank orders options of equal price: lower is preferred (EVM: the
	// authorization flow before the upfront one).
	Rank int
	// UpTo says the scheme signs a maximum (Amount) and the seller settles
	// what was used, from nothing up to it (x402's upto): the budgets
	// reserve the maximum, and the settlement's own amount is booked.
	UpTo bool
	// Payer is the wallet's address that will sign, in the family's
	// canonical form (set by the core before Prepare).
	Payer string
	// Attach are extension objects the scheme's Sign adds to the payment
	// payload's extensions, by key (EVM: eip2612GasSponsoring with the
	// payer's signed permit), replacing the challenge's echo of that key.
	Attach map[string]json.RawMessage
	// Data is the family's checked form of the option, for its Sign.
	Data any
}

// Want is what one call allows, as a Scheme's Judge sees it: the call's
// pins, the currency it is priced in and the assets the operator declared.
// The networks were checked before Judge is asked.
type Want struct {
	// Tool names the catalog entry, for messages.
	Tool string
	// PayTo and Asset are the call's pins as the catalog wrote them; empty
	// pins nothing.
	PayTo, Asset string
	// Currency is the call's currency (zero: USDC).
	Currency Currency
	// Assets are the tokens other than USDC the operator declared.
	Assets []AssetPolicy
	// Method is the call's pin on how the asset moves, in the family's
	// words (EVM: "eip3009" or "permit2"); empty pins nothing.
	Method string
	// GaslessApproval is, for USDC, the largest payment for which the
	// scheme may sign an approval that the seller's facilitator submits
	// (Policy.GaslessApproval; a declared asset has its own in Assets).
	GaslessApproval Amount
	// Extensions are the challenge's extensions, by key, as the seller sent
	// them (EVM: eip2612GasSponsoring says the facilitator submits a permit).
	Extensions map[string]json.RawMessage
}

// GaslessCap returns the largest payment in a for which a scheme may sign
// an approval the seller's facilitator submits: the declared asset's
// GaslessApproval, USDC's from the policy; zero when none is allowed.
func (w *Want) GaslessCap(a Asset) Amount {
	if a.USDC {
		return w.GaslessApproval
	}
	for _, d := range w.Assets {
		if d.Network == a.Network && d.Address == a.Address {
			return d.GaslessApproval
		}
	}
	return 0
}

// Payee refuses a payee other than the pinned one. payTo is the option's
// payee in f's canonical form, written as the seller wrote it.
func (w *Want) Payee(f Family, payTo, written string) *Refusal {
	if w.PayTo == "" {
		return nil
	}
	if pin, err := f.ParseAddress(w.PayTo); err == nil && pin == payTo {
		return nil
	}
	return &Refusal{Code: CodeNotAllowed, Message: fmt.Sprintf("payee %s is not the payee pinned for %s (%s)", written, w.Tool, w.PayTo)}
}

// PickAsset returns the asset at addr (f's canonical form; written as the
// seller wrote it) on n that the call may pay in: the USDC f knows there,
// or a declared one, under the call's asset pin and in its currency. A
// refusal names which rule the asset breaks; the asset is returned with it
// when it is known.
func (w *Want) PickAsset(f Family, n Network, addr, written string) (Asset, *Refusal) {
	want := w.Currency.or()
	if !want.Valid() {
		return Asset{}, &Refusal{Code: CodeNotAllowed, Message: fmt.Sprintf(
			"the amounts of %s cannot be read yet (its decimals are not known): the operator must declare decimals under assets: or give an rpc: endpoint to read them", Sanitize(want.Symbol, 40))}
	}
	asset, found := f.KnownUSDC(n)
	if found && asset.Address != addr {
		found = false
	}
	for i := 0; !found && i < len(w.Assets); i++ {
		if a := w.Assets[i].Asset; a.Network == n && a.Address == addr {
			asset, found = a, true
		}
	}
	cur := asset.Currency()
	switch {
	case w.Asset != "" && !w.pinned(f, addr):
		return asset, &Refusal{Code: CodeNotAllowed, Message: fmt.Sprintf("asset %s is not the asset pinned for %s (%s)", written, w.Tool, w.Asset)}
	case !found && w.Asset != "":
		return asset, &Refusal{Code: CodeNotAllowed, Message: fmt.Sprintf(
			"asset %s on %s is pinned for %s, but it is not the USDC x402-mcp knows there and is not declared under assets: in registry.yaml (its symbol, decimals and budget)", written, n, w.Tool)}
	case !found:
		return asset, &Refusal{Code: CodeNotAllowed, Message: fmt.Sprintf(
			"asset %s is not USDC on %s; declare it under assets: in registry.yaml and pin it with `asset:` in the entry to pay it", written, n)}
	case cur != want && want.IsUSDC():
		return asset, &Refusal{Code: CodeNotAllowed, Message: fmt.Sprintf(
			"asset %s on %s is %s, not USDC, the currency %s is priced in; pin it with `asset:` in an entry priced in it", written, n, cur.Symbol, w.Tool)}
	case cur != want:
		return asset, &Refusal{Code: CodeNotAllowed, Message: fmt.Sprintf(
			"asset %s on %s is %s, not the %s that %s is priced in", written, n, cur.Symbol, want.Symbol, w.Tool)}
	}
	return asset, nil
}

// pinned says whether addr (canonical) is the call's asset pin.
func (w *Want) pinned(f Family, addr string) bool {
	pin, err := f.ParseAddress(w.Asset)
	return err == nil && pin == addr
}

// Refusal says why an option cannot be paid: a Code and a message that is
// safe to show and names the fix. Nothing was signed.
type Refusal struct {
	Code    Code
	Message string
	// Stale says the terms themselves went stale since the seller stated
	// them (Solana: its recentBlockhash expired): the seller's fresh terms
	// may be payable. The warm path then asks the seller again instead of
	// failing the call.
	Stale bool
}

func (r *Refusal) Error() string { return string(r.Code) + ": " + r.Message }

// Signer is the wallet's key of one family (package wallet holds them):
// the family's Sign asserts it to its own signer interface, which signs
// without ever showing the key.
type Signer interface {
	// Family names the family it signs for: Family.Name.
	Family() string
	// Payer is the signer's address in the family's canonical form: the
	// payer of what it signs.
	Payer() string
}

// Signers are the wallet's keys, at most one per family.
type Signers []Signer

// For returns the signer of family, or nil.
func (s Signers) For(family string) Signer {
	for _, x := range s {
		if x.Family() == family {
			return x
		}
	}
	return nil
}

// Proof is what the ledger keeps of a signed payment so that its scheme can
// prove the payment's fate on chain later (Scheme.Prove), whatever the
// seller said.
type Proof struct {
	// Family and Scheme name who signed it and proves it: "evm", "exact".
	Family, Scheme string
	Network        Network
	// Payer and Asset are in the family's canonical form.
	Payer, Asset string
	// ID names the payment on chain: the EIP-3009 nonce (EVM), the payer's
	// own signature (Solana, whose transaction id is the fee payer's
	// signature, which only the facilitator adds).
	ID string
	// Expiry is the point past which the chain can never take the payment,
	// in the family's own measure: EVM the authorization's validBefore in
	// unix seconds, Solana the blockhash's last valid block height. Only
	// the chain is compared with it; zero means none is known.
	Expiry uint64
	// ValidAfter is when the payment became usable (EVM's validAfter;
	// zero when at once).
	ValidAfter time.Time
	// Deadline is when, by the clock, the payment is expected to be past
	// Expiry (EVM: validBefore itself; Solana: an estimate). It says when
	// asking the chain is worth it and what messages show; it proves
	// nothing.
	Deadline time.Time
	// Since is no later than the payment was signed: the search for the
	// transaction that used it starts there.
	Since time.Time
	// Data is the family's own record, as JSON (Solana: the memo, the
	// blockhash, the payer's token account, the signed transaction); empty
	// when the fields above say it all.
	Data json.RawMessage
}

// Fate is what the chain shows of a signed payment.
type Fate struct {
	State FateState
	// Transaction is the transaction that used the payment, when found.
	Transaction string
	// Amount is what the transaction moved, when the scheme settles less
	// than it signed (Terms.UpTo) and the transaction was found
	// (HasAmount); the ledger books it instead of the maximum.
	Amount    Amount
	HasAmount bool
}

// FateState is what a Scheme proved of a payment.
type FateState int

const (
	// FateOpen: nothing is proven; the payment may still be used. It stays
	// counted.
	FateOpen FateState = iota
	// FateSettled: the chain shows the payment used.
	FateSettled
	// FateUnusable: the chain proves the payment can never be used (it
	// expired unused, or landed and failed): it may be released.
	FateUnusable
)

func (s FateState) String() string {
	switch s {
	case FateSettled:
		return "settled"
	case FateUnusable:
		return "unusable"
	}
	return "open"
}

// Prover proves a signed payment's fate: Schemes does, by asking the
// payment's own scheme; the ledger's reconciliation uses it.
type Prover interface {
	Prove(ctx context.Context, p Proof) (Fate, error)
}

// ErrNoRPC is wrapped by a Scheme's error for a network it has no rpc
// endpoint for: nothing can be proven there until one is configured.
var ErrNoRPC = errors.New("no rpc endpoint configured for the network")

// Offer is a payment with no seller (a tip) for Scheme.Offer to state.
type Offer struct {
	Network Network
	// Asset is the token, with what the family needs of it (EVM: its
	// EIP-712 domain in Name and Version).
	Asset  Asset
	PayTo  string
	Amount Amount
	// Timeout is how long the signed payment may stay usable.
	Timeout time.Duration
	// Extra is what the facilitator states for the scheme and network in
	// its /supported answer (a Solana fee payer), when the family needs it.
	Extra json.RawMessage
}

// TestNetworks is implemented by a Family that knows which of its networks
// are test networks, whose tokens are worth nothing (a testnet, a local
// development chain).
type TestNetworks interface {
	// IsTestnet reports that n is a test network the family knows.
	IsTestnet(n Network) bool
}

// Families are the network families x402-mcp pays on, in the order the
// command lists them.
type Families []Family

// IsTestnet reports that n is a test network by its family's word
// (TestNetworks). Any other network, of a family that does not say or that
// the family does not know, counts as one where money is real.
func (fs Families) IsTestnet(n Network) bool {
	tn, ok := fs.Family(n).(TestNetworks)
	return ok && tn.IsTestnet(n)
}

// Family returns the family of a network in CAIP-2 form, or nil.
func (fs Families) Family(n Network) Family {
	ns, _, ok := strings.Cut(string(n), ":")
	if !ok {
		return nil
	}
	for _, f := range fs {
		if f.Namespace() == ns {
			return f
		}
	}
	return nil
}

// Of returns the families of networks, each once, in the order of fs; a
// network of no family in fs adds none.
func (fs Families) Of(networks []Network) Families {
	var out Families
	for _, f := range fs {
		for _, n := range networks {
			if fs.Family(n) == f {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// Paying returns the families in fs that pay scheme (Family.Schemes) and,
// when method is not empty, let a call pin method (Family.TransferMethods).
func (fs Families) Paying(scheme, method string) Families {
	var out Families
	for _, f := range fs {
		if contains(f.Schemes(), scheme) && (method == "" || contains(f.TransferMethods(), method)) {
			out = append(out, f)
		}
	}
	return out
}

// Named returns the family called name (Family.Name), or nil.
func (fs Families) Named(name string) Family {
	for _, f := range fs {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

// ParseNetwork reads a network id of any family (a CAIP-2 id or an x402 v1
// name) into its CAIP-2 form. Its error says what is wrong, and what the
// families read when none does.
func (fs Families) ParseNetwork(s string) (Network, error) {
	var errs []string
	for _, f := range fs {
		n, ok, err := f.ParseNetwork(s)
		switch {
		case ok && err == nil:
			return n, nil
		case ok:
			return "", err
		case err != nil:
			errs = append(errs, err.Error())
		}
	}
	switch len(errs) {
	case 0:
		return "", fmt.Errorf("network %q is not a network x402-mcp pays on", Sanitize(s, 80))
	case 1:
		return "", errors.New(errs[0])
	}
	return "", fmt.Errorf("%s; nor %s", errs[0], strings.Join(errs[1:], "; nor "))
}

// NetworkName names a network for people ("Base Sepolia"), or returns its
// id.
func (fs Families) NetworkName(n Network) string {
	if f := fs.Family(n); f != nil {
		return f.NetworkName(n)
	}
	return string(n)
}

// KnownUSDC returns the USDC x402-mcp knows on n.
func (fs Families) KnownUSDC(n Network) (Asset, bool) {
	if f := fs.Family(n); f != nil {
		return f.KnownUSDC(n)
	}
	return Asset{}, false
}

// Titles names the families for messages: "EVM", "EVM or Solana".
func (fs Families) Titles() string {
	t := make([]string, len(fs))
	for i, f := range fs {
		t[i] = f.Title()
	}
	return strings.Join(t, " or ")
}

// ParseAddress reads an address of the family of n (Family.ParseAddress);
// with n empty, of any family in fs, the first that reads it.
func (fs Families) ParseAddress(n Network, s string) (string, error) {
	return fs.address(n, s, Family.ParseAddress)
}

// CheckAddress is ParseAddress with Family.CheckAddress.
func (fs Families) CheckAddress(n Network, s string) (string, error) {
	return fs.address(n, s, Family.CheckAddress)
}

func (fs Families) address(n Network, s string, read func(Family, string) (string, error)) (string, error) {
	if n != "" {
		f := fs.Family(n)
		if f == nil {
			return "", fmt.Errorf("network %s is not of a family x402-mcp pays on", n)
		}
		return read(f, s)
	}
	var first error
	for _, f := range fs {
		a, err := read(f, s)
		if err == nil {
			return a, nil
		}
		// The error of a family s looks like an address of says more.
		if first == nil || errors.Is(first, ErrNotAddress) && !errors.Is(err, ErrNotAddress) {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("%q is not an address", Sanitize(s, 80))
	}
	return "", first
}

// Schemes is the set of schemes a Client pays with, at most one per family
// and scheme name. It proves a payment's fate by asking that payment's own
// scheme (Prover).
type Schemes struct {
	list []Scheme
	fams Families
}

// NewSchemes returns the set of schemes s, in order of preference.
func NewSchemes(s ...Scheme) *Schemes {
	out := &Schemes{}
	for _, x := range s {
		if out.Lookup(x.Family().Name(), x.Scheme()) != nil {
			continue
		}
		out.list = append(out.list, x)
		if out.fams.Named(x.Family().Name()) == nil {
			out.fams = append(out.fams, x.Family())
		}
	}
	return out
}

// Families returns the families of the schemes.
func (s *Schemes) Families() Families {
	if s == nil {
		return nil
	}
	return s.fams
}

// Lookup returns the scheme called scheme of family, or nil.
func (s *Schemes) Lookup(family, scheme string) Scheme {
	if s == nil {
		return nil
	}
	for _, x := range s.list {
		if x.Scheme() == scheme && x.Family().Name() == family {
			return x
		}
	}
	return nil
}

// Prove asks p's scheme what became of it (Scheme.Prove).
func (s *Schemes) Prove(ctx context.Context, p Proof) (Fate, error) {
	sc := s.Lookup(p.Family, p.Scheme)
	if sc == nil {
		return Fate{}, fmt.Errorf("no %s scheme of the %s family is configured: this x402-mcp cannot prove the payment", p.Scheme, p.Family)
	}
	return sc.Prove(ctx, p)
}

// route finds the scheme that judges r: by its scheme name, then by the
// family whose network r names. It returns the network in CAIP-2 form, or
// a refusal naming what is not supported.
func (s *Schemes) route(r *x402.Requirement) (Scheme, Network, *Refusal) {
	var named bool
	for _, x := range s.schemes() {
		if x.Scheme() != r.Scheme {
			continue
		}
		named = true
		if n, ok, err := x.Family().ParseNetwork(r.Network); ok && err == nil {
			return x, n, nil
		}
	}
	if !named {
		return nil, "", &Refusal{Code: CodeUnsupported, Message: fmt.Sprintf("scheme %q is not supported (x402-mcp pays %s)", Sanitize(r.Scheme, 40), s.schemeNames())}
	}
	return nil, "", &Refusal{Code: CodeUnsupported, Message: fmt.Sprintf("network %q is not a supported %s network", Sanitize(r.Network, 60), s.Families().Titles())}
}

func (s *Schemes) schemes() []Scheme {
	if s == nil {
		return nil
	}
	return s.list
}

// schemeNames names the schemes for messages: "the exact scheme".
func (s *Schemes) schemeNames() string {
	var names []string
	for _, x := range s.schemes() {
		if n := x.Scheme(); !contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "no scheme: none is configured"
	}
	if len(names) == 1 {
		return "the " + names[0] + " scheme"
	}
	return "the " + strings.Join(names, ", ") + " schemes"
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// SignerError is a signer's failure to sign a payment: it refused (its own
// rules, a human or a key policy said no: Refused) or could not be asked
// (it is unreachable, or misconfigured). Nothing was signed and nothing left
// the process: the core answers "not charged" (CodeSignerRefused,
// CodeSignerFailed) and releases the reservation. Signer names the signer
// as the operator configured it ("clef at /run/clef.ipc", "AWS KMS key
// alias/x402"); Reason is the signer's own words. Neither ever holds key
// material or a credential: the signer that builds the error sees to it.
type SignerError struct {
	Signer  string
	Refused bool
	Reason  string
	// Err is the cause, for logs.
	Err error
}

func (e *SignerError) Error() string {
	if e.Refused {
		return "the signer " + e.Signer + " refused to sign: " + e.Reason
	}
	return "the signer " + e.Signer + " could not sign: " + e.Reason
}

func (e *SignerError) Unwrap() error { return e.Err }

// InProcessSigner is a Signer whose key is in this process's memory: it
// signs by computing alone, in microseconds, and never refuses. The core
// may sign with it while the ledger holds its write lock (SigningLedger).
// Any other signer (a remote signer, a KMS) is asked with the payment only
// reserved, outside the ledger's lock, so that a slow signer or a human
// deciding never holds up other payments.
type InProcessSigner interface {
	Signer
	// InProcess reports that the key is held in this process.
	InProcess() bool
}

// inProcess says s signs in this process (InProcessSigner).
func inProcess(s Signer) bool {
	ip, ok := s.(InProcessSigner)
	return ok && ip.InProcess()
}
