package transport

import (
	"context"
	"log"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxLoggedValue is how much of a client-supplied value (an Origin header,
// an unknown frame type) a log line may carry.
const maxLoggedValue = 64

// logEvery lets one log line through per interval and counts the ones it
// held back, so that a flood of bad requests cannot flood the log: the
// counters in /stats and /metrics carry the totals.
type logEvery struct {
	interval   time.Duration
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether a line may be logged now and how many were held
// back since the last one.
func (l *logEvery) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}

// log writes the record at level when the interval allows, adding how many
// were suppressed.
func (l *logEvery) log(logger *slog.Logger, level slog.Level, msg string, attrs ...slog.Attr) {
	ok, n := l.allow(time.Now())
	if !ok {
		return
	}
	if n > 0 {
		attrs = append(attrs, slog.Int("suppressed", n))
	}
	logger.LogAttrs(context.Background(), level, msg, attrs...)
}

// rejectLogInterval bounds the log lines about refused requests and
// connection-level failures.
const rejectLogInterval = 10 * time.Second

// HTTPErrorLog returns a log.Logger for http.Server.ErrorLog. Accept errors
// ("too many open files") mean the node is refusing connections, so they
// are warnings, at most one per interval, each counted in acceptErrors;
// the rest (TLS handshakes, malformed requests: a client's doing) stay at
// debug.
func HTTPErrorLog(logger *slog.Logger, listener string, acceptErrors *atomic.Int64) *log.Logger {
	return log.New(&httpErrorWriter{log: logger, listener: listener, accepts: acceptErrors,
		every: logEvery{interval: rejectLogInterval}}, "", 0)
}

type httpErrorWriter struct {
	log      *slog.Logger
	listener string
	accepts  *atomic.Int64
	every    logEvery
}

func (w *httpErrorWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	if strings.Contains(line, "Accept error") {
		w.accepts.Add(1)
		w.every.log(w.log, slog.LevelWarn, "listener cannot accept connections",
			slog.String("listener", w.listener), slog.String("error", clip(line, 200)))
		return len(p), nil
	}
	if w.log.Enabled(context.Background(), slog.LevelDebug) {
		w.log.Debug("http server", slog.String("listener", w.listener), slog.String("error", clip(line, 200)))
	}
	return len(p), nil
}
