package actors

import (
	"testing"
	"unicode/utf8"
)

func TestCutUTF8(t *testing.T) {
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{name: "shorter than the cap", s: "budget", n: 10, want: "budget"},
		{name: "exactly the cap", s: "budget", n: 6, want: "budget"},
		{name: "ascii", s: "budget", n: 3, want: "bud"},
		{name: "zero cap", s: "budget", n: 0, want: ""},
		{name: "negative cap", s: "budget", n: -1, want: ""},
		{name: "2-byte rune ends at the cap", s: "abé!", n: 4, want: "abé"},
		{name: "2-byte rune straddles the cap", s: "abé!", n: 3, want: "ab"},
		{name: "3-byte rune ends at the cap", s: "a€b", n: 4, want: "a€"},
		{name: "3-byte rune, cap after its first byte", s: "a€b", n: 2, want: "a"},
		{name: "3-byte rune, cap after its second byte", s: "a€b", n: 3, want: "a"},
		{name: "4-byte rune ends at the cap", s: "a💰b", n: 5, want: "a💰"},
		{name: "4-byte rune, cap after its first byte", s: "a💰b", n: 2, want: "a"},
		{name: "4-byte rune, cap after its second byte", s: "a💰b", n: 3, want: "a"},
		{name: "4-byte rune, cap after its third byte", s: "a💰b", n: 4, want: "a"},
		{name: "only a rune that does not fit", s: "💰", n: 3, want: ""},
		{name: "runes after a cut rune", s: "€€€", n: 7, want: "€€"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cutUTF8(tt.s, tt.n)
			if got != tt.want || !utf8.ValidString(got) {
				t.Errorf("cutUTF8(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
		})
	}
}

func TestClientFinish(t *testing.T) {
	tests := []struct {
		model  string
		finish string
		ok     bool
	}{
		{model: "stop", finish: "stop", ok: true},
		{model: "", finish: "stop", ok: true},
		{model: "length", finish: "length", ok: true},
		{model: "content_filter", finish: "content_filter", ok: true},
		{model: "tool_calls", finish: "stop"},
		{model: "function_call", finish: "stop"},
		{model: "cancelled", finish: "stop"}, // ours to say, not a model's
		{model: "error", finish: "stop"},
		{model: "weird_reason", finish: "stop"},
		{model: "STOP", finish: "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			finish, ok := clientFinish(tt.model)
			if finish != tt.finish || ok != tt.ok {
				t.Errorf("clientFinish(%q) = %q, %v; want %q, %v", tt.model, finish, ok, tt.finish, tt.ok)
			}
		})
	}
}
