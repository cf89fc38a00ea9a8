package sqlcore

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDecodeMessages(t *testing.T) {
	at := time.Date(2025, 3, 4, 10, 0, 0, 123456000, time.UTC)
	tests := []struct {
		name    string
		raw     string
		want    int
		cached  bool
		wantErr bool
	}{
		{"NULL", "", 0, false, false},
		{"JSON null", "null", 0, false, false},
		{"empty", "[]", 0, false, false},
		{"spaced", "[ [ \"m1\" , \"user\",\n \"hi\", \"a1\", \"r1\", false, \"stop\", 1741082400123456 ] ]", 1, false, false},
		{"two", `[["m1","user","hi","a1","r1",true,"stop",1741082400123456],["m1","user","hi","a1","r1",true,"stop",1741082400123456]]`, 2, true, false},
		{"PostgreSQL", `[["m1","user","hi","a1","r1",true,"stop",1741082400123456]]`, 1, true, false},
		{"SQLite", `[["m1","user","hi","a1","r1",1,"stop","2025-03-04 10:00:00.123456+00:00"]]`, 1, true, false},
		{"SQLite, other zone", `[["m1","user","hi","a1","r1",0,"stop","2025-03-04 11:00:00.123456+01:00"]]`, 1, false, false},
		{"seven fields", `[["m1","user","hi","a1","r1",0,"stop"]]`, 0, false, true},
		{"nine fields", `[["m1","user","hi","a1","r1",0,"stop",0,0]]`, 0, false, true},
		{"unterminated", `[["m1`, 0, false, true},
		{"bad time", `[["m1","user","hi","a1","r1",0,"stop","yesterday"]]`, 0, false, true},
		{"bad text", `[[1,"user","hi","a1","r1",0,"stop",0]]`, 0, false, true},
		{"not JSON", `[[`, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := decodeMessages([]byte(tt.raw), "c1", "u1")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if len(msgs) != tt.want {
				t.Fatalf("%d messages, want %d", len(msgs), tt.want)
			}
			if tt.want == 0 {
				return
			}
			m := msgs[0]
			if m.ID != "m1" || m.Role != "user" || m.Content != "hi" || m.AnswerID != "a1" || m.ReplyTo != "r1" ||
				m.FinishReason != "stop" || m.Cached != tt.cached || m.ConversationID != "c1" || m.UserID != "u1" {
				t.Errorf("message = %+v", m)
			}
			if !m.At.Equal(at) {
				t.Errorf("At = %v, want %v", m.At, at)
			}
		})
	}
}

// Escaped strings decode as encoding/json decodes them.
func TestDecodeMessagesEscapes(t *testing.T) {
	content := "quote \" backslash \\ newline \n tab \t é 😀 \u0001 </b>"
	quoted, err := json.Marshal(content)
	if err != nil {
		t.Fatal(err)
	}
	raw := `[["m\"1",null,` + string(quoted) + `,"a\\","",0,"stop","2025-03-04T10:00:00.123456Z"]]`
	msgs, err := decodeMessages([]byte(raw), "c1", "u1")
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(msgs) != 1 || msgs[0].Content != content || msgs[0].ID != `m"1` || msgs[0].Role != "" || msgs[0].AnswerID != `a\` {
		t.Errorf("messages = %+v", msgs)
	}
	// PostgreSQL and SQLite write non-ASCII raw and escape with \uXXXX.
	msgs, err = decodeMessages([]byte(`[["m1","user","caf\u00e9 \ud83d\ude00","a1","",0,"stop",0]]`), "c1", "u1")
	if err != nil || len(msgs) != 1 || msgs[0].Content != "café 😀" {
		t.Errorf("\\u escapes: %+v, %v", msgs, err)
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain ünïcode", "plain ünïcode"},
		{"a\x00b", "a\uFFFDb"},
		{"a\xffb", "a\uFFFDb"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := cleanText(tt.in); got != tt.want {
			t.Errorf("cleanText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
