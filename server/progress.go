package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/x402-mcp/x402-mcp/payments"
)

// DefaultHeartbeat is how often a long call repeats its current step as a
// progress notification, so that hosts which reset their timeout on progress
// keep waiting.
const DefaultHeartbeat = 5 * time.Second

// progress reports a call's steps (payments.Step*) as notifications/progress
// when the request carries a progressToken, and a heartbeat while a step
// lasts. Notifications are best-effort: a lost one never fails the call.
func (s *Server) progress(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
			return next(ctx, req)
		}
		p := &progressReporter{srv: s.mcp, ctx: ctx, token: req.Params.Meta.ProgressToken, since: time.Now()}
		interval := s.cfg.Heartbeat
		if interval <= 0 {
			interval = DefaultHeartbeat
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				case <-t.C:
					p.heartbeat()
				}
			}
		}()
		defer func() {
			close(done)
			wg.Wait()
			p.close()
		}()
		return next(payments.WithProgress(ctx, p.step), req)
	}
}

// progressReporter numbers the notifications of one call.
type progressReporter struct {
	srv   *mcpserver.MCPServer
	ctx   context.Context
	token mcp.ProgressToken

	mu       sync.Mutex
	n        int
	cur      string
	since    time.Time // when the current step began
	finished bool
}

func (p *progressReporter) step(step string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur, p.since = step, time.Now()
	p.send(step)
}

func (p *progressReporter) heartbeat() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == "" {
		return
	}
	p.send(fmt.Sprintf("%s (%ds)", p.cur, int(time.Since(p.since).Seconds())))
}

// close stops notifications: none may follow the call's result.
func (p *progressReporter) close() {
	p.mu.Lock()
	p.finished = true
	p.mu.Unlock()
}

// send must be called with p.mu held.
func (p *progressReporter) send(msg string) {
	if p.finished || p.ctx.Err() != nil {
		return
	}
	p.n++
	// Best effort: a host that cannot take it loses only a progress line.
	_ = p.srv.SendNotificationToClient(p.ctx, string(mcp.MethodNotificationProgress), map[string]any{
		"progressToken": p.token,
		"progress":      p.n,
		"message":       msg,
	})
}
