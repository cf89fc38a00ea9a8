package llm

import (
	"context"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
)

const (
	defaultDemoTokenDelay      = 25 * time.Millisecond
	defaultDemoFirstTokenDelay = 150 * time.Millisecond
)

// DemoOptions configures the offline provider.
type DemoOptions struct {
	// TokenDelay is the pause before each word after the first. Zero means
	// 25ms; negative means none.
	TokenDelay time.Duration
	// FirstTokenDelay is the pause before the first word. Zero means 150ms;
	// negative means none.
	FirstTokenDelay time.Duration
}

func (o DemoOptions) withDefaults() DemoOptions {
	o.TokenDelay = defaultDuration(o.TokenDelay, defaultDemoTokenDelay)
	o.FirstTokenDelay = defaultDuration(o.FirstTokenDelay, defaultDemoFirstTokenDelay)
	return o
}

func defaultDuration(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Demo is the offline provider used when no API key is configured. It
// streams a fixed, deterministic coaching answer chosen by keywords of the
// last user message, word by word, so the whole app can be tried without a
// model server.
type Demo struct {
	opts DemoOptions
}

var _ actors.Model = (*Demo)(nil)

// NewDemo returns an offline provider.
func NewDemo(o DemoOptions) *Demo {
	return &Demo{opts: o.withDefaults()}
}

// Stream implements actors.Model. It starts an answer and fails only when
// ctx is already done.
func (d *Demo) Stream(ctx context.Context, r actors.ModelRequest) (actors.ModelStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	words := demoAnswerFor(lastUserMessage(r.Messages))
	finish := "stop"
	if limit := r.MaxTokens * 3 / 4; r.MaxTokens > 0 && limit < len(words) {
		words, finish = words[:max(limit, 1)], "length"
	}
	prompt := 0
	for _, m := range r.Messages {
		prompt += len(strings.Fields(m.Content))
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &demoStream{
		ctx:    ctx,
		words:  words,
		finish: finish,
		usage:  actors.ModelChunk{PromptTokens: estimateTokens(prompt), CompletionTokens: estimateTokens(len(words))},
		first:  d.opts.FirstTokenDelay,
		delay:  d.opts.TokenDelay,
		timer:  t,
		done:   make(chan struct{}),
	}, nil
}

// estimateTokens follows the rule of thumb of about four tokens for every
// three English words.
func estimateTokens(words int) int { return (words*4 + 2) / 3 }

func lastUserMessage(msgs []actors.ModelMessage) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content
		}
	}
	return ""
}

// demoStream is not safe for concurrent Recv; Close may run concurrently.
type demoStream struct {
	ctx          context.Context
	words        []string
	next         int
	finish       string
	usage        actors.ModelChunk // the usage chunk, sent last
	sentFinish   bool
	sentUsage    bool
	first, delay time.Duration
	timer        *time.Timer
	done         chan struct{}
	once         sync.Once
}

var _ actors.ModelStream = (*demoStream)(nil)

func (s *demoStream) Recv() (actors.ModelChunk, error) {
	select {
	case <-s.done:
		return actors.ModelChunk{}, errClosed
	default:
	}
	switch {
	case s.next < len(s.words):
		d := s.delay
		if s.next == 0 {
			d = s.first
		}
		if err := s.wait(d); err != nil {
			return actors.ModelChunk{}, err
		}
		s.next++
		return actors.ModelChunk{Delta: s.words[s.next-1]}, nil
	case !s.sentFinish:
		s.sentFinish = true
		return actors.ModelChunk{FinishReason: s.finish}, nil
	case !s.sentUsage:
		s.sentUsage = true
		return s.usage, nil
	}
	return actors.ModelChunk{}, io.EOF
}

func (s *demoStream) wait(d time.Duration) error {
	if d <= 0 {
		return s.ctx.Err()
	}
	s.timer.Reset(d)
	select {
	case <-s.ctx.Done():
		s.timer.Stop()
		return s.ctx.Err()
	case <-s.done:
		s.timer.Stop()
		return errClosed
	case <-s.timer.C:
		return nil
	}
}

func (s *demoStream) Close() error {
	s.once.Do(func() {
		close(s.done)
		s.timer.Stop()
	})
	return nil
}
