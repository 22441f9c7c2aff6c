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

	idle := s.Generate()
	used := s.Generate()
	now = now.Add(sessionIdle - time.Minute)
	if _, err := s.Validate(used); err != nil {
		t.Fatalf("a session used within %v: %v", sessionIdle, err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := s.Validate(idle); err == nil {
		t.Fatalf("a session idle for more than %v is still valid", sessionIdle)
	}
	if _, err := s.Validate(used); err != nil {
		t.Fatalf("a session used %v ago: %v", 2*time.Minute, err)
	}

	first := s.Generate()
	for range maxSessions {
		now = now.Add(time.Millisecond)
		s.Generate()
	}
	if n := len(s.live); n != maxSessions {
		t.Fatalf("%d sessions kept, want at most %d", n, maxSessions)
	}
	if _, err := s.Validate(used); err == nil {
		t.Fatal("the least recently used session survived the cap")
	}
	if _, err := s.Validate(first); err == nil {
		t.Fatal("an old session survived the cap")
	}

	id := s.Generate()
	if _, err := s.Terminate(id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Validate(id); err == nil {
		t.Fatal("a terminated session is still valid")
	}
}
