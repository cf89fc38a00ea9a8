package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/wealthwarriors/wealthcoach/store"
)

// What a session does with its conversation beyond memory: it starts with
// the stored last messages, hands each exchange that enters memory to the
// journal writer, and answers history and reset frames with one store call
// each, run on an I/O worker.

const (
	historyPageDefault = 20
	historyPageMax     = 100
	conversationQuery  = 5 * time.Second // a history page or a reset
)

// historyLoaded carries a history page back to its session.
type historyLoaded struct {
	msgs []store.Message
	more bool
	err  error
}

// conversationStarted carries the result of a reset back to its session.
type conversationStarted struct {
	id  string
	err error
}

// memoryFrom turns stored messages into memory, keeping the last max.
func memoryFrom(msgs []store.Message, max int) []ModelMessage {
	if extra := len(msgs) - max; extra > 0 {
		msgs = msgs[extra:]
	}
	out := make([]ModelMessage, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, ModelMessage{Role: m.Role, Content: m.Content})
	}
	return out
}

// journal hands an answer that reached the user to the journal writer: the
// exchange, when it entered memory (content != "" and not cut short), and
// its audit record.
func (s *session) journal(a *answer, content, reason string, cached, inMemory bool) {
	if s.node.journal == nil {
		return
	}
	now := time.Now()
	e := &journalAppend{}
	if s.node.opts.Journal != nil && inMemory {
		q := store.Message{ID: store.MessageID(a.id, store.RoleUser), ConversationID: s.conversation, UserID: s.userID,
			Role: store.RoleUser, Content: a.question, AnswerID: a.id, At: a.started}
		r := store.Message{ID: store.MessageID(a.id, store.RoleAssistant), ConversationID: s.conversation, UserID: s.userID,
			Role: store.RoleAssistant, Content: content, AnswerID: a.id, ReplyTo: a.replyTo, Cached: cached,
			FinishReason: reason, At: now}
		e.msgs = []store.Message{q, r}
	}
	if s.node.opts.Audit != nil {
		e.audit = s.auditRecord(a, content, reason, cached, now)
	}
	if e.msgs == nil && e.audit == nil {
		return
	}
	s.node.root.Send(s.node.journal, e)
}

// historyRequest answers a history frame with one store query, never more
// than one at a time per session.
func (s *session) historyRequest(c actor.Context, m *HistoryRequest) {
	if s.node.opts.Journal == nil {
		s.rejectFrame(CodeUnavailable, "this server does not keep conversations")
		return
	}
	if s.historyBusy {
		s.rejectFrame(CodeBusy, "a history page is still loading")
		return
	}
	limit := m.Limit
	switch {
	case limit <= 0:
		limit = historyPageDefault
	case limit > historyPageMax:
		limit = historyPageMax
	}
	s.historyBusy = true
	root, self, journal := c.ActorSystem().Root, s.self, s.node.opts.Journal
	user, conv, before, ctx := s.userID, s.conversation, m.Before, s.node.ctx
	s.node.io.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, conversationQuery)
		defer cancel()
		msgs, more, err := journal.History(ctx, user, conv, before, limit)
		root.Send(self, &historyLoaded{msgs: msgs, more: more, err: err})
	})
}

func (s *session) historyLoaded(m *historyLoaded) {
	s.historyBusy = false
	switch {
	case errors.Is(m.err, store.ErrNotFound):
		s.rejectFrame(CodeNotFound, "no such message in this conversation")
		return
	case m.err != nil:
		s.node.warnEvery("journal", "conversation store unavailable for a history page")
		s.rejectFrame(CodeUnavailable, "the conversation cannot be read right now; try again")
		return
	}
	page := &HistoryPage{ConversationID: s.conversation, More: m.more, Messages: make([]HistoryMessage, 0, len(m.msgs))}
	for _, msg := range m.msgs {
		hm := HistoryMessage{ID: msg.ID, Role: msg.Role, Content: msg.Content, At: msg.At}
		if msg.Role == store.RoleAssistant {
			hm.ReplyTo, hm.Cached = msg.ReplyTo, msg.Cached
		}
		page.Messages = append(page.Messages, hm)
	}
	s.peer.History(page)
}

// reset ends the conversation: memory is emptied and, when conversations
// are kept, the store starts a new one.
func (s *session) reset(c actor.Context) {
	if s.state == stateStreaming || s.resetting {
		s.rejectFrame(CodeBusy, "an answer is still streaming; wait for it or cancel it")
		return
	}
	if s.node.opts.Journal == nil {
		s.chat.history = nil
		s.conversation = ""
		s.peer.ResetDone(newConversationID())
		return
	}
	s.resetting = true
	root, self, journal, user, ctx := c.ActorSystem().Root, s.self, s.node.opts.Journal, s.userID, s.node.ctx
	s.node.io.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, conversationQuery)
		defer cancel()
		id, err := journal.NewConversation(ctx, user)
		root.Send(self, &conversationStarted{id: id, err: err})
	})
}

func (s *session) conversationStarted(m *conversationStarted) {
	s.resetting = false
	if m.err != nil {
		s.node.warnEvery("journal", "conversation store unavailable for a reset")
		s.rejectFrame(CodeUnavailable, "the conversation cannot be reset right now; try again")
		return
	}
	s.chat.history = nil
	s.conversation = m.id
	s.peer.ResetDone(m.id)
}

// rejectFrame answers a frame with an error that keeps the connection open.
func (s *session) rejectFrame(code Code, msg string) {
	s.node.stats.Reject(code)
	s.peer.Error(&ErrorFrame{Code: code, Message: msg})
}

// newConversationID names a conversation that no store knows.
func newConversationID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "c" + hex.EncodeToString(b[:])
}
