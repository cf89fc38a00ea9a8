package loadtest

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// fakeChat is a chat endpoint that speaks just enough of the protocol for
// the engine: it accepts any token but "bad", and answers each message as
// answer says.
type fakeChat struct {
	gws.BuiltinEventHandler
	answer func(c *gws.Conn, id, content string)
}

func (f *fakeChat) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	var in struct{ Type, Token, Content, ID string }
	if err := json.Unmarshal(m.Bytes(), &in); err != nil {
		_ = c.WriteClose(1003, []byte("not JSON"))
		return
	}
	switch {
	case in.Type == "authenticate" && in.Token == "bad":
		send(c, map[string]any{"type": "error", "code": "auth_failed", "message": "Authentication failed"})
		_ = c.WriteClose(1008, []byte("Authentication failed"))
	case in.Type == "authenticate":
		send(c, map[string]any{"type": "connected", "session_id": "s", "user_id": "u"})
	case in.Type == "message":
		f.answer(c, in.ID, in.Content)
	}
}

func send(c *gws.Conn, v map[string]any) {
	b, _ := json.Marshal(v)
	_ = c.WriteMessage(gws.OpcodeText, b)
}

// streamed answers in two frames, or in one cached frame when the
// question comes from the fixed set, as the server's cache would.
func streamed(c *gws.Conn, id, content string) {
	if slices.Contains(questions, content) {
		send(c, map[string]any{"type": "response", "reply_to": id, "content": "ok", "done": true, "cached": true, "finish_reason": "stop"})
		return
	}
	send(c, map[string]any{"type": "response", "reply_to": id, "content": "o", "delta": "o"})
	send(c, map[string]any{"type": "response", "reply_to": id, "content": "ok", "delta": "k", "done": true, "finish_reason": "stop"})
}

// startFake serves a fakeChat on loopback and returns its ws:// URL.
func startFake(t *testing.T, answer func(c *gws.Conn, id, content string)) string {
	t.Helper()
	up := gws.NewUpgrader(&fakeChat{answer: answer}, &gws.ServerOption{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/chat"
}

func TestRun(t *testing.T) {
	o := Options{URL: startFake(t, streamed), Sessions: 6, Users: 3, UserPrefix: "u", Token: fakeToken,
		Ramp: 50 * time.Millisecond, MaxHandshakes: 2, Messages: 2, Repeat: 0.5, Timeout: 10 * time.Second}
	if runtime.GOOS == "linux" {
		o.ServerPID = os.Getpid()
	}
	var progress bytes.Buffer
	rep, err := Run(t.Context(), o, &progress)
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	rep.PrintTable(&table)
	t.Logf("report:\n%s", table.String())
	if rep.ErrorCount != 0 || rep.Stopped != "" {
		t.Fatalf("%d errors, stopped %q: %+v", rep.ErrorCount, rep.Stopped, rep.Errors)
	}
	// Repeat 0.5 of 2 messages is one repeated question per session.
	if rep.Connected != 6 || rep.Answers != 12 || rep.Cached != 6 {
		t.Errorf("connected %d, answers %d, cached %d; want 6, 12, 6", rep.Connected, rep.Answers, rep.Cached)
	}
	for _, name := range []string{MetricConnect, MetricAuth, MetricFirstToken, MetricAnswer, MetricCached} {
		l := rep.Metric(name)
		if l.Count != 6 {
			t.Errorf("%s: count %d, want 6", name, l.Count)
		}
		if l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max {
			t.Errorf("%s: percentiles out of order: %+v", name, l)
		}
	}
	if o.ServerPID != 0 && (rep.Server == nil || rep.Server.Warning != "" || rep.Server.RSSConnected == 0 || rep.Server.RSSChatted == 0) {
		t.Errorf("server samples: %+v", rep.Server)
	}
	for _, want := range []string{"connected  6 of 6", "answered   12 of 12 (6 cached)", "whole answer (fresh)", "errors: none"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if !strings.Contains(progress.String(), "answered") {
		t.Errorf("no progress bar for the chat phase:\n%s", progress.String())
	}
}

// TestRunCountsErrors checks that each way a session can fail is counted
// under its own kind, and that sessions a run cut short say so.
func TestRunCountsErrors(t *testing.T) {
	silent := func(*gws.Conn, string, string) {}
	cases := []struct {
		name    string
		answer  func(c *gws.Conn, id, content string)
		mod     func(*Options)
		want    map[string]int64
		stopped string
	}{
		{name: "authentication refused", answer: streamed, mod: func(o *Options) {
			o.Token = func(string) (string, error) { return "bad", nil }
		}, want: map[string]int64{"error auth_failed": 3, "close 1008 Authentication failed": 3}},
		{name: "error frame ends only the message", answer: func(c *gws.Conn, id, _ string) {
			send(c, map[string]any{"type": "error", "code": "rate_limited", "message": "slow down", "reply_to": id})
		}, want: map[string]int64{"error rate_limited": 6}},
		{name: "answer cut short", answer: func(c *gws.Conn, id, _ string) {
			send(c, map[string]any{"type": "response", "reply_to": id, "content": "o", "done": true, "finish_reason": "length"})
		}, want: map[string]int64{`answer finished with "length"`: 6}},
		{name: "connection dropped", answer: func(c *gws.Conn, _, _ string) { _ = c.NetConn().Close() },
			want: map[string]int64{"close 1006 (connection dropped)": 3}},
		{name: "no answer in time", answer: silent, mod: func(o *Options) { o.Timeout = 200 * time.Millisecond },
			want: map[string]int64{"timeout waiting for an answer": 3}},
		{name: "run cap", answer: silent, mod: func(o *Options) { o.Duration = 300 * time.Millisecond },
			want: map[string]int64{"stopped before finishing": 3}, stopped: "--duration 300ms reached"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Options{URL: startFake(t, c.answer), Sessions: 3, Token: fakeToken, Messages: 2, Timeout: 10 * time.Second}
			if c.mod != nil {
				c.mod(&o)
			}
			rep, err := Run(t.Context(), o, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, e := range rep.Errors {
				got[e.Kind] = e.Count
			}
			if !maps.Equal(got, c.want) {
				t.Errorf("errors %v, want %v", got, c.want)
			}
			if rep.Stopped != c.stopped {
				t.Errorf("stopped %q, want %q", rep.Stopped, c.stopped)
			}
		})
	}
}

// reportFields are the JSON summary's fields, which scripts and cmd/bench
// read: adding one is fine, renaming or dropping one breaks them.
var reportFields = []string{
	"answers", "cached_answers", "chat_phase_ms", "client_cpu_ms", "connect_phase_ms", "connected",
	"elapsed_ms", "error_count", "errors", "errors[].count", "errors[].example", "errors[].kind",
	"handshakes_per_second", "hold_ms", "latency", "latency[].count", "latency[].max_ms", "latency[].name",
	"latency[].p50_ms", "latency[].p90_ms", "latency[].p99_ms", "max_handshakes", "messages_per_session",
	"ramp_ms", "repeat", "server", "server.chat_cpu_ms", "server.connect_cpu_ms", "server.cpu_per_answer_ms",
	"server.cpu_per_handshake_ms", "server.pid", "server.rss_before_bytes", "server.rss_chatted_bytes",
	"server.rss_connected_bytes", "server.rss_per_idle_session_bytes", "server.warning", "sessions",
	"source_ips", "stopped", "think_ms", "url", "users",
}

// TestReportJSON checks the summary's field names, and that a report read
// back from its JSON writes the same JSON, as cmd/bench relies on.
func TestReportJSON(t *testing.T) {
	rep := &Report{
		URL: "ws://127.0.0.1:1/ws/chat", Sessions: 2, Users: 1, Messages: 1, Ramp: Milliseconds(time.Second),
		Connected: 2, Answers: 1, ConnectPhase: Milliseconds(1234567), HandshakeRate: 1620.5, Stopped: "interrupted",
		Latency:    []Latency{{Name: MetricConnect, Count: 2, P50: 1, P90: 2, P99: 3, Max: 4}},
		Errors:     []ErrorKind{{Kind: "dial: timeout", Count: 1, Example: "i/o timeout"}},
		ErrorCount: 1,
		Server:     &ServerUsage{PID: 7, CPUPerHandshake: Milliseconds(time.Millisecond), RSSPerSession: 24.5 * 1024, Warning: "gone"},
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	var fields []string
	collectFields(tree, "", &fields)
	slices.Sort(fields)
	if !slices.Equal(fields, reportFields) {
		t.Errorf("JSON fields\n %q\nwant\n %q", fields, reportFields)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("read back: %v\n%s", err, b)
	}
	again, err := json.Marshal(&back)
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("read back and written again:\n%s\nwant\n%s", again, b)
	}
}

// collectFields lists the field paths under v, which path names: "server.pid",
// "latency[].name".
func collectFields(v any, path string, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			name := k
			if path != "" {
				name = path + "." + k
			}
			*out = append(*out, name)
			collectFields(sub, name, out)
		}
	case []any:
		for _, sub := range v[:min(len(v), 1)] {
			collectFields(sub, path+"[]", out)
		}
	}
}

// TestFreeMemoryBeforeEachSample: with FreeMemoryURL the server is asked
// to free memory before each of the three samples, and the CPU time is the
// one read before the request (the collection it causes is not counted).
func TestFreeMemoryBeforeEachSample(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("samples /proc")
	}
	var posts atomic.Int32
	free := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		posts.Add(1)
	}))
	t.Cleanup(free.Close)
	o := Options{URL: startFake(t, streamed), Sessions: 2, Token: fakeToken, Messages: 1, Timeout: 10 * time.Second,
		ServerPID: os.Getpid(), FreeMemoryURL: free.URL + "/debug/free-memory"}
	rep, err := Run(t.Context(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Server == nil || rep.Server.Warning != "" {
		t.Fatalf("server samples: %+v", rep.Server)
	}
	if n := posts.Load(); n != 3 {
		t.Errorf("%d requests to free memory, want 3 (before, connected, after chatting)", n)
	}

	o.FreeMemoryURL = free.URL + "/nowhere"
	free.Config.Handler = http.NotFoundHandler()
	if _, err := Run(t.Context(), o, nil); err == nil || !strings.Contains(err.Error(), "free server memory") {
		t.Errorf("a free-memory URL that answers 404: err = %v", err)
	}
	o.FreeMemoryURL = "http://192.0.2.1/debug/free-memory"
	if _, err := Run(t.Context(), o, nil); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("a remote free-memory URL: err = %v", err)
	}
}
