package transport

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wealthwarriors/wealthcoach/actors"
)

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"authenticate", `{"type":"authenticate","token":"abc"}`, &actors.Authenticate{Token: "abc", TokenOK: true}},
		{"authenticate without token", `{"type":"authenticate"}`, &actors.Authenticate{}},
		{"authenticate with numeric token", `{"type":"authenticate","token":5}`, &actors.Authenticate{}},
		{"message", `{"type":"message","content":"hi","id":"7"}`, &actors.ChatMessage{ID: "7", Content: "hi"}},
		{"message without id", `{"type":"message","content":"hi"}`, &actors.ChatMessage{Content: "hi"}},
		{"message with extra fields", `{"type":"message","content":"hi","x":[1,2]}`, &actors.ChatMessage{Content: "hi"}},
		{"cancel", `{"type":"cancel"}`, &actors.Cancel{}},
		{"ping", `{"type":"ping"}`, &actors.Ping{}},
		{"not json", `hello`, &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"json array", `[1]`, &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"no type", `{"content":"x"}`, &actors.Invalid{Reason: `frame needs a string "type"`}},
		{"type not a string", `{"type":3}`, &actors.Invalid{Reason: `frame needs a string "type"`}},
		{"unknown type", `{"type":"dance"}`, &actors.Invalid{Reason: `unknown frame type "dance"`}},
		{"content not a string", `{"type":"message","content":{}}`, &actors.Invalid{Reason: `"content" must be a string`}},
		{"id not a string", `{"type":"message","content":"a","id":1}`, &actors.Invalid{Reason: `"id" must be a string`}},
		{"id of 64 characters", `{"type":"message","content":"a","id":"` + strings.Repeat("é", 64) + `"}`,
			&actors.ChatMessage{ID: strings.Repeat("é", 64), Content: "a"}},
		{"id of 65 characters", `{"type":"message","content":"a","id":"` + strings.Repeat("i", 65) + `"}`,
			&actors.Invalid{Reason: `"id" is longer than 64 characters`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeFrame([]byte(tt.in))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decodeFrame(%s) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzDecodeFrame checks that no input panics and that every result is one
// of the messages a session understands.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{`{"type":"authenticate","token":"x"}`, `{"type":"message","content":"hi","id":"1"}`,
		`{"type":"cancel"}`, `{"type":"ping"}`, `{`, `null`, `{"type":null}`, `{"type":"message","content":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		switch m := decodeFrame(b).(type) {
		case *actors.Authenticate, *actors.Cancel, *actors.Ping:
		case *actors.ChatMessage:
			if utf8.RuneCountInString(m.ID) > maxIDChars {
				t.Fatalf("id of %d characters accepted", utf8.RuneCountInString(m.ID))
			}
		case *actors.Invalid:
			if m.Reason == "" {
				t.Fatal("invalid frame without a reason")
			}
		default:
			t.Fatalf("unexpected message %T", m)
		}
	})
}

// FuzzAppendString checks the hand-written JSON string encoder against
// encoding/json: what it writes must decode to the input (with invalid
// UTF-8 replaced, as encoding/json does).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ slash", "tab\tnl\n\x00\x1f", "\u2028\u2029", "é€😀", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: not valid JSON: %v", s, b, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		// encoding/json replaces each invalid byte, ToValidUTF8 each run.
		var ref string
		enc, _ := json.Marshal(s)
		_ = json.Unmarshal(enc, &ref)
		if got != ref && got != want {
			t.Fatalf("appendString(%q) decodes to %q, want %q", s, got, ref)
		}
	})
}

func TestFramesAreValidJSON(t *testing.T) {
	frames := [][]byte{
		appendConnected(nil, "s1", `u"1`),
		appendAnswer(nil, &actors.Answer{ID: "a", ReplyTo: "r", Content: "x\ny", Delta: "y"}),
		appendAnswer(nil, &actors.Answer{ID: "a", Content: "x", Delta: "x", Done: true, Cached: true, FinishReason: "stop"}),
		appendError(nil, &actors.ErrorFrame{Code: actors.CodeRateLimited, Message: "slow", ReplyTo: "q", RetryAfter: 3}),
		appendError(nil, &actors.ErrorFrame{Code: actors.CodeBusy, Message: "busy"}),
		pongFrame,
	}
	want := []map[string]any{
		{"type": "connected", "session_id": "s1", "user_id": `u"1`},
		{"type": "response", "id": "a", "reply_to": "r", "content": "x\ny", "delta": "y", "done": false, "cached": false},
		{"type": "response", "id": "a", "content": "x", "delta": "x", "done": true, "cached": true, "finish_reason": "stop"},
		{"type": "error", "code": "rate_limited", "message": "slow", "reply_to": "q", "retry_after": 3.0},
		{"type": "error", "code": "busy", "message": "busy"},
		{"type": "pong"},
	}
	for i, b := range frames {
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("frame %d %s: %v", i, b, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("frame %d = %v, want %v", i, got, want[i])
		}
	}
}

func TestEveryClosingCodeHasAReason(t *testing.T) {
	for code, spec := range closes {
		if spec.code < 1000 || spec.reason == "" || len(spec.reason) > 123 {
			t.Errorf("%s: bad close spec %+v", code, spec)
		}
	}
}

func BenchmarkAppendAnswer(b *testing.B) {
	a := &actors.Answer{ID: "0123456789abcdef01-3", ReplyTo: "m-42",
		Content: strings.Repeat("Compound interest grows your savings over time. ", 20), Delta: "over time. "}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(a.Content)))
	for b.Loop() {
		buf = appendAnswer(buf[:0], a)
	}
}

func BenchmarkAppendAnswerEncodingJSON(b *testing.B) {
	a := &actors.Answer{ID: "0123456789abcdef01-3", ReplyTo: "m-42",
		Content: strings.Repeat("Compound interest grows your savings over time. ", 20), Delta: "over time. "}
	type frame struct {
		Type    string `json:"type"`
		ID      string `json:"id"`
		ReplyTo string `json:"reply_to,omitempty"`
		Content string `json:"content"`
		Delta   string `json:"delta"`
		Done    bool   `json:"done"`
		Cached  bool   `json:"cached"`
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(a.Content)))
	for b.Loop() {
		_, _ = json.Marshal(frame{"response", a.ID, a.ReplyTo, a.Content, a.Delta, a.Done, a.Cached})
	}
}

func BenchmarkDecodeMessage(b *testing.B) {
	in := []byte(`{"type":"message","content":"What is compound interest and how should I use it?","id":"m-17"}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = decodeFrame(in)
	}
}
