package main

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// TestIdenticalMissesShareOneModelCall: with cache.scope shared, sessions
// asking the same question with the same context while the first answer
// is still streaming wait for it instead of calling the model again.
func TestIdenticalMissesShareOneModelCall(t *testing.T) {
	ts := startServer(t, serverOpts{
		env:  map[string]string{"WEALTHCOACH_CACHE_SCOPE": "shared"},
		fake: llmfake.Options{Tokens: 30, FirstTokenDelay: 300 * time.Millisecond, TokenDelay: 5 * time.Millisecond},
	})
	// Same name, no profile: the same system prompt, so the same key.
	const users = 4
	clients := make([]*wsclient.Client, users)
	for i := range clients {
		id := "twin" + string(rune('a'+i))
		if err := ts.store.AddUser(context.Background(), store.User{ID: id, Name: "Sam"}); err != nil {
			t.Fatal(err)
		}
		clients[i] = ts.connect(id)
	}
	var wg sync.WaitGroup
	answers := make([]*wsclient.Frame, users)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Message("How do index funds work?", ""); err != nil {
				t.Error(err)
				return
			}
			frames, err := readAnswerErr(c)
			if err != nil {
				t.Error(err)
				return
			}
			answers[i] = frames[len(frames)-1]
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if n := ts.model.RequestCount(); n != 1 {
		t.Fatalf("%d model calls for %d identical concurrent questions, want 1", n, users)
	}
	fresh := 0
	for i, a := range answers {
		if a.Content != answers[0].Content || a.FinishReason != "stop" {
			t.Fatalf("session %d got %q (%s), want the same answer as session 0", i, a.Content, a.FinishReason)
		}
		if !a.Cached {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d answers streamed fresh, want 1 (the others from the one in flight)", fresh)
	}
	if got := ts.cacheStat("coalesced"); got != users-1 {
		t.Fatalf("cache.coalesced %v, want %d", got, users-1)
	}
}

// TestCacheBreakerStopsWaitingOnDeadRedis: a Redis that accepts
// connections and never answers costs each look-up the cache timeout until
// the breaker opens; after that look-ups are skipped at once (counted),
// and every message is still answered by the model.
func TestCacheBreakerStopsWaitingOnDeadRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	ts := startServer(t, serverOpts{env: map[string]string{
		"WEALTHCOACH_CACHE_DRIVER":              "redis",
		"WEALTHCOACH_CACHE_URL":                 "redis://" + ln.Addr().String(),
		"WEALTHCOACH_LLM_RATE_LIMIT_BURST":      "50",
		"WEALTHCOACH_HISTORY_MAX_MESSAGES":      "0",
		"WEALTHCOACH_LLM_RATE_LIMIT_PER_MINUTE": "600",
	}})
	ts.addUser("blackhole", nil)
	c := ts.connect("blackhole")
	const messages = 12
	for i := 0; i < messages; i++ {
		if err := c.Message("question "+string(rune('a'+i)), ""); err != nil {
			t.Fatal(err)
		}
		if f := readAnswer(t, c); f[len(f)-1].FinishReason != "stop" {
			t.Fatalf("message %d: %s", i, f[len(f)-1].Raw)
		}
	}
	st := ts.stats()["cache"].(map[string]any)
	errs, skipped := st["errors"].(float64), st["skipped"].(float64)
	// Five operations time out and open the breaker (one more may have
	// been under way); every later look-up and store is skipped.
	if errs < 5 || errs > 6 {
		t.Fatalf("cache.errors %v, want 5 or 6 (the breaker's threshold): the store kept being waited on", errs)
	}
	if skipped < messages-5 {
		t.Fatalf("cache.skipped %v, want at least %d", skipped, messages-5)
	}
	if open, _ := st["breaker_open"].(bool); !open {
		t.Fatalf("breaker_open false, want true: %v", st)
	}
	if n := ts.model.RequestCount(); n != messages {
		t.Fatalf("%d model calls, want %d: every message is answered", n, messages)
	}
}

// readAnswerErr is readAnswer for goroutines other than the test's.
func readAnswerErr(c *wsclient.Client) ([]*wsclient.Frame, error) {
	var frames []*wsclient.Frame
	for {
		f, err := c.Next(frameWait)
		if err != nil {
			return nil, err
		}
		if f.Type != "response" {
			return nil, &unexpectedFrame{f}
		}
		frames = append(frames, f)
		if f.Done {
			return frames, nil
		}
	}
}

type unexpectedFrame struct{ f *wsclient.Frame }

func (e *unexpectedFrame) Error() string { return "want a response frame, got " + string(e.f.Raw) }
