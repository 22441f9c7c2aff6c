package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// Bounds of the Streamable HTTP sessions kept (sessionIDs).
const (
	// sessionIdle is how long a session may go unused before it ends. Hosts
	// keep a session open all day; one that comes back later gets 404 and
	// initializes a new session, as the transport spec has it.
	sessionIdle = 24 * time.Hour
	// maxSessions caps the sessions kept: past it, the least recently used
	// ends, so clients that never send DELETE cannot grow memory unbounded.
	maxSessions = 10_000
)

// errUnknownSession: the id was never issued, or its session ended.
var errUnknownSession = errors.New("unknown or ended session")

// sessionIDs are the Streamable HTTP transport's sessions: it issues
// random session ids on initialize and remembers the live ones and the
// principal that opened each, so that a request naming an id never issued,
// one whose session was deleted or expired, or one another principal
// opened, is refused with 404 (mcp-go's answer to an error from Validate),
// and DELETE ends a session. mcp-go's default checks only the shape of an
// id. No money keys on these ids: budgets key on the principal.
type sessionIDs struct {
	mu   sync.Mutex
	live map[string]session
	now  func() time.Time
}

// session is one live session: its principal and its last use.
type session struct {
	owner string
	at    time.Time
}

var _ mcpserver.SessionIdManagerResolver = (*sessionIDs)(nil)

func newSessionIDs() *sessionIDs {
	return &sessionIDs{live: map[string]session{}, now: time.Now}
}

// ResolveSessionIdManager is the session id manager of one request: its
// principal's view of the sessions. Without a request (mcp-go ending
// sessions at shutdown, or sweeping idle ones) it is the server's own,
// which may end any session.
func (s *sessionIDs) ResolveSessionIdManager(r *http.Request) mcpserver.SessionIdManager {
	if r == nil {
		return ownedSessions{ids: s, server: true}
	}
	return ownedSessions{ids: s, owner: caller(r.Context()).Name}
}

// ownedSessions are the sessions as one principal sees them: it opens
// sessions of its own, and a session of another principal is unknown to it.
type ownedSessions struct {
	ids    *sessionIDs
	owner  string
	server bool // the server's view: it may end any session, and opens none
}

// Generate issues a new session id (128 random bits) for the principal.
func (o ownedSessions) Generate() string { return o.ids.generate(o.owner) }

// Validate accepts a live session of the principal and records its use;
// any other id is errUnknownSession.
func (o ownedSessions) Validate(id string) (isTerminated bool, err error) {
	if !o.ids.touch(id, o.owner) {
		return false, errUnknownSession
	}
	return false, nil
}

// Terminate ends a session of the principal (DELETE, or mcp-go closing
// its sessions at shutdown, as the principal that opened them).
func (o ownedSessions) Terminate(id string) (isNotAllowed bool, err error) {
	o.ids.mu.Lock()
	defer o.ids.mu.Unlock()
	if se, ok := o.ids.live[id]; ok && (o.server || se.owner == o.owner) {
		delete(o.ids.live, id)
	}
	return false, nil
}

func (s *sessionIDs) generate(owner string) string {
	id := "x402-" + randomHex()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.live) >= maxSessions {
		s.prune(now)
	}
	s.live[id] = session{owner, now}
	return id
}

// prune ends the sessions idle too long, and when that is not enough the
// least recently used one. Callers hold mu.
func (s *sessionIDs) prune(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for id, se := range s.live {
		if now.Sub(se.at) > sessionIdle {
			delete(s.live, id)
			continue
		}
		if oldest == "" || se.at.Before(oldestAt) {
			oldest, oldestAt = id, se.at
		}
	}
	if len(s.live) >= maxSessions {
		delete(s.live, oldest)
	}
}

// touch says whether id is a live session of owner, and records its use.
func (s *sessionIDs) touch(id, owner string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.live[id]
	if !ok || se.owner != owner {
		return false
	}
	if now.Sub(se.at) > sessionIdle {
		delete(s.live, id)
		return false
	}
	s.live[id] = session{owner, now}
	return true
}

// guard checks the session of GET and DELETE on /mcp, which mcp-go does not
// (it checks POST through Validate): an id never issued or ended gets 404,
// and DELETE without an id gets 400. Requests of protocol 2026-07-28, which
// has no sessions, go to mcp-go as they are.
func (s *sessionIDs) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodDelete || mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
			next.ServeHTTP(w, r)
			return
		}
		id := r.Header.Get(mcpserver.HeaderKeySessionID)
		switch {
		case id == "" && r.Method == http.MethodDelete:
			writeHTTPError(w, http.StatusBadRequest, -32600, "DELETE needs the Mcp-Session-Id header of the session to end")
			return
		case id != "" && !s.touch(id, caller(r.Context()).Name):
			writeHTTPError(w, http.StatusNotFound, -32001, "unknown or ended session: initialize a new one")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// randomHex returns 128 random bits in hex.
func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
