package payments

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestRedactionText(t *testing.T) {
	r := NewRedaction("https://api.example.com/v1/k-secret-123/x?sig=a b/c+d", "https://api.example.com/v1/${PATH}/x?sig=${SIG}")
	r.AddSecret("PATH", "k-secret-123")
	r.AddSecret("SIG", "a b/c+d")
	r.AddSecret("SHORT", "abc") // too short to hunt for in free text
	r.AddSecret("QUOTE", `tok"en\42`)
	for _, tt := range []struct{ in, want string }{
		{"Get \"https://api.example.com/v1/k-secret-123/x?sig=a b/c+d\": EOF", "Get \"https://api.example.com/v1/${PATH}/x?sig=${SIG}\": EOF"},
		{"key k-secret-123 refused", "key ${PATH} refused"},
		{"query a+b%2Fc%2Bd and a%20b%2Fc+d and a%20b/c+d", "query ${SIG} and ${SIG} and ${SIG}"},
		{`{"echo":"tok\"en\\42"}`, `{"echo":"${QUOTE}"}`},
		{"abc stays", "abc stays"},
		{"nothing here", "nothing here"},
	} {
		if got := r.Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var nilR *Redaction
	if nilR.Text("x k-secret-123") != "x k-secret-123" || nilR.Err(nil) != nil {
		t.Error("a nil Redaction changed something")
	}
	cause := &url.Error{Op: "Get", URL: "https://h/k-secret-123", Err: errors.New("refused")}
	err := r.Err(cause)
	if strings.Contains(err.Error(), "k-secret-123") || !errors.Is(err, cause) {
		t.Errorf("Err: %v (unwraps to the cause: %v)", err, errors.Is(err, cause))
	}
}

func TestRedactionResource(t *testing.T) {
	r := NewRedaction("https://h/w/k-secret-123?sig=s-secret-456", "https://h/w/${K}?sig=${S}")
	r.AddSecret("K", "k-secret-123")
	r.AddSecret("S", "s-secret-456")
	shown := r.shownURL(nil)
	got := r.resource(json.RawMessage(`{"url":"https://h/w/k-secret-123?sig=s-secret-456","description":"Weather for k-secret-123","mimeType":"application/json","extra":["s-secret-456"]}`), shown)
	var res map[string]any
	if err := json.Unmarshal(got, &res); err != nil {
		t.Fatal(err)
	}
	if res["url"] != shown || res["description"] != "Weather for ${K}" || res["mimeType"] != "application/json" || res["extra"].([]any)[0] != "${S}" {
		t.Errorf("resource %s", got)
	}
	same := json.RawMessage(`{"url": "https://h/w/${K}?sig=${S}", "description": "plain"}`)
	if out := r.resource(same, shown); string(out) != string(same) {
		t.Errorf("an unchanged resource was rewritten: %s", out)
	}
	if out := r.resource(json.RawMessage(`"not an object"`), shown); string(out) != `"not an object"` {
		t.Errorf("a malformed resource was rewritten: %s", out)
	}
}

func TestSecretEnvWhat(t *testing.T) {
	for _, tt := range []struct {
		name   string
		secret bool
	}{
		{EnvPrivateKey, true}, {"x402_private_key", true}, {EnvMCPToken, true}, {EnvKeystorePassFile, true},
		{EnvKeychain, true}, {EnvClef, true}, {EnvClefAccount, true}, {EnvAWSKMSKeyID, true},
		{"AWS_SECRET_ACCESS_KEY", true}, {"aws_session_token", true}, {EnvAWSAccessKeyID, true},
		{"PGPASSWORD", true}, {"PGPASSFILE", true},
		{EnvSolanaPrivateKey, true}, {"x402_solana_keystore_password", true},
		{"X402_LEDGER", false}, {"X402_PRIVATE_KEY_2", false}, {"", false},
	} {
		if _, got := SecretEnvWhat(tt.name); got != tt.secret {
			t.Errorf("SecretEnvWhat(%q) = %v, want %v", tt.name, got, tt.secret)
		}
	}
	if len(SecretEnv()) != 20 {
		t.Errorf("SecretEnv() = %v", SecretEnv())
	}
}
