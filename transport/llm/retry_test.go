package llm

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"none", http.Header{}, 0},
		{"seconds", http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{"fractional seconds", http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{"milliseconds win", http.Header{"Retry-After": {"1"}, "Retry-After-Ms": {"250"}}, 250 * time.Millisecond},
		{"http date", http.Header{"Retry-After": {now.Add(7 * time.Second).Format(http.TimeFormat)}}, 7 * time.Second},
		{"date in the past", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0},
		{"negative", http.Header{"Retry-After": {"-4"}}, 0},
		{"not a number", http.Header{"Retry-After": {"NaN"}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"huge", http.Header{"Retry-After": {"1e300"}}, maxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAfter(tt.header, now); got != tt.want {
				t.Errorf("retryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name       string
		attempt    int
		retryAfter time.Duration
		min, max   time.Duration
	}{
		{"first", 0, 0, 200 * time.Millisecond, 300 * time.Millisecond},
		{"second", 1, 0, 400 * time.Millisecond, 600 * time.Millisecond},
		{"capped", 10, 0, backoffMax, backoffMax},
		{"retry-after longer", 0, 2 * time.Second, 2 * time.Second, 2 * time.Second},
		{"retry-after shorter", 1, 10 * time.Millisecond, 400 * time.Millisecond, 600 * time.Millisecond},
		{"retry-after capped", 0, time.Minute, backoffMax, backoffMax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 100 {
				if d := backoff(tt.attempt, tt.retryAfter); d < tt.min || d > tt.max {
					t.Fatalf("backoff = %v, want within [%v, %v]", d, tt.min, tt.max)
				}
			}
		})
	}
}

func TestChatRequestReasoningModels(t *testing.T) {
	tests := []struct {
		model string
		want  []string // fragments of the request body
		not   []string
	}{
		{"gpt-4o-mini", []string{`"max_tokens":100`, `"temperature":0.7`}, []string{`max_completion_tokens`}},
		{"o3-mini", []string{`"max_completion_tokens":100`}, []string{`"max_tokens"`, `temperature`}},
		{"gpt-5", []string{`"max_completion_tokens":100`}, []string{`"max_tokens"`, `temperature`}},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			b, err := json.Marshal(chatRequest(actors.ModelRequest{Model: tt.model, MaxTokens: 100, Temperature: 0.7}))
			if err != nil {
				t.Fatal(err)
			}
			body := string(b)
			for _, w := range append(tt.want, `"stream":true`, `"stream_options":{"include_usage":true}`) {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %s: %s", w, body)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(body, n) {
					t.Errorf("body has %s: %s", n, body)
				}
			}
		})
	}
}
