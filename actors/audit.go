package actors

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
)

// NewNodeID names a node in the fleet and the audit trail: host, process and a random
// part, so that a restarted process on the same host is another node.
func NewNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// NodeID is the node's id in audit records and /stats.
func (n *Node) NodeID() string { return n.opts.NodeID }

// auditRecord is the audit trail's record of an answer that reached the
// user. It is built on the session actor and stored by the journal writer.
func (s *session) auditRecord(a *answer, content, reason string, cached bool, at time.Time) *store.AuditRecord {
	o := &s.node.opts.Chat
	provider := cmp.Or(o.Provider, "openai")
	if a.fallback {
		provider += "-fallback"
	}
	var system string
	var roles, contents []string
	if msgs := a.req.Messages; len(msgs) >= 2 {
		// system prompt, memory, the question
		system = msgs[0].Content
		for _, m := range msgs[1 : len(msgs)-1] {
			roles, contents = append(roles, m.Role), append(contents, m.Content)
		}
	}
	sys := sha256.Sum256([]byte(system))
	r := &store.AuditRecord{
		AnswerID: a.id, ConversationID: s.conversation, UserID: s.userID, SessionID: s.id,
		NodeID: s.node.opts.NodeID, At: at, Provider: provider,
		Model: cmp.Or(a.model, o.ModelName), PromptVersion: promptVersion,
		SystemPromptSHA256: hex.EncodeToString(sys[:]), HistorySHA256: store.HistorySHA256(roles, contents),
		Question: a.question, Answer: content, FinishReason: reason, Cached: cached,
	}
	if a.usage != nil {
		r.Usage = &store.AuditUsage{PromptTokens: int64(a.usage.PromptTokens), CompletionTokens: int64(a.usage.CompletionTokens)}
	}
	first := a.firstAt
	if first.IsZero() {
		first = at
	}
	r.TTFTMillis = first.Sub(a.started).Milliseconds()
	return r
}
