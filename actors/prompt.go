package actors

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strings"

	"github.com/wealthwarriors/wealthcoach/store"
)

// promptVersion names the system prompt below. It is part of every cache
// key: change it whenever the prompt's wording changes, so that answers
// given under the old prompt are never served for the new one.
const promptVersion = "coach-2026-11-a"

// cacheKeyPrefix versions the key layout itself.
const cacheKeyPrefix = "wc:answer:v1:"

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

// cacheKey hashes the complete model request. Every field goes in with its
// length, so no two different requests can produce the same byte stream.
// With the user scope the user id is hashed too: no user can learn from a
// cached flag what another asked.
func cacheKey(scopeUser string, req *ModelRequest) string {
	size := len(promptVersion) + len(scopeUser) + len(req.Model) + 16*len(req.Messages) + 64
	for _, m := range req.Messages {
		size += len(m.Role) + len(m.Content)
	}
	b := make([]byte, 0, size)
	put := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	put(promptVersion)
	put(scopeUser)
	put(req.Model)
	b = binary.BigEndian.AppendUint64(b, uint64(req.MaxTokens))
	b = binary.BigEndian.AppendUint64(b, uint64(math.Float32bits(req.Temperature)))
	last := len(req.Messages) - 1
	for i, m := range req.Messages {
		put(m.Role)
		if i == last {
			put(normalize(m.Content))
		} else {
			put(m.Content)
		}
	}
	sum := sha256.Sum256(b)
	return cacheKeyPrefix + hex.EncodeToString(sum[:])
}
