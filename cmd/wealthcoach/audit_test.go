package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// auditKeys are the SPEC 8.5 names, the keys of every exported line.
var auditKeys = []string{"answer", "answer_id", "at", "cached", "conversation_id", "finish_reason", "hash",
	"history_sha256", "model", "node_id", "prev_hash", "prompt_version", "provider", "question",
	"session_id", "system_prompt_sha256", "ttft_ms", "usage", "user_id"}

// runAudit runs `wealthcoach audit ARGS` on the server's store.
func (ts *testServer) runAudit(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) (string, bool) { v, ok := ts.env[k]; return v, ok }}
	err := m.Run(context.Background(), append([]string{"audit"}, args...))
	return out.String() + errOut.String(), err
}

// A fresh, a cached, a cancelled and a cut answer each leave one record;
// the chain verifies, an altered answer is named, the export has the SPEC
// keys.
func TestAuditTrail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ts := startServer(t, serverOpts{backend: b, fake: llmfake.Options{Tokens: 40, TokenDelay: 5 * time.Millisecond}})
		ts.addUser("ann", nil)
		c := ts.connect("ann")
		var ids []string
		done := func(f *wsclient.Frame) { ids = append(ids, f.ID) }

		mustSend(t, c, msg("How do I start saving?"))
		fresh := readAnswer(t, c)
		done(fresh[len(fresh)-1])
		mustSend(t, c, map[string]string{"type": "reset"})
		if r := next(t, c); r.Type != "reset" {
			t.Fatalf("want reset, got %s", r.Raw)
		}
		mustSend(t, c, msg("How do I start saving?"))
		hit := readAnswer(t, c)
		if last := hit[len(hit)-1]; !last.Cached {
			t.Fatalf("want a cached answer, got %s", last.Raw)
		}
		done(hit[len(hit)-1])

		ts.model.FailNext(llmfake.Failure{CutAfter: 3, Hang: true})
		mustSend(t, c, map[string]string{"type": "message", "content": "Tell me everything", "id": "long"})
		if f := next(t, c); f.Type != "response" || f.Done {
			t.Fatalf("want a first partial frame, got %s", f.Raw)
		}
		mustSend(t, c, map[string]string{"type": "cancel"})
		for {
			if f := next(t, c); f.Done {
				if f.FinishReason != "cancelled" {
					t.Fatalf("want cancelled, got %s", f.Raw)
				}
				done(f)
				break
			}
		}

		ts.model.FailNext(llmfake.Failure{CutAfter: 3})
		mustSend(t, c, map[string]string{"type": "message", "content": "And then?", "id": "cut"})
		for {
			f := next(t, c)
			if f.Done {
				if f.FinishReason != "error" {
					t.Fatalf("want a done frame cut with error, got %s", f.Raw)
				}
				done(f)
			}
			if f.Type == "error" {
				break
			}
		}

		var lines []string
		testutil.WaitFor(t, 10*time.Second, "4 audit records", func() bool {
			out, err := ts.runAudit("export", "--user", "ann")
			lines = strings.Split(strings.TrimSpace(out), "\n")
			return err == nil && len(lines) == 4
		})
		for i, l := range lines {
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("line %d %q: %v", i, l, err)
			}
			keys := make([]string, 0, len(rec))
			for k := range rec {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, auditKeys) {
				t.Errorf("line %d keys %v, want %v", i, keys, auditKeys)
			}
			want := []struct {
				reason string
				cached bool
			}{{"stop", false}, {"stop", true}, {"cancelled", false}, {"error", false}}[i]
			if rec["answer_id"] != ids[i] || rec["finish_reason"] != want.reason || rec["cached"] != want.cached ||
				rec["user_id"] != "ann" || rec["answer"] == "" {
				t.Errorf("record %d = %s, want answer %s, %s, cached %v", i, l, ids[i], want.reason, want.cached)
			}
		}

		out, err := ts.runAudit("verify")
		if err != nil || !strings.Contains(out, "ok: 4 records, 1 users") {
			t.Fatalf("audit verify = %q, %v; want ok", out, err)
		}
		db := ts.store.(interface{ SQL() *sqlx.DB }).SQL()
		if _, err := db.Exec(db.Rebind(`UPDATE audit SET answer = ? WHERE answer_id = ?`), "Buy lottery tickets.", ids[2]); err != nil {
			t.Fatal(err)
		}
		out, err = ts.runAudit("verify", "--user", "ann")
		if err == nil || !strings.Contains(err.Error()+out, ids[2]) {
			t.Fatalf("audit verify after tampering = %q, %v; want a failure naming %s", out, err, ids[2])
		}
	})
}
