package llm

import (
	"errors"
	"fmt"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// ErrIdleTimeout is the cause of an *Error when the server sent nothing for
// longer than the idle timeout (or, before the response headers, the header
// timeout).
var ErrIdleTimeout = errors.New("no data from model server within timeout")

// errTruncated reports a stream that ended without a finish reason: the
// server or a proxy dropped it.
var errTruncated = errors.New("stream ended before the answer finished")

// errClosed is returned by Recv after Close.
var errClosed = errors.New("llm: stream closed")

// Error is a failed model call.
type Error struct {
	// Status is the HTTP status, or 0 for a network failure, a stall or an
	// error reported inside the stream.
	Status int
	// Retryable reports whether the same request may succeed later (429, 5xx,
	// network failures, stalls).
	Retryable bool
	// RetryAfter is the delay the server asked for, if any.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	// go-openai's own text repeats the status; its Message is the server's.
	var msg any = e.Err
	var api *openai.APIError
	if errors.As(e.Err, &api) && api.Message != "" {
		msg = api.Message
	}
	switch {
	case e.Status != 0:
		return fmt.Sprintf("llm: status %d: %v", e.Status, msg)
	case api != nil:
		return fmt.Sprintf("llm: error event in stream: %v", msg)
	}
	return fmt.Sprintf("llm: %v", msg)
}

func (e *Error) Unwrap() error { return e.Err }
