package main

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// TestLogsKeepSecretsAndConversations runs whole sessions, including
// failures, and searches everything the server logged, at debug level, for
// the token, the message and answer texts and the upgrade query string.
func TestLogsKeepSecretsAndConversations(t *testing.T) {
	ts := startServer(t, serverOpts{})
	ts.addUser("ivy", nil)
	tok := token(t, "ivy", nil)
	secretQuestion := "my card number is 4111-1111-1111-1111, should I pay it off?"

	c, _, err := wsclient.Dial(ts.ws+"?token="+tok+"&debug=querysecret", wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseWithoutFrame()
	mustSend(t, c, map[string]string{"type": "authenticate", "token": tok})
	if f := next(t, c); f.Type != "connected" {
		t.Fatalf("got %s", f.Raw)
	}
	mustSend(t, c, msg(secretQuestion))
	answer := readAnswer(t, c)
	ts.model.FailNext(llmfake.Failure{CutAfter: 2})
	mustSend(t, c, map[string]string{"type": "message", "content": secretQuestion + " again", "id": "again"})
	errorAfterText(t, c, "llm_unavailable", "again")
	_ = c.Close()

	bad := ts.dial()
	mustSend(t, bad, map[string]string{"type": "authenticate", "token": tok + "tampered"})
	expectClose(t, bad, "invalid_token", 1008, "Invalid token")

	testutil.WaitFor(t, 5*time.Second, "the session end lines", func() bool {
		return strings.Count(ts.logs.String(), `"session ended"`) >= 2
	})
	logs := ts.logs.String()
	for name, secret := range map[string]string{
		"token":        tok[strings.LastIndex(tok, ".")+1:],
		"message":      "4111-1111",
		"answer":       answer[len(answer)-1].Content[:30],
		"query string": "querysecret",
		"api key":      "test-key",
		"jwt secret":   testSecret,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s reached the log", name)
		}
	}
	// The session end line is there, with its stats.
	for _, want := range []string{`"msg":"session ended"`, `"user":"ivy"`, `"messages":2`, `"answers":1`, `"close_code":1000`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

// TestShutdownLetsAnswersFinish sends SIGTERM's equivalent while an answer
// streams: the answer completes, new messages get shutting_down, new
// connections are refused, then every session is closed with 1001.
func TestShutdownLetsAnswersFinish(t *testing.T) {
	ts := startServer(t, serverOpts{
		env:  map[string]string{"WEALTHCOACH_SHUTDOWN_DRAIN_TIMEOUT": "10s"},
		fake: llmfake.Options{Tokens: 30, TokenDelay: 20 * time.Millisecond},
	})
	ts.addUser("jon", nil)
	ts.addUser("kim", nil)
	streaming := ts.connect("jon")
	idle := ts.connect("kim")
	mustSend(t, streaming, map[string]string{"type": "message", "content": "a long one", "id": "L"})
	if f := next(t, streaming); f.Type != "response" || f.Done {
		t.Fatalf("want a first frame, got %s", f.Raw)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()

	// New messages during the drain are refused, the session stays open.
	testutil.WaitFor(t, 5*time.Second, "readiness to turn 503", func() bool {
		resp, err := http.Get(ts.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	mustSend(t, idle, msg("anyone there?"))
	expectError(t, idle, "shutting_down")
	if _, _, err := wsclient.Dial(ts.ws, wsclient.Options{Timeout: 2 * time.Second}); err == nil {
		t.Error("a new connection was accepted during shutdown")
	}

	// The answer in flight finishes.
	var last *wsclient.Frame
	for last == nil || !last.Done {
		last = next(t, streaming)
	}
	if last.FinishReason != "stop" || last.ReplyTo != "L" {
		t.Fatalf("want the answer to finish, got %s", last.Raw)
	}
	expectClose(t, streaming, "", 1001, "Server shutting down")
	expectClose(t, idle, "", 1001, "Server shutting down")
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop")
	}
}

// TestOriginCheck refuses browser origins that are not allowed and lets
// native clients (no Origin) in.
func TestOriginCheck(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_SERVER_ALLOWED_ORIGINS": "https://app.example.com"}})
	tests := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"https://app.example.com", true},
		{"https://APP.example.com", true},
		{"https://evil.example.com", false},
		{"http://app.example.com", false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		c, resp, err := wsclient.Dial(ts.ws, wsclient.Options{Header: h})
		if tt.ok != (err == nil) {
			t.Errorf("origin %q: ok=%v, err=%v", tt.origin, tt.ok, err)
		}
		if err == nil {
			c.CloseWithoutFrame()
		} else if resp != nil && resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: want 403, got %d", tt.origin, resp.StatusCode)
		}
	}
}

var _ = errors.New

// TestSlowClientIsDropped streams a long answer to a client that stops
// reading: once more than limits.max_pending_bytes wait in its write queue
// the server drops the connection instead of buffering without bound, and
// counts it.
func TestSlowClientIsDropped(t *testing.T) {
	ts := startServer(t, serverOpts{
		env: map[string]string{
			"WEALTHCOACH_LIMITS_MAX_PENDING_BYTES": "262144",
			"WEALTHCOACH_STREAM_FLUSH_BYTES":       "64",
			"WEALTHCOACH_STREAM_FLUSH_INTERVAL":    "1ms",
			"WEALTHCOACH_LLM_MAX_TOKENS":           "100000",
		},
		// Each frame repeats the whole answer so far: thousands of tokens
		// make tens of megabytes, more than loopback socket buffers hold.
		fake: llmfake.Options{Tokens: 30000},
	})
	ts.addUser("sly", nil)
	c := ts.connect("sly")
	c.Pause() // stop reading; the server's writes back up
	mustSend(t, c, msg("tell me everything"))
	testutil.WaitFor(t, 20*time.Second, "the slow client to be dropped", func() bool {
		tr := ts.stats()["transport"].(map[string]any)
		return tr["slow_dropped"].(float64) == 1
	})
	c.Resume()
	ce, err := c.Closed(frameWait)
	if err != nil || ce.Code != 1006 {
		t.Fatalf("want the connection dropped (1006), got %v %v", ce, err)
	}
	testutil.WaitFor(t, 5*time.Second, "the model call to be cancelled", func() bool { return ts.model.Active() == 0 })
	// The server goes on serving others.
	ts.addUser("ok", nil)
	other := ts.connect("ok")
	mustSend(t, other, map[string]string{"type": "ping"})
	if f := next(t, other); f.Type != "pong" {
		t.Fatalf("want pong, got %s", f.Raw)
	}
}
