package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/cmd/internal/config"
	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

// runChat runs `wealthcoach chat` against the test server as user, typing
// the lines given, and returns what the terminal showed. The command ends
// at the end of its input, once the last answer is done.
func (ts *testServer) runChat(user string, lines ...string) string {
	ts.t.Helper()
	out := &syncBuffer{}
	m := ts.chatMain(strings.NewReader(strings.Join(lines, "\n")+"\n"), out)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Run(ctx, ts.chatArgs(ts.ws, user)); err != nil {
		ts.t.Fatalf("chat: %v\n%s", err, out.String())
	}
	return out.String()
}

// chatMain is the program as a terminal runs it: input from stdin, all
// output in out.
func (ts *testServer) chatMain(stdin io.Reader, out *syncBuffer) *Main {
	return &Main{Stdin: stdin, Stdout: out, Stderr: out, Getenv: func(string) (string, bool) { return "", false }}
}

// chatArgs are the arguments of a chat as user at url, then extra.
func (ts *testServer) chatArgs(url, user string, extra ...string) []string {
	ts.t.Helper()
	cfgPath := filepath.Join(ts.t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte("# the chat command needs only the flags\n"), 0o600); err != nil {
		ts.t.Fatal(err)
	}
	return append([]string{"chat", "--config", cfgPath, "--url", url, "--token", token(ts.t, user, nil)}, extra...)
}

// liveChat is a chat command running in the background, typed into line
// by line.
type liveChat struct {
	t     *testing.T
	out   *syncBuffer
	stdin *io.PipeWriter
	done  chan error
}

// startChat starts `wealthcoach chat` as user at url; it runs until its
// input ends or its connection is lost for good.
func (ts *testServer) startChat(url, user string, extra ...string) *liveChat {
	ts.t.Helper()
	r, w := io.Pipe()
	lc := &liveChat{t: ts.t, out: &syncBuffer{}, stdin: w, done: make(chan error, 1)}
	m := ts.chatMain(r, lc.out)
	args := ts.chatArgs(url, user, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	go func() { defer cancel(); lc.done <- m.Run(ctx, args) }()
	ts.t.Cleanup(func() { cancel(); w.Close() })
	lc.waitFor("the chat to start", func(out string) bool { return strings.Contains(out, chatHelp) })
	return lc
}

// typeLine types line and Enter.
func (lc *liveChat) typeLine(line string) {
	lc.t.Helper()
	if _, err := io.WriteString(lc.stdin, line+"\n"); err != nil {
		lc.t.Fatalf("type %q: %v", line, err)
	}
}

// waitFor polls what the terminal shows until cond holds.
func (lc *liveChat) waitFor(what string, cond func(out string) bool) {
	lc.t.Helper()
	testutil.WaitFor(lc.t, 20*time.Second, what, func() bool {
		select {
		case err := <-lc.done:
			lc.t.Fatalf("the chat ended (%v) while waiting for %s:\n%s", err, what, lc.out.String())
		default:
		}
		return cond(lc.out.String())
	})
}

// wait waits for the command to end by itself and returns its result.
func (lc *liveChat) wait() error {
	lc.t.Helper()
	select {
	case err := <-lc.done:
		return err
	case <-time.After(20 * time.Second):
		lc.t.Fatalf("the chat did not end:\n%s", lc.out.String())
		return nil
	}
}

// printedAnswers lists the answers the chat printed, each the text up to
// its [stop] marker, without the status lines printed into it.
func printedAnswers(out string) []string {
	_, after, _ := strings.Cut(out, chatHelp+"\n")
	var answers []string
	var cur strings.Builder
	for _, line := range strings.Split(after, "\n") {
		switch {
		case line == "[stop]":
			answers = append(answers, cur.String())
			cur.Reset()
		case !strings.HasPrefix(line, "["):
			cur.WriteString(line)
		}
	}
	return answers
}

// answerStarted reports whether the chat has printed a few words of the
// first answer, and not its end.
func answerStarted(out string) bool {
	_, after, _ := strings.Cut(out, chatHelp+"\n")
	return len(strings.Fields(after)) >= 3 && !strings.Contains(after, "[")
}

// proxied puts a proxy the test can cut between the chat and the server,
// and returns the URL to chat through it.
func (ts *testServer) proxied() (*storetest.Proxy, string) {
	ts.t.Helper()
	u, err := url.Parse(ts.ws)
	if err != nil {
		ts.t.Fatal(err)
	}
	p := storetest.StartProxy(ts.t, u.Host)
	u.Host = p.Addr()
	return p, u.String()
}

// conversationOf returns the conversation id the chat named on connect.
func conversationOf(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Conversation (\S+)\.$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the chat named no conversation:\n%s", out)
	}
	return m[1]
}

// shownMessages lists the stored messages the chat printed, in order, as
// "You: text" and "Coach: text".
func shownMessages(out string) []string {
	var shown []string
	for _, line := range strings.Split(out, "\n") {
		who, rest, _ := strings.Cut(line, " [")
		if _, text, ok := strings.Cut(rest, "]: "); ok && (who == "You" || who == "Coach") {
			shown = append(shown, who+": "+text)
		}
	}
	return shown
}

// streamedAnswers lists the answers the chat streamed, each the line that
// its [stop] marker ends (the fake model's answers are one line).
func streamedAnswers(out string) []string {
	var answers []string
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		if line == "[stop]" && i > 0 {
			answers = append(answers, lines[i-1])
		}
	}
	return answers
}

// TestChatCommandConversation drives the terminal client as a user would:
// it shows the notice and the conversation on connect, then the last
// messages of the conversation; /history pages back through older ones,
// and /reset starts a new conversation that the next connection resumes.
func TestChatCommandConversation(t *testing.T) {
	ts := startServer(t, serverOpts{fake: llmfake.Options{Tokens: 4},
		env: map[string]string{"WEALTHCOACH_LLM_RATE_LIMIT_BURST": "20"}})
	ts.addUser("kai", nil)
	var questions []string
	for i := 1; i <= 6; i++ {
		questions = append(questions, fmt.Sprintf("Question %d about saving", i))
	}

	first := ts.runChat("kai", questions...)
	if !strings.Contains(first, "\nNotice: "+config.DefaultNotice+"\n") {
		t.Fatalf("the chat did not show the notice:\n%s", first)
	}
	conversation := conversationOf(t, first)
	if strings.Contains(first, "earlier in this conversation") || len(shownMessages(first)) != 0 {
		t.Fatalf("a new conversation showed earlier messages:\n%s", first)
	}
	answers := streamedAnswers(first)
	if len(answers) != len(questions) {
		t.Fatalf("%d answers finished, want %d:\n%s", len(answers), len(questions), first)
	}
	ts.waitWritten(len(questions))

	// The last 10 messages on connect, then a page back to the first.
	second := ts.runChat("kai", "/history", "/history")
	if got := conversationOf(t, second); got != conversation {
		t.Fatalf("reconnected to conversation %s, want %s:\n%s", got, conversation, second)
	}
	start, rest, _ := strings.Cut(second, "--- /history shows older messages ---")
	var want []string
	for i, q := range questions[1:] { // questions 2 to 6 and their answers
		want = append(want, "You: "+q, "Coach: "+answers[i+1])
	}
	if got := shownMessages(start); !slices.Equal(got, want) {
		t.Fatalf("on connect the chat showed %q, want %q:\n%s", got, want, second)
	}
	older, _, _ := strings.Cut(rest, "[no earlier messages]")
	if got, want := shownMessages(older), []string{"You: " + questions[0], "Coach: " + answers[0]}; !strings.Contains(older, "--- older messages ---") || !slices.Equal(got, want) {
		t.Fatalf("/history showed %q, want %q, then no earlier messages:\n%s", got, want, second)
	}

	// /reset while older messages are left unshown: the new conversation
	// has none.
	third := ts.runChat("kai", "/reset", "/history", "Question 7 about saving")
	m := regexp.MustCompile(`\[new conversation (\S+)\]`).FindStringSubmatch(third)
	if m == nil || m[1] == conversation {
		t.Fatalf("/reset did not show a new conversation:\n%s", third)
	}
	newConversation := m[1]
	afterReset := third[strings.Index(third, m[0]):]
	answer7 := streamedAnswers(afterReset)
	if len(shownMessages(afterReset)) != 0 || !strings.Contains(afterReset, "[no earlier messages]") || len(answer7) != 1 {
		t.Fatalf("after /reset: want no earlier messages, then the answer to question 7:\n%s", third)
	}
	ts.waitWritten(len(questions) + 1)

	fourth := ts.runChat("kai", "/history")
	if got := conversationOf(t, fourth); got != newConversation {
		t.Fatalf("after /reset, connected to conversation %s, want %s:\n%s", got, newConversation, fourth)
	}
	if got, want := shownMessages(fourth), []string{"You: Question 7 about saving", "Coach: " + answer7[0]}; !slices.Equal(got, want) {
		t.Fatalf("the new conversation showed %q, want %q:\n%s", got, want, fourth)
	}
	if !strings.Contains(fourth, "[no earlier messages]") {
		t.Fatalf("/history in a conversation shown whole did not say so:\n%s", fourth)
	}
}

// TestChatCommandResumesAfterDrop: the connection drops in the middle of
// an answer; the chat reconnects by itself, resumes the answer and prints
// the rest of it, so that the user reads the whole answer exactly once,
// which the model was asked for once. A line typed while it reconnects
// waits for that answer, then is answered with it in memory.
func TestChatCommandResumesAfterDrop(t *testing.T) {
	ts := startServer(t, serverOpts{fake: llmfake.Options{Tokens: 40, TokenDelay: 20 * time.Millisecond}})
	ts.addUser("uma", nil)
	proxy, viaProxy := ts.proxied()
	chat := ts.startChat(viaProxy, "uma")

	chat.typeLine("Explain compound interest")
	chat.waitFor("the first words of the answer", answerStarted)
	proxy.SetDown(true)
	chat.waitFor("the chat to notice the drop", func(out string) bool {
		return strings.Contains(out, "\n[connection lost; reconnecting in ")
	})
	chat.typeLine("And with monthly deposits?")
	proxy.SetDown(false)
	chat.waitFor("both answers", func(out string) bool { return len(printedAnswers(out)) == 2 })
	chat.stdin.Close()
	if err := chat.wait(); err != nil {
		t.Fatalf("chat: %v\n%s", err, chat.out.String())
	}

	out := chat.out.String()
	if !strings.Contains(out, "\n[reconnected; resuming the answer]\n") {
		t.Fatalf("the chat did not say it resumed the answer:\n%s", out)
	}
	reqs := ts.model.Requests()
	if len(reqs) != 2 {
		t.Fatalf("the model was asked %d times, want 2 (once per question):\n%s", len(reqs), out)
	}
	want := []string{ts.model.Answer(reqs[0].Messages), ts.model.Answer(reqs[1].Messages)}
	if got := printedAnswers(out); !slices.Equal(got, want) {
		t.Fatalf("the chat printed the answers\n%q\nwant\n%q\n%s", got, want, out)
	}
	if msgs := reqs[1].Messages; len(msgs) != 4 || msgs[2].Content != want[0] {
		t.Fatalf("the second question went with %d messages, want the resumed exchange in memory", len(msgs))
	}
}

// TestChatCommandReconnectEnds: the chat does not dial again a server that
// refused the user (an operator's revocation, 1008), and gives up, saying
// so, on a server that stays unreachable for the whole --reconnect time.
func TestChatCommandReconnectEnds(t *testing.T) {
	cases := []struct {
		name    string
		flags   []string
		cut     func(ts *testServer, p *storetest.Proxy)
		wantErr string // "" for a clean end
		wantOut string
		notOut  string
	}{
		{name: "revoked by an operator", cut: func(ts *testServer, _ *storetest.Proxy) { ts.disconnectUser("rae") },
			wantOut: "\n[connection closed: 1008 Session revoked]\n", notOut: "reconnect"},
		{name: "server unreachable", flags: []string{"--reconnect", "2s"}, cut: func(_ *testServer, p *storetest.Proxy) { p.SetDown(true) },
			wantErr: "could not reconnect within 2s", wantOut: "\n[reconnect failed; retrying in "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, serverOpts{})
			ts.addUser("rae", nil)
			proxy, viaProxy := ts.proxied()
			chat := ts.startChat(viaProxy, "rae", tc.flags...)
			chat.typeLine("Hello")
			chat.waitFor("the answer", func(out string) bool { return len(printedAnswers(out)) == 1 })
			tc.cut(ts, proxy)
			err := chat.wait() // with its input still open
			out := chat.out.String()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("chat ended with %v, want %q:\n%s", err, tc.wantErr, out)
			}
			if !strings.Contains(out, tc.wantOut) || tc.notOut != "" && strings.Contains(out, tc.notOut) {
				t.Fatalf("the chat showed no %q (or showed %q):\n%s", tc.wantOut, tc.notOut, out)
			}
		})
	}
}
