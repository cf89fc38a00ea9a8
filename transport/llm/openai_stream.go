package llm

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
)

// openAIStream is one HTTP response being read. Recv runs on the caller's
// goroutine; Close may run on another, so everything Close touches is either
// safe for concurrent use (cancel, the timer) or guarded by once.
type openAIStream struct {
	parent   context.Context // the caller's context
	ctx      context.Context // parent plus the watchdog's and Close's cancel
	cancel   context.CancelCauseFunc
	body     io.ReadCloser // nil until the response arrives
	events   *eventReader
	decoder  *chunkDecoder
	chunk    chunk // decoded into again for each event
	idle     time.Duration
	watchdog *time.Timer

	peeked   actors.ModelChunk
	hasPeek  bool
	finished bool  // a finish reason was seen, so EOF is the normal end
	done     bool  // the stream ended cleanly, after a finish reason
	err      error // sticky terminal error

	closed atomic.Bool
	once   sync.Once
}

var _ actors.ModelStream = (*openAIStream)(nil)

// drainWait bounds the read of what follows [DONE]: a server that keeps
// the body open after it costs the connection, not the answer's end.
const drainWait = 100 * time.Millisecond

// maxDrain is the most a body is read past its [DONE] to reach its end:
// net/http closes a connection whose body was closed unread, and every
// answer would then open a new connection (and TLS session) to the model.
const maxDrain = 4 << 10

// newOpenAIStream returns a stream whose watchdog exists but is stopped:
// arm never assigns the timer, which Close reads from another goroutine.
func newOpenAIStream(parent, ctx context.Context, cancel context.CancelCauseFunc, idle time.Duration) *openAIStream {
	s := &openAIStream{parent: parent, ctx: ctx, cancel: cancel, idle: idle}
	s.watchdog = time.AfterFunc(time.Hour, func() { cancel(ErrIdleTimeout) })
	s.watchdog.Stop()
	return s
}

// arm (re)starts the watchdog with d; d <= 0 stops it.
func (s *openAIStream) arm(d time.Duration) {
	if d <= 0 {
		s.watchdog.Stop()
		return
	}
	s.watchdog.Reset(d)
	// A Close racing with this Reset must not leave the timer armed.
	if s.closed.Load() {
		s.watchdog.Stop()
	}
}

func (s *openAIStream) Recv() (actors.ModelChunk, error) {
	if s.closed.Load() {
		return actors.ModelChunk{}, errClosed
	}
	if s.hasPeek {
		c := s.peeked
		s.hasPeek, s.peeked = false, actors.ModelChunk{}
		return c, nil
	}
	if s.err != nil {
		return actors.ModelChunk{}, s.err
	}
	c, err := s.next()
	if err != nil {
		s.err = err
		if s.done {
			// A clean end: read the body to its end, briefly, so that
			// the connection goes back to the pool.
			s.arm(drainWait)
			_, _ = io.CopyN(io.Discard, s.body, maxDrain)
		}
		s.release()
		return actors.ModelChunk{}, err
	}
	return c, nil
}

// next reads until a chunk worth handing to the caller: text, a finish
// reason or usage. Role-only and empty chunks are skipped.
func (s *openAIStream) next() (actors.ModelChunk, error) {
	for {
		data, err := s.events.next()
		if err == nil {
			err = s.decoder.decode(data, &s.chunk)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if s.finished {
					s.done = true
					return actors.ModelChunk{}, io.EOF
				}
				err = errTruncated
			}
			return actors.ModelChunk{}, s.classify(err, 0)
		}
		s.arm(s.idle)
		ch := &s.chunk.Choices[0]
		c := actors.ModelChunk{Delta: ch.Delta.Content, FinishReason: ch.FinishReason}
		if u := s.chunk.Usage; u != nil {
			c.PromptTokens, c.CompletionTokens = u.PromptTokens, u.CompletionTokens
		}
		if c.FinishReason != "" {
			s.finished = true
		}
		if c.Delta != "" || c.FinishReason != "" || s.chunk.Usage != nil {
			return c, nil
		}
	}
}

// classify maps a failure to what the caller should see: its own context's
// error when it gave up, errClosed after Close, otherwise an *Error.
func (s *openAIStream) classify(err error, retryAfter time.Duration) error {
	if perr := s.parent.Err(); perr != nil {
		return perr
	}
	if s.closed.Load() {
		return errClosed
	}
	if errors.Is(context.Cause(s.ctx), ErrIdleTimeout) {
		return &Error{Retryable: true, Err: ErrIdleTimeout}
	}
	return classifyError(err, retryAfter)
}

// release stops the watchdog, aborts the request and frees the body.
func (s *openAIStream) release() {
	s.once.Do(func() {
		s.watchdog.Stop()
		s.cancel(errClosed)
		if s.body != nil {
			_ = s.body.Close()
		}
	})
}

func (s *openAIStream) Close() error {
	s.closed.Store(true)
	s.release()
	return nil
}
