// Package fuzzcheck holds what the fuzz tests of every parser of others'
// input check of the errors they return: short, and never empty. It is for
// tests only.
package fuzzcheck

import "testing"

// MaxErrorBytes bounds the error message of any parser of others' input:
// whatever a seller, a facilitator or a file says, what the model and the
// logs get from it stays short.
const MaxErrorBytes = 2 << 10

// ErrorText fails t when err's message is empty or longer than
// MaxErrorBytes; a nil err passes.
func ErrorText(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	if len(msg) > MaxErrorBytes {
		t.Fatalf("error of %d bytes: %.300s…", len(msg), msg)
	}
	if msg == "" {
		t.Fatal("empty error message")
	}
}
