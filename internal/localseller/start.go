package localseller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Running is a seller listening on loopback.
type Running struct {
	// URL is the base URL, "http://127.0.0.1:<port>", with no trailing slash.
	URL         string
	Seller      *Seller
	Facilitator *Facilitator

	srv       *http.Server
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Start runs New(cfg) on 127.0.0.1 on a free port. Close stops it.
func Start(cfg Config) (*Running, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("local seller: listen on loopback: %w", err)
	}
	s := New(cfg)
	r := &Running{
		URL:         "http://" + ln.Addr().String(),
		Seller:      s,
		Facilitator: s.Facilitator(),
		srv:         &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second},
		done:        make(chan struct{}),
	}
	go func() {
		defer close(r.done)
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.closeErr = err
		}
	}()
	return r, nil
}

// Shutdown stops accepting requests and waits, until ctx ends, for the
// requests being handled to finish (a settlement in progress completes).
func (r *Running) Shutdown(ctx context.Context) error {
	err := r.srv.Shutdown(ctx)
	if err != nil {
		return err
	}
	<-r.done
	return nil
}

// Close stops the server at once, closing open connections (a slow_body
// answer in progress ends), and waits for it to stop.
func (r *Running) Close() error {
	r.closeOnce.Do(func() {
		err := r.srv.Close()
		<-r.done
		r.closeErr = errors.Join(r.closeErr, err)
	})
	return r.closeErr
}
