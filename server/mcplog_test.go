package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// TestMoneyLogNotifications: a client that set a log level receives an MCP
// logging notification for each call that involved money; below the level,
// none.
func TestMoneyLogNotifications(t *testing.T) {
	cli, _, _ := newSessionWith(t, client.WithProtocolVersion("2025-06-18"))
	var mu sync.Mutex
	var got []string
	cli.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method != "notifications/message" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprint(n.Params.AdditionalFields["level"])+" "+toString(n.Params.AdditionalFields["data"]))
	})
	messages := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
	wait := func(n int) []string {
		deadline := time.Now().Add(2 * time.Second)
		for len(messages()) < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		return messages()
	}

	if err := cli.SetLevel(context.Background(), mcp.SetLevelRequest{Params: mcp.SetLevelParams{Level: mcp.LoggingLevelWarning}}); err != nil {
		t.Fatal(err)
	}
	call(t, cli, "weather_cheap", map[string]any{"city": "oslo"}) // refused: notice, below warning
	time.Sleep(100 * time.Millisecond)
	if m := messages(); len(m) != 0 {
		t.Fatalf("at level warning, got %v", m)
	}
	if err := cli.SetLevel(context.Background(), mcp.SetLevelRequest{Params: mcp.SetLevelParams{Level: mcp.LoggingLevelInfo}}); err != nil {
		t.Fatal(err)
	}
	call(t, cli, "weather", map[string]any{"city": "oslo"})
	m := wait(1)
	if len(m) != 1 || !strings.HasPrefix(m[0], "info ") || !strings.Contains(m[0], "weather paid 0.001 USDC") {
		t.Fatalf("after a paid call: %v", m)
	}
	call(t, cli, "weather_cheap", map[string]any{"city": "oslo"}) // refused before paying: notice
	m = wait(2)
	if len(m) != 2 || !strings.HasPrefix(m[1], "notice ") || !strings.Contains(m[1], "price_above_cap") {
		t.Fatalf("after a refusal: %v", m)
	}
}

func toString(v any) string {
	if m, ok := v.(map[string]any); ok {
		s, _ := m["message"].(string)
		return s
	}
	s, _ := v.(string)
	return s
}
