package loadtest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
)

// pagedStore holds one conversation per user and pages it as the real
// stores do: oldest first, limit messages older than before.
type pagedStore struct {
	msgs  map[string][]store.Message
	audit map[string][]store.AuditRecord
}

func (p *pagedStore) History(_ context.Context, user, conv, before string, limit int) ([]store.Message, bool, error) {
	all := p.msgs[user]
	end := len(all)
	if before != "" {
		end = -1
		for i, m := range all {
			if m.ID == before {
				end = i
			}
		}
		if end < 0 {
			return nil, false, store.ErrNotFound
		}
	}
	for _, m := range all {
		if m.ConversationID != conv {
			return nil, false, store.ErrNotFound
		}
	}
	start := max(end-limit, 0)
	return all[start:end], start > 0, nil
}

func (p *pagedStore) EachAudit(_ context.Context, user string, _, _ time.Time, fn func(store.AuditRecord) error) error {
	for _, r := range p.audit[user] {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// storeOf stores every answer as the server would: an audit record each,
// and a question and an answer message for those that entered memory.
func storeOf(received []Received) *pagedStore {
	p := &pagedStore{msgs: map[string][]store.Message{}, audit: map[string][]store.AuditRecord{}}
	for _, a := range received {
		p.audit[a.User] = append(p.audit[a.User], store.AuditRecord{AnswerID: a.AnswerID, UserID: a.User, Answer: a.Content})
		if a.InMemory() {
			conv := store.FirstConversationID(a.User)
			p.msgs[a.User] = append(p.msgs[a.User],
				store.Message{ID: store.MessageID(a.AnswerID, store.RoleUser), ConversationID: conv, Role: store.RoleUser, Content: "q"},
				store.Message{ID: store.MessageID(a.AnswerID, store.RoleAssistant), ConversationID: conv, Role: store.RoleAssistant, Content: a.Content})
		}
	}
	return p
}

func TestVerify(t *testing.T) {
	var received []Received
	// More than one page (500 messages) for u0.
	for i := range 300 {
		received = append(received, Received{User: "u0", AnswerID: "a" + strconv.Itoa(i), Content: "answer", FinishReason: "stop"})
	}
	received = append(received,
		Received{User: "u1", AnswerID: "b1", Content: "whole", FinishReason: "stop"},
		Received{User: "u1", AnswerID: "b2", Content: "cut sh", FinishReason: "error"})

	tests := []struct {
		name    string
		damage  func(p *pagedStore)
		lost    int
		missing string
	}{
		{name: "all stored", damage: func(*pagedStore) {}},
		{name: "audit record missing", lost: 1, missing: "b2: no audit record",
			damage: func(p *pagedStore) { p.audit["u1"] = p.audit["u1"][:1] }},
		{name: "audit text differs", lost: 1, missing: "b1: audit record holds other text",
			damage: func(p *pagedStore) { p.audit["u1"][0].Answer = "whale" }},
		{name: "oldest message of a long conversation missing", lost: 1, missing: "no stored message",
			damage: func(p *pagedStore) { p.msgs["u0"] = p.msgs["u0"][2:] }},
		{name: "message text differs", lost: 1, missing: "b1: stored message holds other text",
			damage: func(p *pagedStore) { p.msgs["u1"][1].Content = "hole" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := storeOf(received)
			tt.damage(p)
			v, err := Verify(t.Context(), p, received)
			if err != nil {
				t.Fatal(err)
			}
			if v.Received != 302 || v.InMemory != 301 {
				t.Errorf("received %d, in memory %d; want 302, 301", v.Received, v.InMemory)
			}
			if v.Lost() != tt.lost {
				t.Errorf("lost %d, want %d (missing %v)", v.Lost(), tt.lost, v.Missing)
			}
			if tt.missing != "" && (len(v.Missing) != 1 || !strings.Contains(v.Missing[0], tt.missing)) {
				t.Errorf("missing %q, want one naming %q", v.Missing, tt.missing)
			}
		})
	}
}
