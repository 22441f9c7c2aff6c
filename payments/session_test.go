package payments

import (
	"context"
	"testing"
)

func TestSessionFromContext(t *testing.T) {
	c := &Client{Session: "process"}
	ctx := context.Background()
	if got := c.SessionFor(ctx); got != "process" {
		t.Fatalf("no session in ctx: %q", got)
	}
	if got := c.SessionFor(WithSession(ctx, "")); got != "process" {
		t.Fatalf("empty session in ctx: %q", got)
	}
	ctx = WithSession(ctx, "token:abcd1234")
	if SessionFrom(ctx) != "token:abcd1234" || c.SessionFor(ctx) != "token:abcd1234" {
		t.Fatalf("session in ctx: %q %q", SessionFrom(ctx), c.SessionFor(ctx))
	}
	r := c.reservation(ctx, Limit{Session: "explicit"}, &Option{}, "GET http://seller.test/x", "seller.test:80")
	if r.Session != "explicit" {
		t.Fatalf("Limit.Session wins: %q", r.Session)
	}
	if r := c.reservation(ctx, Limit{}, &Option{}, "GET http://seller.test/x", "seller.test:80"); r.Session != "token:abcd1234" {
		t.Fatalf("ctx session: %q", r.Session)
	}
}
