package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestLogLevel: X402_LOG_LEVEL sets the level; a value that is not a level
// is warned of on stderr, naming the variable and the levels it takes, and
// info is used, instead of silently logging at info.
func TestLogLevel(t *testing.T) {
	def := slog.Default()
	t.Cleanup(func() { slog.SetDefault(def) })
	for _, tt := range []struct {
		level, format string
		debug, info   bool // enabled
		warned        bool
	}{
		{"", "", false, true, false},
		{"debug", "", true, true, false},
		{"WARN", "", false, false, false},
		{"error", "json", false, false, false},
		{"loud", "", false, true, true},
		{"loud", "json", false, true, true},
		{"infoo", "", false, true, true},
	} {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			var stderr strings.Builder
			env := map[string]string{"X402_LOG_LEVEL": tt.level, "X402_LOG_FORMAT": tt.format}
			l := newLogger(envOf(func(k string) string { return env[k] }, &stderr))
			ctx := context.Background()
			if l.Enabled(ctx, slog.LevelDebug) != tt.debug || l.Enabled(ctx, slog.LevelInfo) != tt.info {
				t.Errorf("debug %v, info %v; want %v, %v", l.Enabled(ctx, slog.LevelDebug), l.Enabled(ctx, slog.LevelInfo), tt.debug, tt.info)
			}
			got := stderr.String()
			warned := strings.Contains(got, "X402_LOG_LEVEL") && strings.Contains(got, "debug, info, warn or error")
			if warned != tt.warned {
				t.Errorf("stderr %q: warned %v, want %v", got, warned, tt.warned)
			}
			if tt.warned && !strings.Contains(got, tt.level) {
				t.Errorf("stderr %q does not name the value %q", got, tt.level)
			}
		})
	}
}

func envOf(getenv func(string) string, stderr *strings.Builder) env {
	return env{getenv: getenv, stdin: strings.NewReader(""), stdout: &strings.Builder{}, stderr: stderr}
}

// failingWriter fails every write, as a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestStdoutWriteFails: a command whose output cannot be written fails,
// naming stdout, instead of exiting 0 with its output lost.
func TestStdoutWriteFails(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"help"}, {"check"}, {"token", "new"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stderr strings.Builder
			err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), failingWriter{}, &stderr)
			if err == nil || !strings.Contains(err.Error(), "stdout") || !strings.Contains(err.Error(), "no space left on device") {
				t.Fatalf("err = %v, want the failed write to stdout", err)
			}
		})
	}
}
