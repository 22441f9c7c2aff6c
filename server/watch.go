package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/x402-mcp/x402-mcp/tools"
)

// Watch defaults: how often the catalog file is looked at, and how long it
// must stay unchanged before it is read (a burst of writes is one reload).
const (
	DefaultWatchInterval = time.Second
	DefaultWatchSettle   = 300 * time.Millisecond
)

// maxLoggedProblems bounds the problems a refused reload logs.
const maxLoggedProblems = 5

// WatchOptions tune WatchRegistry; zero values take the defaults.
type WatchOptions struct {
	Interval time.Duration
	Settle   time.Duration
	// Load reads a catalog (by default tools.Load, with the network
	// families of the catalog served now).
	Load func(path string) (*tools.Registry, error)
}

// WatchRegistry reloads the catalog from path whenever the file changes,
// until ctx ends. It polls the file's modification time and size rather than
// using inotify: editors that save by writing a new file and renaming it
// over the old one (vim, many IDEs, `sed -i`, config management) would
// silently detach a watch on the file, polling needs no new dependency, and
// one stat a second costs nothing. A change is read once the file has
// stayed the same for Settle (debouncing bursts of writes), and only when
// its content differs from what is served. An invalid file, or one that
// changes the payment policy or budgets, is refused: the old catalog stays
// and an error names the file and the first problems.
func (s *Server) WatchRegistry(ctx context.Context, path string, o WatchOptions) {
	if o.Interval <= 0 {
		o.Interval = DefaultWatchInterval
	}
	if o.Settle <= 0 {
		o.Settle = DefaultWatchSettle
	}
	if o.Load == nil {
		fams := s.catalog().reg.Families()
		o.Load = func(path string) (*tools.Registry, error) { return tools.Load(path, fams) }
	}
	log := s.cfg.Logger
	last, err := stat(path)
	if err != nil {
		// As in the loop below: the catalog stays; once the file can be
		// read, it counts as changed.
		log.Warn("catalog watch: the file cannot be read now", "file", path, "err", err)
	}
	sum := digest(path)
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, err := stat(path)
		if err != nil || cur == last {
			continue // a missing file (mid-rename, or deleted) keeps the catalog
		}
		// Wait for the writes to stop.
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(o.Settle):
			}
			next, err := stat(path)
			if err != nil || next == cur {
				break
			}
			cur = next
		}
		last = cur
		d := digest(path)
		if d == nil || bytes.Equal(d, sum) {
			continue
		}
		reg, err := o.Load(path)
		if err == nil {
			err = s.Reload(reg)
		}
		if err != nil {
			log.Error("registry reload refused: still serving the previous catalog", "file", path,
				"restart", errors.Is(err, ErrRestartNeeded), "problems", firstProblems(err))
			continue
		}
		sum = d
		log.Info("registry reloaded", "file", path, "tools", len(reg.Tools), "search", reg.Defaults.Expose == tools.ExposeSearch)
	}
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stat(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

func digest(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	h := sha256.Sum256(b)
	return h[:]
}

// firstProblems keeps the first lines of a (joined) error.
func firstProblems(err error) string {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) > maxLoggedProblems {
		n := len(lines) - maxLoggedProblems
		lines = append(lines[:maxLoggedProblems], fmt.Sprintf("… and %d more (run `x402-mcp check` on the file)", n))
	}
	return strings.Join(lines, "; ")
}
