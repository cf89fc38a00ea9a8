package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/cmd/internal/config"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

// runChat runs `wealthcoach chat` against the test server as user, typing
// the lines given, and returns what the terminal showed. The command ends
// at the end of its input, once the last answer is done.
func (ts *testServer) runChat(user string, lines ...string) string {
	ts.t.Helper()
	cfgPath := filepath.Join(ts.t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte("# the chat command needs only the flags\n"), 0o600); err != nil {
		ts.t.Fatal(err)
	}
	out := &syncBuffer{}
	m := &Main{Stdin: strings.NewReader(strings.Join(lines, "\n") + "\n"), Stdout: out, Stderr: out,
		Getenv: func(string) (string, bool) { return "", false }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := m.Run(ctx, []string{"chat", "--config", cfgPath, "--url", ts.ws, "--token", token(ts.t, user, nil)})
	if err != nil {
		ts.t.Fatalf("chat: %v\n%s", err, out.String())
	}
	return out.String()
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
