package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wealthwarriors/wealthcoach/store"
)

// auditStore is a conversation store that keeps the audit trail and shows
// its tables, for tampering with them.
type auditStore interface {
	JournalStore
	store.AuditLog
	SQL() *sqlx.DB
}

// AuditRecords returns n records of user, answers prefix1..prefixN, a
// second apart from at.
func AuditRecords(user, prefix string, n int, at time.Time) []store.AuditRecord {
	var out []store.AuditRecord
	for i := 1; i <= n; i++ {
		r := store.AuditRecord{AnswerID: fmt.Sprintf("%s%d", prefix, i), ConversationID: "c1", UserID: user,
			SessionID: "s1", NodeID: "n1", At: at.Add(time.Duration(i) * time.Second), Provider: "openai",
			Model: "m", PromptVersion: "v1", SystemPromptSHA256: "00", HistorySHA256: "11",
			Question: "q\n\"" + prefix, Answer: "a ü\x01", FinishReason: "stop", TTFTMillis: int64(i)}
		if i%2 == 0 {
			r.Cached = true
		} else {
			r.Usage = &store.AuditUsage{PromptTokens: 10, CompletionTokens: int64(i)}
		}
		out = append(out, r)
	}
	return out
}

func testAudit(t *testing.T, b JournalBackend) {
	open := func(t *testing.T) auditStore {
		s, ok := journal(t, b, 0).(auditStore)
		if !ok {
			t.Fatal("store keeps no audit trail")
		}
		return s
	}
	appendAudit := func(t *testing.T, s auditStore, recs []store.AuditRecord) {
		t.Helper()
		if err := s.AppendAudit(t.Context(), recs); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
	verify := func(t *testing.T, s auditStore, user string) (int, string) {
		t.Helper()
		n, err := store.VerifyAudit(t.Context(), s, user)
		var br *store.AuditBreak
		if errors.As(err, &br) {
			return n, br.AnswerID
		}
		if err != nil {
			t.Fatalf("VerifyAudit: %v", err)
		}
		return n, ""
	}
	exec := func(t *testing.T, s auditStore, q string, args ...any) {
		t.Helper()
		if _, err := s.SQL().ExecContext(t.Context(), s.SQL().Rebind(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	t.Run("ChainAcrossBatchesAndRetries", func(t *testing.T) {
		s := open(t)
		recs := AuditRecords("u1", "a", 5, baseTime)
		appendAudit(t, s, recs[:2])
		appendAudit(t, s, append(AuditRecords("u2", "b", 2, baseTime), recs[2:4]...))
		appendAudit(t, s, recs[1:]) // a retry overlapping what is stored
		var got []store.AuditRecord
		err := s.EachAudit(t.Context(), "u1", time.Time{}, time.Time{}, func(r store.AuditRecord) error {
			got = append(got, r)
			return nil
		})
		if err != nil {
			t.Fatalf("EachAudit: %v", err)
		}
		if len(got) != 5 {
			t.Fatalf("%d records of u1, want 5 (no duplicates)", len(got))
		}
		if got[0].PrevHash != store.GenesisHash {
			t.Errorf("first prev_hash = %s, want zeros", got[0].PrevHash)
		}
		for i, r := range got {
			w := recs[i]
			w.PrevHash, w.Hash, w.At = r.PrevHash, r.Hash, r.At
			if !r.At.Equal(recs[i].At) || fmt.Sprint(r.Usage) != fmt.Sprint(w.Usage) {
				t.Errorf("record %d: at %v usage %v, want %v %v", i, r.At, r.Usage, recs[i].At, w.Usage)
			}
			r.Usage, w.Usage = nil, nil
			if r != w {
				t.Errorf("record %d = %+v, want %+v", i, r, w)
			}
			if i > 0 && r.PrevHash != got[i-1].Hash {
				t.Errorf("record %d prev_hash does not chain", i)
			}
		}
		for _, u := range []string{"u1", "u2"} {
			if n, broken := verify(t, s, u); broken != "" || n != map[string]int{"u1": 5, "u2": 2}[u] {
				t.Errorf("verify %s: %d records, broken %q", u, n, broken)
			}
		}
		users, err := s.AuditUsers(t.Context())
		if err != nil || fmt.Sprint(users) != "[u1 u2]" {
			t.Errorf("AuditUsers = %v, %v", users, err)
		}
	})

	tampering := []struct {
		name, sql string
		args      []any
		broken    string
	}{
		{"AlteredAnswer", `UPDATE audit SET answer = 'better advice' WHERE answer_id = ?`, []any{"a3"}, "a3"},
		{"AlteredCached", `UPDATE audit SET cached = NOT cached WHERE answer_id = ?`, []any{"a2"}, "a2"},
		{"DeletedRecord", `DELETE FROM audit WHERE answer_id = ?`, []any{"a2"}, "a3"},
		{"Reordered", `UPDATE audit SET seq = seq + 1000 WHERE answer_id = ?`, []any{"a2"}, "a3"},
	}
	for _, tt := range tampering {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			appendAudit(t, s, AuditRecords("u1", "a", 4, baseTime))
			exec(t, s, tt.sql, tt.args...)
			if _, broken := verify(t, s, "u1"); broken != tt.broken {
				t.Errorf("verify names %q, want %q", broken, tt.broken)
			}
		})
	}

	// One batch of many users, interleaved as a writer's queue is, some
	// extending chains that exist: each chain stays whole and in order.
	t.Run("BatchOfManyUsers", func(t *testing.T) {
		s := open(t)
		appendAudit(t, s, AuditRecords("m1", "x", 2, baseTime))
		var batch []store.AuditRecord
		m1 := AuditRecords("m1", "y", 3, baseTime.Add(time.Minute))
		m2 := AuditRecords("m2", "z", 3, baseTime.Add(time.Minute))
		m3 := AuditRecords("m3", "w", 3, baseTime.Add(time.Minute))
		for i := range 3 {
			batch = append(batch, m1[i], m2[i], m3[i])
		}
		appendAudit(t, s, batch)
		appendAudit(t, s, batch) // a retry stores nothing twice
		for user, want := range map[string]int{"m1": 5, "m2": 3, "m3": 3} {
			if n, broken := verify(t, s, user); broken != "" || n != want {
				t.Errorf("verify %s: %d records, broken %q; want %d, none", user, n, broken, want)
			}
		}
	})

	t.Run("PruneReanchors", func(t *testing.T) {
		s := open(t)
		appendAudit(t, s, AuditRecords("u1", "a", 4, baseTime))
		appendAudit(t, s, AuditRecords("u2", "b", 1, baseTime))
		n, err := s.PruneAudit(t.Context(), baseTime.Add(2500*time.Millisecond))
		if err != nil || n != 3 {
			t.Fatalf("PruneAudit = %d, %v; want 3 (a1, a2, b1)", n, err)
		}
		if n, broken := verify(t, s, "u1"); broken != "" || n != 2 {
			t.Errorf("verify u1 after prune: %d records, broken %q; want 2, none", n, broken)
		}
		appendAudit(t, s, AuditRecords("u2", "c", 1, baseTime.Add(time.Hour)))
		if n, broken := verify(t, s, "u2"); broken != "" || n != 1 {
			t.Errorf("verify u2 after prune and append: %d records, broken %q; want 1, none", n, broken)
		}
		// The first kept record still has to chain to the pruned ones.
		exec(t, s, `UPDATE audit_anchors SET hash = ? WHERE user_id = ?`, store.GenesisHash, "u1")
		if _, broken := verify(t, s, "u1"); broken != "a3" {
			t.Errorf("verify with a wrong anchor names %q, want a3", broken)
		}
	})

	// Writers of two nodes appending for one user take turns: the chain
	// never forks.
	t.Run("ConcurrentAppends", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				for i, r := range AuditRecords("u1", fmt.Sprintf("w%d-", w), 5, baseTime) {
					if err := s.AppendAudit(t.Context(), []store.AuditRecord{r}); err != nil {
						errs <- fmt.Errorf("writer %d record %d: %w", w, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n, broken := verify(t, s, "u1"); broken != "" || n != 40 {
			t.Errorf("verify after concurrent appends: %d records, broken %q; want 40, none", n, broken)
		}
	})

	t.Run("ExportRange", func(t *testing.T) {
		s := open(t)
		appendAudit(t, s, AuditRecords("u1", "a", 4, baseTime))
		var ids []string
		err := s.EachAudit(t.Context(), "u1", baseTime.Add(2*time.Second), baseTime.Add(4*time.Second),
			func(r store.AuditRecord) error { ids = append(ids, r.AnswerID); return nil })
		if err != nil || fmt.Sprint(ids) != "[a2 a3]" {
			t.Errorf("EachAudit [2s, 4s) = %v, %v; want [a2 a3]", ids, err)
		}
	})
}
