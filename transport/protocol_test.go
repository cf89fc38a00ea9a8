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
	"time"
	"unicode/utf8"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
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

		// history (SPEC 8.2): limit 1 to 100 and before, both optional.
		{"history", `{"type":"history"}`, &actors.HistoryRequest{}},
		{"history with limit and before", `{"type":"history","limit":20,"before":"m-1"}`, &actors.HistoryRequest{Limit: 20, Before: "m-1"}},
		{"history limit 1", `{"type":"history","limit":1}`, &actors.HistoryRequest{Limit: 1}},
		{"history limit 100", `{"type":"history","limit":100}`, &actors.HistoryRequest{Limit: 100}},
		{"history null limit and before", `{"type":"history","limit":null,"before":null}`, &actors.HistoryRequest{}},
		{"history empty before", `{"type":"history","before":""}`, &actors.HistoryRequest{}},
		{"history escaped before", `{"type":"history","before":"m\u002d1"}`, &actors.HistoryRequest{Before: "m-1"}},
		{"history limit 0", `{"type":"history","limit":0}`, &actors.Invalid{Reason: `"limit" must be from 1 to 100`}},
		{"history limit -0", `{"type":"history","limit":-0}`, &actors.Invalid{Reason: `"limit" must be from 1 to 100`}},
		{"history negative limit", `{"type":"history","limit":-5}`, &actors.Invalid{Reason: `"limit" must be from 1 to 100`}},
		{"history limit 101", `{"type":"history","limit":101}`, &actors.Invalid{Reason: `"limit" must be from 1 to 100`}},
		{"history limit at int32's end", `{"type":"history","limit":2147483647}`, &actors.Invalid{Reason: `"limit" must be from 1 to 100`}},
		{"history limit past int32", `{"type":"history","limit":2147483648}`, &actors.Invalid{Reason: `"limit" must be an integer`}},
		{"history limit below int32", `{"type":"history","limit":-2147483649}`, &actors.Invalid{Reason: `"limit" must be an integer`}},
		{"history limit of 30 digits", `{"type":"history","limit":123456789012345678901234567890}`, &actors.Invalid{Reason: `"limit" must be an integer`}},
		{"history fractional limit", `{"type":"history","limit":2.5}`, &actors.Invalid{Reason: `"limit" must be an integer`}},
		{"history limit 20.0", `{"type":"history","limit":20.0}`, &actors.Invalid{Reason: `"limit" must be an integer`}},
		{"history limit with an exponent", `{"type":"history","limit":2e1}`, &actors.Invalid{Reason: `"limit" must be an integer`}},
		{"history limit as a string", `{"type":"history","limit":"20"}`, &actors.Invalid{Reason: `"limit" must be an integer`}},
		{"history limit true", `{"type":"history","limit":true}`, &actors.Invalid{Reason: `"limit" must be an integer`}},
		{"history limit as a list", `{"type":"history","limit":[20]}`, &actors.Invalid{Reason: `"limit" must be an integer`}},
		{"history before a number", `{"type":"history","before":5}`, &actors.Invalid{Reason: `"before" must be a string`}},
		{"history before of 128 bytes", `{"type":"history","before":"` + strings.Repeat("é", 64) + `"}`,
			&actors.HistoryRequest{Before: strings.Repeat("é", 64)}},
		{"history before of 129 bytes", `{"type":"history","before":"` + strings.Repeat("b", 129) + `"}`,
			&actors.Invalid{Reason: `"before" is longer than 128 bytes`}},
		{"history first wrong type wins", `{"type":"history","before":1,"limit":"x"}`, &actors.Invalid{Reason: `"before" must be a string`}},
		{"history type error before range", `{"type":"history","limit":0,"before":1}`, &actors.Invalid{Reason: `"before" must be a string`}},
		{"history limit in another case", `{"type":"history","Limit":0,"LIMIT":"x"}`, &actors.HistoryRequest{}},
		{"history duplicate limit", `{"type":"history","limit":5,"limit":6}`, &actors.Invalid{Reason: `frame has a duplicate key "limit"`}},
		{"history ignores the message keys", `{"type":"history","limit":3,"content":5,"id":[]}`, &actors.HistoryRequest{Limit: 3}},
		{"message ignores the new keys", `{"type":"message","content":"hi","limit":"x","before":2,"after_seq":1.5}`,
			&actors.ChatMessage{Content: "hi"}},

		// reset (SPEC 8.2).
		{"reset", `{"type":"reset"}`, &actors.Reset{}},
		{"reset with other keys", `{"type":"reset","limit":"x","id":3}`, &actors.Reset{}},
		{"reset in another case", `{"type":"Reset"}`, &actors.Invalid{Reason: `unknown frame type "Reset"`}},

		// resume (SPEC 8.3): id required, after_seq 0 or more, default 0.
		{"resume", `{"type":"resume","id":"a-1","after_seq":7}`, &actors.Resume{ID: "a-1", AfterSeq: 7}},
		{"resume without after_seq", `{"type":"resume","id":"a-1"}`, &actors.Resume{ID: "a-1"}},
		{"resume after_seq 0", `{"type":"resume","id":"a-1","after_seq":0}`, &actors.Resume{ID: "a-1"}},
		{"resume null after_seq", `{"type":"resume","id":"a-1","after_seq":null}`, &actors.Resume{ID: "a-1"}},
		{"resume after_seq at int32's end", `{"type":"resume","id":"a","after_seq":2147483647}`, &actors.Resume{ID: "a", AfterSeq: 2147483647}},
		{"resume escaped after_seq key", `{"type":"resume","id":"a","after\u005fseq":3}`, &actors.Resume{ID: "a", AfterSeq: 3}},
		{"resume negative after_seq", `{"type":"resume","id":"a-1","after_seq":-1}`, &actors.Invalid{Reason: `"after_seq" must be 0 or more`}},
		{"resume fractional after_seq", `{"type":"resume","id":"a-1","after_seq":1.5}`, &actors.Invalid{Reason: `"after_seq" must be an integer`}},
		{"resume after_seq with an exponent", `{"type":"resume","id":"a-1","after_seq":1E3}`, &actors.Invalid{Reason: `"after_seq" must be an integer`}},
		{"resume after_seq past int32", `{"type":"resume","id":"a-1","after_seq":4294967296}`, &actors.Invalid{Reason: `"after_seq" must be an integer`}},
		{"resume after_seq as a string", `{"type":"resume","id":"a-1","after_seq":"3"}`, &actors.Invalid{Reason: `"after_seq" must be an integer`}},
		{"resume without id", `{"type":"resume","after_seq":3}`, &actors.Invalid{Reason: `frame needs a non-empty string "id"`}},
		{"resume empty id", `{"type":"resume","id":""}`, &actors.Invalid{Reason: `frame needs a non-empty string "id"`}},
		{"resume null id", `{"type":"resume","id":null}`, &actors.Invalid{Reason: `frame needs a non-empty string "id"`}},
		{"resume id a number", `{"type":"resume","id":12}`, &actors.Invalid{Reason: `"id" must be a string`}},
		{"resume id of 128 bytes", `{"type":"resume","id":"` + strings.Repeat("i", 128) + `"}`, &actors.Resume{ID: strings.Repeat("i", 128)}},
		{"resume id of 129 bytes", `{"type":"resume","id":"` + strings.Repeat("i", 127) + `é"}`, &actors.Invalid{Reason: `"id" is longer than 128 bytes`}},
		{"resume id in upper case", `{"type":"resume","ID":"a-1"}`, &actors.Invalid{Reason: `frame needs a non-empty string "id"`}},
		{"resume first wrong type wins", `{"type":"resume","after_seq":"x","id":1}`, &actors.Invalid{Reason: `"after_seq" must be an integer`}},
		{"resume duplicate id", `{"type":"resume","id":"a","id":"b"}`, &actors.Invalid{Reason: `frame has a duplicate key "id"`}},
		{"resume ignores the message keys", `{"type":"resume","id":"a","content":1,"token":2}`, &actors.Resume{ID: "a"}},
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
	case "history":
		var h struct {
			Limit  *int32  `json:"limit"`
			Before *string `json:"before"`
		}
		if m := typeErrorJSON(json.Unmarshal(b, &h)); m != nil {
			return m
		}
		if h.Limit != nil && (*h.Limit < 1 || *h.Limit > 100) {
			return &actors.Invalid{Reason: `"limit" must be from 1 to 100`}
		}
		if len(deref(h.Before)) > 128 {
			return &actors.Invalid{Reason: `"before" is longer than 128 bytes`}
		}
		limit := 0
		if h.Limit != nil {
			limit = int(*h.Limit)
		}
		return &actors.HistoryRequest{Limit: limit, Before: deref(h.Before)}
	case "reset":
		return &actors.Reset{}
	case "resume":
		var r struct {
			ID       *string `json:"id"`
			AfterSeq *int32  `json:"after_seq"`
		}
		if m := typeErrorJSON(json.Unmarshal(b, &r)); m != nil {
			return m
		}
		id := deref(r.ID)
		switch {
		case id == "":
			return &actors.Invalid{Reason: `frame needs a non-empty string "id"`}
		case len(id) > 128:
			return &actors.Invalid{Reason: `"id" is longer than 128 bytes`}
		}
		afterSeq := 0
		if r.AfterSeq != nil {
			afterSeq = int(*r.AfterSeq)
		}
		if afterSeq < 0 {
			return &actors.Invalid{Reason: `"after_seq" must be 0 or more`}
		}
		return &actors.Resume{ID: id, AfterSeq: afterSeq}
	default:
		return &actors.Invalid{Reason: "unknown frame type " + strconv.Quote(truncate(*f.Type, 32))}
	}
}

// typeErrorJSON turns the first type error encoding/json met while reading
// a frame into the frame's refusal, or returns nil: an int32 field takes
// only integers in its range, as kindInteger does.
func typeErrorJSON(err error) *actors.Invalid {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		return nil
	}
	kind := "a string"
	if typeErr.Type.Kind() == reflect.Int32 {
		kind = "an integer"
	}
	return &actors.Invalid{Reason: strconv.Quote(typeErr.Field) + " must be " + kind}
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
		`{"type":"history"}`, `{"type":"history","limit":20,"before":"m-1"}`, `{"type":"history","limit":100}`,
		`{"type":"history","limit":0}`, `{"type":"history","limit":-1}`, `{"type":"history","limit":101}`,
		`{"type":"history","limit":2.5}`, `{"type":"history","limit":1e2}`, `{"type":"history","limit":-0}`,
		`{"type":"history","limit":2147483648}`, `{"type":"history","limit":"5","before":7}`,
		`{"type":"history","before":"` + strings.Repeat("b", 129) + `"}`, `{"type":"history","LIMIT":3,"Before":"x"}`,
		`{"type":"message","content":"hi","limit":"x","after_seq":1.5}`,
		`{"type":"reset"}`, `{"type":"reset","limit":[]}`,
		`{"type":"resume","id":"a-1","after_seq":3}`, `{"type":"resume","id":"a-1"}`, `{"type":"resume"}`,
		`{"type":"resume","id":"","after_seq":-1}`, `{"type":"resume","id":5,"after_seq":"x"}`,
		`{"type":"resume","id":"a","after_seq":-2147483648}`, `{"type":"resume","id":"a","after\u005fseq":1}`,
		`{"type":"resume","id":"a","AFTER_SEQ":1,"after_\u017feq":2}`,
	} {
		f.Add([]byte(s))
	}
	known := []string{"type", "token", "content", "id", "limit", "before", "after_seq"}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := decodeFrame(b)
		switch m := got.(type) {
		case *actors.Authenticate, *actors.Cancel, *actors.Ping, *actors.Reset:
		case *actors.ChatMessage:
			if utf8.RuneCountInString(m.ID) > maxIDChars {
				t.Fatalf("id of %d characters accepted", utf8.RuneCountInString(m.ID))
			}
		case *actors.HistoryRequest:
			if m.Limit < 0 || m.Limit > maxHistoryLimit || len(m.Before) > maxRefBytes {
				t.Fatalf("history request %+v accepted", m)
			}
		case *actors.Resume:
			if m.ID == "" || len(m.ID) > maxRefBytes || m.AfterSeq < 0 {
				t.Fatalf("resume %+v accepted", m)
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
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.FixedZone("x", 3600))
	frames := [][]byte{
		appendConnected(nil, &actors.Welcome{SessionID: "s1", UserID: `u"1`}),
		appendConnected(nil, &actors.Welcome{SessionID: "s1", UserID: "u", ConversationID: "c1", History: 4, Notice: "AI coach",
			Pending: []actors.PendingAnswer{{ID: "a1", ReplyTo: "m1", Seq: 3}, {ID: "a2", Seq: 9, Done: true}}}),
		appendAnswer(nil, &actors.Answer{ID: "a", ReplyTo: "r", Content: "x\ny", Delta: "y", Seq: 2}),
		appendAnswer(nil, &actors.Answer{ID: "a", Content: "x", Delta: "x", Seq: 1, Done: true, Cached: true, FinishReason: "stop"}),
		appendAnswer(nil, &actors.Answer{ID: "a", Content: "x", Delta: "", Seq: 5, Done: true, FinishReason: "stop",
			Model: "m", Usage: &actors.Usage{PromptTokens: 7, CompletionTokens: 3}}),
		appendError(nil, &actors.ErrorFrame{Code: actors.CodeRateLimited, Message: "slow", ReplyTo: "q", RetryAfter: 3}),
		appendError(nil, &actors.ErrorFrame{Code: actors.CodeBusy, Message: "busy"}),
		pongFrame,
		appendHistory(nil, &actors.HistoryPage{ConversationID: "c1", More: true, Messages: []actors.HistoryMessage{
			{ID: "q1", Role: "user", Content: "hi", At: at},
			{ID: "a1", Role: "assistant", Content: "hello", At: at, ReplyTo: "m1", Cached: true},
		}}),
		appendHistory(nil, &actors.HistoryPage{ConversationID: "c1", Messages: []actors.HistoryMessage{}}),
		appendReset(nil, "c2"),
		appendError(nil, &actors.ErrorFrame{Code: actors.CodeTokenExpiring, Message: "soon", ExpiresIn: 60}),
		appendError(nil, &actors.ErrorFrame{Code: actors.CodeRefreshRefused, Message: "no"}),
		appendReauthenticated(nil, time.Unix(1796112000, 0)),
	}
	want := []map[string]any{
		{"type": "connected", "session_id": "s1", "user_id": `u"1`, "protocol": "1.1", "conversation_id": "", "history": 0.0,
			"pending": []any{}},
		{"type": "connected", "session_id": "s1", "user_id": "u", "protocol": "1.1", "conversation_id": "c1", "history": 4.0,
			"notice": "AI coach", "pending": []any{
				map[string]any{"id": "a1", "reply_to": "m1", "seq": 3.0, "done": false},
				map[string]any{"id": "a2", "seq": 9.0, "done": true}}},
		{"type": "response", "id": "a", "reply_to": "r", "content": "x\ny", "delta": "y", "done": false, "cached": false, "seq": 2.0},
		{"type": "response", "id": "a", "content": "x", "delta": "x", "done": true, "cached": true, "finish_reason": "stop", "seq": 1.0},
		{"type": "response", "id": "a", "content": "x", "delta": "", "done": true, "cached": false, "finish_reason": "stop", "seq": 5.0,
			"model": "m", "usage": map[string]any{"prompt_tokens": 7.0, "completion_tokens": 3.0}},
		{"type": "error", "code": "rate_limited", "message": "slow", "reply_to": "q", "retry_after": 3.0},
		{"type": "error", "code": "busy", "message": "busy"},
		{"type": "pong"},
		{"type": "history", "conversation_id": "c1", "more": true, "messages": []any{
			map[string]any{"id": "q1", "role": "user", "content": "hi", "at": "2026-12-01T08:30:00Z"},
			map[string]any{"id": "a1", "role": "assistant", "content": "hello", "at": "2026-12-01T08:30:00Z", "reply_to": "m1", "cached": true},
		}},
		{"type": "history", "conversation_id": "c1", "more": false, "messages": []any{}},
		{"type": "reset", "conversation_id": "c2"},
		{"type": "error", "code": "token_expiring", "message": "soon", "expires_in": 60.0},
		{"type": "error", "code": "invalid_token", "message": "no"},
		{"type": "reauthenticated", "expires_at": 1796112000.0},
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

// TestClientReadsEveryFrame decodes the server's frames with the test
// client, which every end-to-end test reads them with: a field the client
// misses or misnames would make those tests see zero values.
func TestClientReadsEveryFrame(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name  string
		frame []byte
		want  wsclient.Frame
	}{
		{"connected",
			appendConnected(nil, &actors.Welcome{SessionID: "s1", UserID: "u1", ConversationID: "c1", History: 4, Notice: "AI coach",
				Pending: []actors.PendingAnswer{{ID: "a1", ReplyTo: "m1", Seq: 3}, {ID: "a2", Seq: 9, Done: true}}}),
			wsclient.Frame{Type: "connected", SessionID: "s1", UserID: "u1", Protocol: "1.1", ConversationID: "c1", History: 4,
				Notice: "AI coach", Pending: []wsclient.Pending{{ID: "a1", ReplyTo: "m1", Seq: 3}, {ID: "a2", Seq: 9, Done: true}}}},
		{"response",
			appendAnswer(nil, &actors.Answer{ID: "a1", ReplyTo: "m1", Content: "ab", Delta: "b", Seq: 2}),
			wsclient.Frame{Type: "response", ID: "a1", ReplyTo: "m1", Content: "ab", Delta: "b", Seq: 2}},
		{"done response",
			appendAnswer(nil, &actors.Answer{ID: "a1", Content: "ab", Delta: "", Seq: 3, Done: true, FinishReason: "stop",
				Model: "gpt", Usage: &actors.Usage{PromptTokens: 7, CompletionTokens: 3}}),
			wsclient.Frame{Type: "response", ID: "a1", Content: "ab", Seq: 3, Done: true, FinishReason: "stop",
				Model: "gpt", Usage: &wsclient.Usage{PromptTokens: 7, CompletionTokens: 3}}},
		{"history",
			appendHistory(nil, &actors.HistoryPage{ConversationID: "c1", More: true, Messages: []actors.HistoryMessage{
				{ID: "q1", Role: "user", Content: "hi", At: at},
				{ID: "a1", Role: "assistant", Content: "hello", At: at, ReplyTo: "m1", Cached: true},
			}}),
			wsclient.Frame{Type: "history", ConversationID: "c1", More: true, Messages: []wsclient.Message{
				{ID: "q1", Role: "user", Content: "hi", At: at},
				{ID: "a1", Role: "assistant", Content: "hello", At: at, ReplyTo: "m1", Cached: true},
			}}},
		{"reset", appendReset(nil, "c2"), wsclient.Frame{Type: "reset", ConversationID: "c2"}},
		{"error", appendError(nil, &actors.ErrorFrame{Code: actors.CodeNotFound, Message: "no such answer", ReplyTo: "m1"}),
			wsclient.Frame{Type: "error", Code: "not_found", Message: "no such answer", ReplyTo: "m1"}},
		{"token_expiring", appendError(nil, &actors.ErrorFrame{Code: actors.CodeTokenExpiring, Message: "soon", ExpiresIn: 60}),
			wsclient.Frame{Type: "error", Code: "token_expiring", Message: "soon", ExpiresIn: 60}},
		{"reauthenticated", appendReauthenticated(nil, time.Unix(1796112000, 0)),
			wsclient.Frame{Type: "reauthenticated", ExpiresAt: 1796112000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got wsclient.Frame
			if err := json.Unmarshal(tt.frame, &got); err != nil {
				t.Fatalf("%s: %v", tt.frame, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("client reads %s as\n%+v, want\n%+v", tt.frame, got, tt.want)
			}
		})
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
