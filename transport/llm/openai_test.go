package llm_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/transport/llm"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

func TestOpenAIStream(t *testing.T) {
	fake, url := startFake(t, llmfake.Options{})
	c := newClient(t, url, llm.OpenAIOptions{})
	req := chatRequest("How do I start investing?")

	s, err := c.Stream(testContext(t), req)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	got := drain(s)
	if got.err != nil {
		t.Fatalf("stream error: %v", got.err)
	}
	if want := fake.Answer(req.Messages); got.text != want {
		t.Errorf("text = %q, want %q", got.text, want)
	}
	if got.deltas != 40 || got.finish != "stop" {
		t.Errorf("deltas = %d, finish = %q; want 40, stop", got.deltas, got.finish)
	}
	if got.usage == nil || got.usage.CompletionTokens != 40 || got.usage.PromptTokens == 0 {
		t.Errorf("usage = %+v, want 40 completion tokens and some prompt tokens", got.usage)
	}
	recs := fake.Requests()
	if len(recs) != 1 || !recs[0].Stream || !recs[0].IncludeUsage || len(recs[0].Messages) != 2 ||
		recs[0].Messages[1] != req.Messages[1] || recs[0].Model != req.Model {
		t.Errorf("recorded = %+v", recs)
	}
}

func TestOpenAIMaxTokens(t *testing.T) {
	fake, url := startFake(t, llmfake.Options{})
	c := newClient(t, url, llm.OpenAIOptions{})
	req := chatRequest("Tell me about budgets")
	req.MaxTokens = 5

	s, err := c.Stream(testContext(t), req)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	got := drain(s)
	if got.err != nil || got.deltas != 5 || got.finish != "length" {
		t.Fatalf("got %d deltas, finish %q, err %v; want 5, length, nil", got.deltas, got.finish, got.err)
	}
	if recs := fake.Requests(); recs[0].MaxTokens != 5 {
		t.Errorf("server saw max tokens %d, want 5", recs[0].MaxTokens)
	}
}

// TestOpenAIRetries covers failures before the first token, which Stream
// retries.
func TestOpenAIRetries(t *testing.T) {
	tests := []struct {
		name         string
		failures     []llmfake.Failure
		opts         llm.OpenAIOptions
		wantStatus   int // 0: success
		wantRetry    bool
		wantAfter    time.Duration
		wantRequests int64
		wantRetries  int
		minElapsed   time.Duration
	}{
		{
			name:         "429 with Retry-After then success",
			failures:     []llmfake.Failure{{Status: 429, RetryAfter: 300 * time.Millisecond}},
			wantRequests: 2,
			wantRetries:  1,
			minElapsed:   300 * time.Millisecond,
		},
		{
			name:         "500 twice then success",
			failures:     []llmfake.Failure{{Status: 500}, {Status: 500}},
			opts:         llm.OpenAIOptions{MaxRetries: 2},
			wantRequests: 3,
			wantRetries:  2,
		},
		{
			name:         "500 three times",
			failures:     []llmfake.Failure{{Status: 500}, {Status: 500}, {Status: 500}},
			opts:         llm.OpenAIOptions{MaxRetries: 2},
			wantStatus:   500,
			wantRetry:    true,
			wantRequests: 3,
			wantRetries:  2,
		},
		{
			name:         "400 not retried",
			failures:     []llmfake.Failure{{Status: 400}},
			wantStatus:   400,
			wantRequests: 1,
		},
		{
			name:         "429 without retries exposes Retry-After",
			failures:     []llmfake.Failure{{Status: 429, RetryAfter: 1500 * time.Millisecond}},
			opts:         llm.OpenAIOptions{MaxRetries: -1},
			wantStatus:   429,
			wantRetry:    true,
			wantAfter:    1500 * time.Millisecond,
			wantRequests: 1,
		},
		{
			name:         "error event before the first token",
			failures:     []llmfake.Failure{{ErrorChunk: true}},
			wantRequests: 2,
			wantRetries:  1,
		},
		{
			name:         "stall before the first token",
			failures:     []llmfake.Failure{{Hang: true}},
			opts:         llm.OpenAIOptions{IdleTimeout: 500 * time.Millisecond},
			wantRequests: 2,
			wantRetries:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, url := startFake(t, llmfake.Options{})
			for _, f := range tt.failures {
				fake.FailNext(f)
			}
			var retries atomic.Int32
			tt.opts.OnRetry = func(int, error) { retries.Add(1) }
			c := newClient(t, url, tt.opts)
			req := chatRequest("Should I pay off debt first?")

			start := time.Now()
			s, err := c.Stream(testContext(t), req)
			elapsed := time.Since(start)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Stream: %v", err)
				}
				if got := drain(s); got.err != nil || got.text != fake.Answer(req.Messages) {
					t.Fatalf("stream = %q, %v; want the full answer", got.text, got.err)
				}
			} else {
				var e *llm.Error
				if !errors.As(err, &e) {
					t.Fatalf("err = %v (%T), want *llm.Error", err, err)
				}
				if e.Status != tt.wantStatus || e.Retryable != tt.wantRetry || e.RetryAfter != tt.wantAfter {
					t.Errorf("error = status %d retryable %v after %v; want %d %v %v",
						e.Status, e.Retryable, e.RetryAfter, tt.wantStatus, tt.wantRetry, tt.wantAfter)
				}
			}
			if n := fake.RequestCount(); n != tt.wantRequests {
				t.Errorf("server saw %d requests, want %d", n, tt.wantRequests)
			}
			if n := int(retries.Load()); n != tt.wantRetries {
				t.Errorf("OnRetry called %d times, want %d", n, tt.wantRetries)
			}
			if elapsed < tt.minElapsed {
				t.Errorf("retried after %v, want at least %v", elapsed, tt.minElapsed)
			}
		})
	}
}

// TestOpenAIFailuresAfterFirstToken covers failures once text has reached
// the caller: they surface from Recv and are never retried.
func TestOpenAIFailuresAfterFirstToken(t *testing.T) {
	tests := []struct {
		name          string
		failure       llmfake.Failure
		wantCause     error
		wantCancelled int64
	}{
		{name: "connection cut after 3 tokens", failure: llmfake.Failure{CutAfter: 3}},
		{name: "error event after 3 tokens", failure: llmfake.Failure{CutAfter: 3, ErrorChunk: true}},
		{
			name:          "stall after 3 tokens",
			failure:       llmfake.Failure{CutAfter: 3, Hang: true},
			wantCause:     llm.ErrIdleTimeout,
			wantCancelled: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, url := startFake(t, llmfake.Options{})
			fake.FailNext(tt.failure)
			var retries atomic.Int32
			c := newClient(t, url, llm.OpenAIOptions{
				IdleTimeout: 400 * time.Millisecond,
				OnRetry:     func(int, error) { retries.Add(1) },
			})

			s, err := c.Stream(testContext(t), chatRequest("How much should I save?"))
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			got := drain(s)
			if got.deltas != 3 {
				t.Errorf("got %d deltas before the failure, want 3", got.deltas)
			}
			var e *llm.Error
			if !errors.As(got.err, &e) {
				t.Fatalf("err = %v (%T), want *llm.Error", got.err, got.err)
			}
			if tt.wantCause != nil && !errors.Is(got.err, tt.wantCause) {
				t.Errorf("err = %v, want %v", got.err, tt.wantCause)
			}
			if n := fake.RequestCount(); n != 1 || retries.Load() != 0 {
				t.Errorf("server saw %d requests, %d retries; want 1, 0", n, retries.Load())
			}
			testutil.WaitFor(t, 2*time.Second, "the fake to finish the stream", func() bool { return fake.Active() == 0 })
			if n := fake.Cancelled(); n != tt.wantCancelled {
				t.Errorf("fake counted %d cancelled streams, want %d", n, tt.wantCancelled)
			}
		})
	}
}

func TestOpenAIStallBeforeFirstToken(t *testing.T) {
	fake, url := startFake(t, llmfake.Options{})
	fake.FailNext(llmfake.Failure{Hang: true})
	c := newClient(t, url, llm.OpenAIOptions{IdleTimeout: 200 * time.Millisecond, MaxRetries: -1})

	start := time.Now()
	_, err := c.Stream(testContext(t), chatRequest("Is my budget fine?"))
	if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
		t.Errorf("stall detected after %v, want about 200ms", elapsed)
	}
	var e *llm.Error
	if !errors.As(err, &e) || !errors.Is(err, llm.ErrIdleTimeout) || !e.Retryable {
		t.Fatalf("err = %v, want a retryable *llm.Error caused by ErrIdleTimeout", err)
	}
	testutil.WaitFor(t, 2*time.Second, "the fake to see the client leave", func() bool { return fake.Cancelled() == 1 })
}

func TestOpenAICancel(t *testing.T) {
	fake, url := startFake(t, llmfake.Options{TokenDelay: 20 * time.Millisecond})
	c := newClient(t, url, llm.OpenAIOptions{})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()

	s, err := c.Stream(ctx, chatRequest("When can I retire?"))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	defer s.Close()
	recvDeltas(t, s, 2)
	cancel()
	start := time.Now()
	_, err = s.Recv()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Recv after cancel = %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
		t.Errorf("Recv returned %v after cancel", elapsed)
	}
	testutil.WaitFor(t, 2*time.Second, "the fake to see the cancel", func() bool {
		return fake.Cancelled() == 1 && fake.Active() == 0
	})
}

func TestOpenAICancelBeforeFirstToken(t *testing.T) {
	fake, url := startFake(t, llmfake.Options{FirstTokenDelay: time.Minute})
	c := newClient(t, url, llm.OpenAIOptions{})
	ctx, cancel := context.WithCancel(testContext(t))
	go func() {
		for fake.Active() == 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()

	if _, err := c.Stream(ctx, chatRequest("Budget help")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stream = %v, want context.Canceled", err)
	}
	testutil.WaitFor(t, 2*time.Second, "the fake to see the cancel", func() bool { return fake.Cancelled() == 1 })
}

func TestOpenAICloseMidStream(t *testing.T) {
	fake, url := startFake(t, llmfake.Options{TokenDelay: 20 * time.Millisecond})
	c := newClient(t, url, llm.OpenAIOptions{})

	s, err := c.Stream(testContext(t), chatRequest("Explain compound interest"))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	recvDeltas(t, s, 2)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Recv(); err == nil {
		t.Error("Recv after Close succeeded")
	}
	testutil.WaitFor(t, 2*time.Second, "the fake stream to end", func() bool { return fake.Active() == 0 })
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestOpenAICloseAbortsRecv closes a stream from another goroutine while
// Recv waits for a token that never comes.
func TestOpenAICloseAbortsRecv(t *testing.T) {
	fake, url := startFake(t, llmfake.Options{})
	fake.FailNext(llmfake.Failure{CutAfter: 1, Hang: true})
	c := newClient(t, url, llm.OpenAIOptions{})

	s, err := c.Stream(testContext(t), chatRequest("Budget help"))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	recvDeltas(t, s, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Recv()
		errc <- err
	}()
	testutil.WaitFor(t, 2*time.Second, "the stream to stall", func() bool { return fake.Active() == 1 })
	_ = s.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("Recv succeeded after Close")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Recv still blocked after Close")
	}
	testutil.WaitFor(t, 2*time.Second, "the fake stream to end", func() bool { return fake.Active() == 0 })
}

func TestOpenAIAPIKey(t *testing.T) {
	tests := []struct {
		name       string
		key        string
		wantStatus int
	}{
		{name: "right key", key: "sk-test"},
		{name: "wrong key", key: "sk-wrong", wantStatus: http.StatusUnauthorized},
		{name: "no key", wantStatus: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, url := startFake(t, llmfake.Options{APIKey: "sk-test"})
			c := newClient(t, url, llm.OpenAIOptions{APIKey: tt.key})
			s, err := c.Stream(testContext(t), chatRequest("hello"))
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Stream: %v", err)
				}
				if got := drain(s); got.err != nil {
					t.Fatalf("stream: %v", got.err)
				}
				return
			}
			var e *llm.Error
			if !errors.As(err, &e) || e.Status != tt.wantStatus || e.Retryable {
				t.Fatalf("err = %v, want a non-retryable *llm.Error with status %d", err, tt.wantStatus)
			}
			if n := fake.RequestCount(); n != 0 {
				t.Errorf("fake counted %d chat requests, want 0 (refused before)", n)
			}
		})
	}
}

func TestOpenAIConnectionRefusedIsRetried(t *testing.T) {
	var retries atomic.Int32
	c := newClient(t, "http://127.0.0.1:1/v1", llm.OpenAIOptions{
		MaxRetries: 1,
		OnRetry:    func(int, error) { retries.Add(1) },
	})
	var e *llm.Error
	_, err := c.Stream(testContext(t), chatRequest("hello"))
	if !errors.As(err, &e) || !e.Retryable || e.Status != 0 {
		t.Fatalf("err = %v, want a retryable *llm.Error with status 0", err)
	}
	if retries.Load() != 1 {
		t.Errorf("OnRetry called %d times, want 1", retries.Load())
	}
}

// TestOpenAINoGoroutineLeak runs streams that end every way a stream can
// and checks that no goroutine is left once connections are closed.
func TestOpenAINoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		fake := llmfake.New(llmfake.Options{TokenDelay: time.Millisecond})
		ts := httptest.NewServer(fake)
		defer ts.Close()
		defer fake.Close()
		c := llm.NewOpenAI(llm.OpenAIOptions{BaseURL: ts.URL + "/v1", IdleTimeout: 500 * time.Millisecond})
		defer c.CloseIdleConnections()
		ctx := testContext(t)

		fake.FailNext(llmfake.Failure{Status: 500})
		fake.FailNext(llmfake.Failure{CutAfter: 2})
		fake.FailNext(llmfake.Failure{CutAfter: 2, Hang: true})
		for range 4 { // retried 500, cut, stall, complete
			s, err := c.Stream(ctx, chatRequest("leak check"))
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			drain(s)
		}
		s, err := c.Stream(ctx, chatRequest("leak check"))
		if err != nil {
			t.Fatalf("Stream: %v", err)
		}
		recvDeltas(t, s, 1)
		_ = s.Close()
		cctx, cancel := context.WithCancel(ctx)
		s, err = c.Stream(cctx, chatRequest("leak check"))
		if err != nil {
			t.Fatalf("Stream: %v", err)
		}
		cancel()
		drain(s)
		if err := fake.WaitIdle(ctx); err != nil {
			t.Fatalf("WaitIdle: %v", err)
		}
	}()
	testutil.WaitFor(t, 5*time.Second, "goroutines to exit", func() bool {
		return runtime.NumGoroutine() <= before+2
	})
}

func BenchmarkFakeStream(b *testing.B) {
	_, url := startFake(b, llmfake.Options{})
	c := newClient(b, url, llm.OpenAIOptions{})
	req := chatRequest("How should I invest my savings?")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s, err := c.Stream(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if got := drain(s); got.err != nil || got.deltas != 40 {
			b.Fatalf("%d deltas, err %v", got.deltas, got.err)
		}
	}
}

// TestRandomUpstreamFaults drives the fake's random cuts and stalls, the
// faults the load tool injects with fakellm --cut-rate and --hang-rate.
func TestRandomUpstreamFaults(t *testing.T) {
	tests := []struct {
		name  string
		opts  llmfake.Options
		check func(t *testing.T, texts int, err error)
	}{
		{"cut midway", llmfake.Options{Tokens: 10, CutRate: 1}, func(t *testing.T, texts int, err error) {
			if err == nil || texts != 5 {
				t.Fatalf("want an error after 5 tokens, got %d tokens, err %v", texts, err)
			}
		}},
		{"stalled", llmfake.Options{Tokens: 10, HangRate: 1}, func(t *testing.T, texts int, err error) {
			if !errors.Is(err, llm.ErrIdleTimeout) || texts != 0 {
				t.Fatalf("want an idle timeout before any token, got %d tokens, err %v", texts, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := startFake(t, tt.opts)
			c := newClient(t, url, llm.OpenAIOptions{MaxRetries: -1, IdleTimeout: 300 * time.Millisecond})
			texts := 0
			s, err := c.Stream(context.Background(), chatRequest("hello"))
			for err == nil {
				var ch actors.ModelChunk
				ch, err = s.Recv()
				if ch.Delta != "" {
					texts++
				}
			}
			if s != nil {
				s.Close()
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
			tt.check(t, texts, err)
		})
	}
}
