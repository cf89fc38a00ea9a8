package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/transport/auth"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

const testSecret = "baseline-test-secret-0123456789-abcdef"

func start(t *testing.T, mode, modelURL string) string {
	t.Helper()
	b, err := newBaseline(options{mode: mode, secret: []byte(testSecret), modelURL: modelURL, model: "m", apiKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b)
	t.Cleanup(func() { b.Close(); srv.Close() })
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/chat"
}

func dial(t *testing.T, url string) *wsclient.Client {
	t.Helper()
	c, _, err := wsclient.Dial(url, wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseWithoutFrame() })
	return c
}

func mint(t *testing.T, o auth.MintOptions) string {
	t.Helper()
	o.Secret = []byte(testSecret)
	tok, err := auth.Mint(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthMode(t *testing.T) {
	url := start(t, "auth", "")
	c := dial(t, url)
	if err := c.Authenticate(mint(t, auth.MintOptions{UserID: "u1"})); err != nil {
		t.Fatal(err)
	}
	f, err := c.Next(5 * time.Second)
	if err != nil || f.Type != "connected" || f.UserID != "u1" || f.SessionID == "" {
		t.Fatalf("want connected for u1, got %v %v", f, err)
	}

	bad := map[string]string{
		"no exp":    mint(t, auth.MintOptions{UserID: "u1", Extra: map[string]any{"exp": nil}}),
		"expired":   mint(t, auth.MintOptions{UserID: "u1", Now: time.Now().Add(-2 * time.Hour)}),
		"other key": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJl",
	}
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			c := dial(t, url)
			if err := c.Authenticate(tok); err != nil {
				t.Fatal(err)
			}
			f, err := c.Next(5 * time.Second)
			if err != nil || f.Type != "error" {
				t.Fatalf("want an error frame, got %v %v", f, err)
			}
			ce, err := c.Closed(5 * time.Second)
			if err != nil || ce.Code != 1008 || ce.Reason != "Invalid token" {
				t.Fatalf("want close 1008 Invalid token, got %v %v", ce, err)
			}
		})
	}
}

func TestRelayMode(t *testing.T) {
	fake := llmfake.New(llmfake.Options{Tokens: 12})
	model := httptest.NewServer(fake)
	t.Cleanup(func() { fake.Close(); model.Close() })
	c := dial(t, start(t, "relay", model.URL+"/v1"))
	if err := c.Authenticate(mint(t, auth.MintOptions{UserID: "u1"})); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Next(5 * time.Second); err != nil || f.Type != "connected" {
		t.Fatalf("want connected, got %v %v", f, err)
	}
	if err := c.Message("How do index funds work?", "q1"); err != nil {
		t.Fatal(err)
	}
	var deltas strings.Builder
	frames := 0
	for {
		f, err := c.Next(5 * time.Second)
		if err != nil || f.Type != "response" || f.ReplyTo != "q1" {
			t.Fatalf("want a response to q1, got %v %v", f, err)
		}
		frames++
		deltas.WriteString(f.Delta)
		if f.Content != deltas.String() {
			t.Fatalf("content %q is not the deltas so far %q", f.Content, deltas.String())
		}
		if f.Done {
			if f.FinishReason != "stop" || f.Cached || f.Content == "" {
				t.Fatalf("done frame: %s", f.Raw)
			}
			break
		}
		if f.FinishReason != "" {
			t.Fatalf("finish_reason before the done frame: %s", f.Raw)
		}
	}
	if frames != 13 {
		t.Errorf("%d frames for 12 tokens, want one per token and the done frame", frames)
	}
}
