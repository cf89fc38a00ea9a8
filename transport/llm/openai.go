package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/wealthwarriors/wealthcoach/actors"
)

const (
	defaultBaseURL       = "https://api.openai.com/v1"
	defaultMaxRetries    = 2
	defaultHeaderTimeout = 30 * time.Second
	defaultIdleTimeout   = 30 * time.Second
	backoffBase          = 200 * time.Millisecond
	backoffMax           = 10 * time.Second
)

// OpenAIOptions configures an OpenAI client.
type OpenAIOptions struct {
	// BaseURL of the OpenAI-compatible API, including the version path.
	// Empty means "https://api.openai.com/v1".
	BaseURL string
	// APIKey is sent as a bearer token; empty sends no Authorization header.
	APIKey string
	// MaxRetries is how many times a request is retried on 429, 5xx,
	// connection errors or a stall, only before the first token. Backoff is
	// exponential with jitter from 200ms, or the server's Retry-After when
	// longer, capped at 10s. Zero means 2; negative disables retries.
	MaxRetries int
	// HeaderTimeout bounds the wait for the response headers
	// (Transport.ResponseHeaderTimeout of the default client). Zero means
	// 30s; negative means no limit.
	HeaderTimeout time.Duration
	// IdleTimeout is the longest gap allowed between two chunks before the
	// call is cancelled with ErrIdleTimeout. Zero means 30s; negative
	// disables the watchdog.
	IdleTimeout time.Duration
	// HTTPClient is optional. Its Timeout is ignored, because a client
	// timeout cuts long streams: bound a whole call with the context instead. Nil means a client with
	// its own transport tuned for many concurrent streams.
	HTTPClient *http.Client
	// OnRetry, if set, is called before each retry with the attempt number
	// (1 for the first retry) and the error that caused it.
	OnRetry func(attempt int, err error)
}

// withDefaults is the one place defaults are applied.
func (o OpenAIOptions) withDefaults() OpenAIOptions {
	if o.BaseURL == "" {
		o.BaseURL = defaultBaseURL
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = defaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	switch {
	case o.HeaderTimeout == 0:
		o.HeaderTimeout = defaultHeaderTimeout
	case o.HeaderTimeout < 0:
		o.HeaderTimeout = 0
	}
	switch {
	case o.IdleTimeout == 0:
		o.IdleTimeout = defaultIdleTimeout
	case o.IdleTimeout < 0:
		o.IdleTimeout = 0
	}
	return o
}

// OpenAI streams chat completions from an OpenAI-compatible server.
type OpenAI struct {
	http *http.Client
	url  string // the chat completions endpoint
	auth string // the Authorization header, or ""
	opts OpenAIOptions
}

var _ actors.Model = (*OpenAI)(nil)

// NewOpenAI returns a client for the server at o.BaseURL.
func NewOpenAI(o OpenAIOptions) *OpenAI {
	o = o.withDefaults()
	c := &OpenAI{http: newHTTPClient(o), url: strings.TrimRight(o.BaseURL, "/") + "/chat/completions", opts: o}
	if o.APIKey != "" {
		c.auth = "Bearer " + o.APIKey
	}
	return c
}

func newHTTPClient(o OpenAIOptions) *http.Client {
	var hc http.Client
	if o.HTTPClient != nil {
		hc = *o.HTTPClient
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = o.HeaderTimeout
		// Every session may stream at once: keep their connections for reuse
		// instead of the default two idle connections per host.
		tr.MaxIdleConns = 0
		tr.MaxIdleConnsPerHost = 1024
		hc.Transport = tr
	}
	hc.Timeout = 0
	return &hc
}

// CloseIdleConnections closes kept-alive connections that carry no stream.
func (c *OpenAI) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Stream implements actors.Model. It starts a streamed completion and waits
// for its first token, retrying failures that happen before it. The
// returned stream hands that token back on its first Recv.
func (c *OpenAI) Stream(ctx context.Context, r actors.ModelRequest) (actors.ModelStream, error) {
	body, err := json.Marshal(chatRequest(r))
	if err != nil {
		return nil, fmt.Errorf("encode chat request: %w", err)
	}
	for attempt := 0; ; attempt++ {
		s, err := c.attempt(ctx, body)
		if err == nil {
			return s, nil
		}
		var e *Error
		if !errors.As(err, &e) || !e.Retryable || attempt >= c.opts.MaxRetries {
			return nil, err
		}
		if c.opts.OnRetry != nil {
			c.opts.OnRetry(attempt+1, err)
		}
		if err := sleep(ctx, backoff(attempt, e.RetryAfter)); err != nil {
			return nil, err
		}
	}
}

// attempt makes one HTTP request and reads up to the first token.
func (c *OpenAI) attempt(ctx context.Context, body []byte) (*openAIStream, error) {
	actx, cancel := context.WithCancelCause(ctx)
	s := newOpenAIStream(ctx, actx, cancel, c.opts.IdleTimeout)
	// Until the headers arrive the watchdog enforces HeaderTimeout, which a
	// caller-supplied HTTPClient may not.
	s.arm(c.opts.HeaderTimeout)
	resp, err := c.post(actx, body)
	if err != nil {
		err = s.classify(err, 0)
		s.release()
		return nil, err
	}
	if resp.StatusCode < http.StatusOK || resp.StatusCode >= http.StatusBadRequest {
		err = responseError(resp.StatusCode, resp.Status, resp.Body)
		_ = resp.Body.Close()
		err = s.classify(err, retryAfter(resp.Header, time.Now()))
		s.release()
		return nil, err
	}
	s.body, s.events, s.decoder = resp.Body, newEventReader(resp.Body), newChunkDecoder()
	s.arm(s.idle)
	first, err := s.next()
	if err != nil {
		s.release()
		return nil, err
	}
	s.peeked, s.hasPeek = first, true
	return s, nil
}

func (c *OpenAI) post(ctx context.Context, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("new chat request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	return c.http.Do(req)
}

// chatCompletionRequest is the body of a streamed chat completion, with
// only the parameters the app sets.
type chatCompletionRequest struct {
	Model               string         `json:"model"`
	Messages            []chatMessage  `json:"messages"`
	MaxTokens           int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens int            `json:"max_completion_tokens,omitempty"`
	Temperature         float32        `json:"temperature,omitempty"`
	Stream              bool           `json:"stream"`
	StreamOptions       *streamOptions `json:"stream_options,omitempty"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// chatRequest maps a request onto the wire, keeping clear of the
// parameters reasoning models reject.
func chatRequest(r actors.ModelRequest) chatCompletionRequest {
	msgs := make([]chatMessage, len(r.Messages))
	for i, m := range r.Messages {
		msgs[i] = chatMessage{Role: m.Role, Content: m.Content}
	}
	req := chatCompletionRequest{
		Model:         r.Model,
		Messages:      msgs,
		Stream:        true,
		StreamOptions: &streamOptions{IncludeUsage: true},
	}
	if reasoningModel(r.Model) {
		req.MaxCompletionTokens = r.MaxTokens
		return req
	}
	// max_tokens is deprecated by OpenAI, but it is what Ollama, vLLM and
	// older Azure API versions read.
	req.MaxTokens = r.MaxTokens
	req.Temperature = r.Temperature
	return req
}

func reasoningModel(model string) bool {
	for _, p := range []string{"o1", "o3", "o4", "gpt-5", "gpt-6"} {
		if strings.HasPrefix(model, p) {
			return true
		}
	}
	return false
}

// classifyError turns a failure of the HTTP call into an *Error;
// retryAfter is what a failed response asked for.
func classifyError(err error, retryAfter time.Duration) *Error {
	e := &Error{Err: err}
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		e.Status = apiErr.HTTPStatusCode
		if e.Status == 0 {
			// An error event inside the stream: the server failed while
			// generating, unless it says the request itself is bad.
			e.Retryable = !strings.Contains(apiErr.Type, "invalid_request")
			return e
		}
	case errors.As(err, &reqErr):
		e.Status = reqErr.HTTPStatusCode
	default:
		e.Retryable = networkError(err)
		return e
	}
	e.Retryable = e.Status == http.StatusTooManyRequests || e.Status >= 500
	e.RetryAfter = retryAfter
	return e
}

func networkError(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, errTruncated) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error // includes every *url.Error from http.Client.Do
	return errors.As(err, &ne)
}

// backoff is the wait before retry number attempt+1.
func backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := backoffMax
	if attempt < 16 {
		d = min(backoffBase<<attempt, backoffMax)
	}
	d += rand.N(d/2 + 1)
	if retryAfter > d {
		d = retryAfter
	}
	return min(d, backoffMax)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
