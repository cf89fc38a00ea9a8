package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

const oddReasonLog = "model finish reason outside the protocol"

// TestFinishReasonsAsTheClientSeesThem ends answers with the reasons a
// provider may send: a client only ever gets one the protocol lists, and
// only an answer the model itself finished with stop is cached.
func TestFinishReasonsAsTheClientSeesThem(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		model  string // the finish_reason the model sends
		client string // the one the client gets
		cached bool   // whether asking again is a cache hit
		logged bool   // whether the odd reason is logged
	}{
		{model: "content_filter", client: "content_filter"},
		{model: "tool_calls", client: "stop", logged: true},
		{model: "weird_reason", client: "stop", logged: true},
		{model: long, client: "stop", logged: true},
		{model: "stop", client: "stop", cached: true},
	}
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_LLM_RATE_LIMIT_BURST": "20"}})
	stored := 0 // fresh answers the model ended with stop
	for i, tt := range tests {
		name := tt.model
		if tt.model == long {
			name = "200-byte reason"
		}
		t.Run(name, func(t *testing.T) {
			user := fmt.Sprintf("reason%d", i)
			ts.addUser(user, nil)
			q := "How should I split my salary, case " + user + "?"

			ts.model.FinishNext(tt.model)
			c := ts.connect(user)
			mustSend(t, c, map[string]string{"type": "message", "content": q, "id": "q"})
			frames := readAnswer(t, c)
			done := frames[len(frames)-1]
			if done.FinishReason != tt.client || done.Cached || done.ReplyTo != "q" || done.Content == "" {
				t.Fatalf("want a fresh answer ending with %q, got %s", tt.client, done.Raw)
			}
			if tt.cached {
				stored++
				ts.waitStored(stored)
			}

			// The same question in a fresh session: the same model request.
			calls := ts.model.RequestCount()
			c2 := ts.connect(user)
			mustSend(t, c2, msg(q))
			again := readAnswer(t, c2)
			if hit := again[len(again)-1]; hit.Cached != tt.cached {
				t.Fatalf("asked again: want cached %v, got %s", tt.cached, hit.Raw)
			}
			wantCalls := calls + 1
			if tt.cached {
				wantCalls = calls
			}
			if n := ts.model.RequestCount(); n != wantCalls {
				t.Fatalf("asked again: want %d model calls, got %d", wantCalls, n)
			}
			if !tt.cached {
				stored++ // the second answer ended with stop
			}

			logs := ts.logs.String()
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, oddReasonLog) && strings.Contains(line, done.Content) {
					t.Fatalf("the answer's text reached the log: %s", line)
				}
			}
			if tt.logged {
				short := tt.model[:min(len(tt.model), 32)]
				if n := strings.Count(logs, `"model_reason":"`+short+`"`); n != 1 {
					t.Fatalf("want the reason %q logged once, found %d times:\n%s", short, n, logs)
				}
			}
		})
	}
	if n := strings.Count(ts.logs.String(), oddReasonLog); n != 3 {
		t.Fatalf("want one log line for each of the 3 odd answers, got %d", n)
	}
	// Every answer that ended with stop was stored, and only those.
	ts.waitStored(stored)
	if n := ts.cacheStat("stores"); n != float64(stored) {
		t.Fatalf("want the %d answers the model ended with stop cached, got %d stores", stored, int(n))
	}
}

// TestAnswerCappedAtMaxAnswerBytes runs a model that ignores max_tokens
// and streams without end: the answer is cut at llm.max_answer_bytes on a
// character boundary, the upstream call is cancelled, the client gets a
// done frame with length, and the answer enters memory but not the cache.
func TestAnswerCappedAtMaxAnswerBytes(t *testing.T) {
	const maxBytes = 2048
	words := []string{"épargne", "€", "💰", "貯金", "ñandú", "budget", "intérêts", "預金"}
	ts := startServer(t, serverOpts{
		env:  map[string]string{"WEALTHCOACH_LLM_MAX_ANSWER_BYTES": fmt.Sprint(maxBytes)},
		fake: llmfake.Options{Tokens: 1 << 30, IgnoreMaxTokens: true, Words: words},
	})
	ts.addUser("max", nil)

	// A question whose answer has a character straddling the cap, so that a
	// cut at the byte would split it. The endless answer starts with the
	// words of a finite one.
	ref := llmfake.New(llmfake.Options{Tokens: 2000, Words: words})
	var q, full string
	for i := 0; ; i++ {
		q = fmt.Sprintf("Tell me everything about saving, part %d", i)
		full = ref.Answer([]actors.ModelMessage{{Role: "user", Content: q}})
		if !utf8.RuneStart(full[maxBytes]) {
			break
		}
	}
	want := full[:maxBytes]
	for !utf8.ValidString(want) {
		want = want[:len(want)-1]
	}

	c := ts.connect("max")
	mustSend(t, c, map[string]string{"type": "message", "content": q, "id": "long"})
	frames := readAnswer(t, c)
	for i, f := range frames {
		if len(f.Content) > maxBytes || !utf8.ValidString(f.Content) {
			t.Fatalf("frame %d: %d bytes, valid UTF-8 %v", i, len(f.Content), utf8.ValidString(f.Content))
		}
	}
	done := frames[len(frames)-1]
	if done.FinishReason != "length" || done.Cached || done.ReplyTo != "long" {
		t.Fatalf("want a done frame with finish_reason length, got %.300s", done.Raw)
	}
	if done.Content != want {
		t.Fatalf("want the answer cut to its first %d bytes (%d), got %d bytes ending %q",
			maxBytes, len(want), len(done.Content), done.Content[max(len(done.Content)-20, 0):])
	}
	testutil.WaitFor(t, 5*time.Second, "the upstream request to be cancelled", func() bool {
		return ts.model.Cancelled() == 1 && ts.model.Active() == 0
	})

	// The capped answer is remembered: the next request carries it.
	mustSend(t, c, msg("and in short?"))
	readAnswer(t, c)
	reqs := ts.model.Requests()
	if last := reqs[len(reqs)-1].Messages; len(last) != 4 || last[2].Content != want {
		t.Fatalf("the capped answer is not in memory: %d messages", len(last))
	}

	// It is not cached: the same question in a fresh session goes to the
	// model again.
	calls := ts.model.RequestCount()
	c2 := ts.connect("max")
	mustSend(t, c2, msg(q))
	again := readAnswer(t, c2)
	if f := again[len(again)-1]; f.Cached || f.FinishReason != "length" {
		t.Fatalf("asked again: want a fresh capped answer, got %.300s", f.Raw)
	}
	if n := ts.model.RequestCount(); n != calls+1 {
		t.Fatalf("asked again: want one more model call, got %d -> %d", calls, n)
	}
	if n := ts.cacheStat("stores"); n != 0 {
		t.Fatalf("a capped answer was cached (%d stores)", int(n))
	}
}
