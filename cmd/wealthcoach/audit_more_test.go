package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store"
)

// exportRecords waits until `audit export --user` prints n records and
// returns them decoded, numbers kept as written.
func (ts *testServer) exportRecords(t *testing.T, user string, n int) []map[string]any {
	t.Helper()
	var recs []map[string]any
	testutil.WaitFor(t, 15*time.Second, fmt.Sprintf("%d audit records of %s", n, user), func() bool {
		out, err := ts.runAudit("export", "--user", user)
		if err != nil {
			return false
		}
		recs = recs[:0]
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			dec := json.NewDecoder(strings.NewReader(line))
			dec.UseNumber()
			var rec map[string]any
			if err := dec.Decode(&rec); err != nil {
				t.Fatalf("export line %q: %v", line, err)
			}
			recs = append(recs, rec)
		}
		return len(recs) == n
	})
	return recs
}

// recomputeHash is an auditor's recomputation of a record's hash, from the
// README's description alone: the JCS encoding of every field but hash.
func recomputeHash(t *testing.T, rec map[string]any) string {
	t.Helper()
	rest := make(map[string]any, len(rec))
	for k, v := range rec {
		if k != "hash" {
			rest[k] = v
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // JCS escapes only quote, backslash and control characters
	if err := enc.Encode(rest); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	return hex.EncodeToString(sum[:])
}

// TestAuditRecordsReverifyIndependently: each exported record's hash is
// what an auditor computes from the documented encoding, each prev_hash is
// the hash before it, and the system prompt's hash changes with the profile
// and only with it.
func TestAuditRecordsReverifyIndependently(t *testing.T) {
	ts := startServer(t, serverOpts{})
	ts.addUser("aud", &store.Profile{Currency: "EUR", MonthlyIncome: 3000})
	c := ts.connect("aud")
	ask(t, c, "Is an emergency fund worth it?", "")
	ask(t, c, "How big should it be?", "")
	_ = c.Close()
	if err := ts.store.PutProfile(context.Background(), "aud", store.Profile{Currency: "EUR", MonthlyIncome: 4500}); err != nil {
		t.Fatal(err)
	}
	c2 := ts.connect("aud") // the profile is loaded at authentication
	ask(t, c2, "And now?", "")

	recs := ts.exportRecords(t, "aud", 3)
	prev := strings.Repeat("0", 64)
	for i, rec := range recs {
		if got := recomputeHash(t, rec); got != rec["hash"] {
			t.Fatalf("record %d: recomputed hash %s, exported %s", i, got, rec["hash"])
		}
		if rec["prev_hash"] != prev {
			t.Fatalf("record %d: prev_hash %s, want the previous record's hash %s", i, rec["prev_hash"], prev)
		}
		prev = rec["hash"].(string)
	}
	if recs[0]["system_prompt_sha256"] != recs[1]["system_prompt_sha256"] {
		t.Fatal("the system prompt's hash changed although the profile did not")
	}
	if recs[1]["system_prompt_sha256"] == recs[2]["system_prompt_sha256"] {
		t.Fatal("the system prompt's hash did not change with the profile")
	}
	if recs[0]["history_sha256"] == recs[1]["history_sha256"] {
		t.Fatal("the history hash is the same for an empty and a one-exchange memory")
	}
}
