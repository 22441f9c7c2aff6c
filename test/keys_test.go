package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/mark3labs/mcp-go/client"

	"github.com/x402-mcp/x402-mcp/internal/keytest"
	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/internal/simchain"
	"github.com/x402-mcp/x402-mcp/payments"
	"github.com/x402-mcp/x402-mcp/payments/evm"
	"github.com/x402-mcp/x402-mcp/payments/svm"
)

// chainSeller is a local seller whose facilitator settles on the simulated
// chain, weather at 0.001 and text at 0.005 test USDC, and the catalog that
// points at it (the seller's payee pinned).
func chainSeller(t *testing.T) (*simchain.Sim, *localseller.Running, catalog) {
	t.Helper()
	sim, err := simchain.Start(context.Background(), simchain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	fac := localseller.NewFacilitator(localseller.FacilitatorConfig{Chain: sim})
	seller, err := localseller.Start(localseller.Config{Facilitator: fac, Prices: localseller.Prices{Weather: 1_000, Text: 5_000}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	cat := catalog(fmt.Sprintf(`
version: 1
defaults:
  networks: [eip155:1337]
  max_per_call: "0.01"
  timeout: 30s
budget:
  total: "1.00"
rpc:
  eip155:1337: %[1]s
assets:
  - {symbol: USDC, network: eip155:1337, address: %[2]q, budget: {total: "1.00"}}
tools:
  - name: weather
    description: Weather, settled on chain.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
    network: eip155:1337
    asset: %[2]q
    pay_to: %[3]q
  - name: text
    description: A text, dearer than the signer's own rules allow.
    url: "{{URL}}/v2/text"
    max_price: "0.005"
    network: eip155:1337
    asset: %[2]q
    pay_to: %[3]q
`, sim.URL(), sim.Token().Hex(), seller.Seller.PayTo().Hex()))
	return sim, seller, cat
}

// payOnChainAndRefuse drives a running x402-mcp whose key lives elsewhere:
// the weather call is signed by that signer and settles on the simulated
// chain (a real transferWithAuthorization from its address); the text call
// is refused by the signer, which says so, not charged, with no payment
// sent and nothing left counted.
func payOnChainAndRefuse(t *testing.T, s *session, sim *simchain.Sim, from common.Address, refusedBy string, beforeRefusal func()) {
	t.Helper()
	ctx := context.Background()
	before, err := sim.Balance(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	res := s.call("weather", map[string]any{"city": "lima"})
	if res.IsError {
		t.Fatalf("the paid call: %s\nstderr:\n%s", text(res), s.stderr.String())
	}
	rc := meta(res, "x402/payment-response")
	tx, _ := rc["transaction"].(string)
	if rc["payer"] != from.Hex() || tx == "" {
		t.Fatalf("receipt %v, want paid by %s with a transaction", rc, from.Hex())
	}
	receipt, err := sim.Client().TransactionReceipt(ctx, common.HexToHash(tx))
	if err != nil || receipt.Status != 1 {
		t.Fatalf("the settlement %s on chain: %v %v", tx, receipt, err)
	}
	after, err := sim.Balance(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	if before-after != 1_000 {
		t.Fatalf("%s paid %d on chain, want 1000 (0.001 USDC)", from.Hex(), before-after)
	}

	if beforeRefusal != nil {
		beforeRefusal()
	}
	headers := s.seller.Seller.PaymentHeadersSeen()
	res = s.call("text", nil)
	xe := meta(res, "x402/error")
	if !res.IsError || xe["code"] != string(payments.CodeSignerRefused) || res.Meta.AdditionalFields["x402/charged"] != string(payments.NotCharged) {
		t.Fatalf("the call above the signer's rules: %s %v", text(res), res.Meta)
	}
	for _, want := range []string{refusedBy, "refused to sign the payment of 0.005 USDC", "not charged"} {
		if !strings.Contains(text(res), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, text(res))
		}
	}
	if n := s.seller.Seller.PaymentHeadersSeen(); n != headers {
		t.Errorf("the seller saw %d more payments after the refusal", n-headers)
	}
	if again, _ := sim.Balance(ctx, from); again != after {
		t.Errorf("the balance moved by %d after the refusal", after-again)
	}
}

// TestClefPaysOnChain: the key lives in clef (headless, with the rules
// file of docs/clef/rules.js allowing the seller's payee and token on the
// simulated chain up to 0.002 USDC); x402-mcp, given only X402_CLEF, pays a
// call that settles on chain, and clef's refusal of a dearer one is
// signer_refused, not charged.
func TestClefPaysOnChain(t *testing.T) {
	sim, seller, cat := chainSeller(t)
	clef := keytest.StartClef(t, keytest.ClefRules{ChainIDs: []int64{simchain.ChainID}, Tokens: []common.Address{sim.Token()},
		Payees: []common.Address{seller.Seller.PayTo()}, MaxAmount: 2_000})
	if err := sim.Mint(context.Background(), clef.Address, 1_000_000); err != nil {
		t.Fatal(err)
	}
	showsSource(t, []string{"X402_CLEF=" + clef.IPC}, clef.Address, "clef "+clef.IPC)
	s := startWith(t, seller, cat, "X402_PRIVATE_KEY=", "X402_CLEF="+clef.IPC)
	payOnChainAndRefuse(t, s, sim, clef.Address, "clef at "+clef.IPC, nil)
	if !strings.Contains(clef.Log(), "request denied") {
		t.Errorf("clef's log shows no denial:\n%s", clef.Log())
	}
}

// TestKMSPaysOnChain: the key is an ECC_SECG_P256K1 key in local-kms (an
// AWS KMS emulator on loopback); x402-mcp, given X402_AWS_KMS_KEY_ID and
// the standard AWS environment (region, endpoint, credentials), pays from
// the key's address, and the payment settles on chain; once the key is
// disabled, KMS's refusal is signer_refused, not charged. The AWS secret
// shows nowhere.
func TestKMSPaysOnChain(t *testing.T) {
	sim, seller, cat := chainSeller(t)
	lk := keytest.StartLocalKMS(t)
	id := lk.CreateKey(t, types.KeySpecEccSecgP256k1)
	pub, err := lk.Client.GetPublicKey(context.Background(), &kms.GetPublicKeyInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	point := pub.PublicKey[len(pub.PublicKey)-65:]
	from := common.BytesToAddress(crypto.Keccak256(point[1:])[12:])
	if err := sim.Mint(context.Background(), from, 1_000_000); err != nil {
		t.Fatal(err)
	}
	if answer := showsSource(t, append(lk.Env(), "X402_AWS_KMS_KEY_ID="+id), from, "AWS KMS "+id); strings.Contains(answer, keytest.KMSSecretAccessKey) {
		t.Errorf("the AWS secret access key shows in x402_wallet's answer")
	}
	s := startWith(t, seller, cat, append(lk.Env(), "X402_PRIVATE_KEY=", "X402_AWS_KMS_KEY_ID="+id)...)
	payOnChainAndRefuse(t, s, sim, from, "AWS KMS key "+id, func() { lk.DisableKey(t, id) })
	s.close()
	if out := s.stdout.String() + s.stderr.String(); strings.Contains(out, keytest.KMSSecretAccessKey) {
		t.Errorf("the AWS secret access key shows in x402-mcp's output")
	}
}

// TestKeychainWalletPays: `x402-mcp wallet new --keychain` makes a key in
// the OS keychain (a real GNOME Keyring on a private D-Bus session) and
// writes no file; it never overwrites an entry; X402_KEYCHAIN then selects
// it, and a paid call against the local seller settles from its address.
// `wallet new --keychain --family solana` adds a Solana key in an entry of
// its own; with both entries named, a Solana call is paid from it.
func TestKeychainWalletPays(t *testing.T) {
	if !keytest.InKeychainSession(t) {
		return
	}
	bus := "DBUS_SESSION_BUS_ADDRESS=" + os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	home := t.TempDir()
	out, stderr, err := run(t, []string{bus, "HOME=" + home}, "wallet", "new", "--keychain")
	if err != nil {
		t.Fatalf("wallet new --keychain: %v\n%s", err, stderr)
	}
	var addr string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "address:"); ok {
			addr = strings.TrimSpace(v)
		}
	}
	if !common.IsHexAddress(addr) || !strings.Contains(out, "keychain: x402-mcp/default") || !strings.Contains(out, "X402_KEYCHAIN=x402-mcp/default") {
		t.Fatalf("wallet new --keychain printed:\n%s", out)
	}
	if err := filepath.WalkDir(home, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("wallet new --keychain wrote %s", p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := run(t, []string{bus}, "wallet", "new", "--keychain"); err == nil || !strings.Contains(stderr, "already has an entry x402-mcp/default") {
		t.Fatalf("a second wallet new --keychain: %v\n%s", err, stderr)
	}

	from := common.HexToAddress(addr)
	showsSource(t, []string{bus, "X402_KEYCHAIN=x402-mcp/default"}, from, "OS keychain x402-mcp/default")
	seller, err := localseller.Start(localseller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seller.Close() })
	seller.Facilitator.Fund(from, walletFunding)
	s := startWith(t, seller, mainCatalog, "X402_PRIVATE_KEY=", "X402_KEYCHAIN=x402-mcp/default", bus)
	res := s.call("weather", map[string]any{"city": "lima"})
	if res.IsError {
		t.Fatalf("the paid call: %s\nstderr:\n%s", text(res), s.stderr.String())
	}
	if rc := meta(res, "x402/payment-response"); rc["payer"] != from.Hex() || rc["state"] != string(payments.StateSettled) {
		t.Fatalf("receipt %v, want settled from %s", rc, from.Hex())
	}
	if got := walletFunding - seller.Facilitator.Balance(from); got != 1_000 {
		t.Fatalf("the keychain's address paid %d, want 1000", got)
	}
	s.close()

	// A Solana key beside it: `wallet new --keychain --family solana` puts
	// it in the family's own entry; one X402_KEYCHAIN names both, `wallet
	// show` lists both, and a Solana call is paid from the keychain's key.
	out, stderr, err = run(t, []string{bus}, "wallet", "new", "--keychain", "--family", "solana")
	if err != nil {
		t.Fatalf("wallet new --keychain --family solana: %v\n%s", err, stderr)
	}
	var solAddr string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "address:"); ok {
			solAddr = strings.TrimSpace(v)
		}
	}
	if _, err := svm.ParseAddress("address", solAddr); err != nil || !strings.Contains(out, "X402_KEYCHAIN=x402-mcp/solana") {
		t.Fatalf("wallet new --keychain --family solana printed:\n%s", out)
	}
	both := []string{bus, "X402_KEYCHAIN=x402-mcp/default,x402-mcp/solana"}
	out, stderr, err = run(t, both, "wallet", "show")
	if err != nil || !strings.Contains(out, from.Hex()) || !strings.Contains(out, solAddr) || strings.Count(out, "OS keychain x402-mcp/") != 2 ||
		!strings.Contains(out, "OS keychain x402-mcp/solana") || strings.Contains(out, "in the clear") {
		t.Fatalf("wallet show with both keychain entries: %v\n%s\n%s", err, out, stderr)
	}
	sol := localseller.NewSolanaFacilitator(localseller.SolanaFacilitatorConfig{})
	solSeller, err := localseller.Start(localseller.Config{Solana: &localseller.SolanaConfig{PayTo: localseller.SwitchedSolanaPayTo, Facilitator: sol, Only: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { solSeller.Close() })
	sol.Fund(solAddr, 1_000_000)
	s = startWith(t, solSeller, catalog(`version: 1
defaults:
  networks: [solana-devnet]
  max_per_call: "0.01"
  timeout: 10s
budget:
  total: "1.00"
rpc:
  solana-devnet: "{{URL}}/solana/rpc"
tools:
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City name}
    max_price: "0.001"
`), append([]string{"X402_PRIVATE_KEY="}, both...)...)
	res = s.call("weather", map[string]any{"city": "lima"})
	if rc := meta(res, "x402/payment-response"); res.IsError || rc["payer"] != solAddr || rc["state"] != string(payments.StateSettled) {
		t.Fatalf("the Solana call: %s %v\nstderr:\n%s", text(res), rc, s.stderr.String())
	}
	if got := 1_000_000 - sol.Balance(solAddr); got != 1_000 {
		t.Fatalf("the keychain's Solana address paid %d, want 1000", got)
	}
}

// showsSource runs `x402-mcp wallet show` with env: it shows the EVM key's
// address and where it lives, and no warning of a key in the clear. Then
// x402-mcp serve, with the same env, answers x402_wallet over a real MCP
// client with the same address and where (keys[0].keySource, and in
// words); showsSource returns that answer, structured and in words.
func showsSource(t *testing.T, env []string, addr common.Address, where string) string {
	t.Helper()
	out, stderr, err := run(t, env, "wallet", "show")
	if err != nil {
		t.Fatalf("wallet show: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], addr.Hex()) || !strings.HasSuffix(lines[1], where) {
		t.Fatalf("wallet show printed:\n%s\nwant the address %s and %q", out, addr.Hex(), where)
	}
	s := startSlow(t, append([]string{"X402_PRIVATE_KEY="}, env...)...)
	defer s.close()
	keys, answer := walletKeys(t, s)
	if len(keys) != 1 || keys[0].Address != addr.Hex() || keys[0].KeySource != where || !strings.Contains(answer, "key in "+where) {
		t.Fatalf("x402_wallet answered %+v, want %s in %q:\n%s", keys, addr.Hex(), where, answer)
	}
	return answer
}

// startSlow is start for a server that may take a while to start: one that
// decrypts a keystore (scrypt) or asks a remote signer for its address. The
// client waits for its server/discover answer up to a minute instead of
// mcp-go's 5 seconds, after which it would fall back to the older
// handshake.
func startSlow(t *testing.T, env ...string) *session {
	t.Helper()
	return startSession(t, fundedSeller(t, localseller.Config{}), mainCatalog,
		sessionOptions{env: env, client: []client.ClientOption{client.WithDiscoverTimeout(time.Minute)}})
}

// walletKey is one key of x402_wallet's answer.
type walletKey struct {
	Family, Address, KeySource string
}

// walletKeys calls x402_wallet and returns its keys, and the whole answer
// (its JSON and its words) to search for what must not be in it.
func walletKeys(t *testing.T, s *session) ([]walletKey, string) {
	t.Helper()
	res := s.call("x402_wallet", nil)
	if res.IsError {
		t.Fatalf("x402_wallet: %s\nstderr:\n%s", text(res), s.stderr.String())
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Keys []walletKey }
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("x402_wallet's structured answer: %v\n%s", err, b)
	}
	return st.Keys, string(b) + "\n" + text(res)
}

// TestWalletToolKeySource: x402_wallet, asked over a real MCP client, says
// where each key lives, as `wallet show` does: the environment variable that
// holds it, the hex key file or the keystore (its path), for the EVM key and
// the Solana key; never the key, the keystore's passphrase or any other
// variable's value, in its answer, on stdout or on stderr.
func TestWalletToolKeySource(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.hex")
	if err := os.WriteFile(keyFile, []byte("0x"+testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const passphrase = "correct horse battery staple 7f3e"
	out, stderr, err := run(t, []string{"X402_KEYSTORE_PASSWORD=" + passphrase}, "wallet", "new", "--dir", dir)
	if err != nil {
		t.Fatalf("wallet new: %v\n%s", err, stderr)
	}
	var keystore, keystoreAddr string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "keystore:"); ok {
			keystore = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "address:"); ok {
			keystoreAddr = strings.TrimSpace(v)
		}
	}
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte(passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{testKey, strings.ToUpper(testKey), testKey[:16], testKey[len(testKey)-16:], solanaTestKey[:16], solanaTestKey[len(solanaTestKey)-16:], passphrase}
	for _, tt := range []struct {
		name string
		env  []string
		want []walletKey
	}{
		{"hex key in the environment, and a Solana key beside it", []string{"X402_PRIVATE_KEY=" + testKey, "X402_SOLANA_PRIVATE_KEY=" + solanaTestKey}, []walletKey{
			{"EVM", payer.Hex(), "environment variable X402_PRIVATE_KEY"}, {"Solana", solanaTestAddress, "environment variable X402_SOLANA_PRIVATE_KEY"}}},
		{"hex key file", []string{"X402_PRIVATE_KEY=", "X402_KEY_FILE=" + keyFile}, []walletKey{{"EVM", payer.Hex(), "key file " + keyFile}}},
		{"keystore, its passphrase in the environment", []string{"X402_PRIVATE_KEY=", "X402_KEYSTORE=" + keystore, "X402_KEYSTORE_PASSWORD=" + passphrase},
			[]walletKey{{"EVM", keystoreAddr, "keystore " + keystore}}},
		{"keystore, its passphrase in a file", []string{"X402_PRIVATE_KEY=", "X402_KEYSTORE=" + keystore, "X402_KEYSTORE_PASSWORD_FILE=" + passFile},
			[]walletKey{{"EVM", keystoreAddr, "keystore " + keystore}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startSlow(t, tt.env...)
			keys, answer := walletKeys(t, s)
			if len(keys) != len(tt.want) {
				t.Fatalf("x402_wallet answered %+v, want %+v", keys, tt.want)
			}
			for i, w := range tt.want {
				if keys[i] != w || !strings.Contains(answer, w.Address+" ("+w.Family+": ") || !strings.Contains(answer, "key in "+w.KeySource) {
					t.Errorf("key %d: %+v, want %+v; in words:\n%s", i, keys[i], w, answer)
				}
			}
			s.close()
			for name, h := range map[string]string{"the answer": answer, "stdout": s.stdout.String(), "stderr": s.stderr.String()} {
				for _, secret := range secrets {
					if strings.Contains(h, secret) {
						t.Errorf("a secret (%.4s…) appears in %s", secret, name)
					}
				}
			}
		})
	}
}

// TestRemoteSignersPayThroughPermit2: with the key in clef (its rules file
// allowing the token and the seller, a payment up to 0.01 and an allowance
// up to 0.05) and with the key in local-kms, the built binary's
// `wallet approve-permit2` has the signer sign the approval of Permit2,
// which is mined on the simulated chain; then a catalog entry in a
// Permit2-only token and an upto entry are paid, each signed by the signer
// and settled once on chain from its address. clef refuses an approval
// above its rules' allowance: nothing is sent.
func TestRemoteSignersPayThroughPermit2(t *testing.T) {
	for _, signer := range []string{"clef", "kms"} {
		t.Run(signer, func(t *testing.T) {
			ctx := context.Background()
			sim, err := simchain.Start(ctx, simchain.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sim.Close() })
			tok, err := sim.DeployERC20(ctx, "Plain Dollar", "PUSD", 6)
			if err != nil {
				t.Fatal(err)
			}
			seller, err := localseller.Start(localseller.Config{Facilitator: localseller.NewFacilitator(localseller.FacilitatorConfig{Chain: tok})})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { seller.Close() })

			var from common.Address
			var env []string
			var clef *keytest.Clef
			switch signer {
			case "clef":
				clef = keytest.StartClef(t, keytest.ClefRules{ChainIDs: []int64{simchain.ChainID}, Tokens: []common.Address{tok.Address()},
					Payees: []common.Address{seller.Seller.PayTo()}, MaxAmount: 10_000, MaxAllowance: 50_000})
				from, env = clef.Address, []string{"X402_CLEF=" + clef.IPC}
			case "kms":
				lk := keytest.StartLocalKMS(t)
				id := lk.CreateKey(t, types.KeySpecEccSecgP256k1)
				pub, err := lk.Client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
				if err != nil {
					t.Fatal(err)
				}
				point := pub.PublicKey[len(pub.PublicKey)-65:]
				from = common.BytesToAddress(crypto.Keccak256(point[1:])[12:])
				env = append(lk.Env(), "X402_AWS_KMS_KEY_ID="+id)
			}
			if err := tok.Mint(ctx, from, 1_000_000); err != nil {
				t.Fatal(err)
			}
			if err := sim.FundETH(ctx, from, big.NewInt(1e17)); err != nil {
				t.Fatal(err)
			}
			cat := catalog(fmt.Sprintf(`version: 1
defaults:
  networks: [eip155:1337]
budget:
  total: "1"
rpc:
  eip155:1337: %s
assets:
  - {symbol: PUSD, network: eip155:1337, address: %q, decimals: 6, transfer: permit2, budget: {total: "0.05"}}
tools:
  - name: page
    description: Weather, paid in a Permit2-only token.
    url: "{{URL}}/v2/weather/{city}"
    params: [{name: city, in: path, required: true}]
    max_price: "0.002"
    asset: PUSD
  - name: llm
    description: Usage-priced work, paid in PUSD.
    url: "{{URL}}/v2/metered"
    params: [{name: units, in: query, type: string, required: true}]
    max_price: "0.01"
    asset: PUSD
    scheme: upto
`, sim.URL(), tok.Address().Hex()))
			reg := writeCatalog(t, cat, seller.URL)
			approve := func(amount string) (string, string, error) {
				stop := sim.MineEvery(50 * time.Millisecond)
				defer stop()
				return run(t, env, "wallet", "approve-permit2", "--network", "eip155:1337", "--asset", "PUSD", "--amount", amount, "--registry", reg, "--yes")
			}
			allowance := func() int64 {
				a, err := tok.Allowance(ctx, from, evm.Permit2Address)
				if err != nil {
					t.Fatal(err)
				}
				return a.Int64()
			}
			if clef != nil {
				out, stderr, err := approve("0.06")
				if err == nil || !strings.Contains(stderr, "clef at "+clef.IPC+" refused to sign") || allowance() != 0 {
					t.Fatalf("an approval above clef's rules: %v\n%s\n%s", err, out, stderr)
				}
			}
			out, stderr, err := approve("0.05")
			if err != nil || !strings.Contains(out, "approved: transaction 0x") || !strings.Contains(out, "owner:     "+from.Hex()) {
				t.Fatalf("approve-permit2: %v\n%s\n%s", err, out, stderr)
			}
			if a := allowance(); a != 50_000 {
				t.Fatalf("allowance %d, want 50000", a)
			}

			s := startWith(t, seller, cat, append(env, "X402_PRIVATE_KEY=")...)
			res := s.call("page", map[string]any{"city": "oslo"})
			if rc := meta(res, "x402/payment-response"); res.IsError || rc["amount"] != "0.001" || rc["payer"] != from.Hex() {
				t.Fatalf("page: %s %v\nstderr:\n%s", text(res), rc, s.stderr.String())
			}
			res = s.call("llm", map[string]any{"units": "37"})
			if rc := meta(res, "x402/payment-response"); res.IsError || rc["amount"] != "0.0037" || rc["maximum"] != "0.01" || rc["payer"] != from.Hex() {
				t.Fatalf("llm: %s %v\nstderr:\n%s", text(res), rc, s.stderr.String())
			}
			if got, _ := tok.Balance(ctx, from); got != 1_000_000-1_000-3_700 {
				t.Fatalf("the signer's address holds %d on chain, want %d", got, 1_000_000-1_000-3_700)
			}
			if st := seller.Facilitator.Settlements(); len(st) != 2 || seller.Seller.PaymentHeadersSeen() != 2 {
				t.Fatalf("%d settlements of %d payments, want one each", len(st), seller.Seller.PaymentHeadersSeen())
			}
		})
	}
}
