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

// sessionIDs is the mcp-go SessionIdManager of the Streamable HTTP
// transport: it issues random session ids on initialize and remembers the
// live ones, so that a request naming an id never issued, or one whose
// session was deleted or expired, is refused with 404 (mcp-go's answer to
// an error from Validate), and DELETE ends a session. mcp-go's default
// checks only the shape of an id. No money keys on these ids: budgets key
// on the principal (Principal).
type sessionIDs struct {
	mu   sync.Mutex
	live map[string]time.Time // id → last use
	now  func() time.Time
}

var _ mcpserver.SessionIdManager = (*sessionIDs)(nil)

func newSessionIDs() *sessionIDs {
	return &sessionIDs{live: map[string]time.Time{}, now: time.Now}
}

// Generate issues a new session id (128 random bits).
func (s *sessionIDs) Generate() string {
	id := "x402-" + randomHex()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.live) >= maxSessions {
		s.prune(now)
	}
	s.live[id] = now
	return id
}

// prune ends the sessions idle too long, and when that is not enough the
// least recently used one. Callers hold mu.
func (s *sessionIDs) prune(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for id, at := range s.live {
		if now.Sub(at) > sessionIdle {
			delete(s.live, id)
			continue
		}
		if oldest == "" || at.Before(oldestAt) {
			oldest, oldestAt = id, at
		}
	}
	if len(s.live) >= maxSessions {
		delete(s.live, oldest)
	}
}

// Validate accepts a live session and records its use; any other id is
// errUnknownSession.
func (s *sessionIDs) Validate(id string) (isTerminated bool, err error) {
	if !s.touch(id) {
		return false, errUnknownSession
	}
	return false, nil
}

// Terminate ends a session (DELETE, or mcp-go closing its sessions at
// shutdown).
func (s *sessionIDs) Terminate(id string) (isNotAllowed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, id)
	return false, nil
}

// touch says whether id is a live session, and records its use.
func (s *sessionIDs) touch(id string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.live[id]
	if !ok {
		return false
	}
	if now.Sub(at) > sessionIdle {
		delete(s.live, id)
		return false
	}
	s.live[id] = now
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
		case id != "" && !s.touch(id):
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
