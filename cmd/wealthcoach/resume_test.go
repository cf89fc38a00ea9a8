package main

import (
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// slowAnswers streams 40 words 20 ms apart: long enough to cut the socket
// in the middle of an answer.
var slowAnswers = llmfake.Options{Tokens: 40, FirstTokenDelay: 150 * time.Millisecond, TokenDelay: 20 * time.Millisecond}

// reconnectPending connects as user until the connected frame lists
// answer id as pending: the server notices a dropped socket a moment after
// the client does.
func (ts *testServer) reconnectPending(t *testing.T, user, id string) (*wsclient.Client, wsclient.Pending) {
	t.Helper()
	var c *wsclient.Client
	var found wsclient.Pending
	testutil.WaitFor(t, 5*time.Second, "answer "+id+" to be listed as pending", func() bool {
		cl, hello := ts.connectWelcome(user)
		for _, p := range hello.Pending {
			if p.ID == id {
				c, found = cl, p
				return true
			}
		}
		_ = cl.CloseWithoutFrame()
		return false
	})
	return c, found
}

// TestResumeGivesTheWholeAnswerOnce: the socket is cut at several points
// of a streamed answer; a new session resumes it from the last frame the
// client saw, and the deltas seen before and after add up to exactly the
// answer, which the model was asked for once.
func TestResumeGivesTheWholeAnswerOnce(t *testing.T) {
	cases := []struct {
		name   string
		frames int // response frames read before the cut
	}{
		{"before the first frame", 0},
		{"mid-answer", 3},
		{"late in the answer", 12},
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { resumeAfterCut(t, b, tc.frames) })
		}
	})
}

// resumeAfterCut streams an answer, cuts the socket after frames response
// frames, resumes it in a new session and checks what the client saw.
func resumeAfterCut(t *testing.T, b backend, frames int) {
	ts := startServer(t, serverOpts{backend: b, fake: slowAnswers, env: resumeEnv})
	resumeAcross(t, ts, ts, frames)
}

// resumeEnv is the configuration of the resume tests.
var resumeEnv = map[string]string{"WEALTHCOACH_STREAM_FLUSH_INTERVAL": "1ms", "WEALTHCOACH_LIMITS_MAX_CONNECTIONS_PER_USER": "20"}

// resumeAcross is resumeAfterCut with the answer produced by one server
// and resumed on another, which may be the same.
func resumeAcross(t *testing.T, ts, resumer *testServer, frames int) {
	ts.addUser("tom", nil)
	c := ts.connect("tom")
	if err := c.Message("Explain compound interest", "q1"); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	lastSeq := 0
	id := ""
	for range frames {
		f := next(t, c)
		if f.Type != "response" || f.Done {
			t.Fatalf("want a streaming frame, got %s", f.Raw)
		}
		seen.WriteString(f.Delta)
		lastSeq, id = f.Seq, f.ID
	}
	_ = c.CloseWithoutFrame()
	if id == "" {
		// No frame seen: the answer id is the session's first.
		id = resumer.waitPendingID(t, "tom")
	}
	c2, p := resumer.reconnectPending(t, "tom", id)
	if p.ReplyTo != "q1" || p.Seq < lastSeq {
		t.Fatalf("pending %+v: want reply_to q1 and seq at least %d", p, lastSeq)
	}
	mustSend(t, c2, map[string]any{"type": "resume", "id": id, "after_seq": lastSeq})
	first := next(t, c2)
	if first.Type != "response" || !first.Resumed || first.ID != id {
		t.Fatalf("want the resumed frame of %s, got %s", id, first.Raw)
	}
	if !strings.HasPrefix(first.Content, seen.String()) || first.Content[len(seen.String()):] != first.Delta {
		t.Fatalf("resumed frame: content %q, delta %q, after %q seen", first.Content, first.Delta, seen.String())
	}
	seen.WriteString(first.Delta)
	last := first
	for !last.Done {
		last = next(t, c2)
		if last.Type != "response" || last.Seq != 0 && last.Seq <= lastSeq {
			t.Fatalf("want a later frame, got %s", last.Raw)
		}
		seen.WriteString(last.Delta)
	}
	if last.FinishReason != "stop" || seen.String() != last.Content {
		t.Fatalf("the deltas add up to %q; the answer is %q (%s)", seen.String(), last.Content, last.FinishReason)
	}
	if want := ts.model.Answer(ts.model.Requests()[0].Messages); last.Content != want {
		t.Fatalf("the answer is %q, the model's %q", last.Content, want)
	}
	if n := ts.model.RequestCount(); n != 1 {
		t.Fatalf("%d model calls, want 1", n)
	}
	// The resumed answer is this session's memory now.
	ask(t, c2, "And with monthly deposits?", "")
	reqs := resumer.model.Requests()
	msgs := reqs[len(reqs)-1].Messages
	if len(msgs) != 4 || msgs[2].Content != last.Content {
		t.Fatalf("the next request has %d messages, want the resumed exchange in memory", len(msgs))
	}
}

// waitPendingID finds the id of the user's one interrupted answer, from a
// connected frame, waiting for the drop to be noticed.
func (ts *testServer) waitPendingID(t *testing.T, user string) string {
	t.Helper()
	var id string
	testutil.WaitFor(t, 5*time.Second, "the answer to be listed as pending", func() bool {
		c, hello := ts.connectWelcome(user)
		defer c.CloseWithoutFrame()
		if len(hello.Pending) == 1 {
			id = hello.Pending[0].ID
			return true
		}
		return false
	})
	return id
}

// TestUnresumedAnswerCompletes: an interrupted answer nobody resumes still
// finishes, is stored in the conversation and is cached; connected lists
// it as done until the window ends.
func TestUnresumedAnswerCompletes(t *testing.T) {
	ts := startServer(t, serverOpts{fake: slowAnswers, env: map[string]string{"WEALTHCOACH_STREAM_RESUME_WINDOW": "3s",
		"WEALTHCOACH_LIMITS_MAX_CONNECTIONS_PER_USER": "20"}})
	ts.addUser("ada", nil)
	c := ts.connect("ada")
	if err := c.Message("What is a bond?", ""); err != nil {
		t.Fatal(err)
	}
	f := next(t, c)
	_ = c.CloseWithoutFrame()
	testutil.WaitFor(t, 5*time.Second, "the answer to finish without its socket", func() bool {
		c, hello := ts.connectWelcome("ada")
		defer c.CloseWithoutFrame()
		return len(hello.Pending) == 1 && hello.Pending[0].ID == f.ID && hello.Pending[0].Done
	})
	ts.waitWritten(1)
	ts.waitStored(1)
	c2, hello := ts.connectWelcome("ada")
	if hello.History != 2 {
		t.Fatalf("connected %s: want the finished exchange in memory", hello.Raw)
	}
	mustSend(t, c2, map[string]any{"type": "history"})
	page := next(t, c2)
	if len(page.Messages) != 2 || page.Messages[1].Content != ts.model.Answer(ts.model.Requests()[0].Messages) {
		t.Fatalf("history %s: want the question and the whole answer", page.Raw)
	}
	// The same question in a fresh conversation is a cache hit.
	mustSend(t, c2, map[string]string{"type": "reset"})
	next(t, c2)
	if a := ask(t, c2, "What is a bond?", ""); !a.Cached {
		t.Fatalf("want the interrupted answer served from the cache, got %s", a.Raw)
	}
	// After the window the answer is no longer listed.
	testutil.WaitFor(t, 10*time.Second, "the window to end", func() bool {
		c, hello := ts.connectWelcome("ada")
		defer c.CloseWithoutFrame()
		return len(hello.Pending) == 0
	})
}

// TestResumeRefusals: an unknown id, another user's answer and an answer
// already resumed elsewhere are all not_found; cancel of a resumed answer
// stops the upstream call.
func TestResumeRefusals(t *testing.T) {
	ts := startServer(t, serverOpts{fake: longAnswers, env: map[string]string{"WEALTHCOACH_LIMITS_MAX_CONNECTIONS_PER_USER": "20"}})
	resumeRefusals(t, ts, ts, ts)
}

// longAnswers streams for 8 s: long enough to resume and cancel.
var longAnswers = llmfake.Options{Tokens: 400, TokenDelay: 20 * time.Millisecond}

// resumeRefusals checks who may not resume an answer and that a resumer's
// cancel stops the producing server's upstream call: ts produces the
// answer, resumer resumes it, third tries again.
func resumeRefusals(t *testing.T, ts, resumer, third *testServer) {
	ts.addUser("kim", nil)
	ts.addUser("lee", nil)
	c := ts.connect("kim")
	if err := c.Message("A long answer please", ""); err != nil {
		t.Fatal(err)
	}
	f := next(t, c)
	_ = c.CloseWithoutFrame()
	c2, _ := resumer.reconnectPending(t, "kim", f.ID)

	other := resumer.connect("lee")
	mustSend(t, other, map[string]any{"type": "resume", "id": f.ID})
	expectError(t, other, "not_found")
	mustSend(t, other, map[string]any{"type": "resume", "id": "no-such-answer"})
	expectError(t, other, "not_found")

	mustSend(t, c2, map[string]any{"type": "resume", "id": f.ID, "after_seq": f.Seq})
	if r := next(t, c2); !r.Resumed {
		t.Fatalf("want the resumed frame, got %s", r.Raw)
	}
	c3 := third.connect("kim")
	mustSend(t, c3, map[string]any{"type": "resume", "id": f.ID})
	expectError(t, c3, "not_found")

	mustSend(t, c2, map[string]string{"type": "cancel"})
	for {
		r := next(t, c2)
		if r.Done {
			if r.FinishReason != "cancelled" {
				t.Fatalf("want cancelled, got %s", r.Raw)
			}
			break
		}
	}
	testutil.WaitFor(t, 5*time.Second, "the upstream call to be cancelled", func() bool {
		return ts.model.Cancelled() == 1 && ts.model.Active() == 0
	})
}

// TestResumeOnAnotherNode: an answer produced on node 0 whose socket drops
// is listed as pending by node 1, resumes there with exactly the text the
// client missed, and enters node 1's memory; the refusals hold across the
// fleet, and a cancel sent to node 1 stops node 0's upstream call.
func TestResumeOnAnotherNode(t *testing.T) {
	t.Run("whole answer once", func(t *testing.T) {
		for _, frames := range []int{0, 3} {
			nodes := startFleetWith(t, 2, serverOpts{fake: slowAnswers, env: resumeEnv})
			resumeAcross(t, nodes[0], nodes[1], frames)
		}
	})
	t.Run("refusals and cancel", func(t *testing.T) {
		nodes := startFleetWith(t, 2, serverOpts{fake: longAnswers, env: map[string]string{"WEALTHCOACH_LIMITS_MAX_CONNECTIONS_PER_USER": "20"}})
		resumeRefusals(t, nodes[0], nodes[1], nodes[0])
		if n := nodes[1].model.RequestCount(); n != 0 {
			t.Fatalf("node 1 called its model %d times for a resumed answer", n)
		}
	})
	t.Run("cancel before the answer arrives", func(t *testing.T) {
		// The resume crosses Redis twice before the answer arrives: a
		// cancel sent meanwhile must still stop it where it runs.
		nodes := startFleetWith(t, 2, serverOpts{fake: longAnswers, env: map[string]string{"WEALTHCOACH_LIMITS_MAX_CONNECTIONS_PER_USER": "20"}})
		nodes[0].addUser("kim", nil)
		c := nodes[0].connect("kim")
		if err := c.Message("A long answer please", ""); err != nil {
			t.Fatal(err)
		}
		f := next(t, c)
		_ = c.CloseWithoutFrame()
		c2, _ := nodes[1].reconnectPending(t, "kim", f.ID)
		mustSend(t, c2, map[string]any{"type": "resume", "id": f.ID, "after_seq": f.Seq})
		mustSend(t, c2, map[string]string{"type": "cancel"})
		testutil.WaitFor(t, 5*time.Second, "node 0's upstream call to be cancelled", func() bool {
			return nodes[0].model.Cancelled() == 1 && nodes[0].model.Active() == 0
		})
		// The session is free again.
		ask(t, c2, "Something short", "")
	})
}
