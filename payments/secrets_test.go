package payments

import "testing"

func TestSecretEnvWhat(t *testing.T) {
	for _, tt := range []struct {
		name   string
		secret bool
	}{
		{EnvPrivateKey, true}, {"x402_private_key", true}, {EnvMCPToken, true}, {EnvKeystorePassFile, true},
		{"X402_LEDGER", false}, {"X402_PRIVATE_KEY_2", false}, {"", false},
	} {
		if _, got := SecretEnvWhat(tt.name); got != tt.secret {
			t.Errorf("SecretEnvWhat(%q) = %v, want %v", tt.name, got, tt.secret)
		}
	}
	if len(SecretEnv()) != 6 {
		t.Errorf("SecretEnv() = %v", SecretEnv())
	}
}
