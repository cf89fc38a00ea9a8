package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/internal/sqlcore"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

// The login query reads a conversation's last messages through the
// conversation index, newest first, and no table whole: with many users'
// messages stored, its cost stays that of one user's.
func TestLoadHistoryPlan(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, storetest.PostgresSchemas(t)(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	// 5,000 users, 200 of them with a conversation of 50 exchanges, and u3
	// with a long one: 22,900 messages.
	const users, chatting, exchanges, long = 5000, 200, 50, 1500
	if _, err := s.SeedUsers(ctx, "u", users); err != nil {
		t.Fatalf("SeedUsers: %v", err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var msgs []store.Message
	for u := range chatting {
		user := fmt.Sprintf("u%d", u)
		n := exchanges
		if u == 3 {
			n = long
		}
		msgs = append(msgs, storetest.Exchanges(user, store.FirstConversationID(user), user+"-", n, at)...)
	}
	if err := s.AppendMessages(ctx, msgs); err != nil {
		t.Fatalf("AppendMessages: %v", err)
	}
	if _, err := s.NewConversation(ctx, "u7"); err != nil { // one ended conversation, one open
		t.Fatalf("NewConversation: %v", err)
	}
	if _, err := s.SQL().ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatalf("ANALYZE: %v", err)
	}

	q := sqlcore.Dialect{Bind: sqlx.DOLLAR, MessagesJSON: messagesJSON}.LoadHistorySQL()
	tests := []struct {
		user string
		want []string // in the plan
	}{
		// The long conversation is read 20 rows back from its end.
		{"u3", []string{"users_pkey", "Index Scan Backward using messages_conversation on messages m (actual rows=20 loops=1)"}},
		{"u5", []string{"users_pkey", "Index Scan Backward using messages_conversation"}},
		{"u7", []string{"users_pkey", "messages_conversation"}},    // a reset: an empty conversation
		{"u4000", []string{"users_pkey", "messages_conversation"}}, // never chatted
		{"nobody", []string{"users_pkey"}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			plan := explain(ctx, t, s.SQL(), q, 20, tt.user)
			t.Logf("plan for %s:\n%s", tt.user, plan)
			for _, want := range tt.want {
				if !strings.Contains(plan, want) {
					t.Errorf("plan lacks %q", want)
				}
			}
			for _, table := range []string{"users", "messages"} {
				if strings.Contains(plan, "Seq Scan on "+table) {
					t.Errorf("plan reads %s whole", table)
				}
			}
		})
	}
}

func explain(ctx context.Context, t *testing.T, db *sqlx.DB, q string, args ...any) string {
	t.Helper()
	var lines []string
	if err := db.SelectContext(ctx, &lines, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "+q, args...); err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	return strings.Join(lines, "\n")
}
