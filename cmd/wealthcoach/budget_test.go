package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
)

// userStats reads /stats/users/{id}.
func userStats(t *testing.T, ts *testServer, user string) map[string]any {
	t.Helper()
	resp, err := http.Get(ts.admin + "/stats/users/" + user)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/stats/users/%s: status %d", user, resp.StatusCode)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDailyTokenBudget: with llm.budget.daily_tokens set, the answer that
// crosses the budget is still answered, the next question that needs the
// model gets budget_exceeded with retry_after until 00:00 UTC, a cached
// answer is still given, and the operator sees the spend.
func TestDailyTokenBudget(t *testing.T) {
	const user = "budget-user"
	// Without memory every question of the same length costs the same, so
	// one answer's usage, measured first on a server without a budget,
	// sets a budget that the second answer crosses.
	env := map[string]string{"WEALTHCOACH_HISTORY_MAX_MESSAGES": "0"}
	probe := startServer(t, serverOpts{env: env})
	probe.addUser(user, nil)
	c := probe.connect(user)
	mustSend(t, c, map[string]string{"type": "message", "id": "p", "content": "question zero"})
	frames := readAnswer(t, c)
	u := frames[len(frames)-1].Usage
	if u == nil || u.CompletionTokens == 0 {
		t.Fatalf("the model reported no usage: %s", frames[len(frames)-1].Raw)
	}
	cost := u.PromptTokens + u.CompletionTokens
	if err := probe.stop(); err != nil {
		t.Fatal(err)
	}

	budget := cost + cost/2
	env["WEALTHCOACH_LLM_BUDGET_DAILY_TOKENS"] = strconv.Itoa(budget)
	ts := startServer(t, serverOpts{env: env})
	ts.addUser(user, nil)
	c = ts.connect(user)
	for _, q := range []struct{ id, content string }{
		{"q1", "question one"}, // leaves cost/2
		{"q2", "question two"}, // crosses the budget, and is answered
	} {
		mustSend(t, c, map[string]string{"type": "message", "id": q.id, "content": q.content})
		done := readAnswer(t, c)
		if last := done[len(done)-1]; last.ReplyTo != q.id || last.Cached || last.Usage == nil {
			t.Fatalf("%s: want a fresh answer with usage, got %s", q.id, last.Raw)
		}
	}
	mustSend(t, c, map[string]string{"type": "message", "id": "q3", "content": "question three"})
	f := expectError(t, c, "budget_exceeded")
	if f.ReplyTo != "q3" || f.RetryAfter <= 0 || f.RetryAfter > 86400 {
		t.Fatalf("want reply_to q3 and retry_after in (0, 86400], got %s", f.Raw)
	}
	calls := int(ts.model.RequestCount())

	// A cache hit costs nothing and is still answered.
	mustSend(t, c, map[string]string{"type": "message", "id": "q4", "content": "question one"})
	hit := readAnswer(t, c)
	if last := hit[len(hit)-1]; !last.Cached || last.ReplyTo != "q4" {
		t.Fatalf("want the cached answer, got %s", last.Raw)
	}
	if n := int(ts.model.RequestCount()); n != calls {
		t.Fatalf("the model was called %d times after the budget was spent", n-calls)
	}

	m := userStats(t, ts, user)
	if m["tokens_today"] != float64(2*cost) || m["budget"] != float64(budget) {
		t.Fatalf("/stats/users: tokens_today %v, budget %v; want %d of %d", m["tokens_today"], m["budget"], 2*cost, budget)
	}

	// The budget is the user's own: another user is answered.
	ts.addUser("budget-other", nil)
	o := ts.connect("budget-other")
	if a := ask(t, o, "question three", ""); a.FinishReason != "stop" || a.Cached {
		t.Fatalf("another user got %s", a.Raw)
	}
}
