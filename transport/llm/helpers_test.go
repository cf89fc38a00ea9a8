package llm_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/transport/llm"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

// startFake runs a fake model server on a random port for the test.
func startFake(t testing.TB, o llmfake.Options) (*llmfake.Server, string) {
	t.Helper()
	fake := llmfake.New(o)
	ts := httptest.NewServer(fake)
	t.Cleanup(func() {
		fake.Close()
		ts.Close()
	})
	return fake, ts.URL + "/v1"
}

// newClient returns a client for baseURL whose idle connections are closed
// when the test ends.
func newClient(t testing.TB, baseURL string, o llm.OpenAIOptions) *llm.OpenAI {
	t.Helper()
	o.BaseURL = baseURL
	c := llm.NewOpenAI(o)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func chatRequest(msg string) actors.ModelRequest {
	return actors.ModelRequest{
		Model: "gpt-4o-mini",
		Messages: []actors.ModelMessage{
			{Role: "system", Content: "You are a wealth coach."},
			{Role: "user", Content: msg},
		},
	}
}

// result is everything a stream produced.
type result struct {
	text   string
	deltas int
	finish string
	usage  *actors.ModelChunk // the chunk with the token counts, if any
	err    error              // nil when the stream ended with io.EOF
}

// drain reads s to the end and closes it.
func drain(s actors.ModelStream) result {
	defer s.Close()
	var r result
	var b strings.Builder
	for {
		c, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			r.err = err
			break
		}
		if c.Delta != "" {
			r.deltas++
			b.WriteString(c.Delta)
		}
		if c.FinishReason != "" {
			r.finish = c.FinishReason
		}
		if c.PromptTokens != 0 || c.CompletionTokens != 0 {
			r.usage = &c
		}
	}
	r.text = b.String()
	return r
}

// recvDeltas reads n text deltas from s.
func recvDeltas(t testing.TB, s actors.ModelStream, n int) {
	t.Helper()
	for got := 0; got < n; {
		c, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv after %d deltas: %v", got, err)
		}
		if c.Delta != "" {
			got++
		}
	}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
