package server

import (
	"testing"
	"time"
)

// TestSessionIDsBounded: sessions end after sessionIdle without use, and
// past maxSessions the least recently used one ends, so clients that never
// send DELETE cannot grow memory without bound.
func TestSessionIDsBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := newSessionIDs()
	s.now = func() time.Time { return now }
	o := ownedSessions{ids: s, owner: "default"}

	idle := o.Generate()
	used := o.Generate()
	now = now.Add(sessionIdle - time.Minute)
	if _, err := o.Validate(used); err != nil {
		t.Fatalf("a session used within %v: %v", sessionIdle, err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := o.Validate(idle); err == nil {
		t.Fatalf("a session idle for more than %v is still valid", sessionIdle)
	}
	if _, err := o.Validate(used); err != nil {
		t.Fatalf("a session used %v ago: %v", 2*time.Minute, err)
	}

	first := o.Generate()
	for range maxSessions {
		now = now.Add(time.Millisecond)
		o.Generate()
	}
	if n := len(s.live); n != maxSessions {
		t.Fatalf("%d sessions kept, want at most %d", n, maxSessions)
	}
	if _, err := o.Validate(used); err == nil {
		t.Fatal("the least recently used session survived the cap")
	}
	if _, err := o.Validate(first); err == nil {
		t.Fatal("an old session survived the cap")
	}

	id := o.Generate()
	other := ownedSessions{ids: s, owner: "team-b"}
	if _, err := other.Validate(id); err == nil {
		t.Fatal("another principal's session is valid")
	}
	if _, err := other.Terminate(id); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Validate(id); err != nil {
		t.Fatalf("another principal ended the session: %v", err)
	}
	if _, err := o.Terminate(id); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Validate(id); err == nil {
		t.Fatal("a terminated session is still valid")
	}
}
