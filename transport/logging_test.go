package transport

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestAcceptErrorsLoggedAtWarnOncePerInterval: "too many open files" is a
// warning, not debug noise, and a storm of them is one line with a count.
func TestAcceptErrorsLoggedAtWarnOncePerInterval(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var accepts atomic.Int64
	l := HTTPErrorLog(logger, "chat", &accepts)
	for i := 0; i < 100; i++ {
		l.Printf("http: Accept error: accept tcp 127.0.0.1:8080: accept4: too many open files; retrying in 5ms")
	}
	l.Printf("http: TLS handshake error from 127.0.0.1:5555: EOF") // a client's doing: debug
	if got := accepts.Load(); got != 100 {
		t.Fatalf("accept errors counted %d, want 100", got)
	}
	out := buf.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "too many open files") || strings.Contains(out, "TLS handshake") {
		t.Fatalf("want only the accept error at info and above:\n%s", out)
	}
}

func TestLogEverySuppressesAndCounts(t *testing.T) {
	l := logEvery{interval: time.Second}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0},
		{100 * time.Millisecond, false, 0},
		{900 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{3 * time.Second, true, 1},
	}
	for _, s := range steps {
		ok, n := l.allow(t0.Add(s.at))
		if ok != s.ok || n != s.suppressed {
			t.Fatalf("at %s: allow = %v, %d; want %v, %d", s.at, ok, n, s.ok, s.suppressed)
		}
	}
}
