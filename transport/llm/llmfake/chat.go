package llmfake

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
)

// chatRequest is the part of an OpenAI chat request the fake reads.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []wireMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           int      `json:"max_tokens"`
	MaxCompletionTokens int      `json:"max_completion_tokens"`
	Temperature         *float64 `json:"temperature"`
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// text reads content given as a string or as an array of parts.
func (m wireMessage) text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(m.Content, &parts) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// call is one chat request being answered.
type call struct {
	ctx          context.Context
	model        string
	msgs         []actors.ModelMessage
	stream       bool
	includeUsage bool
	emit         int    // tokens to produce
	finish       string // Options.FinishReason, "length" when max_tokens cut the answer, or one queued
	failure      *Failure
	timer        *time.Timer
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.closed() {
		writeError(w, http.StatusServiceUnavailable, "The server is shutting down.", "server_error", "", 0)
		return
	}
	c, err := s.decode(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "invalid_request_error", "", 0)
		return
	}
	if f, ok := s.nextFailure(); ok {
		if f.Status != 0 {
			writeError(w, f.Status, "Injected failure.", errorType(f.Status), "", f.RetryAfter)
			return
		}
		c.failure = &f
	}
	if reason, ok := s.nextFinish(); ok {
		c.finish = reason
	}
	s.active.Add(1)
	defer s.active.Add(-1)
	defer c.stopTimer()
	if c.stream {
		s.serveStream(w, c)
		return
	}
	s.serveJSON(w, c)
}

func errorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

// decode reads and records the request and plans the answer.
func (s *Server) decode(w http.ResponseWriter, r *http.Request) (*call, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return nil, err
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if len(req.Messages) == 0 {
		return nil, errors.New("'messages' must contain at least one message")
	}
	msgs := make([]actors.ModelMessage, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = actors.ModelMessage{Role: m.Role, Content: m.text()}
	}
	limit := req.MaxTokens
	if req.MaxCompletionTokens > 0 {
		limit = req.MaxCompletionTokens
	}
	c := &call{
		ctx: r.Context(), model: s.model(req.Model), msgs: msgs, stream: req.Stream,
		includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
		emit:         s.opts.Tokens, finish: s.opts.FinishReason,
	}
	if limit > 0 && limit < c.emit && !s.opts.IgnoreMaxTokens {
		c.emit, c.finish = limit, "length"
	}
	s.record(Recorded{
		Model: req.Model, Messages: msgs, Stream: req.Stream, IncludeUsage: c.includeUsage,
		MaxTokens: limit, Temperature: req.Temperature, Time: time.Now(),
	})
	return c, nil
}

func (c *call) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
	}
}

// pause waits d, reporting false when the client left or the server closed.
func (s *Server) pause(c *call, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-c.ctx.Done():
			return false
		case <-s.done:
			return false
		default:
			return true
		}
	}
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	select {
	case <-c.ctx.Done():
		return false
	case <-s.done:
		return false
	case <-c.timer.C:
		return true
	}
}

// hang holds the request until the client leaves or the server closes.
func (s *Server) hang(c *call) {
	select {
	case <-c.ctx.Done():
	case <-s.done:
	}
	s.noteGone()
}

// noteGone counts a request given up because the client left, which is
// why a wait or a write failed unless the server was closed.
func (s *Server) noteGone() {
	if !s.closed() {
		s.cancelled.Add(1)
	}
}

// serveJSON answers a request without stream: true.
func (s *Server) serveJSON(w http.ResponseWriter, c *call) {
	if f := c.failure; f != nil {
		switch {
		case f.Hang:
			s.hang(c)
		case f.ErrorChunk:
			writeError(w, http.StatusInternalServerError, "Injected failure.", "server_error", "", 0)
		default:
			panic(http.ErrAbortHandler)
		}
		return
	}
	delay := s.opts.FirstTokenDelay + time.Duration(max(c.emit-1, 0))*s.opts.TokenDelay
	if !s.pause(c, delay) {
		s.noteGone()
		return
	}
	a := s.newAnswer(lastUserMessage(c.msgs))
	var text strings.Builder
	for range c.emit {
		word, _ := a.next()
		text.WriteString(word)
	}
	writeJSON(w, http.StatusOK, s.completion(c, text.String()))
}

type completionMessage struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type completionChoice struct {
	Index        int               `json:"index"`
	Message      completionMessage `json:"message"`
	Logprobs     *struct{}         `json:"logprobs"`
	FinishReason string            `json:"finish_reason"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type completion struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	SystemFingerprint string             `json:"system_fingerprint"`
	Choices           []completionChoice `json:"choices"`
	Usage             usage              `json:"usage"`
}

func (s *Server) completion(c *call, text string) completion {
	prompt := estimateTokens(c.msgs)
	return completion{
		ID: s.newID(), Object: "chat.completion", Created: time.Now().Unix(), Model: c.model,
		SystemFingerprint: fingerprint,
		Choices: []completionChoice{{
			Message:      completionMessage{Role: "assistant", Content: text},
			FinishReason: c.finish,
		}},
		Usage: usage{PromptTokens: prompt, CompletionTokens: c.emit, TotalTokens: prompt + c.emit},
	}
}
