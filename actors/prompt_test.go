package actors

import (
	"strings"
	"testing"

	"github.com/wealthwarriors/wealthcoach/store"
)

func TestCacheKey(t *testing.T) {
	base := func() ModelRequest {
		return ModelRequest{Model: "m", MaxTokens: 800, Temperature: 0.7, Messages: []ModelMessage{
			{Role: "system", Content: "sys"},
			{Role: "user", Content: "earlier"},
			{Role: "assistant", Content: "reply"},
			{Role: "user", Content: "How  much\tshould I save?"},
		}}
	}
	key := func(scope string, edit func(*ModelRequest)) string {
		r := base()
		if edit != nil {
			edit(&r)
		}
		return cacheKey(scope, &r)
	}
	ref := key("u1", nil)
	if !strings.HasPrefix(ref, cacheKeyPrefix) || len(ref) != len(cacheKeyPrefix)+64 {
		t.Fatalf("unexpected key shape %q", ref)
	}
	same := []struct {
		name string
		edit func(*ModelRequest)
	}{
		{"whitespace in the new message", func(r *ModelRequest) { r.Messages[3].Content = "  How much should I   save? " }},
	}
	for _, tt := range same {
		if got := key("u1", tt.edit); got != ref {
			t.Errorf("%s: key changed", tt.name)
		}
	}
	different := []struct {
		name  string
		scope string
		edit  func(*ModelRequest)
	}{
		{"another user", "u2", nil},
		{"shared scope", "", nil},
		{"model", "u1", func(r *ModelRequest) { r.Model = "m2" }},
		{"max tokens", "u1", func(r *ModelRequest) { r.MaxTokens = 801 }},
		{"temperature", "u1", func(r *ModelRequest) { r.Temperature = 0.2 }},
		{"system prompt", "u1", func(r *ModelRequest) { r.Messages[0].Content = "sys2" }},
		{"history text", "u1", func(r *ModelRequest) { r.Messages[2].Content = "other reply" }},
		{"history whitespace", "u1", func(r *ModelRequest) { r.Messages[1].Content = "earlier " }},
		{"history role", "u1", func(r *ModelRequest) { r.Messages[1].Role = "assistant" }},
		{"no history", "u1", func(r *ModelRequest) { r.Messages = append(r.Messages[:1], r.Messages[3]) }},
		{"message", "u1", func(r *ModelRequest) { r.Messages[3].Content = "How much should I spend?" }},
		// Length prefixes keep field boundaries: moving text between two
		// messages must change the key.
		{"boundary", "u1", func(r *ModelRequest) { r.Messages[1].Content = "earlierr"; r.Messages[2].Content = "eply" }},
	}
	for _, tt := range different {
		if got := key(tt.scope, tt.edit); got == ref {
			t.Errorf("%s: key unchanged", tt.name)
		}
	}
}

func TestSystemPrompt(t *testing.T) {
	p := systemPrompt("Asha", store.Profile{Currency: "INR", MonthlyIncome: 90000, Debts: 12000.5,
		RiskTolerance: "medium", Experience: "beginner", Goals: []string{"emergency fund", "home"}})
	for _, want := range []string{"Wealth Coach", "Name: Asha", "Currency: INR", "90000.00", "12000.50",
		"Risk tolerance: medium", "experience: beginner", "emergency fund; home"} {
		if !strings.Contains(p, want) {
			t.Errorf("prompt lacks %q:\n%s", want, p)
		}
	}
	if strings.Contains(p, "Savings") {
		t.Error("zero fields should be left out")
	}
	if empty := systemPrompt("", store.Profile{}); !strings.Contains(empty, "No financial profile") {
		t.Errorf("empty profile prompt:\n%s", empty)
	}
}

func TestRemember(t *testing.T) {
	var cs chatState
	for i := range 7 {
		cs.remember(10, "q"+string(rune('0'+i)), "a"+string(rune('0'+i)))
	}
	if len(cs.history) != 10 || cs.history[0].Content != "q2" || cs.history[9].Content != "a6" {
		t.Fatalf("history %+v", cs.history)
	}
	var none chatState
	none.remember(0, "q", "a")
	if len(none.history) != 0 {
		t.Fatalf("max 0 kept %d messages", len(none.history))
	}
}

func BenchmarkCacheKey(b *testing.B) {
	r := ModelRequest{Model: "gpt-4o-mini", MaxTokens: 800, Temperature: 0.7,
		Messages: []ModelMessage{{Role: "system", Content: systemPrompt("Demo", store.Profile{Currency: "USD", MonthlyIncome: 6500})}}}
	for i := range 10 {
		r.Messages = append(r.Messages, ModelMessage{Role: []string{"user", "assistant"}[i%2],
			Content: strings.Repeat("A sentence of about this length. ", 8)})
	}
	r.Messages = append(r.Messages, ModelMessage{Role: "user", Content: "What should I do with my bonus?"})
	b.ReportAllocs()
	for b.Loop() {
		_ = cacheKey("user-1", &r)
	}
}
