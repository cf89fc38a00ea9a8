package llm_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/wealthwarriors/wealthcoach/transport/llm"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

// cannedTransport answers every request with the same streamed body, so
// that a benchmark measures the client's reading and decoding, not a
// network or a server.
type cannedTransport struct{ body []byte }

func (t cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK,
		Status:     "200 OK",
		Header:     http.Header{"Content-Type": {"text/event-stream"}},
		Body:       io.NopCloser(bytes.NewReader(t.body)),
		Request:    req,
	}, nil
}

// fakeAnswerBody is the body the fake model streams for one 40-token
// answer with usage, byte for byte.
func fakeAnswerBody(b *testing.B) []byte {
	b.Helper()
	fake := llmfake.New(llmfake.Options{})
	b.Cleanup(fake.Close)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(
		`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"How do I start investing?"}]}`))
	req.Header.Set("Content-Type", "application/json")
	fake.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte("[DONE]")) {
		b.Fatalf("fake answered %d: %.200s", rec.Code, rec.Body.String())
	}
	return rec.Body.Bytes()
}

// BenchmarkAnswerStream reads one whole answer per iteration: go-openai's
// stream reader, which the bench's bare relay uses, against this package's
// client. Compare the two in one run (-benchmem for the allocations).
func BenchmarkAnswerStream(b *testing.B) {
	hc := &http.Client{Transport: cannedTransport{body: fakeAnswerBody(b)}}
	req := chatRequest("How do I start investing?")
	ctx := context.Background()

	b.Run("go-openai", func(b *testing.B) {
		cfg := openai.DefaultConfig("")
		cfg.BaseURL, cfg.HTTPClient = "http://model.invalid/v1", hc
		c := openai.NewClientWithConfig(cfg)
		oreq := openai.ChatCompletionRequest{Model: req.Model, Stream: true,
			StreamOptions: &openai.StreamOptions{IncludeUsage: true}}
		for _, m := range req.Messages {
			oreq.Messages = append(oreq.Messages, openai.ChatCompletionMessage{Role: m.Role, Content: m.Content})
		}
		b.ReportAllocs()
		for b.Loop() {
			s, err := c.CreateChatCompletionStream(ctx, oreq)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				r, err := s.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				if len(r.Choices) > 0 && r.Choices[0].Delta.Content != "" {
					n++
				}
			}
			_ = s.Close()
			if n != 40 {
				b.Fatalf("%d deltas, want 40", n)
			}
		}
	})

	b.Run("client", func(b *testing.B) {
		c := llm.NewOpenAI(llm.OpenAIOptions{BaseURL: "http://model.invalid/v1", HTTPClient: hc})
		b.ReportAllocs()
		for b.Loop() {
			s, err := c.Stream(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			got := drain(s)
			if got.err != nil || got.deltas != 40 {
				b.Fatalf("%d deltas, err %v; want 40", got.deltas, got.err)
			}
		}
	})
}
