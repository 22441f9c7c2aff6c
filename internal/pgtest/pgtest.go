// Package pgtest gives tests a PostgreSQL server: the one X402_TEST_POSTGRES
// names (a URL whose user may create databases), else a throwaway cluster
// that it starts once per test binary from the PostgreSQL binaries on this
// machine (initdb and postgres, on PATH or in /usr/lib/postgresql/*/bin),
// listening on a Unix socket only, with fsync off. Each test gets a fresh
// database of its own.
//
// PostgreSQL refuses to run as root: as root, the cluster is created and run
// as the postgres system user. Without a server, a test follows
// internal/component's rule: it is skipped with a message naming the
// command that installs one, or fails when X402_REQUIRE_POSTGRES is set (as
// .ci/run sets it).
//
// It is for tests only.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver for database/sql

	"github.com/x402-mcp/x402-mcp/internal/component"
)

// Environment variables that steer it.
const (
	// EnvURL names a server to use instead of a throwaway cluster.
	EnvURL = "X402_TEST_POSTGRES"
	// EnvRequire, when set, makes a missing server fail the test
	// (component.EnvPostgres).
	EnvRequire = component.EnvPostgres
)

// Install is the command that installs PostgreSQL on Debian.
const Install = "apt-get install -y postgresql"

// Cluster is a throwaway PostgreSQL cluster in a temporary directory.
type Cluster struct {
	dir, bin string
	cred     *syscall.Credential
	extra    []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
}

var (
	shared    *Cluster
	sharedErr error
	sharedMu  sync.Mutex
	dbSeq     atomic.Int64
)

// Main runs the tests, then stops the cluster they shared (if one was
// started). Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		if err := shared.Close(); err != nil {
			slog.Warn("pgtest: stop the shared PostgreSQL cluster", "err", err)
		}
		shared = nil
	}
	return code
}

// URL returns the URL of a new, empty database for t, dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	admin, err := server()
	if err == nil {
		err = ping(admin)
	}
	if err != nil {
		unavailable(t, err)
	}
	return NewDatabase(t, admin)
}

// StartFor starts a throwaway cluster of t's own (one it may stop and
// restart), closed when t ends. Without the PostgreSQL binaries it skips t,
// or fails it under X402_REQUIRE_POSTGRES.
func StartFor(t testing.TB, settings ...string) *Cluster {
	t.Helper()
	c, err := Start(settings...)
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("pgtest: stop the cluster: %v", err)
		}
	})
	return c
}

// Available says whether a server can be had, without skipping.
func Available() error {
	_, err := server()
	return err
}

// unavailable skips t, or fails it under X402_REQUIRE_POSTGRES
// (component.Missing).
func unavailable(t testing.TB, err error) {
	t.Helper()
	component.Missing(t, EnvRequire, fmt.Sprintf("no PostgreSQL server for the test (%v)", err),
		fmt.Sprintf("install one (%s), or set %s=postgres://… to a server whose user may create databases, then run: %s=1 go test ./payments/ledger ./cmd/x402-mcp ./test; `bash .ci/run` does both",
			Install, EnvURL, EnvRequire))
}

// server returns the admin URL of the shared server, starting the
// throwaway cluster the first time.
func server() (string, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return u, nil
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = Start()
	}
	if sharedErr != nil {
		return "", sharedErr
	}
	return shared.URL("postgres"), nil
}

// NewDatabase creates a database on the server of admin (a URL) for t and
// returns its URL; it is dropped when t ends.
func NewDatabase(t testing.TB, admin string) string {
	t.Helper()
	name := fmt.Sprintf("x402_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name+" STRATEGY = FILE_COPY"); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return WithDatabase(admin, name)
}

// WithDatabase returns u with its database replaced by name.
func WithDatabase(u, name string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + name
	return p.String()
}

// binDir finds the directory of initdb and postgres.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin") // fails only on a malformed pattern
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("initdb is not on PATH nor in /usr/lib/postgresql/*/bin")
}

// version is the major version a binDir's folder names, 0 (sorted last)
// when its name is not a number.
func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start creates and starts a throwaway cluster with the given extra server
// settings ("name=value"). Close stops it and removes its files.
func Start(settings ...string) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "x402-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, extra: settings}
	if err := c.create(); err != nil {
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the cluster's folder: %w", rerr))
		}
		return nil, err
	}
	if err := c.Restart(); err != nil {
		if cerr := c.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return c, nil
}

// create makes the cluster's files in c.dir with initdb, owned by the
// postgres user when running as root (PostgreSQL refuses to run as root).
func (c *Cluster) create() error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root, and there is no postgres user to run PostgreSQL as: %w", err)
		}
		uid, err := strconv.Atoi(u.Uid)
		if err != nil {
			return fmt.Errorf("the postgres user's uid %q: %w", u.Uid, err)
		}
		gid, err := strconv.Atoi(u.Gid)
		if err != nil {
			return fmt.Errorf("the postgres user's gid %q: %w", u.Gid, err)
		}
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return err
		}
	}
	initdb := exec.Command(filepath.Join(c.bin, "initdb"), "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	initdb.Dir = c.dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return nil
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// URL is the URL of database name on the cluster, over its Unix socket.
func (c *Cluster) URL(name string) string {
	return "postgres://postgres@/" + name + "?host=" + url.QueryEscape(c.dir)
}

// Restart starts the server (again, after Stop or Kill) and waits until it
// takes connections.
func (c *Cluster) Restart() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return errors.New("pgtest: the server is running")
	}
	args := []string{"-D", c.data(), "-k", c.dir, "-c", "listen_addresses=", "-c", "fsync=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB", "-c", "log_min_messages=fatal"}
	for _, s := range c.extra {
		args = append(args, "-c", s)
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), args...)
	cmd.Dir = c.dir
	// Pdeathsig stops the server if the test binary dies without stopping
	// it. It fires when the thread that started the server ends, so that
	// thread is kept locked, waiting for the server, for its whole life.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT}
	logf, err := os.Create(filepath.Join(os.TempDir(), filepath.Base(c.dir)+".log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	started, done := make(chan error, 1), make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
		_ = logf.Close() // the server's log, read by name: nothing was buffered
	}()
	if err := <-started; err != nil {
		_ = logf.Close() // the start's error is the one to report
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd, c.done = cmd, done
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := c.ping()
		if err == nil {
			return nil
		}
		select {
		case werr := <-done:
			c.cmd = nil
			log, err := os.ReadFile(logf.Name())
			if err != nil {
				log = []byte("(its log cannot be read: " + err.Error() + ")")
			}
			return fmt.Errorf("postgres exited: %v\n%s", werr, log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not take connections within 60 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) ping() error { return ping(c.URL("postgres")) }

// ping connects to the server of u.
func ping(u string) error {
	db, err := sql.Open("pgx", u)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// Stop shuts the server down fast (SIGINT: running transactions are
// rolled back, connections closed) and waits for it.
func (c *Cluster) Stop() error { return c.signal(syscall.SIGINT) }

// Kill stops the server as a crash would: SIGQUIT, PostgreSQL's immediate
// shutdown (every connection dropped, no checkpoint); the next start
// recovers from its write-ahead log.
func (c *Cluster) Kill() error { return c.signal(syscall.SIGQUIT) }

func (c *Cluster) signal(sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return nil
	}
	if err := c.cmd.Process.Signal(sig); err != nil {
		return err
	}
	// The exit status of a server told to stop says nothing more.
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("pgtest: killing postgres after 60 s: %w", err)
		}
		<-c.done
	}
	c.cmd = nil
	return nil
}

// Close stops the server and removes the cluster's files.
func (c *Cluster) Close() error {
	err := c.Stop()
	if rerr := os.Remove(filepath.Join(os.TempDir(), filepath.Base(c.dir)+".log")); !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}
