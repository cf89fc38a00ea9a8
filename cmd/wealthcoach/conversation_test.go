package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// historyStat reads one of /stats's history counters.
func (ts *testServer) historyStat(name string) float64 {
	return ts.stats()["history"].(map[string]any)[name].(float64)
}

// waitWritten waits until n exchanges have reached the store.
func (ts *testServer) waitWritten(n int) {
	ts.t.Helper()
	testutil.WaitFor(ts.t, 10*time.Second, fmt.Sprintf("%d exchanges to be written", n), func() bool {
		return ts.historyStat("written") >= float64(n)
	})
}

// connectWelcome authenticates and returns the connected frame.
func (ts *testServer) connectWelcome(user string) (*wsclient.Client, *wsclient.Frame) {
	ts.t.Helper()
	c := ts.dial()
	if err := c.Authenticate(token(ts.t, user, nil)); err != nil {
		ts.t.Fatal(err)
	}
	f := next(ts.t, c)
	if f.Type != "connected" {
		ts.t.Fatalf("want connected, got %s", f.Raw)
	}
	return c, f
}

func ask(t *testing.T, c *wsclient.Client, content, id string) *wsclient.Frame {
	t.Helper()
	if err := c.Message(content, id); err != nil {
		t.Fatal(err)
	}
	frames := readAnswer(t, c)
	return frames[len(frames)-1]
}

// TestConversationSurvivesTheSocket: a new session of the same user starts
// with the memory of the earlier ones, on the embedded store and on
// PostgreSQL, and the connected frame says so.
func TestConversationSurvivesTheSocket(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ts := startServer(t, serverOpts{backend: b})
		ts.addUser("mia", nil)
		c, hello := ts.connectWelcome("mia")
		if hello.Protocol != "1.1" || hello.ConversationID == "" || hello.History != 0 || hello.Notice == "" {
			t.Fatalf("connected frame %s: want protocol 1.1, a conversation id, no history and the notice", hello.Raw)
		}
		first := ask(t, c, "What is an index fund?", "q1")
		second := ask(t, c, "And an ETF?", "q2")
		_ = c.Close()
		ts.waitWritten(2)
		// Two exchanges are four messages, and an audit record each.
		if batches, rows := ts.historyStat("batches"), ts.historyStat("rows"); batches < 1 || batches > 2 || rows != 6 {
			t.Errorf("/stats history: %v batches, %v rows; want 1 or 2 batches of 6 rows in all", batches, rows)
		}

		c2, again := ts.connectWelcome("mia")
		if again.ConversationID != hello.ConversationID || again.History != 4 {
			t.Fatalf("reconnected: %s, want conversation %s with 4 messages", again.Raw, hello.ConversationID)
		}
		ask(t, c2, "Which is cheaper?", "")
		reqs := ts.model.Requests()
		got := reqs[len(reqs)-1].Messages
		want := []string{"What is an index fund?", first.Content, "And an ETF?", second.Content, "Which is cheaper?"}
		if len(got) != len(want)+1 {
			t.Fatalf("the model got %d messages, want the system prompt and %d", len(got), len(want))
		}
		for i, w := range want {
			if got[i+1].Content != w {
				t.Fatalf("message %d to the model: %q, want %q", i+1, got[i+1].Content, w)
			}
		}
	})
}

// TestHistoryPagesAndReset: history pages walk back through the
// conversation with before and more; reset starts an empty one; ids of
// another user's conversation are not found.
func TestHistoryPagesAndReset(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ts := startServer(t, serverOpts{backend: b, env: map[string]string{"WEALTHCOACH_LLM_RATE_LIMIT_BURST": "20"}})
		ts.addUser("noa", nil)
		ts.addUser("eve", nil)
		c, hello := ts.connectWelcome("noa")
		for i := range 3 {
			ask(t, c, fmt.Sprintf("question %d", i), fmt.Sprintf("m%d", i))
		}
		ts.waitWritten(3)

		mustSend(t, c, map[string]any{"type": "history", "limit": 4})
		page := next(t, c)
		if page.Type != "history" || page.ConversationID != hello.ConversationID || len(page.Messages) != 4 || !page.More {
			t.Fatalf("first page %s: want 4 messages of %s and more", page.Raw, hello.ConversationID)
		}
		if m := page.Messages[0]; m.Role != "user" || m.Content != "question 1" {
			t.Fatalf("first page starts with %+v, want question 1 (oldest first)", m)
		}
		if m := page.Messages[3]; m.Role != "assistant" || m.ReplyTo != "m2" {
			t.Fatalf("first page ends with %+v, want the answer to m2", m)
		}
		mustSend(t, c, map[string]any{"type": "history", "limit": 4, "before": page.Messages[0].ID})
		older := next(t, c)
		if len(older.Messages) != 2 || older.More || older.Messages[0].Content != "question 0" {
			t.Fatalf("second page %s: want question 0 and its answer, no more", older.Raw)
		}

		// Another user cannot page through noa's conversation.
		e, _ := ts.connectWelcome("eve")
		mustSend(t, e, map[string]any{"type": "history", "before": page.Messages[0].ID})
		expectError(t, e, "not_found")

		mustSend(t, c, map[string]string{"type": "reset"})
		r := next(t, c)
		if r.Type != "reset" || r.ConversationID == "" || r.ConversationID == hello.ConversationID {
			t.Fatalf("reset answered %s, want a new conversation id", r.Raw)
		}
		ask(t, c, "fresh start", "")
		reqs := ts.model.Requests()
		if n := len(reqs[len(reqs)-1].Messages); n != 2 {
			t.Fatalf("after reset the model got %d messages, want the system prompt and the question", n)
		}
		_, after := ts.connectWelcome("noa")
		if after.ConversationID != r.ConversationID {
			t.Fatalf("a new session is in conversation %s, want %s", after.ConversationID, r.ConversationID)
		}
	})
}

// TestConversationSurvivesARestart: with PostgreSQL, a new server on the
// same database carries the conversation on.
func TestConversationSurvivesARestart(t *testing.T) {
	ts := startServer(t, serverOpts{backend: realServices})
	ts.addUser("ray", nil)
	c, hello := ts.connectWelcome("ray")
	ask(t, c, "Should I pay off debt first?", "")
	if err := ts.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// Graceful shutdown flushed the journal: nothing to wait for.
	env := map[string]string{}
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "WEALTHCOACH_CACHE_PREFIX"} {
		env[k] = ts.env[k]
	}
	ts2 := startServer(t, serverOpts{backend: realServices, env: env})
	_, again := ts2.connectWelcome("ray")
	if again.ConversationID != hello.ConversationID || again.History != 2 {
		t.Fatalf("after a restart: %s, want conversation %s with 2 messages", again.Raw, hello.ConversationID)
	}
}

// TestStoreOutageLosesNoExchange: while PostgreSQL is cut off, chats go on
// and their exchanges wait; once it is back every one is stored, once.
func TestStoreOutageLosesNoExchange(t *testing.T) {
	var proxy *storetest.Proxy
	ts := startServer(t, serverOpts{backend: realServices, pgProxy: &proxy,
		env: map[string]string{"WEALTHCOACH_LLM_RATE_LIMIT_BURST": "50", "WEALTHCOACH_HISTORY_MAX_MESSAGES": "0"}})
	ts.addUser("out", nil)
	c := ts.connect("out")
	proxy.SetDown(true)
	const answers = 6
	for i := range answers {
		ask(t, c, fmt.Sprintf("outage question %d", i), "")
	}
	testutil.WaitFor(t, 10*time.Second, "a failed write", func() bool { return ts.historyStat("errors") >= 1 })
	if w := ts.historyStat("written"); w != 0 {
		t.Fatalf("%v exchanges written while the store was cut off", w)
	}
	proxy.SetDown(false)
	ts.waitWritten(answers)
	rows := countMessages(t, ts, "out")
	if rows != 2*answers {
		t.Fatalf("%d messages stored for %d answers, want %d", rows, answers, 2*answers)
	}
	if d := ts.historyStat("dropped"); d != 0 {
		t.Fatalf("%v exchanges dropped", d)
	}
	// Every answer given left its audit record too.
	ts.exportRecords(t, "out", answers)
}

// countMessages counts a user's stored messages, paging through the
// conversation as a client would.
func countMessages(t *testing.T, ts *testServer, user string) int {
	t.Helper()
	c, hello := ts.connectWelcome(user)
	n, before := 0, ""
	for {
		req := map[string]any{"type": "history", "limit": 100}
		if before != "" {
			req["before"] = before
		}
		mustSend(t, c, req)
		page := next(t, c)
		if page.Type != "history" {
			t.Fatalf("want a history page of %s, got %s", hello.ConversationID, page.Raw)
		}
		n += len(page.Messages)
		if !page.More || len(page.Messages) == 0 {
			return n
		}
		before = page.Messages[0].ID
	}
}

// TestJournalQueueOverflowIsCounted: with the store unreachable and more
// exchanges than the queue holds, the oldest are dropped and counted.
func TestJournalQueueOverflowIsCounted(t *testing.T) {
	var proxy *storetest.Proxy
	ts := startServer(t, serverOpts{backend: realServices, pgProxy: &proxy, env: map[string]string{
		"WEALTHCOACH_HISTORY_QUEUE":             "100",
		"WEALTHCOACH_LLM_RATE_LIMIT_BURST":      "200",
		"WEALTHCOACH_LLM_RATE_LIMIT_PER_MINUTE": "6000",
		"WEALTHCOACH_HISTORY_MAX_MESSAGES":      "0",
		"WEALTHCOACH_LIMITS_FRAMES_PER_SECOND":  "1000",
		"WEALTHCOACH_LIMITS_FRAME_BURST":        "1000",
	}})
	ts.addUser("lots", nil)
	c := ts.connect("lots")
	proxy.SetDown(true)
	const answers = 110
	for i := range answers {
		ask(t, c, fmt.Sprintf("flood %d", i), "")
	}
	testutil.WaitFor(t, 10*time.Second, "the overflow to be counted", func() bool {
		return ts.historyStat("dropped") >= answers-100
	})
	proxy.SetDown(false)
	ts.waitWritten(100)
	if rows := countMessages(t, ts, "lots"); rows != 2*100 {
		t.Fatalf("%d messages stored, want the 200 of the newest 100 exchanges", rows)
	}
}

// countingJournal counts the calls that reach the store.
type countingJournal struct {
	store.Journal
	mu    sync.Mutex
	calls []time.Time
}

func (j *countingJournal) AppendMessages(ctx context.Context, msgs []store.Message) error {
	j.mu.Lock()
	j.calls = append(j.calls, time.Now())
	j.mu.Unlock()
	return j.Journal.AppendMessages(ctx, msgs)
}

func (j *countingJournal) between(from, to time.Time) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for _, at := range j.calls {
		if !at.Before(from) && !at.After(to) {
			n++
		}
	}
	return n
}

// TestPersistenceOffThePath: no store call is waited on between a chat
// message and its first frame; the exchange is written afterwards.
func TestPersistenceOffThePath(t *testing.T) {
	j := &countingJournal{}
	ts := startServer(t, serverOpts{hooks: hooks{journal: func(inner store.Journal) store.Journal {
		j.Journal = inner
		return j
	}}})
	ts.addUser("fast", nil)
	c := ts.connect("fast")
	for i := range 3 {
		start := time.Now()
		if err := c.Message(fmt.Sprintf("quick %d", i), ""); err != nil {
			t.Fatal(err)
		}
		first := next(t, c)
		firstAt := time.Now()
		if first.Type != "response" {
			t.Fatalf("want a response frame, got %s", first.Raw)
		}
		if n := j.between(start, firstAt); n != 0 {
			t.Fatalf("message %d: %d store calls between the message and its first frame", i, n)
		}
		for !first.Done {
			first = next(t, c)
		}
	}
	ts.waitWritten(3)
}

// TestPersistOffKeepsV1Memory: with history.persist false, memory is per
// session and nothing is written.
func TestPersistOffKeepsV1Memory(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_HISTORY_PERSIST": "false"}})
	ts.addUser("v1", nil)
	c, hello := ts.connectWelcome("v1")
	if hello.ConversationID != "" {
		t.Fatalf("connected %s: want no conversation id with persistence off", hello.Raw)
	}
	ask(t, c, "remember me", "")
	_ = c.Close()
	_, again := ts.connectWelcome("v1")
	if again.History != 0 {
		t.Fatalf("a new session starts with %d messages, want none with persistence off", again.History)
	}
	if w := ts.historyStat("written"); w != 0 {
		t.Fatalf("%v exchanges written with persistence off", w)
	}
}

// TestAnswerCutAfterTextEndsDone: a model failing mid-answer ends the
// answer with a done frame, finish_reason error, carrying the text so far,
// then llm_unavailable; the seed's app stops showing it as streaming.
func TestAnswerCutAfterTextEndsDone(t *testing.T) {
	ts := startServer(t, serverOpts{})
	ts.addUser("cut", nil)
	c := ts.connect("cut")
	ts.model.FailNext(llmfake.Failure{CutAfter: 5})
	if err := c.Message("tell me a long story", "s1"); err != nil {
		t.Fatal(err)
	}
	var last *wsclient.Frame
	seq := 0
	for {
		f := next(t, c)
		if f.Type == "error" {
			if f.Code != "llm_unavailable" || f.ReplyTo != "s1" {
				t.Fatalf("want llm_unavailable for s1, got %s", f.Raw)
			}
			break
		}
		seq++
		if f.Seq != seq {
			t.Fatalf("frame %d has seq %d", seq, f.Seq)
		}
		last = f
	}
	if last == nil || !last.Done || last.FinishReason != "error" || last.Content == "" {
		t.Fatalf("last response frame %v: want done, finish_reason error, with the text so far", last)
	}
	if !strings.HasPrefix(ts.model.Answer(ts.model.Requests()[0].Messages), last.Content) {
		t.Fatalf("the cut answer %q is not a prefix of the model's", last.Content)
	}
}
