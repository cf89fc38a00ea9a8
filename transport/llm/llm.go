package llm

import (
	"context"
	"errors"
	"fmt"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Message is one turn of a conversation. Role is "system", "user" or
// "assistant".
type Message struct {
	Role    string
	Content string
}

// Request is one chat completion request.
type Request struct {
	Model    string
	Messages []Message
	// MaxTokens caps the answer; zero leaves it to the server.
	MaxTokens int
	// Temperature zero leaves it to the server.
	Temperature float32
}

// Usage is the token count the server reports for a whole request.
type Usage struct {
	PromptTokens, CompletionTokens int
}

// Chunk is one piece of a streamed answer. The chunk carrying FinishReason
// ("stop", "length", ...) may be followed by one carrying only Usage, so
// callers that want usage keep calling Recv until io.EOF.
type Chunk struct {
	Delta        string
	FinishReason string
	// Usage is set on the final usage chunk when the server sent one.
	Usage *Usage
}

// Stream is an answer being produced. Recv returns io.EOF after the last
// chunk. Close releases the connection; it is safe to call more than once
// and concurrently with Recv, which it aborts.
type Stream interface {
	Recv() (Chunk, error)
	Close() error
}

// Streamer starts streamed chat completions.
type Streamer interface {
	Stream(ctx context.Context, r Request) (Stream, error)
}

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
