package e2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/x402-mcp/x402-mcp/tools"
)

const reloadCatalog catalog = `version: 1
defaults:
  networks: [eip155:84532]
  max_per_call: "0.05"
budget:
  total: "1.00"
tools:
  - name: weather
    description: Current weather for a city.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
`

const reloadAdded = `  - name: weather_again
    description: The weather, added while serving.
    url: "{{URL}}/v2/weather/{city}"
    params:
      - {name: city, in: path, type: string, required: true, description: City}
    max_price: "0.001"
`

// TestReloadOverStdio edits the catalog under a running binary: an invalid
// edit keeps the old tools and logs why; a valid one sends
// notifications/tools/list_changed and the new tool pays.
func TestReloadOverStdio(t *testing.T) {
	s := start(t, reloadCatalog)
	var changed atomic.Int32
	s.cli.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == mcp.MethodNotificationToolsListChanged {
			changed.Add(1)
		}
	})
	path := s.cmd.Args[len(s.cmd.Args)-1]
	src := strings.ReplaceAll(string(reloadCatalog), "{{URL}}", s.seller.URL)
	names := func() []string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		list, err := s.cli.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tl := range list.Tools {
			out = append(out, tl.Name)
		}
		return out
	}
	before := names()
	wait := func(ok func() bool, what string) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s\nstderr:\n%s", what, s.stderr.String())
	}

	// Invalid: a bad name and a missing max_price.
	bad := src + "  - name: Weather Again\n    description: x\n    url: \"" + s.seller.URL + "/v2/weather/x\"\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	wait(func() bool { return strings.Contains(s.stderr.String(), "registry reload refused") }, "the refusal log")
	log := s.stderr.String()
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "reload refused") {
			t.Log(l)
		}
	}
	if !strings.Contains(log, path) || !strings.Contains(log, "is not a valid tool name") || !strings.Contains(log, "max_price: missing") {
		t.Fatalf("the refusal does not name the file and problems:\n%s", log)
	}
	if got := names(); !slices.Equal(got, before) || changed.Load() != 0 {
		t.Fatalf("tools after an invalid edit: %v, want %v", got, before)
	}

	// Valid: replace the file the way editors do (write a new one, rename).
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(src+strings.ReplaceAll(reloadAdded, "{{URL}}", s.seller.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	wait(func() bool { return changed.Load() > 0 }, "notifications/tools/list_changed")
	if got := names(); !slices.Contains(got, "weather_again") || len(got) != len(before)+1 {
		t.Fatalf("tools after reload: %v", got)
	}
	res := s.call("weather_again", map[string]any{"city": "oslo"})
	if res.IsError || res.Meta == nil || res.Meta.AdditionalFields[tools.MetaCharged] != "charged" {
		t.Fatalf("new tool: %s", text(res))
	}
	if !strings.Contains(s.stderr.String(), "registry reloaded") {
		t.Fatalf("no reload log:\n%s", s.stderr.String())
	}
}
