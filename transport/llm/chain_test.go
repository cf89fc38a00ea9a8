package llm_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/transport/llm"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

// chainOf builds a chain of a primary and a fallback fake, each behind a
// breaker that also counts the client's retries.
func chainOf(t *testing.T, primary, fallback string, retries int, bo llm.BreakerOptions) *llm.Chain {
	t.Helper()
	provider := func(url, model string) llm.Provider {
		b := llm.NewBreaker(bo)
		return llm.Provider{
			Model:     newClient(t, url, llm.OpenAIOptions{MaxRetries: retries, OnRetry: b.OnRetry}),
			ModelName: model,
			Breaker:   b,
		}
	}
	return llm.NewChain(provider(primary, "primary-model"), provider(fallback, "fallback-model"))
}

// firstChunk streams one request and returns its first chunk and the rest.
func firstChunk(t *testing.T, c *llm.Chain) (actors.ModelChunk, result) {
	t.Helper()
	s, err := c.Stream(testContext(t), chatRequest("Should I pay off debt first?"))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	first, err := s.Recv()
	if err != nil {
		t.Fatalf("first Recv: %v", err)
	}
	return first, drain(s)
}

func TestChainFallsBackBeforeFirstToken(t *testing.T) {
	primary, purl := startFake(t, llmfake.Options{FailRate: 1, FailStatus: http.StatusInternalServerError})
	fallback, furl := startFake(t, llmfake.Options{Tokens: 5})
	c := chainOf(t, purl, furl, 1, llm.BreakerOptions{Failures: 100, Cooldown: time.Minute})

	first, rest := firstChunk(t, c)
	if first.Model != "fallback-model" || !first.Fallback {
		t.Errorf("first chunk model %q fallback %v, want fallback-model from a fallback", first.Model, first.Fallback)
	}
	if rest.err != nil || first.Delta+rest.text == "" {
		t.Errorf("fallback answer %q, error %v", first.Delta+rest.text, rest.err)
	}
	if got := primary.RequestCount(); got != 2 {
		t.Errorf("primary asked %d times, want 2 (one retry)", got)
	}
	if got := fallback.Requests(); len(got) != 1 || got[0].Model != "fallback-model" {
		t.Errorf("fallback requests %+v, want one for fallback-model", got)
	}
	st := c.Stats()
	if st[0].Requests != 2 || st[0].Errors != 2 || st[1].Requests != 1 || st[1].Errors != 0 {
		t.Errorf("stats %+v, want primary 2 requests 2 errors, fallback 1 request", st)
	}
}

// TestChainBreaker: two failed attempts in a row (one request and its
// retry) open the primary's breaker; during the cooldown the primary is not
// asked; after it one probe goes through and, answered, closes it.
func TestChainBreaker(t *testing.T) {
	primary, purl := startFake(t, llmfake.Options{Tokens: 3})
	fallback, furl := startFake(t, llmfake.Options{Tokens: 3})
	const cooldown = 300 * time.Millisecond
	c := chainOf(t, purl, furl, 1, llm.BreakerOptions{Failures: 2, Cooldown: cooldown})
	primary.FailNext(llmfake.Failure{Status: http.StatusServiceUnavailable})
	primary.FailNext(llmfake.Failure{Status: http.StatusServiceUnavailable})

	if first, _ := firstChunk(t, c); first.Model != "fallback-model" {
		t.Fatalf("first answer from %q, want the fallback", first.Model)
	}
	opened := time.Now()
	if got := c.Stats()[0].Breaker; got != llm.BreakerOpen {
		t.Fatalf("primary breaker %s after 2 failures, want open", got)
	}
	for range 3 {
		first, _ := firstChunk(t, c)
		if time.Since(opened) >= cooldown {
			t.Skip("the machine is too slow for the cooldown")
		}
		if first.Model != "fallback-model" {
			t.Fatalf("answer during cooldown from %q, want the fallback", first.Model)
		}
	}
	if got := primary.RequestCount(); got != 2 {
		t.Fatalf("primary asked %d times, want 2: skipped during the cooldown", got)
	}
	if got := fallback.RequestCount(); got != 4 {
		t.Errorf("fallback asked %d times, want 4", got)
	}

	deadline := time.Now().Add(5 * time.Second)
	for c.Stats()[0].Breaker != llm.BreakerHalfOpen {
		if time.Now().After(deadline) {
			t.Fatal("primary breaker never half-open after its cooldown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	first, rest := firstChunk(t, c)
	if first.Model != "primary-model" || first.Fallback || rest.err != nil {
		t.Fatalf("probe answered by %q (fallback %v), error %v; want the primary", first.Model, first.Fallback, rest.err)
	}
	if got := c.Stats()[0].Breaker; got != llm.BreakerClosed {
		t.Errorf("primary breaker %s after a good probe, want closed", got)
	}
	if got := primary.RequestCount(); got != 3 {
		t.Errorf("primary asked %d times, want 3", got)
	}
}

// TestChainFailedProbeReopens: a probe that fails opens the breaker for
// another cooldown and the request goes to the fallback.
func TestChainFailedProbeReopens(t *testing.T) {
	primary, purl := startFake(t, llmfake.Options{FailRate: 1})
	_, furl := startFake(t, llmfake.Options{Tokens: 3})
	c := chainOf(t, purl, furl, -1, llm.BreakerOptions{Failures: 1, Cooldown: 100 * time.Millisecond})
	firstChunk(t, c)
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats()[0].Breaker != llm.BreakerHalfOpen {
		if time.Now().After(deadline) {
			t.Fatal("primary breaker never half-open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if first, _ := firstChunk(t, c); first.Model != "fallback-model" {
		t.Fatalf("answer from %q after a failed probe, want the fallback", first.Model)
	}
	if got, breaker := primary.RequestCount(), c.Stats()[0].Breaker; got != 2 || breaker != llm.BreakerOpen {
		t.Errorf("primary asked %d times, breaker %s; want 2 and open again", got, breaker)
	}
}

// TestChainNoSwitchAfterFirstChunk: once the primary has sent text, its
// failure ends the stream; the fallback is not asked.
func TestChainNoSwitchAfterFirstChunk(t *testing.T) {
	primary, purl := startFake(t, llmfake.Options{Tokens: 10})
	fallback, furl := startFake(t, llmfake.Options{})
	c := chainOf(t, purl, furl, 2, llm.BreakerOptions{})
	primary.FailNext(llmfake.Failure{CutAfter: 3})

	first, rest := firstChunk(t, c)
	if first.Model != "primary-model" || first.Fallback {
		t.Errorf("first chunk from %q (fallback %v), want the primary", first.Model, first.Fallback)
	}
	if rest.err == nil {
		t.Errorf("stream cut after 3 tokens ended without an error, text %q", first.Delta+rest.text)
	}
	if got := fallback.RequestCount(); got != 0 {
		t.Errorf("fallback asked %d times after the primary's first chunk, want 0", got)
	}
	if st := c.Stats()[0]; st.Requests != 1 || st.Errors != 1 {
		t.Errorf("primary stats %+v, want 1 request, 1 error", st)
	}
}

// TestChainAllOpen: with every breaker open the chain fails at once,
// asking nobody.
func TestChainAllOpen(t *testing.T) {
	primary, purl := startFake(t, llmfake.Options{FailRate: 1})
	fallback, furl := startFake(t, llmfake.Options{FailRate: 1})
	c := chainOf(t, purl, furl, -1, llm.BreakerOptions{Failures: 1, Cooldown: time.Minute})
	for want := range 2 {
		if _, err := c.Stream(testContext(t), chatRequest("hi")); err == nil {
			t.Fatalf("call %d: no error from failing providers", want+1)
		}
	}
	if p, f := primary.RequestCount(), fallback.RequestCount(); p != 1 || f != 1 {
		t.Errorf("asked primary %d, fallback %d times; want 1 each", p, f)
	}
}

// TestChainFallsBackOnEveryEarlyFailure: a primary that is rate limited or
// stalls before its first token leaves the answer to the fallback.
func TestChainFallsBackOnEveryEarlyFailure(t *testing.T) {
	cases := []struct {
		name string
		fail llmfake.Failure
	}{
		{"429", llmfake.Failure{Status: http.StatusTooManyRequests}},
		{"stall before the first token", llmfake.Failure{Hang: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			primary, purl := startFake(t, llmfake.Options{Tokens: 5})
			_, furl := startFake(t, llmfake.Options{Tokens: 5})
			b := llm.NewBreaker(llm.BreakerOptions{Failures: 100, Cooldown: time.Minute})
			fb := llm.NewBreaker(llm.BreakerOptions{Failures: 100, Cooldown: time.Minute})
			c := llm.NewChain(
				llm.Provider{Model: newClient(t, purl, llm.OpenAIOptions{MaxRetries: -1, IdleTimeout: 200 * time.Millisecond, OnRetry: b.OnRetry}),
					ModelName: "primary-model", Breaker: b},
				llm.Provider{Model: newClient(t, furl, llm.OpenAIOptions{MaxRetries: -1, OnRetry: fb.OnRetry}),
					ModelName: "fallback-model", Breaker: fb})
			primary.FailNext(tc.fail)
			first, rest := firstChunk(t, c)
			if first.Model != "fallback-model" || !first.Fallback || rest.err != nil {
				t.Fatalf("first chunk from %q (fallback %v), rest error %v: want the fallback's answer", first.Model, first.Fallback, rest.err)
			}
		})
	}
}
