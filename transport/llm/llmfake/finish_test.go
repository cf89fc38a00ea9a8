package llmfake_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

// streamText reads one streamed answer and returns its text and finish
// reason.
func streamText(t *testing.T, url, body string) (text, finish string) {
	t.Helper()
	resp := post(t, url, body, nil)
	evs := events(t, resp.Body)
	if evs[len(evs)-1] != "[DONE]" {
		t.Fatalf("last event %q, want [DONE]", evs[len(evs)-1])
	}
	var b strings.Builder
	for _, c := range decodeChunks(t, evs[:len(evs)-1], false) {
		if len(c.Choices) == 0 {
			continue
		}
		if d := c.Choices[0].Delta.Content; d != nil {
			b.WriteString(*d)
		}
		if r := c.Choices[0].FinishReason; r != nil {
			finish = *r
		}
	}
	return b.String(), finish
}

func TestFinishReasons(t *testing.T) {
	const hi = `{"model":"m","stream":true,"messages":[{"role":"user","content":"Hi"}]`
	tests := []struct {
		name   string
		opts   llmfake.Options
		queue  []string
		bodies []string
		want   []string
	}{
		{name: "default", bodies: []string{hi + "}"}, want: []string{"stop"}},
		{name: "server option", opts: llmfake.Options{FinishReason: "content_filter"},
			bodies: []string{hi + "}", hi + "}"}, want: []string{"content_filter", "content_filter"}},
		{name: "max_tokens still says length", opts: llmfake.Options{FinishReason: "tool_calls"},
			bodies: []string{hi + `,"max_tokens":3}`}, want: []string{"length"}},
		{name: "queued, one per request", queue: []string{"tool_calls", "weird_reason"},
			bodies: []string{hi + "}", hi + `,"max_tokens":3}`, hi + "}"},
			want:   []string{"tool_calls", "weird_reason", "stop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Model = "fake-model"
			fake, ts := start(t, tt.opts)
			for _, r := range tt.queue {
				fake.FinishNext(r)
			}
			for i, body := range tt.bodies {
				if _, finish := streamText(t, ts.URL, body); finish != tt.want[i] {
					t.Errorf("request %d: finish_reason %q, want %q", i, finish, tt.want[i])
				}
			}
		})
	}
}

func TestIgnoreMaxTokens(t *testing.T) {
	fake, ts := start(t, llmfake.Options{Tokens: 30, IgnoreMaxTokens: true, Model: "fake-model"})
	text, finish := streamText(t, ts.URL, `{"stream":true,"max_tokens":3,"messages":[{"role":"user","content":"Hi"}]}`)
	if want := fake.Answer([]actors.ModelMessage{{Role: "user", Content: "Hi"}}); text != want || finish != "stop" {
		t.Errorf("text %q, finish %q; want the whole answer %q and stop", text, finish, want)
	}
}

func TestWords(t *testing.T) {
	words := []string{"épargne", "€uro", "💰", "ñandú"}
	fake, ts := start(t, llmfake.Options{Tokens: 25, Words: words, Model: "fake-model"})
	text, _ := streamText(t, ts.URL, `{"stream":true,"messages":[{"role":"user","content":"Hi"}]}`)
	if want := fake.Answer([]actors.ModelMessage{{Role: "user", Content: "Hi"}}); text != want {
		t.Fatalf("streamed %q, Answer says %q", text, want)
	}
	if !utf8.ValidString(text) || len(strings.Fields(text)) != 25 || !strings.HasPrefix(text, "É") && !strings.HasPrefix(text, "€") &&
		!strings.HasPrefix(text, "💰") && !strings.HasPrefix(text, "Ñ") {
		t.Errorf("answer %q is not 25 of the given words, capitalised first", text)
	}
	for _, w := range strings.Fields(strings.ToLower(text)) {
		w = strings.TrimSuffix(w, ".")
		if !strings.Contains(strings.Join(words, " "), w) {
			t.Errorf("word %q is not from the vocabulary", w)
		}
	}
	longer := llmfake.New(llmfake.Options{Tokens: 100, Words: words})
	full := longer.Answer([]actors.ModelMessage{{Role: "user", Content: "Hi"}})
	if cut := text[:strings.LastIndexByte(text, ' ')]; !strings.HasPrefix(full, cut) {
		t.Errorf("a longer answer %q does not start with %q", full, cut)
	}
}
