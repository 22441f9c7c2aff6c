package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// startPprof serves Go's runtime profiles (/debug/pprof/…) on addr until ctx
// ends: for benchmarking and diagnosis, off unless serve is given --pprof.
// Profiles show the program's internals (not its key), but they are nobody
// else's business, so addr must be a loopback address.
func startPprof(ctx context.Context, addr string, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError{fmt.Sprintf("--pprof %q: %v (e.g. 127.0.0.1:6060)", addr, err)}
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usageError{fmt.Sprintf("--pprof %q: profiles are served on loopback only (e.g. 127.0.0.1:6060)", addr)}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: localOnly(mux), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close() // the process is ending: nothing to report to
	}()
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof server stopped", "err", err)
		}
	}()
	log.Info("pprof profiles served", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return nil
}

// localOnly answers 403 to browsers: a request with an Origin header (a web
// page, whatever its origin) or whose Host is not a loopback name (a page
// that rebound its own DNS name to 127.0.0.1). Profiling tools send
// neither.
func localOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		ip := net.ParseIP(strings.Trim(host, "[]"))
		if r.Header.Get("Origin") != "" || !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "forbidden: pprof answers local tools only, not browser pages", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
