package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
)

// disconnectUser posts the operator's disconnect for user to the admin
// listener and returns the status and the decoded body.
func (ts *testServer) disconnectUser(user string) (int, map[string]any) {
	ts.t.Helper()
	resp, err := http.Post(ts.admin+"/users/"+user+"/disconnect", "", nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		ts.t.Fatalf("disconnect: body not JSON: %v", err)
	}
	return resp.StatusCode, out
}

// TestOperatorRevokesUser: an operator's POST /users/{id}/disconnect
// closes every session of that user with session_revoked and 1008
// "Session revoked" (SPEC 8.4, 8.7), leaves other users' sessions alone,
// and bans no one: the user connects and chats again at once.
func TestOperatorRevokesUser(t *testing.T) {
	ts := startServer(t, serverOpts{})
	ts.addUser("rae", nil)
	ts.addUser("sam", nil)
	phone, laptop := ts.connect("rae"), ts.connect("rae")
	bystander := ts.connect("sam")

	status, body := ts.disconnectUser("rae")
	if status != http.StatusOK || body["user_id"] != "rae" || body["sessions"] != 2.0 {
		t.Fatalf("disconnect: %d %v, want 200 with 2 sessions of rae", status, body)
	}
	expectClose(t, phone, "session_revoked", 1008, "Session revoked")
	expectClose(t, laptop, "session_revoked", 1008, "Session revoked")

	mustSend(t, bystander, map[string]string{"type": "ping"})
	if f := next(t, bystander); f.Type != "pong" {
		t.Fatalf("the other user's session: want pong, got %s", f.Raw)
	}
	mustSend(t, bystander, msg("still chatting?"))
	readAnswer(t, bystander)

	back := ts.connect("rae")
	mustSend(t, back, msg("hello again"))
	readAnswer(t, back)

	testutil.WaitFor(t, 5*time.Second, "the revocations to be counted", func() bool {
		return ts.stats()["rejections"].(map[string]any)["session_revoked"] == 2.0
	})
	lines := logLines(t, ts, "user sessions revoked")
	if len(lines) != 1 || lines[0]["user"] != "rae" || lines[0]["sessions"] != 2.0 || lines[0]["level"] != "INFO" {
		t.Errorf("want one info line for rae with 2 sessions, got %v", lines)
	}
}
