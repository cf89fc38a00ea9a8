package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

// TestFallbackAnswersWhenPrimaryFails: with the primary model server
// failing every request, the fallback of llm.fallbacks answers; done.model
// names it, its answer is not cached, and /stats and /metrics show the
// primary's errors and its open breaker.
func TestFallbackAnswersWhenPrimaryFails(t *testing.T) {
	const fallbackKey = "fallback-secret-key"
	fallback := llmfake.New(llmfake.Options{Tokens: 8, APIKey: fallbackKey})
	fallbackSrv := httptest.NewServer(fallback)
	t.Cleanup(func() { fallback.Close(); fallbackSrv.Close() })
	fallbacks, err := json.Marshal([]map[string]string{{"base_url": fallbackSrv.URL + "/v1", "api_key": fallbackKey, "model": "backup-model"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, serverOpts{
		env: map[string]string{
			"WEALTHCOACH_LLM_FALLBACKS":        string(fallbacks),
			"WEALTHCOACH_LLM_MAX_RETRIES":      "1",
			"WEALTHCOACH_LLM_BREAKER_FAILURES": "2",
			"WEALTHCOACH_LLM_BREAKER_COOLDOWN": "1h",
			// Two users of one name and no profile ask with the same key.
			"WEALTHCOACH_CACHE_SCOPE": "shared",
		},
		fake: llmfake.Options{FailRate: 1},
	})
	for i, id := range []string{"twin1", "twin2"} {
		if err := ts.store.AddUser(context.Background(), store.User{ID: id, Name: "Sam"}); err != nil {
			t.Fatal(err)
		}
		c := ts.connect(id)
		if err := c.Message("How much should I save each month?", ""); err != nil {
			t.Fatal(err)
		}
		frames := readAnswer(t, c)
		done := frames[len(frames)-1]
		if done.Model != "backup-model" || done.FinishReason != "stop" || done.Content == "" {
			t.Fatalf("answer %d: model %q, finish %q, content %q; want a full answer from backup-model", i+1, done.Model, done.FinishReason, done.Content)
		}
		if done.Cached {
			t.Fatalf("answer %d came from the cache: a fallback's answer must not be stored", i+1)
		}
	}
	if got := fallback.RequestCount(); got != 2 {
		t.Errorf("fallback asked %d times, want 2 (no cache hit)", got)
	}
	// One request and its retry failed on the primary and opened its
	// breaker: the second question skipped it.
	if got := ts.model.RequestCount(); got != 2 {
		t.Errorf("primary asked %d times, want 2", got)
	}

	providers, _ := ts.stats()["providers"].([]any)
	if len(providers) != 2 {
		t.Fatalf("/stats providers %v, want primary and fallback", providers)
	}
	primary, backup := providers[0].(map[string]any), providers[1].(map[string]any)
	if primary["model"] != "gpt-4o-mini" || primary["errors"] != 2.0 || primary["requests"] != 2.0 || primary["breaker"] != "open" {
		t.Errorf("/stats primary %v, want 2 requests, 2 errors, breaker open", primary)
	}
	if backup["model"] != "backup-model" || backup["requests"] != 2.0 || backup["errors"] != 0.0 || backup["breaker"] != "closed" {
		t.Errorf("/stats fallback %v, want 2 requests, no error, breaker closed", backup)
	}

	resp, err := http.Get(ts.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`wealthcoach_llm_provider_errors_total{provider="0:gpt-4o-mini"} 2`,
		`wealthcoach_llm_provider_requests_total{provider="1:backup-model"} 2`,
		`wealthcoach_llm_provider_breaker_open{provider="0:gpt-4o-mini"} 1`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if strings.Contains(ts.logs.String(), fallbackKey) {
		t.Error("the fallback's API key reached the log")
	}
}
