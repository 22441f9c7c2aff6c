package keytest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/zalando/go-keyring"
)

// sessionEnv marks the test process that InKeychainSession started inside
// its private D-Bus session.
const sessionEnv = "X402_KEYCHAIN_TEST_SESSION"

// InKeychainSession gives the calling test a real OS keychain of its own: a
// GNOME Keyring (the Secret Service, as on a Linux desktop), unlocked, on a
// private D-Bus session, with HOME in a temporary folder, so that the test
// never touches the user's own keychain. The test runs again in that
// session: in the process started there, InKeychainSession starts the
// keyring and returns true, and the test goes on; in the calling process
// it waits for that run, reports its output, fails or skips t as it did,
// and returns false, and the test returns at once. Only a top-level test
// can be run this way.
func InKeychainSession(t *testing.T) bool {
	t.Helper()
	if os.Getenv(sessionEnv) == t.Name() {
		startKeyring(t)
		return true
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatal("InKeychainSession runs a top-level test only")
	}
	for _, prog := range []string{"dbus-run-session", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(prog); err != nil {
			missing(t, prog+" is not installed (Debian packages dbus, gnome-keyring)")
		}
	}
	home := t.TempDir()
	runtimeDir := filepath.Join(home, "run")
	if err := os.Mkdir(runtimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dbus-run-session", "--", os.Args[0], "-test.run", "^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	ownGroup(cmd)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DBUS_SESSION_BUS_ADDRESS=") && !strings.HasPrefix(kv, "HOME=") &&
			!strings.HasPrefix(kv, "XDG_RUNTIME_DIR=") && !strings.HasPrefix(kv, "XDG_DATA_HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, sessionEnv+"="+t.Name(), "HOME="+home, "XDG_RUNTIME_DIR="+runtimeDir,
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"), "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"X402_TOOLS_DIR="+ToolsDir())
	// The go tool's caches stay where they are (they default to folders in
	// HOME): a test that builds x402-mcp builds it from the same cache.
	if out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output(); err == nil {
		if v := strings.Split(strings.TrimSpace(string(out)), "\n"); len(v) == 3 {
			cmd.Env = append(cmd.Env, "GOCACHE="+v[0], "GOMODCACHE="+v[1], "GOPATH="+v[2])
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("keytest: the test's folder: %v", err)
	}
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("in a private D-Bus session with GNOME Keyring:\n%s", out)
	switch {
	case strings.Contains(string(out), "--- SKIP: "+t.Name()):
		t.Skip("skipped in the keychain session")
	case err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()):
		t.Fatalf("the test failed in the keychain session: %v", err)
	}
	return false
}

// keyringPassword unlocks the test's login keyring.
const keyringPassword = "keyring password for the test"

// startKeyring starts gnome-keyring-daemon on this process's D-Bus session
// with a new login keyring, unlocked, and waits until it answers.
func startKeyring(t *testing.T) {
	t.Helper()
	cmd := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	cmd.Stdin = strings.NewReader(keyringPassword)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	// The exit status is dropped: stopProcess ends it, so it says nothing.
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { stopProcess(t, "gnome-keyring-daemon", cmd, exited, 5*time.Second) })
	// Wait until it owns the Secret Service's name on the bus, asking the
	// bus without starting anything (a request to the name itself would
	// have D-Bus start another daemon, with a locked keyring), then until
	// it answers a search.
	bus, err := dbus.SessionBus()
	if err != nil {
		t.Fatalf("the private D-Bus session: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var owned bool
		err := bus.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.freedesktop.secrets").Store(&owned)
		if err == nil && owned {
			_, err = keyring.Get("x402-mcp-test-probe", "none")
			if errors.Is(err, keyring.ErrNotFound) {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("gnome-keyring-daemon exited: %v\n%s", err, log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gnome-keyring-daemon %v: %v\n%s", errNotReady, err, log.String())
		}
	}
}
