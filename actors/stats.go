package actors

import (
	"sync/atomic"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/metrics"
)

// Stats holds the node's counters. Every field is an atomic so that
// operators can read them without waiting on any actor.
type Stats struct {
	started time.Time

	// Live sessions by state.
	Unauthenticated atomic.Int64
	Authenticated   atomic.Int64 // idle authenticated sessions
	Streaming       atomic.Int64 // sessions with an answer in flight
	Users           atomic.Int64 // distinct users with a live session

	SessionsOpened atomic.Int64
	SessionsClosed atomic.Int64
	// SessionFailures counts panics recovered inside a session;
	// SessionsStopped those after which the session was closed with 1011.
	SessionFailures atomic.Int64
	SessionsStopped atomic.Int64

	ChatMessages atomic.Int64 // chat messages accepted
	Answers      atomic.Int64 // answers completed (stop, length or cancelled)

	CacheHits   atomic.Int64
	CacheMisses atomic.Int64
	CacheErrors atomic.Int64
	CacheStores atomic.Int64 // answers written to the cache
	// CacheCoalesced counts look-ups that joined one already in flight for
	// the same key, and so waited for its answer instead of a model call.
	CacheCoalesced atomic.Int64
	// CacheSkipped counts cache operations not attempted because the
	// breaker was open.
	CacheSkipped     atomic.Int64
	CacheBreakerOpen atomic.Bool

	// The journal writer's counts, in exchanges (a question and its answer).
	HistoryQueued  atomic.Int64 // waiting to be written
	HistoryWritten atomic.Int64
	HistoryDropped atomic.Int64 // dropped from a full queue
	HistoryErrors  atomic.Int64 // failed writes, each retried
	HistoryBatches atomic.Int64 // successful writes
	HistoryRows    atomic.Int64 // messages and audit records in them
	// HistoryBatchSize counts the exchanges of each successful write, and
	// HistoryWriteTime its duration in microseconds.
	HistoryBatchSize metrics.Histogram
	HistoryWriteTime metrics.Histogram

	AnswersDetached atomic.Int64 // answers that went on after their socket dropped
	AnswersResumed  atomic.Int64 // resumes answered

	LLMInFlight    atomic.Int64
	LLMRequests    atomic.Int64
	LLMErrors      atomic.Int64
	LLMRateLimited atomic.Int64
	LLMRetries     atomic.Int64
	TokensIn       atomic.Int64
	TokensOut      atomic.Int64

	// Latencies, in microseconds.
	AuthTime   metrics.Histogram // connection opened to connected sent
	TTFT       metrics.Histogram // chat message to the first text of a fresh answer
	AnswerTime metrics.Histogram // chat message to the done frame of a fresh answer
	CachedTime metrics.Histogram // chat message to the frame of a cached answer

	rejections map[Code]*atomic.Int64
}

// rejectionCodes are the reasons counted in Stats.Rejections.
// CodeSessionRevoked counts the sessions an operator's disconnect closed.
var rejectionCodes = []Code{
	CodeAuthRequired, CodeTokenMissing, CodeInvalidToken, CodeTokenExpired,
	CodeAuthFailed, CodeAuthTimeout, CodeMaxConnections, CodeUnavailable,
	CodeBusy, CodeRateLimited, CodeBudgetExceeded, CodeBadRequest, CodeEmptyMessage,
	CodeMessageTooLong, CodeLLMUnavailable, CodeShuttingDown, CodeInternal, CodeNotFound,
	CodeSessionRevoked,
}

func newStats() *Stats {
	s := &Stats{started: time.Now(), rejections: make(map[Code]*atomic.Int64, len(rejectionCodes))}
	for _, c := range rejectionCodes {
		s.rejections[c] = new(atomic.Int64)
	}
	return s
}

// Uptime is how long the node has been running.
func (s *Stats) Uptime() time.Duration { return time.Since(s.started) }

// Reject counts one rejection with code. Codes outside the known set are
// ignored, so the map is never written after construction.
func (s *Stats) Reject(code Code) {
	if code == CodeNodeUnavailable {
		code = CodeUnavailable // one count, as the client sees one code
	}
	if c, ok := s.rejections[code]; ok {
		c.Add(1)
	}
}

// Rejections returns the rejection counts by code.
func (s *Stats) Rejections() map[Code]int64 {
	out := make(map[Code]int64, len(s.rejections))
	for code, c := range s.rejections {
		out[code] = c.Load()
	}
	return out
}

// stateGauge returns the gauge counting sessions in st, or nil for states
// that are not counted.
func (s *Stats) stateGauge(st sessionState) *atomic.Int64 {
	switch st {
	case stateUnauthenticated, stateAuthenticating:
		return &s.Unauthenticated
	case stateAuthenticated:
		return &s.Authenticated
	case stateStreaming:
		return &s.Streaming
	}
	return nil
}

// move shifts one session from gauge from to gauge to.
func (s *Stats) move(from, to sessionState) {
	if g := s.stateGauge(from); g != nil {
		g.Add(-1)
	}
	if g := s.stateGauge(to); g != nil {
		g.Add(1)
	}
}
