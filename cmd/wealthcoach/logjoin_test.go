package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// logLines returns the server's JSON log lines whose msg is msg.
func logLines(t *testing.T, ts *testServer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(ts.logs.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestDroppedConnectionLogJoinsItsSession: the transport's line about a
// slow client it dropped carries the session id of the session's end line,
// the id the client was given in "connected", so that an operator can put
// the two together.
func TestDroppedConnectionLogJoinsItsSession(t *testing.T) {
	ts := startServer(t, serverOpts{
		env: map[string]string{
			"WEALTHCOACH_LOG_FORMAT":               "json",
			"WEALTHCOACH_LIMITS_MAX_PENDING_BYTES": "262144",
			"WEALTHCOACH_STREAM_FLUSH_BYTES":       "64",
			"WEALTHCOACH_STREAM_FLUSH_INTERVAL":    "1ms",
			"WEALTHCOACH_LLM_MAX_TOKENS":           "100000",
			// A drop ends the session at once, as in protocol 1.0, rather
			// than after the resume window.
			"WEALTHCOACH_STREAM_RESUME_WINDOW": "0",
		},
		fake: llmfake.Options{Tokens: 30000},
	})
	ts.addUser("sly", nil)
	c := ts.dial()
	if err := c.Authenticate(token(t, "sly", nil)); err != nil {
		t.Fatal(err)
	}
	f := next(t, c)
	if f.Type != "connected" || f.SessionID == "" {
		t.Fatalf("want connected, got %s", f.Raw)
	}
	c.Pause() // stop reading; the server's writes back up
	mustSend(t, c, msg("tell me everything"))
	testutil.WaitFor(t, 20*time.Second, "the session's end line", func() bool {
		return len(logLines(t, ts, "session ended")) == 1 && len(logLines(t, ts, "dropping connection")) == 1
	})
	c.Resume()

	ended := logLines(t, ts, "session ended")[0]
	dropped := logLines(t, ts, "dropping connection")[0]
	if ended["user"] != "sly" || ended["session"] != f.SessionID {
		t.Fatalf("want the end line of sly's session %s, got %v", f.SessionID, ended)
	}
	if dropped["session"] != f.SessionID {
		t.Fatalf("the transport's line has session %v, want %s (the end line's): %v", dropped["session"], f.SessionID, dropped)
	}
}

// TestRefusedConnectionLogNamesItsAddress: a connection refused at
// admission never had a session; its line names the remote address
// instead, and never the upgrade's query string.
func TestRefusedConnectionLogNamesItsAddress(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{
		"WEALTHCOACH_LOG_FORMAT":          "json",
		"WEALTHCOACH_LIMITS_MAX_SESSIONS": "1",
	}})
	ts.addUser("a", nil)
	ts.connect("a")
	c, _, err := wsclient.Dial(ts.ws+"?debug=querysecret", wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseWithoutFrame() })
	expectClose(t, c, "unavailable", 1013, "Try again later")
	testutil.WaitFor(t, 5*time.Second, "the refusal's line", func() bool {
		return len(logLines(t, ts, "connection refused")) == 1
	})
	refused := logLines(t, ts, "connection refused")[0]
	if remote, _ := refused["remote"].(string); !strings.HasPrefix(remote, "127.0.0.1:") {
		t.Fatalf("want the remote address on the refusal, got %v", refused)
	}
	if _, ok := refused["session"]; ok {
		t.Fatalf("a refused connection has no session, got %v", refused)
	}
	if strings.Contains(ts.logs.String(), "querysecret") {
		t.Fatal("the query string reached the log")
	}
}
