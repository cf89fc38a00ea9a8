package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/cmd/internal/config"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/transport/llm"
)

// chatOptions builds the chat pipeline's options: the model provider, the
// response cache and the stream settings.
func chatOptions(cfg config.Config, log *slog.Logger) (actors.ChatOptions, error) {
	o := actors.ChatOptions{
		ModelName:       cfg.LLM.Model,
		MaxTokens:       cfg.LLM.MaxTokens,
		Temperature:     float32(cfg.LLM.Temperature),
		Timeout:         cfg.LLM.Timeout,
		HistoryMessages: cfg.History.MaxMessages,
		RatePerMinute:   float64(cfg.LLM.RateLimit.PerMinute),
		Burst:           cfg.LLM.RateLimit.Burst,
		CacheTTL:        cfg.Cache.TTL,
		SharedCache:     cfg.Cache.Scope == "shared",
		FlushInterval:   cfg.Stream.FlushInterval,
		FlushBytes:      cfg.Stream.FlushBytes,
	}
	adapter := &modelAdapter{}
	switch cfg.LLMProvider() {
	case "demo":
		adapter.s = llm.NewDemo(llm.DemoOptions{})
		o.ModelName = "demo"
	case "openai":
		adapter.s = llm.NewOpenAI(llm.OpenAIOptions{
			BaseURL:    cfg.LLM.BaseURL,
			APIKey:     cfg.LLM.APIKey,
			MaxRetries: cfg.LLM.MaxRetries,
			OnRetry:    func(int, error) { adapter.retried() },
		})
	default:
		return o, fmt.Errorf("llm.provider %q is not supported", cfg.LLMProvider())
	}
	o.Model = adapter
	switch cfg.Cache.Driver {
	case "memory":
		o.Cache = store.NewMemoryCache(cfg.Cache.MaxEntries)
	default:
		return o, fmt.Errorf("cache.driver %q is not supported yet", cfg.Cache.Driver)
	}
	log.Debug("chat pipeline", slog.String("model", o.ModelName), slog.String("cache_scope", cfg.Cache.Scope))
	return o, nil
}

// modelAdapter presents an llm.Streamer as the actors' Model.
type modelAdapter struct {
	s       llm.Streamer
	onRetry atomic.Pointer[func()]
}

func (a *modelAdapter) retried() {
	if f := a.onRetry.Load(); f != nil {
		(*f)()
	}
}

// retryHook returns a setter for the function called on each model retry,
// or nil when m retries nothing.
func retryHook(m actors.Model) func(func()) {
	a, ok := m.(*modelAdapter)
	if !ok {
		return nil
	}
	return func(f func()) { a.onRetry.Store(&f) }
}

func (a *modelAdapter) Stream(ctx context.Context, req actors.ModelRequest) (actors.ModelStream, error) {
	msgs := make([]llm.Message, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = llm.Message{Role: m.Role, Content: m.Content}
	}
	s, err := a.s.Stream(ctx, llm.Request{Model: req.Model, Messages: msgs, MaxTokens: req.MaxTokens, Temperature: req.Temperature})
	if err != nil {
		return nil, err
	}
	return streamAdapter{s}, nil
}

type streamAdapter struct{ s llm.Stream }

func (s streamAdapter) Recv() (actors.ModelChunk, error) {
	ch, err := s.s.Recv()
	if err != nil {
		return actors.ModelChunk{}, err
	}
	out := actors.ModelChunk{Delta: ch.Delta, FinishReason: ch.FinishReason}
	if ch.Usage != nil {
		out.PromptTokens, out.CompletionTokens = ch.Usage.PromptTokens, ch.Usage.CompletionTokens
	}
	return out, nil
}

func (s streamAdapter) Close() error { return s.s.Close() }
