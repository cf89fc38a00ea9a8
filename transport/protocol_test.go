package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
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
		{"first wrong type wins", `{"type":"message","id":1,"content":true}`, &actors.Invalid{Reason: `"id" must be a string`}},
		{"token of the wrong type in a message", `{"type":"message","token":[],"content":"hi"}`, &actors.Invalid{Reason: `"token" must be a string`}},
		{"wrong types ignored by ping", `{"type":"ping","content":1}`, &actors.Ping{}},
		{"null reads as missing", `{"type":"message","content":null,"id":null}`, &actors.ChatMessage{}},
		{"null type", `{"type":null}`, &actors.Invalid{Reason: `frame needs a string "type"`}},
		{"null frame", `null`, &actors.Invalid{Reason: `frame needs a string "type"`}},
		{"empty object", ` { } `, &actors.Invalid{Reason: `frame needs a string "type"`}},
		{"white space everywhere", " {\t\"type\" :\r\n\"ping\" } \n", &actors.Ping{}},
		{"string frame", `"ping"`, &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"empty frame", ``, &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"trailing garbage", `{"type":"ping"}x`, &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"two objects", `{"type":"ping"}{"type":"ping"}`, &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"trailing comma", `{"type":"ping",}`, &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"single quotes", `{'type':'ping'}`, &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"bad escape", `{"type":"ping","x":"\q"}`, &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"raw control character", "{\"type\":\"ping\",\"x\":\"a\tb\"}", &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"bad number in an unknown key", `{"type":"ping","x":01}`, &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"bad literal in an unknown key", `{"type":"ping","x":nul}`, &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"unclosed array in an unknown key", `{"type":"ping","x":[1,{"a":[]}}`, &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"nested unknown values", `{"x":{"type":"dance","a":[1,-2.5e+3,"}",{"]":null},[],{}]},"type":"ping","y":[true,false]}`, &actors.Ping{}},
		{"escaped key", `{"typ\u0065":"p\u0069ng"}`, &actors.Ping{}},
		{"escaped content", `{"type":"message","content":"a\n\"b\" \u00e9\ud83d\ude00 \ud800x \/"}`,
			&actors.ChatMessage{Content: "a\n\"b\" é😀 \ufffdx /"}},
		{"id of 64 escaped characters", `{"type":"message","content":"a","id":"` + strings.Repeat(`\u00e9`, 64) + `"}`,
			&actors.ChatMessage{ID: strings.Repeat("é", 64), Content: "a"}},

		// Key names are exact; encoding/json would match these without regard to case.
		{"type in upper case", `{"TYPE":"ping"}`, &actors.Invalid{Reason: `frame needs a string "type"`}},
		{"type capitalised", `{"Type":"message","content":"hi"}`, &actors.Invalid{Reason: `frame needs a string "type"`}},
		{"token in upper case", `{"type":"authenticate","TOKEN":"x"}`, &actors.Authenticate{}},
		{"token beside a look-alike", `{"type":"authenticate","Token":"y","token":"x"}`, &actors.Authenticate{Token: "x", TokenOK: true}},
		{"token with a Kelvin sign", `{"type":"authenticate","to\u212aen":"x"}`, &actors.Authenticate{}},
		{"content in another case", `{"type":"message","Content":"hi"}`, &actors.ChatMessage{}},
		{"id in upper case", `{"type":"message","content":"hi","ID":"7"}`, &actors.ChatMessage{Content: "hi"}},

		// A key given twice, known or not, makes the frame invalid.
		{"duplicate type", `{"type":"ping","type":"cancel"}`, &actors.Invalid{Reason: `frame has a duplicate key "type"`}},
		{"duplicate token", `{"type":"authenticate","token":"a","token":"b"}`, &actors.Invalid{Reason: `frame has a duplicate key "token"`}},
		{"duplicate null token", `{"type":"authenticate","token":null,"token":"b"}`, &actors.Invalid{Reason: `frame has a duplicate key "token"`}},
		{"duplicate content", `{"type":"message","content":"a","content":"b"}`, &actors.Invalid{Reason: `frame has a duplicate key "content"`}},
		{"duplicate escaped key", `{"type":"ping","typ\u0065":"ping"}`, &actors.Invalid{Reason: `frame has a duplicate key "type"`}},
		{"duplicate unknown key", `{"type":"ping","x":1,"x":2}`, &actors.Invalid{Reason: `frame has a duplicate key "x"`}},
		{"duplicate among many unknown keys", `{"type":"ping","a":0,"b":0,"c":0,"d":0,"e":0,"f":0,"g":0,"h":0,"i":0,"j":0,"e":1}`,
			&actors.Invalid{Reason: `frame has a duplicate key "e"`}},
		{"many unknown keys", `{"type":"ping","a":0,"b":0,"c":0,"d":0,"e":0,"f":0,"g":0,"h":0,"i":0,"j":0}`, &actors.Ping{}},
		{"duplicate in a nested object is not a frame key", `{"type":"ping","x":{"a":1,"a":2}}`, &actors.Ping{}},
		{"duplicate then bad JSON", `{"type":"ping","type":"ping",}`, &actors.Invalid{Reason: "frame is not a JSON object"}},
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

// TestDecodeFrameDepth checks that deeply nested values of unknown keys are
// walked without recursion and refused where encoding/json refuses them
// (past 10000 levels, the frame itself being the first).
func TestDecodeFrameDepth(t *testing.T) {
	nest := func(open, middle, close string, levels int) string {
		return `{"type":"ping","x":` + strings.Repeat(open, levels) + middle + strings.Repeat(close, levels) + `}`
	}
	tests := []struct {
		name  string
		frame string
		want  any
	}{
		{"arrays at the limit", nest("[", "", "]", maxJSONDepth-1), &actors.Ping{}},
		{"arrays past the limit", nest("[", "", "]", maxJSONDepth), &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"objects at the limit", nest(`{"a":`, "0", "}", maxJSONDepth-1), &actors.Ping{}},
		{"objects past the limit", nest(`{"a":`, "0", "}", maxJSONDepth), &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"mixed at the limit", nest(`[1,{"a":`, "[]", "}]", (maxJSONDepth-2)/2), &actors.Ping{}},
		{"mixed past the limit", nest(`[1,{"a":`, "[]", "}]", maxJSONDepth/2), &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"a megabyte of brackets", nest("[", "", "]", 1<<20), &actors.Invalid{Reason: "frame is not a JSON object"}},
		{"unclosed brackets", `{"type":"ping","x":` + strings.Repeat("[", 1<<20), &actors.Invalid{Reason: "frame is not a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeFrame([]byte(tt.frame))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decodeFrame = %#v, want %#v", got, tt.want)
			}
			if _, invalid := got.(*actors.Invalid); invalid == json.Valid([]byte(tt.frame)) {
				t.Fatalf("decodeFrame = %#v, but json.Valid = %v", got, json.Valid([]byte(tt.frame)))
			}
		})
	}
}

// decodeFrameJSON is decodeFrame as it was written on encoding/json, the
// reference FuzzDecodeFrame compares with. encoding/json matches keys
// without regard to case and keeps the last of duplicates, which is why it
// was replaced.
func decodeFrameJSON(b []byte) any {
	var f struct {
		Type    *string `json:"type"`
		Token   *string `json:"token"`
		Content *string `json:"content"`
		ID      *string `json:"id"`
	}
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	err := json.Unmarshal(b, &f)
	var typeErr *json.UnmarshalTypeError
	if err != nil && (!errors.As(err, &typeErr) || typeErr.Field == "") {
		return &actors.Invalid{Reason: "frame is not a JSON object"}
	}
	if f.Type == nil || (typeErr != nil && typeErr.Field == "type") {
		return &actors.Invalid{Reason: `frame needs a string "type"`}
	}
	switch *f.Type {
	case "authenticate":
		tokenOK := f.Token != nil && (typeErr == nil || typeErr.Field != "token")
		return &actors.Authenticate{Token: deref(f.Token), TokenOK: tokenOK}
	case "message":
		if typeErr != nil {
			return &actors.Invalid{Reason: strconv.Quote(typeErr.Field) + " must be a string"}
		}
		id := deref(f.ID)
		if utf8.RuneCountInString(id) > maxIDChars {
			return &actors.Invalid{Reason: `"id" is longer than 64 characters`}
		}
		return &actors.ChatMessage{ID: id, Content: deref(f.Content)}
	case "cancel":
		return &actors.Cancel{}
	case "ping":
		return &actors.Ping{}
	default:
		return &actors.Invalid{Reason: "unknown frame type " + strconv.Quote(truncate(*f.Type, 32))}
	}
}

// frameKeys lists the top-level keys of a valid JSON object, decoded, and
// the raw value of each; ok is false for any other JSON value.
func frameKeys(b []byte) (keys []string, vals []json.RawMessage, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, false
		}
		keys, vals = append(keys, tok.(string)), append(vals, v)
	}
	return keys, vals, true
}

// FuzzDecodeFrame checks that no input panics, that every result is one of
// the messages a session understands, that a frame is "not a JSON object"
// exactly when encoding/json says so, that a repeated key always makes the
// frame invalid, and that otherwise the decoder agrees with encoding/json
// (decodeFrameJSON) once the keys that differ from a known one only in case
// are left out: on exactly-cased frames, it agrees on the frame itself.
func FuzzDecodeFrame(f *testing.F) {
	token := `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJl`
	for _, s := range []string{
		`{"type":"authenticate","token":"` + token + `"}`,
		`{"type":"message","content":"What is compound interest?","id":"m-1"}`,
		`{"type":"message","content":"Budget: 1\u00a0200 €\nsavings?","id":"m-2"}`,
		`{"type":"cancel"}`, `{"type":"ping"}`, ` { "type" : "ping" } `,
		`{`, `null`, `[]`, `"ping"`, `{"type":null}`, `{"type":"message","content":null}`,
		`{"type":"message","content":{},"id":5}`, `{"type":"authenticate","token":5}`,
		`{"TYPE":"ping"}`, `{"Type":"authenticate","TOKEN":"x"}`, `{"type":"authenticate","Token":"x"}`,
		`{"type":"message","CONTENT":"hi","Id":"1"}`, `{"type":"authenticate","to\u212aen":"x"}`,
		`{"type":"ping","type":"cancel"}`, `{"type":"authenticate","token":"a","token":"b"}`,
		`{"type":"ping","x":1,"x":2}`, `{"type":"ping","typ\u0065":"ping"}`,
		`{"type":"ping","x":{"a":[1,{"b":null}],"a":"}"}}`, `{"type":"ping","x":[[[[[[[[]]]]]]]]}`,
		`{"type":"message","content":"\ud83d\ude00\ud800\udc00\udc00","id":"\u00e9"}`,
		"{\"type\":\"message\",\"content\":\"\xff\xfe\"}",
	} {
		f.Add([]byte(s))
	}
	known := []string{"type", "token", "content", "id"}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := decodeFrame(b)
		switch m := got.(type) {
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
		notJSON := reflect.DeepEqual(got, &actors.Invalid{Reason: "frame is not a JSON object"})
		keys, vals, isObject := frameKeys(b)
		if wantNotJSON := !json.Valid(b) || (!isObject && string(bytes.TrimSpace(b)) != "null"); notJSON != wantNotJSON {
			t.Fatalf("decodeFrame(%q) = %#v; json.Valid = %v", b, got, json.Valid(b))
		}
		if notJSON {
			return
		}
		// The reference reads the frame without its miscased keys, which
		// encoding/json would take for the fields they resemble.
		exact := []byte{'{'}
		seen := map[string]bool{}
		for i, k := range keys {
			if seen[k] {
				if m, ok := got.(*actors.Invalid); !ok || !strings.HasPrefix(m.Reason, "frame has a duplicate key ") {
					t.Fatalf("decodeFrame(%q) = %#v despite the repeated key %q", b, got, k)
				}
				return
			}
			seen[k] = true
			if slices.ContainsFunc(known, func(name string) bool { return k != name && strings.EqualFold(k, name) }) {
				continue
			}
			if len(exact) > 1 {
				exact = append(exact, ',')
			}
			name, _ := json.Marshal(k)
			exact = append(append(append(exact, name...), ':'), vals[i]...)
		}
		exact = append(exact, '}')
		if !isObject {
			exact = b
		}
		want := decodeFrameJSON(exact)
		// encoding/json fills a pointer field before it finds the value has
		// the wrong type, so when two fields are mistyped it reads the second
		// as "". The new decoder reads any mistyped field as missing. Both
		// mean the same to a session: an empty token is a missing token.
		for _, m := range []any{got, want} {
			if a, ok := m.(*actors.Authenticate); ok && a.Token == "" {
				a.TokenOK = false
			}
		}
		if reflect.DeepEqual(want, &actors.Invalid{Reason: `unknown frame type ""`}) {
			for i, k := range keys {
				if k == "type" && vals[i][0] != '"' {
					want = &actors.Invalid{Reason: `frame needs a string "type"`}
				}
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeFrame(%q) = %#v; encoding/json gives %#v", b, got, want)
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

// benchFrames are the frames a session sees most: the first frame,
// keepalives, and chat messages in plain ASCII and with escapes and
// non-ASCII text.
var benchFrames = []struct{ name, frame string }{
	{"authenticate", `{"type":"authenticate","token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTAwMDEyMyIsImlzcyI6IndlYWx0aGNvYWNoIiwiYXVkIjoiYXBwIiwiZXhwIjoxNzAwMDAwMDAwfQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2k"}`},
	{"ping", `{"type":"ping"}`},
	{"message", `{"type":"message","content":"What is compound interest and how should I use it?","id":"m-17"}`},
	{"message escaped", `{"type":"message","content":"Mon budget: 1\u00a0200 € par mois.\nQue faire de l'épargne ?","id":"m-18"}`},
}

func BenchmarkDecodeFrame(b *testing.B) { benchmarkDecode(b, decodeFrame) }

// BenchmarkDecodeFrameEncodingJSON is the baseline: the decoder as it was
// written on encoding/json.
func BenchmarkDecodeFrameEncodingJSON(b *testing.B) { benchmarkDecode(b, decodeFrameJSON) }

func benchmarkDecode(b *testing.B, decode func([]byte) any) {
	for _, f := range benchFrames {
		b.Run(f.name, func(b *testing.B) {
			in := []byte(f.frame)
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				_ = decode(in)
			}
		})
	}
}
