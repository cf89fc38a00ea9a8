package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lxzan/gws"

	"github.com/wealthwarriors/wealthcoach/internal/loadtest"
)

// resumeServer is a stand-in for the chat server's resume path (SPEC
// 8.3), just enough to drive the resume client through each outcome: an
// answer's first frame, a dropped socket that the server notices late, the
// pending list, and the resumed frames.
type resumeServer struct {
	secret   []byte
	refuse   bool // answer every resume not_found
	cached   bool // answer every question at once, in one done frame
	gap      bool // the resumed frame's delta skips text
	upgrader *gws.Upgrader

	mu      sync.Mutex
	answers map[string]*fakeAnswer // by user
}

type fakeAnswer struct {
	id      string
	dropped bool // the socket dropped while it streamed
	hidden  int  // connects after the drop that do not list it yet
	listed  bool // a connected frame listed it
}

// fakeConn is one connection: its user and the answer it streams.
type fakeConn struct {
	noStore
	user, answer string
}

type noStore struct{}

func (noStore) Len() int                     { return 0 }
func (noStore) Load(string) (any, bool)      { return nil, false }
func (noStore) Delete(string)                {}
func (noStore) Store(string, any)            {}
func (noStore) Range(func(string, any) bool) {}

func newResumeServer(t *testing.T, secret []byte) (*resumeServer, string) {
	s := &resumeServer{secret: secret, answers: map[string]*fakeAnswer{}}
	s.upgrader = gws.NewUpgrader(s, &gws.ServerOption{NewSession: func() gws.SessionStorage { return &fakeConn{} }})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if socket, err := s.upgrader.Upgrade(w, r); err == nil {
			go socket.ReadLoop()
		}
	}))
	t.Cleanup(srv.Close)
	return s, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/chat"
}

func (s *resumeServer) OnOpen(*gws.Conn)             {}
func (s *resumeServer) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }
func (s *resumeServer) OnPong(*gws.Conn, []byte)     {}

func (s *resumeServer) OnClose(socket *gws.Conn, _ error) {
	c := socket.Session().(*fakeConn)
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.answers[c.user]; a != nil && a.id == c.answer {
		a.dropped, a.hidden = true, 1
	}
}

func (s *resumeServer) OnMessage(socket *gws.Conn, m *gws.Message) {
	defer m.Close()
	c := socket.Session().(*fakeConn)
	var f struct {
		Type, Token, Content, ID string
		AfterSeq                 int `json:"after_seq"`
	}
	if err := json.Unmarshal(m.Bytes(), &f); err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f.Type {
	case "authenticate":
		tok, err := jwt.Parse(f.Token, func(*jwt.Token) (any, error) { return s.secret, nil }, jwt.WithValidMethods([]string{"HS256"}))
		if err != nil {
			send(socket, map[string]any{"type": "error", "code": "invalid_token"})
			_ = socket.WriteClose(1008, []byte("Invalid token"))
			return
		}
		c.user, _ = tok.Claims.GetSubject()
		pending := []map[string]any{}
		if a := s.answers[c.user]; a != nil && a.dropped {
			if a.hidden > 0 {
				a.hidden-- // the server has not registered the drop yet
			} else {
				a.listed = true
				pending = append(pending, map[string]any{"id": a.id, "seq": 1, "done": false})
			}
		}
		send(socket, map[string]any{"type": "connected", "user_id": c.user, "pending": pending})
	case "message":
		a := &fakeAnswer{id: "a-" + c.user}
		if s.cached {
			send(socket, map[string]any{"type": "response", "id": a.id, "reply_to": f.ID, "content": "Hello world", "delta": "Hello world",
				"seq": 1, "done": true, "cached": true, "finish_reason": "stop"})
			return
		}
		s.answers[c.user], c.answer = a, a.id
		send(socket, map[string]any{"type": "response", "id": a.id, "reply_to": f.ID, "content": "Hel", "delta": "Hel", "seq": 1})
	case "resume":
		a := s.answers[c.user]
		if s.refuse || a == nil || a.id != f.ID || !a.listed || f.AfterSeq != 1 {
			send(socket, map[string]any{"type": "error", "code": "not_found", "message": "no interrupted answer with that id"})
			return
		}
		delta := "lo"
		if s.gap {
			delta = "o"
		}
		send(socket, map[string]any{"type": "response", "id": a.id, "content": "Hello", "delta": delta, "seq": 2, "resumed": true})
		send(socket, map[string]any{"type": "response", "id": a.id, "content": "Hello world", "delta": " world", "seq": 3,
			"done": true, "finish_reason": "stop"})
		delete(s.answers, c.user)
	}
}

func send(socket *gws.Conn, v any) {
	b, _ := json.Marshal(v)
	_ = socket.WriteMessage(gws.OpcodeText, b)
}

func runAgainst(t *testing.T, s *resumeServer, url string, sessions int) *resumeReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := runResume(ctx, resumeOptions{URL: url, Sessions: sessions, UserPrefix: "u", Secret: s.secret,
		Ramp: 100 * time.Millisecond, MaxHandshakes: 4, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestResumeClient drives every session through a drop the server notices
// only after a reconnect: the client must connect again until the answer
// is listed pending, then resume it from the frame it saw.
func TestResumeClient(t *testing.T) {
	secret := []byte("resume-test-secret")
	s, url := newResumeServer(t, secret)
	rep := runAgainst(t, s, url, 20)
	if rep.ErrorCount != 0 {
		t.Fatalf("errors: %+v", rep.Errors)
	}
	if rep.Resumed != 20 || rep.Completed != 20 || len(rep.First) != 20 {
		t.Errorf("resumed %d, completed %d, %d times; want 20 each", rep.Resumed, rep.Completed, len(rep.First))
	}
	if rep.Relisted < 20 {
		t.Errorf("%d reconnects before the answer was listed, want one per session at least", rep.Relisted)
	}
	if p99, ok := rep.percentile(0.99); !ok || p99 <= 0 {
		t.Errorf("p99 %v, %v", p99, ok)
	}
}

// TestResumeClientCountsRefusals counts a resume answered not_found as an
// error, and times nothing for it.
func TestResumeClientCountsRefusals(t *testing.T) {
	secret := []byte("resume-test-secret")
	s, url := newResumeServer(t, secret)
	s.refuse = true
	rep := runAgainst(t, s, url, 5)
	if rep.ErrorCount != 5 || len(rep.Errors) != 1 || rep.Errors[0].Kind != "error not_found" {
		t.Errorf("errors %d: %+v, want 5× error not_found", rep.ErrorCount, rep.Errors)
	}
	if rep.Resumed != 0 || rep.Completed != 0 {
		t.Errorf("resumed %d, completed %d: a refused resume is neither", rep.Resumed, rep.Completed)
	}
	if _, ok := rep.percentile(0.99); ok {
		t.Error("a percentile without any resumed answer")
	}
}

// TestResumeClientChecksContinuity counts a resumed frame whose delta does
// not continue the text seen before the drop as an error.
func TestResumeClientChecksContinuity(t *testing.T) {
	secret := []byte("resume-test-secret")
	s, url := newResumeServer(t, secret)
	s.gap = true
	rep := runAgainst(t, s, url, 5)
	if rep.ErrorCount != 5 || rep.Errors[0].Kind != "resumed frames do not continue the answer" {
		t.Errorf("errors %d: %+v, want 5× a gap", rep.ErrorCount, rep.Errors)
	}
	if rep.Completed != 0 {
		t.Errorf("completed %d answers with a gap", rep.Completed)
	}
}

// TestResumeClientNeedsARunningAnswer counts an answer that was already
// whole at its first frame (a cache hit) as an error: there is nothing to
// resume, and no time to count.
func TestResumeClientNeedsARunningAnswer(t *testing.T) {
	secret := []byte("resume-test-secret")
	s, url := newResumeServer(t, secret)
	s.cached = true
	rep := runAgainst(t, s, url, 3)
	if rep.ErrorCount != 3 || rep.Errors[0].Kind != "answer finished before the drop" || rep.Resumed != 0 {
		t.Errorf("errors %d: %+v, resumed %d", rep.ErrorCount, rep.Errors, rep.Resumed)
	}
}

func TestResumeSummary(t *testing.T) {
	rep := &resumeReport{Sessions: 4, Resumed: 3, Completed: 2, First: []time.Duration{time.Millisecond, 2 * time.Millisecond, 9 * time.Millisecond},
		ErrorCount: 2}
	rep.Errors = append(rep.Errors, loadtest.ErrorKind{Kind: "error not_found", Count: 2})
	got := rep.summary()
	for _, want := range []string{"3/4 resumed, 2 finished", "p50 2.00 ms p99 9.00 ms", "2 errors; 2× error not_found"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
}
