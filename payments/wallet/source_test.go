package wallet

import (
	"strings"
	"testing"
)

// TestSourceShowsNoCredential: a source names where a key lives and never a
// credential a URL may carry: user info, a query or a fragment are left
// out of what String shows (`wallet show`, x402_wallet, logs), whatever
// kind of source holds the URL.
func TestSourceShowsNoCredential(t *testing.T) {
	for _, tt := range []struct {
		src  Source
		want string
	}{
		{Source{Kind: SourceEnv, Where: "X402_PRIVATE_KEY"}, "environment variable X402_PRIVATE_KEY"},
		{Source{Kind: SourceKeyFile, Where: "/etc/x402/key.hex"}, "key file /etc/x402/key.hex"},
		{Source{Kind: SourceKeychain, Where: "x402-mcp/default"}, "OS keychain x402-mcp/default"},
		{Source{Kind: SourceClef, Where: "/home/me/.clef/clef.ipc"}, "clef /home/me/.clef/clef.ipc"},
		{Source{Kind: SourceClef, Where: "http://127.0.0.1:8550"}, "clef http://127.0.0.1:8550"},
		{Source{Kind: SourceClef, Where: "https://signer:hunter2secret@clef.internal:8550/rpc?token=qs-secret#frag-secret"}, "clef https://clef.internal:8550/rpc"},
		{Source{Kind: SourceKMS, Where: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
			"AWS KMS arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{Source{Kind: SourceKMS, Where: "https://AKIAEXAMPLE:hunter2secret@kms.example/alias/pay"}, "AWS KMS https://kms.example/alias/pay"},
		{Source{Kind: SourceKMS}, "AWS KMS"},
	} {
		got := tt.src.String()
		if got != tt.want {
			t.Errorf("%+v shows %q, want %q", tt.src, got, tt.want)
		}
		for _, secret := range []string{"hunter2secret", "qs-secret", "frag-secret", "AKIAEXAMPLE"} {
			if strings.Contains(got, secret) {
				t.Errorf("%+v shows %q", tt.src, secret)
			}
		}
	}
}

// TestWalletSources: Sources names where each key of the wallet lives, by
// family, as `wallet show` prints it.
func TestWalletSources(t *testing.T) {
	k, err := GenerateEVMKey()
	if err != nil {
		t.Fatal(err)
	}
	w := &Wallet{keys: []Key{{Signer: k, Source: Source{Kind: SourceClef, Where: "https://u:p@clef.internal/"}}}}
	got := w.Sources()
	if len(got) != 1 || got["evm"] != "clef https://clef.internal/" {
		t.Fatalf("sources %v", got)
	}
	if (*Wallet)(nil).Sources() != nil {
		t.Fatal("a nil wallet has sources")
	}
}
