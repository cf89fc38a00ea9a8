package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// appMessage is the seed's useAIChat state for the AI's last message: each
// response frame replaces content, and a frame after a done one starts a
// new message.
type appMessage struct {
	content string
	done    bool
	cached  bool
}

func applyLikeUseAIChat(msgs []appMessage, f *wsclient.Frame) []appMessage {
	if n := len(msgs); n > 0 && !msgs[n-1].done {
		msgs[n-1] = appMessage{content: f.Content, done: f.Done, cached: f.Cached}
		return msgs
	}
	return append(msgs, appMessage{content: f.Content, done: f.Done, cached: f.Cached})
}

func TestStreamedAnswerAsTheAppSeesIt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ts := startServer(t, serverOpts{backend: b,
			env:  map[string]string{"WEALTHCOACH_STREAM_FLUSH_INTERVAL": "20ms"},
			fake: llmfake.Options{Tokens: 60, TokenDelay: 2 * time.Millisecond},
		})
		ts.addUser("ann", nil)
		c := ts.connect("ann")
		mustSend(t, c, map[string]string{"type": "message", "content": "What is compound interest?", "id": "q1"})
		frames := readAnswer(t, c)

		var app []appMessage
		var deltas strings.Builder
		prev := ""
		for i, f := range frames {
			if !strings.HasPrefix(f.Content, prev) {
				t.Fatalf("frame %d content does not extend the previous one:\nprev %q\nnow  %q", i, prev, f.Content)
			}
			if f.Content != prev+f.Delta {
				t.Fatalf("frame %d: delta %q is not the new text of %q", i, f.Delta, f.Content)
			}
			if f.ReplyTo != "q1" || f.ID == "" || f.ID != frames[0].ID {
				t.Fatalf("frame %d: want reply_to q1 and a stable id, got %s", i, f.Raw)
			}
			prev = f.Content
			deltas.WriteString(f.Delta)
			app = applyLikeUseAIChat(app, f)
		}
		last := frames[len(frames)-1]
		reqs := ts.model.Requests()
		want := ts.model.Answer(reqs[len(reqs)-1].Messages)
		if last.Content != want || deltas.String() != want {
			t.Fatalf("final content %q, deltas %q, model said %q", last.Content, deltas.String(), want)
		}
		if last.FinishReason != "stop" || last.Cached {
			t.Fatalf("want finish_reason stop and cached false, got %s", last.Raw)
		}
		if len(app) != 1 || app[0].content != want || !app[0].done {
			t.Fatalf("the app would show %+v", app)
		}
		// Coalescing: 60 tokens 2ms apart with a 20ms flush interval come in far
		// fewer frames than tokens.
		if len(frames) >= 40 {
			t.Fatalf("%d frames for 60 tokens: text is not coalesced", len(frames))
		}
	})
}

func TestCacheHitsAndContext(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ts := startServer(t, serverOpts{backend: b, env: map[string]string{"WEALTHCOACH_LLM_RATE_LIMIT_BURST": "20"}})
		ts.addUser("bea", &store.Profile{Currency: "INR", MonthlyIncome: 90000})
		ts.addUser("cal", nil)
		q := "How much should I save each month?"

		c1 := ts.connect("bea")
		mustSend(t, c1, msg(q))
		fresh := readAnswer(t, c1)
		if fresh[len(fresh)-1].Cached {
			t.Fatal("first answer claims to be cached")
		}
		calls := ts.model.RequestCount()
		ts.waitStored(1)

		// The same question with the same (empty) history, in a fresh session:
		// one cached frame, and the model is not called.
		c2 := ts.connect("bea")
		mustSend(t, c2, map[string]string{"type": "message", "content": "  How much   should I save each month? ", "id": "r"})
		hit := readAnswer(t, c2)
		if len(hit) != 1 || !hit[0].Cached || !hit[0].Done || hit[0].FinishReason != "stop" || hit[0].ReplyTo != "r" {
			t.Fatalf("want one cached done frame, got %d frames, first %s", len(hit), hit[0].Raw)
		}
		if hit[0].Content != fresh[len(fresh)-1].Content {
			t.Fatalf("cached answer differs from the original")
		}
		if n := ts.model.RequestCount(); n != calls {
			t.Fatalf("model called on a cache hit (%d -> %d)", calls, n)
		}

		// The same text after a different history is a different request.
		mustSend(t, c1, msg(q))
		if again := readAnswer(t, c1); again[len(again)-1].Cached {
			t.Fatal("same text after different history was served from cache")
		}
		if n := ts.model.RequestCount(); n != calls+1 {
			t.Fatalf("want one more model call, got %d -> %d", calls, n)
		}

		// Another user asking the same first question is not served bea's
		// answer: the cache is per user by default.
		c3 := ts.connect("cal")
		mustSend(t, c3, msg(q))
		if other := readAnswer(t, c3); other[len(other)-1].Cached {
			t.Fatal("a user got another user's cached answer")
		}

		// A cached exchange enters memory: the next request carries it.
		mustSend(t, c2, msg("And after that?"))
		readAnswer(t, c2)
		reqs := ts.model.Requests()
		last := reqs[len(reqs)-1].Messages
		if len(last) != 4 || last[1].Content != strings.TrimSpace("  How much   should I save each month? ") || last[2].Role != "assistant" {
			t.Fatalf("want system, cached exchange, new message; got %+v", last)
		}
	})
}

func TestModelSeesProfileAndTenMessageWindow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ts := startServer(t, serverOpts{backend: b, env: map[string]string{"WEALTHCOACH_LLM_RATE_LIMIT_BURST": "20"}})
		ts.addUser("dan", &store.Profile{Currency: "GBP", MonthlyIncome: 3100, RiskTolerance: "low",
			Goals: []string{"buy a flat"}})
		ts.addUser("eve", nil) // exists, but has no profile row
		c := ts.connect("dan")
		// Seven questions: when the seventh goes out, six exchanges (twelve
		// messages) have happened and only the last ten may go with it.
		for i := 1; i <= 7; i++ {
			mustSend(t, c, msg(fmt.Sprintf("question %d", i)))
			readAnswer(t, c)
		}
		reqs := ts.model.Requests()
		last := reqs[len(reqs)-1].Messages
		// system + 10 remembered messages + the new one
		if len(last) != 12 {
			t.Fatalf("want 12 messages (system, 10 history, new), got %d", len(last))
		}
		sys := last[0]
		for _, want := range []string{"GBP", "3100.00", "low", "buy a flat", "Test dan"} {
			if sys.Role != "system" || !strings.Contains(sys.Content, want) {
				t.Fatalf("system prompt lacks %q:\n%s", want, sys.Content)
			}
		}
		if last[1].Content != "question 2" || last[11].Content != "question 7" || last[10].Role != "assistant" {
			t.Fatalf("wrong window: first %q, last %q", last[1].Content, last[11].Content)
		}

		c2 := ts.connect("eve")
		mustSend(t, c2, msg("hello"))
		readAnswer(t, c2)
		reqs = ts.model.Requests()
		if sys := reqs[len(reqs)-1].Messages[0].Content; !strings.Contains(sys, "No financial profile") {
			t.Fatalf("a user without a profile row should chat with an empty profile:\n%s", sys)
		}
	})
}

func TestBusyAndCancel(t *testing.T) {
	ts := startServer(t, serverOpts{fake: llmfake.Options{Tokens: 400, TokenDelay: 10 * time.Millisecond}})
	ts.addUser("fay", nil)
	c := ts.connect("fay")
	mustSend(t, c, map[string]string{"type": "message", "content": "Tell me everything", "id": "long"})
	first := next(t, c)
	if first.Type != "response" || first.Done {
		t.Fatalf("want a first partial frame, got %s", first.Raw)
	}
	mustSend(t, c, map[string]string{"type": "message", "content": "and another", "id": "x"})
	errorAfterText(t, c, "busy", "x")
	mustSend(t, c, map[string]string{"type": "cancel"})
	var done *wsclient.Frame
	for done == nil {
		if f := next(t, c); f.Done {
			done = f
		}
	}
	if done.FinishReason != "cancelled" || done.ReplyTo != "long" || done.Content == "" {
		t.Fatalf("want a cancelled done frame with the text so far, got %s", done.Raw)
	}
	testutil.WaitFor(t, 5*time.Second, "the upstream request to be cancelled", func() bool {
		return ts.model.Cancelled() == 1 && ts.model.Active() == 0
	})
	// The cancelled text is remembered and the session chats on.
	mustSend(t, c, msg("short one"))
	readAnswer(t, c)
	reqs := ts.model.Requests()
	last := reqs[len(reqs)-1].Messages
	if len(last) != 4 || last[2].Content != done.Content {
		t.Fatalf("cancelled answer not in memory: %+v", last)
	}
}

func TestRateLimit(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{
		"WEALTHCOACH_LLM_RATE_LIMIT_PER_MINUTE": "60", // one a second
		"WEALTHCOACH_LLM_RATE_LIMIT_BURST":      "2",
	}})
	ts.addUser("gus", nil)
	c := ts.connect("gus")
	for i := range 2 {
		mustSend(t, c, msg(fmt.Sprintf("q%d", i)))
		readAnswer(t, c)
	}
	mustSend(t, c, map[string]string{"type": "message", "content": "q2", "id": "limited"})
	f := expectError(t, c, "rate_limited")
	if f.RetryAfter < 1 || f.RetryAfter > 2 || f.ReplyTo != "limited" {
		t.Fatalf("want retry_after about 1s, got %s", f.Raw)
	}
	// A cache hit costs nothing: a fresh session asking q0 again is served.
	ts.waitStored(2)
	c2 := ts.connect("gus")
	mustSend(t, c2, msg("q0"))
	if a := readAnswer(t, c2); !a[0].Cached {
		t.Fatalf("want a cached answer despite the spent bucket, got %s", a[0].Raw)
	}
	// Reconnecting does not reset the bucket, but waiting refills it: a
	// client retrying every 200ms is refused until then, and answered soon
	// after retry_after.
	c3 := ts.connect("gus")
	mustSend(t, c3, msg("fresh question"))
	expectError(t, c3, "rate_limited")
	within := time.Duration(f.RetryAfter)*time.Second + 3*time.Second
	deadline := time.Now().Add(within)
	for {
		expectQuiet(t, c3, 200*time.Millisecond)
		mustSend(t, c3, msg("fresh question"))
		a := next(t, c3)
		if a.Type == "response" {
			if !a.Done {
				readAnswer(t, c3)
			}
			break
		}
		if a.Type != "error" || a.Code != "rate_limited" {
			t.Fatalf("want an answer or rate_limited, got %s", a.Raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still rate_limited %v after the first refusal", within)
		}
	}
}

func TestModelFailures(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_LLM_RATE_LIMIT_BURST": "20"}})
	ts.addUser("hal", nil)
	c := ts.connect("hal")

	// 429 and 500 before the first token are retried: the app sees a normal
	// answer.
	ts.model.FailNext(llmfake.Failure{Status: 429, RetryAfter: 100 * time.Millisecond})
	ts.model.FailNext(llmfake.Failure{Status: 500})
	before := ts.model.RequestCount()
	mustSend(t, c, msg("retry me"))
	readAnswer(t, c)
	if n := ts.model.RequestCount() - before; n != 3 {
		t.Fatalf("want 3 model requests (2 failures, 1 success), got %d", n)
	}
	if r := ts.stats()["llm"].(map[string]any)["retries"].(float64); r != 2 {
		t.Fatalf("want 2 retries counted, got %v", r)
	}

	// A stream cut midway is not retried: llm_unavailable, nothing in memory.
	ts.model.FailNext(llmfake.Failure{CutAfter: 3})
	mustSend(t, c, map[string]string{"type": "message", "content": "cut me", "id": "cut"})
	errorAfterText(t, c, "llm_unavailable", "cut")
	// A 400 is not retried either.
	ts.model.FailNext(llmfake.Failure{Status: 400})
	mustSend(t, c, msg("bad request upstream"))
	expectError(t, c, "llm_unavailable")

	// The session still works, and the failed requests left no trace.
	mustSend(t, c, msg("are you ok?"))
	readAnswer(t, c)
	reqs := ts.model.Requests()
	last := reqs[len(reqs)-1].Messages
	if len(last) != 4 || last[1].Content != "retry me" {
		t.Fatalf("failed exchanges leaked into memory: %+v", last)
	}
}

// TestCompression negotiates permessage-deflate when configured: a chat
// works over it, and a frame that inflates past the read limit is refused.
func TestCompression(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_SERVER_COMPRESSION": "true"}})
	ts.addUser("zip", nil)
	c, _, err := wsclient.Dial(ts.ws, wsclient.Options{Compression: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseWithoutFrame()
	mustSend(t, c, map[string]string{"type": "authenticate", "token": token(t, "zip", nil)})
	if f := next(t, c); f.Type != "connected" {
		t.Fatalf("got %s", f.Raw)
	}
	mustSend(t, c, msg(strings.Repeat("compressible ", 100)))
	readAnswer(t, c)
	// 70,000 bytes of one letter deflate to a few hundred: gws stops
	// inflating at the read limit, and the close is the 1009 of SPEC
	// section 3, as for a frame declared too large.
	mustSend(t, c, msg(strings.Repeat("a", 70_000)))
	ce, err := c.Closed(frameWait)
	if err != nil || ce.Code != 1009 || ce.Reason != "Frame too large" {
		t.Fatalf("want close 1009 Frame too large, got %v %v", ce, err)
	}
}
