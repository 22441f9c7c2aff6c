package server_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/internal/localseller"
	"github.com/x402-mcp/x402-mcp/server"
	"github.com/x402-mcp/x402-mcp/tools"
)

// reloaded is registry with one more tool.
const reloaded = registry + `  - name: weather_too
    description: Weather again.
    url: "${SELLER}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
`

func TestReload(t *testing.T) {
	f := newFixture(t, registry, 1_000_000, localseller.Config{}, server.Config{})
	cli := f.inProcess(t)
	var changed atomic.Int32
	cli.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == mcp.MethodNotificationToolsListChanged {
			changed.Add(1)
		}
	})
	ctx := context.Background()
	before := listNames(t, ctx, cli)

	reg, err := tools.Parse("registry.yaml", []byte(reloaded), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Reload(reg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return changed.Load() > 0 }, "notifications/tools/list_changed")
	after := listNames(t, ctx, cli)
	if !slices.Contains(after, "weather_too") || len(after) != len(before)+1 {
		t.Fatalf("tools after reload %v (before %v)", after, before)
	}
	res := call(t, cli, "weather_too", map[string]any{"city": "oslo"})
	if res.IsError || res.Meta.AdditionalFields[tools.MetaCharged] != "charged" {
		t.Fatalf("new tool: %s", resultText(res))
	}
	// x402_quote knows it.
	if res := call(t, cli, server.ToolQuote, map[string]any{"tool": "weather_too", "arguments": map[string]any{"city": "oslo"}}); res.IsError {
		t.Fatalf("quote of the new tool: %s", resultText(res))
	}

	// A budget change is refused whole: the catalog stays.
	n := changed.Load()
	bigger, err := tools.Parse("registry.yaml", []byte(strings.Replace(registry, `total: "0.0015"`, `total: "5"`, 1)+"  - name: weather_three\n    description: W.\n    url: \"${SELLER}/v2/weather/{city}\"\n    params:\n      - {name: city, in: path, type: string, required: true}\n    max_price: \"0.001\"\n"), testFamilies)
	if err != nil {
		t.Fatal(err)
	}
	err = f.srv.Reload(bigger)
	if !errors.Is(err, server.ErrRestartNeeded) || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("budget change: %v", err)
	}
	if got := listNames(t, ctx, cli); !slices.Equal(got, after) || changed.Load() != n {
		t.Fatalf("tools after a refused reload %v, want %v", got, after)
	}

	// So is turning the mainnet guard on or off: it was checked against the
	// wallet's key at start.
	guarded, err := tools.Parse("registry.yaml", []byte(strings.Replace(registry, "version: 1\n", "version: 1\nwallet:\n  require_protected_key: true\n", 1)), testFamilies)
	if err != nil || !guarded.Wallet.RequireProtectedKey {
		t.Fatalf("guarded catalog: %v", err)
	}
	if err := f.srv.Reload(guarded); !errors.Is(err, server.ErrRestartNeeded) || !strings.Contains(err.Error(), "wallet.require_protected_key") {
		t.Fatalf("wallet section change: %v", err)
	}

	// Back to the first catalog: the tool is gone.
	first, _ := tools.Parse("registry.yaml", []byte(registry), testFamilies)
	if err := f.srv.Reload(first); err != nil {
		t.Fatal(err)
	}
	if got := listNames(t, ctx, cli); !slices.Equal(got, before) {
		t.Fatalf("tools %v, want %v", got, before)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "weather_too", map[string]any{"city": "oslo"}
	if res, err := cli.CallTool(ctx, req); err == nil && !res.IsError {
		t.Fatal("a removed tool answered")
	}
}

// TestReloadUnderCalls swaps catalogs while calls run (for -race).
func TestReloadUnderCalls(t *testing.T) {
	f := newFixture(t, registry, 1_000_000, localseller.Config{}, server.Config{})
	cli := f.inProcess(t)
	a, _ := tools.Parse("registry.yaml", []byte(registry), testFamilies)
	b, _ := tools.Parse("registry.yaml", []byte(reloaded), testFamilies)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			if err := f.srv.Reload([]*tools.Registry{a, b}[i%2]); err != nil {
				t.Error(err)
			}
		}
	}()
	for range 10 {
		call(t, cli, server.ToolQuote, map[string]any{"tool": "weather", "arguments": map[string]any{"city": "oslo"}})
		call(t, cli, "weather_cheap", map[string]any{"city": "oslo"})
		call(t, cli, server.ToolWallet, nil)
	}
	<-done
}

func TestWatchRegistry(t *testing.T) {
	f := newFixture(t, registry, 1_000_000, localseller.Config{}, server.Config{})
	cli := f.inProcess(t)
	path := filepath.Join(t.TempDir(), "registry.yaml")
	if err := os.WriteFile(path, []byte(registry), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var loads atomic.Int32
	load := func(p string) (*tools.Registry, error) {
		loads.Add(1)
		return tools.Load(p, testFamilies)
	}
	// Settle is ten times the burst below, so that a busy machine that
	// delays one of its writes does not split it.
	go f.srv.WatchRegistry(ctx, path, server.WatchOptions{Interval: 20 * time.Millisecond, Settle: 250 * time.Millisecond, Load: load})
	time.Sleep(50 * time.Millisecond)

	// An invalid edit: refused.
	if err := os.WriteFile(path, []byte(registry+"  - name: Bad Name\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return loads.Load() == 1 }, "the invalid edit to be read")
	if slices.Contains(listNames(t, ctx, cli), "weather_too") {
		t.Fatal("unexpected tool")
	}
	// A burst of writes, then a valid file: one more load.
	for i := 0; i < 5; i++ {
		_ = os.WriteFile(path, []byte(reloaded[:len(reloaded)*(i+1)/5]), 0o600)
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, func() bool { return slices.Contains(listNames(t, ctx, cli), "weather_too") }, "the new tool")
	if n := loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2 (the burst debounced)", n)
	}
}

// TestWatchRegistryFileMissingAtStart: a catalog file that cannot be read
// when the watch starts is warned of, naming it, and read once it is back.
func TestWatchRegistryFileMissingAtStart(t *testing.T) {
	var logs lockedBuffer
	f := newFixture(t, registry, 1_000_000, localseller.Config{}, server.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	cli := f.inProcess(t)
	path := filepath.Join(t.TempDir(), "registry.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.srv.WatchRegistry(ctx, path, server.WatchOptions{Interval: 20 * time.Millisecond, Settle: 50 * time.Millisecond,
		Load: func(p string) (*tools.Registry, error) { return tools.Load(p, testFamilies) }})
	waitFor(t, func() bool { return strings.Contains(logs.String(), "catalog watch: the file cannot be read now") }, "the warning")
	if l := logs.String(); !strings.Contains(l, "file="+path) || !strings.Contains(l, "level=WARN") {
		t.Fatalf("the warning does not name the file at WARN: %s", l)
	}
	if err := os.WriteFile(path, []byte(reloaded), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return slices.Contains(listNames(t, ctx, cli), "weather_too") }, "the catalog written after the start")
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
