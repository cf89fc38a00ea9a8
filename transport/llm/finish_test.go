package llm_test

import (
	"testing"

	"github.com/wealthwarriors/wealthcoach/transport/llm"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

// TestOpenAIFinishReasons checks that the client hands on whatever reason
// the server ends with, and only that one: the null finish_reason of every
// token chunk (which the client reads as "") is not an end.
func TestOpenAIFinishReasons(t *testing.T) {
	for _, reason := range []string{"stop", "content_filter", "tool_calls", "weird_reason"} {
		t.Run(reason, func(t *testing.T) {
			fake, url := startFake(t, llmfake.Options{Tokens: 12})
			fake.FinishNext(reason)
			req := chatRequest("How do I start investing?")
			s, err := newClient(t, url, llm.OpenAIOptions{}).Stream(testContext(t), req)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			got := drain(s)
			if got.err != nil || got.finish != reason || got.deltas != 12 || got.text != fake.Answer(req.Messages) {
				t.Fatalf("got %d deltas, finish %q, err %v; want the whole answer and %q", got.deltas, got.finish, got.err, reason)
			}
		})
	}
}
