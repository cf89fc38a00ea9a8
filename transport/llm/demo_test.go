package llm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/transport/llm"
)

func fastDemo() *llm.Demo {
	return llm.NewDemo(llm.DemoOptions{TokenDelay: -1, FirstTokenDelay: -1})
}

func TestDemoStream(t *testing.T) {
	tests := []struct {
		name    string
		message string
		want    string // a phrase the answer must contain
	}{
		{"budget", "Can you help me make a budget?", "50/30/20"},
		{"debt", "I have credit card debt", "avalanche"},
		{"invest", "How do I start investing?", "index funds"},
		{"emergency fund", "How big should my emergency fund be?", "three to six months"},
		{"save", "I want to save more", "shock absorber"},
		{"retire", "When can I retire?", "employer match"},
		{"compound interest", "Explain compound interest", "snowballs"},
		{"default", "Hello there", "financial foundation"},
	}
	d := fastDemo()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := chatRequest(tt.message)
			s, err := d.Stream(testContext(t), req)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			got := drain(s)
			if got.err != nil || got.finish != "stop" {
				t.Fatalf("finish %q, err %v; want stop, nil", got.finish, got.err)
			}
			if !strings.Contains(got.text, tt.want) {
				t.Errorf("answer %q does not mention %q", got.text, tt.want)
			}
			if n := len(strings.Fields(got.text)); n < 60 || n > 120 || n != got.deltas {
				t.Errorf("answer has %d words in %d deltas, want 60-120 words, one per delta", n, got.deltas)
			}
			if got.usage == nil || got.usage.CompletionTokens < got.deltas || got.usage.PromptTokens == 0 {
				t.Errorf("usage = %+v for %d words", got.usage, got.deltas)
			}
			s2, _ := d.Stream(testContext(t), req)
			if again := drain(s2); again.text != got.text {
				t.Error("the same request gave a different answer")
			}
		})
	}
}

func TestDemoMaxTokens(t *testing.T) {
	req := chatRequest("budget")
	req.MaxTokens = 8
	s, err := fastDemo().Stream(testContext(t), req)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if got := drain(s); got.deltas != 6 || got.finish != "length" {
		t.Errorf("got %d deltas, finish %q; want 6, length", got.deltas, got.finish)
	}
}

func TestDemoCancel(t *testing.T) {
	d := llm.NewDemo(llm.DemoOptions{TokenDelay: time.Hour, FirstTokenDelay: -1})
	ctx, cancel := context.WithCancel(testContext(t))
	s, err := d.Stream(ctx, chatRequest("budget"))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	defer s.Close()
	recvDeltas(t, s, 1)
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := s.Recv(); !errors.Is(err, context.Canceled) {
		t.Errorf("Recv = %v, want context.Canceled", err)
	}
	if _, err := d.Stream(ctx, chatRequest("budget")); !errors.Is(err, context.Canceled) {
		t.Errorf("Stream on a cancelled context = %v, want context.Canceled", err)
	}
}

func TestDemoCloseAbortsRecv(t *testing.T) {
	d := llm.NewDemo(llm.DemoOptions{FirstTokenDelay: time.Hour})
	s, err := d.Stream(testContext(t), chatRequest("budget"))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	time.AfterFunc(20*time.Millisecond, func() { _ = s.Close() })
	if _, err := s.Recv(); err == nil {
		t.Error("Recv succeeded after Close")
	}
}
