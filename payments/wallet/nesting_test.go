package wallet

import (
	"strings"
	"testing"
)

// TestKeystoreRefusesDeepJSON: a keystore file nested deeper than 512
// levels, however valid the rest, is refused with an error that names the
// problem.
func TestKeystoreRefusesDeepJSON(t *testing.T) {
	w, err := ParseHexKey(anvil0)
	if err != nil {
		t.Fatal(err)
	}
	keystore, err := EncryptKeystore(w.key, testPass, 1<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecryptKeystore(keystore, testPass); err != nil {
		t.Fatalf("the document as it is: %v", err)
	}
	deep := strings.Repeat("[", 513) + strings.Repeat("]", 513)
	doc := strings.TrimSuffix(string(keystore), "}") + `,"x":` + deep + `}`
	if _, err := DecryptKeystore([]byte(doc), testPass); err == nil || !strings.Contains(err.Error(), "nested deeper than 512 levels") {
		t.Fatalf("err = %v, want one saying the JSON is nested deeper than 512 levels", err)
	}
}
