package actors

import (
	"fmt"
	"strings"

	"github.com/wealthwarriors/wealthcoach/store"
)

// promptVersion names the system prompt below. It is part of every cache
// key: change it whenever the prompt's wording changes, so that answers
// given under the old prompt are never served for the new one.
const promptVersion = "coach-2026-11-a"

const persona = `You are Wealth Coach, a friendly and practical personal-finance coach inside a mobile app.
Explain money topics in plain language, keep answers short enough to read on a phone, and give concrete next steps.
Tailor advice to the user's profile below when it is relevant, and say so when the profile lacks what the advice depends on.
You are not a licensed financial adviser: do not recommend specific securities, and suggest a professional for tax, legal or large decisions.`

// systemPrompt renders the persona with the user's profile.
func systemPrompt(name string, p store.Profile) string {
	var b strings.Builder
	b.WriteString(persona)
	b.WriteString("\n\nUser profile:\n")
	if name != "" {
		fmt.Fprintf(&b, "- Name: %s\n", name)
	}
	if p.Empty() {
		b.WriteString("- No financial profile yet. Ask for what you need.\n")
		return b.String()
	}
	cur := p.Currency
	if cur == "" {
		cur = "(currency not given)"
	}
	fmt.Fprintf(&b, "- Currency: %s\n", cur)
	money := func(label string, v float64) {
		if v != 0 {
			fmt.Fprintf(&b, "- %s: %.2f\n", label, v)
		}
	}
	money("Monthly income after tax", p.MonthlyIncome)
	money("Monthly expenses", p.MonthlyExpenses)
	money("Savings", p.Savings)
	money("Debts", p.Debts)
	if p.RiskTolerance != "" {
		fmt.Fprintf(&b, "- Risk tolerance: %s\n", p.RiskTolerance)
	}
	if p.Experience != "" {
		fmt.Fprintf(&b, "- Investing experience: %s\n", p.Experience)
	}
	if len(p.Goals) > 0 {
		fmt.Fprintf(&b, "- Goals: %s\n", strings.Join(p.Goals, "; "))
	}
	return b.String()
}

// normalize trims a message and collapses runs of white space, so that
// requests that differ only in spacing share a cache entry.
func normalize(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
