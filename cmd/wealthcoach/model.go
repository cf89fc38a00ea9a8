package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/cmd/internal/config"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/memory"
	"github.com/wealthwarriors/wealthcoach/store/redis"
	"github.com/wealthwarriors/wealthcoach/transport/llm"
)

// chatOptions builds the chat pipeline's options: the model provider, the
// response cache and the stream settings.
// onRetry is called each time the model client retries a request.
func chatOptions(cfg config.Config, log *slog.Logger, onRetry func()) (actors.ChatOptions, error) {
	o := actors.ChatOptions{
		ModelName:       cfg.LLM.Model,
		Provider:        cfg.LLMProvider(),
		MaxTokens:       cfg.LLM.MaxTokens,
		Temperature:     float32(cfg.LLM.Temperature),
		Timeout:         cfg.LLM.Timeout,
		MaxAnswerBytes:  cfg.LLM.MaxAnswerBytes,
		HistoryMessages: cfg.History.MaxMessages,
		RatePerMinute:   float64(cfg.LLM.RateLimit.PerMinute),
		Burst:           cfg.LLM.RateLimit.Burst,
		DailyTokens:     cfg.LLM.Budget.DailyTokens,
		CacheTTL:        cfg.Cache.TTL,
		SharedCache:     cfg.Cache.Scope == "shared",
		FlushInterval:   cfg.Stream.FlushInterval,
		ResumeWindow:    cfg.Stream.ResumeWindow,
		FlushBytes:      cfg.Stream.FlushBytes,
	}
	switch cfg.LLMProvider() {
	case "demo":
		o.Model = llm.NewDemo(llm.DemoOptions{})
		o.ModelName = "demo"
	case "openai":
		o.Model = modelChain(cfg, onRetry)
	default:
		return o, fmt.Errorf("llm.provider %q is not supported", cfg.LLMProvider())
	}
	log.Debug("chat pipeline", slog.String("model", o.ModelName), slog.String("cache_scope", cfg.Cache.Scope))
	return o, nil
}

// modelChain puts the primary provider and llm.fallbacks behind a breaker
// each (SPEC 8.5). Every retry counts toward its provider's breaker.
func modelChain(cfg config.Config, onRetry func()) *llm.Chain {
	bo := llm.BreakerOptions{Failures: cfg.LLM.Breaker.Failures, Cooldown: cfg.LLM.Breaker.Cooldown}
	provider := func(baseURL, apiKey, model string) llm.Provider {
		b := llm.NewBreaker(bo)
		return llm.Provider{
			Model: llm.NewOpenAI(llm.OpenAIOptions{
				BaseURL:    baseURL,
				APIKey:     apiKey,
				MaxRetries: cfg.LLM.MaxRetries,
				OnRetry: func(attempt int, err error) {
					onRetry()
					b.OnRetry(attempt, err)
				},
			}),
			ModelName: model,
			Breaker:   b,
		}
	}
	ps := []llm.Provider{provider(cfg.LLM.BaseURL, cfg.LLM.APIKey, cfg.LLM.Model)}
	for _, f := range cfg.LLM.Fallbacks {
		ps = append(ps, provider(f.BaseURL, f.APIKey, f.Model))
	}
	return llm.NewChain(ps...)
}

// appCache is the response cache as the server uses it.
type appCache = store.Cache

var (
	_ appCache = (*memory.Cache)(nil)
	_ appCache = (*redis.Cache)(nil)
)

// openCache builds the configured response cache. Redis is dialled lazily,
// so a Redis that is down at start only costs cache misses until it is up.
func openCache(cfg config.Config, log *slog.Logger) (appCache, error) {
	switch cfg.Cache.Driver {
	case "memory":
		return memory.NewCache(cfg.Cache.MaxEntries), nil
	case "redis":
		goredis.SetLogger(redisLogger{log})
		c, err := redis.NewCache(cfg.Cache.URL, redis.Options{Prefix: cfg.Cache.Prefix})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := c.Ping(ctx); err != nil {
			log.Warn("redis cache unreachable at start; answers go to the model until it is back",
				slog.String("error", err.Error()))
		}
		return c, nil
	}
	return nil, fmt.Errorf("cache.driver %q is not supported", cfg.Cache.Driver)
}

// redisLogger sends go-redis's own messages (failed dials during an
// outage) to the server's log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn("redis: " + fmt.Sprintf(format, v...))
}
