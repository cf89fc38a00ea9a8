package llm

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/wealthwarriors/wealthcoach/actors"
)

// openAIStream is one HTTP response being read. Recv runs on the caller's
// goroutine; Close may run on another, so everything Close touches is either
// safe for concurrent use (cancel, the timer) or guarded by once.
type openAIStream struct {
	parent   context.Context // the caller's context
	ctx      context.Context // parent plus the watchdog's and Close's cancel
	cancel   context.CancelCauseFunc
	st       *openai.ChatCompletionStream
	idle     time.Duration
	watchdog *time.Timer

	peeked   actors.ModelChunk
	hasPeek  bool
	finished bool  // a finish reason was seen, so EOF is the normal end
	err      error // sticky terminal error

	closed atomic.Bool
	once   sync.Once
}

var _ actors.ModelStream = (*openAIStream)(nil)

// drainWait bounds the read of what follows [DONE]: a server that keeps
// the body open after it costs the connection, not the answer's end.
const drainWait = 100 * time.Millisecond

// arm (re)starts the watchdog with d; d == 0 stops it.
func (s *openAIStream) arm(d time.Duration) {
	switch {
	case d <= 0:
		if s.watchdog != nil {
			s.watchdog.Stop()
		}
	case s.watchdog == nil:
		cancel := s.cancel
		s.watchdog = time.AfterFunc(d, func() { cancel(ErrIdleTimeout) })
	default:
		s.watchdog.Reset(d)
		// A Close racing with this Reset must not leave the timer armed.
		if s.closed.Load() {
			s.watchdog.Stop()
		}
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
		if errors.Is(err, io.EOF) {
			// A clean end: read the body to its end, briefly, so that
			// the connection goes back to the pool.
			s.arm(drainWait)
			_ = s.st.Close()
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
		resp, err := s.st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) && s.finished {
				return actors.ModelChunk{}, io.EOF
			}
			if errors.Is(err, io.EOF) {
				err = errTruncated
			}
			return actors.ModelChunk{}, s.classify(err, nil)
		}
		s.arm(s.idle)
		var c actors.ModelChunk
		if resp.Usage != nil {
			c.PromptTokens, c.CompletionTokens = resp.Usage.PromptTokens, resp.Usage.CompletionTokens
		}
		// The usage chunk has no choices.
		if len(resp.Choices) > 0 {
			c.Delta = resp.Choices[0].Delta.Content
			c.FinishReason = string(resp.Choices[0].FinishReason)
		}
		if c.FinishReason != "" {
			s.finished = true
		}
		if c.Delta != "" || c.FinishReason != "" || resp.Usage != nil {
			return c, nil
		}
	}
}

// classify maps a failure to what the caller should see: its own context's
// error when it gave up, errClosed after Close, otherwise an *Error.
func (s *openAIStream) classify(err error, info *respInfo) error {
	if perr := s.parent.Err(); perr != nil {
		return perr
	}
	if s.closed.Load() {
		return errClosed
	}
	if errors.Is(context.Cause(s.ctx), ErrIdleTimeout) {
		return &Error{Retryable: true, Err: ErrIdleTimeout}
	}
	return classifyError(err, info)
}

// release stops the watchdog, aborts the request and frees the body.
func (s *openAIStream) release() {
	s.once.Do(func() {
		if s.watchdog != nil {
			s.watchdog.Stop()
		}
		s.cancel(errClosed)
		if s.st != nil {
			_ = s.st.Close()
		}
	})
}

func (s *openAIStream) Close() error {
	s.closed.Store(true)
	s.release()
	return nil
}
