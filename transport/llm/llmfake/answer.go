package llmfake

import (
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wealthwarriors/wealthcoach/actors"
)

// vocabulary is what the fake says unless Options.Words replaces it. Words
// are plain ASCII letters so their JSON forms can be built by adding quotes.
var vocabulary = []string{
	"budget", "savings", "interest", "portfolio", "income", "expenses", "goal", "fund",
	"emergency", "retirement", "index", "diversify", "compound", "growth", "debt", "payment",
	"balance", "rate", "monthly", "yearly", "automate", "review", "plan", "risk",
	"return", "account", "cash", "bonds", "stocks", "fees", "tax", "match",
	"target", "steady", "habit", "track", "spending", "needs", "wants", "buffer",
	"invest", "early", "regularly", "rebalance", "horizon", "priority", "progress", "simple",
	"your", "the", "a", "and", "to", "of", "with", "for",
	"each", "month", "first", "then", "keep", "build", "grow", "protect",
}

// sentenceLen is how many words make a sentence of the fake's answer.
const sentenceLen = 10

// wordForms are the JSON-quoted spellings of one word, pre-encoded so that a
// token chunk is a few appends.
type wordForms struct {
	first    string // "Budget" opens the answer
	mid      string // " budget"
	opening  string // " Budget" opens a later sentence
	closing  string // " budget." ends a sentence
	qFirst   []byte
	qMid     []byte
	qOpening []byte
	qClosing []byte
}

var englishForms = func() []wordForms {
	out := make([]wordForms, len(vocabulary))
	for i, w := range vocabulary {
		c := strings.ToUpper(w[:1]) + w[1:]
		f := wordForms{first: c, mid: " " + w, opening: " " + c, closing: " " + w + "."}
		f.qFirst = []byte(strconv.Quote(f.first))
		f.qMid = []byte(strconv.Quote(f.mid))
		f.qOpening = []byte(strconv.Quote(f.opening))
		f.qClosing = []byte(strconv.Quote(f.closing))
		out[i] = f
	}
	return out
}()

// makeForms encodes a vocabulary of any text. JSON, not strconv, quotes it:
// strconv's escapes for unprintable characters are not JSON's.
func makeForms(words []string) []wordForms {
	out := make([]wordForms, len(words))
	for i, w := range words {
		r, n := utf8.DecodeRuneInString(w)
		c := string(unicode.ToUpper(r)) + w[n:]
		f := wordForms{first: c, mid: " " + w, opening: " " + c, closing: " " + w + "."}
		f.qFirst, f.qMid, f.qOpening, f.qClosing = jsonQuote(f.first), jsonQuote(f.mid), jsonQuote(f.opening), jsonQuote(f.closing)
		out[i] = f
	}
	return out
}

func jsonQuote(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// answer generates the words of one answer: n words drawn from a
// generator seeded by the last user message, so equal requests get equal
// answers, and a max_tokens cut is a prefix of the full answer.
type answer struct {
	forms []wordForms
	state uint64
	n     int
	i     int
}

func (s *Server) newAnswer(lastUser string) answer {
	h := fnv.New64a()
	_, _ = h.Write([]byte(lastUser))
	st := h.Sum64()
	if st == 0 {
		st = 0x9e3779b97f4a7c15
	}
	return answer{forms: s.forms, state: st, n: s.opts.Tokens}
}

// next returns the next word's raw and quoted forms.
func (a *answer) next() (string, []byte) {
	// xorshift64*
	a.state ^= a.state >> 12
	a.state ^= a.state << 25
	a.state ^= a.state >> 27
	f := &a.forms[(a.state*0x2545f4914f6cdd1d>>33)%uint64(len(a.forms))]
	i := a.i
	a.i++
	switch {
	case i == 0 && a.n == 1:
		return f.first + ".", jsonQuote(f.first + ".")
	case i == 0:
		return f.first, f.qFirst
	case i == a.n-1 || i%sentenceLen == sentenceLen-1:
		return f.closing, f.qClosing
	case i%sentenceLen == 0:
		return f.opening, f.qOpening
	}
	return f.mid, f.qMid
}

// Answer returns the full answer the server streams for msgs, without any
// max_tokens cut. Its first Tokens-1 words are those a server with more
// Tokens would say, the last word alone ending a sentence early.
func (s *Server) Answer(msgs []actors.ModelMessage) string {
	a := s.newAnswer(lastUserMessage(msgs))
	var b strings.Builder
	for range s.opts.Tokens {
		w, _ := a.next()
		b.WriteString(w)
	}
	return b.String()
}

func lastUserMessage(msgs []actors.ModelMessage) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content
		}
	}
	return ""
}

// estimateTokens counts prompt tokens the way a tokenizer roughly would:
// four tokens for three words, plus a few per message for the framing.
func estimateTokens(msgs []actors.ModelMessage) int {
	n := 0
	for _, m := range msgs {
		n += (len(strings.Fields(m.Content))*4+2)/3 + 4
	}
	return n
}
