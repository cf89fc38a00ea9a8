package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Roles of a stored message.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one message of a stored conversation: a user's question or the
// coach's answer. Both messages of an exchange carry the answer's id.
type Message struct {
	ID             string // unique across the store; see MessageID
	ConversationID string
	UserID         string
	Role           string // RoleUser or RoleAssistant
	Content        string
	AnswerID       string
	ReplyTo        string // assistant: the client's id of the question, if it sent one
	Cached         bool   // assistant: served from the response cache
	FinishReason   string // assistant: stop, length, cancelled or content_filter
	At             time.Time
}

// MessageID is the id of the question (role user) or answer (role
// assistant) of the answer answerID. Deriving it from the answer makes a
// retried write idempotent: the store skips ids it already has.
func MessageID(answerID, role string) string {
	if role == RoleUser {
		return answerID + "-q"
	}
	return answerID + "-a"
}

// FirstConversationID is the id of a user's conversation before it was ever
// reset: derived from the user id, so that every node and session agrees on
// it without a write at authentication.
func FirstConversationID(userID string) string {
	sum := sha256.Sum256([]byte("conversation\x00" + userID))
	return "c" + hex.EncodeToString(sum[:12])
}

// Journal stores conversations. Its calls are never on the chat path: a
// node-owned writer batches appends, and history pages and resets are
// answered asynchronously.
type Journal interface {
	// AppendMessages stores msgs, in order, creating their conversations
	// when they do not exist yet. A message whose ID is already stored is
	// skipped, so a batch retried after an ambiguous failure is stored once.
	AppendMessages(ctx context.Context, msgs []Message) error
	// History returns up to limit messages of the user's conversation just
	// older than the message before (the newest when before is ""), oldest
	// first, and whether older ones exist. A before that is not a message of
	// that conversation and user is ErrNotFound.
	History(ctx context.Context, userID, conversationID, before string, limit int) (msgs []Message, more bool, err error)
	// NewConversation ends the user's current conversation and starts
	// another, returning its id.
	NewConversation(ctx context.Context, userID string) (string, error)
	// PruneMessages deletes the messages stored before t and returns how
	// many.
	PruneMessages(ctx context.Context, before time.Time) (int64, error)
}
