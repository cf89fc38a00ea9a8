package sqlcore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/wealthwarriors/wealthcoach/store"
)

// Rows per INSERT when appending: 500 messages of 10 columns stay far below
// both backends' parameter limits (SQLite 32766, PostgreSQL 65535).
const appendRowsPerInsert = 500

// pruneRowsPerDelete bounds one pruning statement, so that a first prune
// of a large table never holds SQLite's write lock, or a PostgreSQL
// transaction, for long.
const pruneRowsPerDelete = 5000

// newConversationAttempts bounds NewConversation's retries: on PostgreSQL a
// reset racing the first stored message of a user with no conversation row
// can find the conversation that message opened only when inserting its
// own, which the unique index refuses. (Resets of one user take turns on
// Dialect.LockUser.)
const newConversationAttempts = 4

// AppendMessages stores msgs, in order, in one transaction, creating their
// conversations (open, started at their first message) when they do not
// exist yet. A message whose ID is already stored is skipped, so a retried
// batch is stored once. A zero At means now. Text that a column cannot hold
// (NUL bytes, invalid UTF-8, which PostgreSQL refuses) is stored with
// U+FFFD in its place, because a batch refused for good would stall every
// exchange queued behind it.
func (s *DB) AppendMessages(ctx context.Context, msgs []store.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	rows := make([]store.Message, len(msgs))
	now := time.Now().UTC()
	for i, m := range msgs {
		rows[i] = storable(m, now)
	}
	convs := conversationsOf(rows)
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		for chunk := range slices.Chunk(convs, appendRowsPerInsert) {
			q, args := insertConversations(chunk)
			if _, err := tx.ExecContext(ctx, s.rebind(q), args...); err != nil {
				return fmt.Errorf("insert conversations: %w", err)
			}
		}
		for chunk := range slices.Chunk(rows, appendRowsPerInsert) {
			q, args := insertMessages(chunk)
			if _, err := tx.ExecContext(ctx, s.rebind(q), args...); err != nil {
				return fmt.Errorf("insert messages: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append %d messages: %w", len(msgs), err)
	}
	return nil
}

// storable is m as the tables can hold it.
func storable(m store.Message, now time.Time) store.Message {
	for _, f := range []*string{&m.ID, &m.ConversationID, &m.UserID, &m.Role,
		&m.Content, &m.AnswerID, &m.ReplyTo, &m.FinishReason} {
		*f = cleanText(*f)
	}
	if m.At.IsZero() {
		m.At = now
	}
	m.At = m.At.UTC()
	return m
}

func cleanText(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// conversation is a conversation row to create if missing.
type conversation struct {
	id, userID string
	startedAt  time.Time
}

// conversationsOf lists the conversations of msgs once each, started at
// their first message, sorted by user and id: concurrent batches then wait
// on each other's new rows in one order, never in a cycle (a deadlock on
// PostgreSQL).
func conversationsOf(msgs []store.Message) []conversation {
	seen := make(map[string]bool)
	var out []conversation
	for _, m := range msgs {
		if !seen[m.ConversationID] {
			seen[m.ConversationID] = true
			out = append(out, conversation{id: m.ConversationID, userID: m.UserID, startedAt: m.At})
		}
	}
	slices.SortFunc(out, func(a, b conversation) int {
		return cmp.Or(strings.Compare(a.userID, b.userID), strings.Compare(a.id, b.id))
	})
	return out
}

// insertConversations skips rows that exist and, having no conflict
// target, also a second open conversation of one user: that only happens in
// a race with a reset, whose conversation is then the current one.
func insertConversations(convs []conversation) (string, []any) {
	var b strings.Builder
	b.WriteString(`INSERT INTO conversations (id, user_id, started_at) VALUES `)
	args := make([]any, 0, 3*len(convs))
	for i, c := range convs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?)")
		args = append(args, c.id, c.userID, c.startedAt)
	}
	b.WriteString(` ON CONFLICT DO NOTHING`)
	return b.String(), args
}

// insertMessages inserts msgs in order, so that seq follows it.
func insertMessages(msgs []store.Message) (string, []any) {
	var b strings.Builder
	b.WriteString(`INSERT INTO messages (id, conversation_id, user_id, role, content,
	answer_id, reply_to, cached, finish_reason, at) VALUES `)
	args := make([]any, 0, 10*len(msgs))
	for i, m := range msgs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, m.ID, m.ConversationID, m.UserID, m.Role, m.Content,
			m.AnswerID, m.ReplyTo, m.Cached, m.FinishReason, m.At)
	}
	b.WriteString(` ON CONFLICT (id) DO NOTHING`)
	return b.String(), args
}

const messageColumns = `id, role, content, answer_id, reply_to, cached, finish_reason, at`

// latestSQL is the newest page; one row more than the page says whether
// older ones exist.
const latestSQL = `SELECT ` + messageColumns + ` FROM messages
WHERE conversation_id = ? AND user_id = ?
ORDER BY seq DESC LIMIT ?`

// beforeSQL is the page before the message b, in one statement: no row at
// all when b is not a message of that conversation and user, one row of
// NULLs when it is the oldest.
const beforeSQL = `WITH b AS (
	SELECT seq FROM messages WHERE id = ? AND conversation_id = ? AND user_id = ?
)
SELECT b.seq, p.id, p.role, p.content, p.answer_id, p.reply_to, p.cached, p.finish_reason, p.at
FROM b LEFT JOIN (
	SELECT seq, ` + messageColumns + ` FROM messages
	WHERE conversation_id = ? AND user_id = ? AND seq < (SELECT seq FROM b)
	ORDER BY seq DESC LIMIT ?
) p ON true
ORDER BY p.seq DESC`

// History returns up to limit messages of the user's conversation just
// older than the message before (the newest when before is ""), oldest
// first, and whether older ones exist, in one query. A before that is not
// a message of that conversation and user is ErrNotFound; the user id is
// part of every condition, so another user's conversation reads as empty.
func (s *DB) History(ctx context.Context, userID, conversationID, before string, limit int) ([]store.Message, bool, error) {
	if limit < 1 {
		return nil, false, fmt.Errorf("history: limit %d, want at least 1", limit)
	}
	var msgs []store.Message
	var err error
	if before == "" {
		msgs, err = s.latest(ctx, userID, conversationID, limit+1)
	} else {
		msgs, err = s.before(ctx, userID, conversationID, before, limit+1)
	}
	if err != nil {
		return nil, false, fmt.Errorf("history of %s: %w", conversationID, err)
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	slices.Reverse(msgs) // newest first until here
	return msgs, more, nil
}

func (s *DB) latest(ctx context.Context, userID, conversationID string, n int) ([]store.Message, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(latestSQL), conversationID, userID, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		var r messageRow
		if err := rows.Scan(r.targets()...); err != nil {
			return nil, err
		}
		if out, err = r.appendTo(out, conversationID, userID); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

func (s *DB) before(ctx context.Context, userID, conversationID, before string, n int) ([]store.Message, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(beforeSQL),
		before, conversationID, userID, conversationID, userID, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := false
	var out []store.Message
	for rows.Next() {
		found = true
		var anchor sql.NullInt64
		var r messageRow
		if err := rows.Scan(append([]any{&anchor}, r.targets()...)...); err != nil {
			return nil, err
		}
		if out, err = r.appendTo(out, conversationID, userID); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("message %q: %w", before, store.ErrNotFound)
	}
	return out, nil
}

// messageRow receives messageColumns; they are nullable for the empty side
// of beforeSQL's join.
type messageRow struct {
	id, role, content, answerID, replyTo, finishReason sql.NullString
	cached                                             sql.NullBool
	at                                                 timeColumn
}

func (r *messageRow) targets() []any {
	return []any{&r.id, &r.role, &r.content, &r.answerID, &r.replyTo, &r.cached, &r.finishReason, &r.at}
}

// appendTo appends the message, unless the row is the NULLs of an empty
// page.
func (r *messageRow) appendTo(out []store.Message, conversationID, userID string) ([]store.Message, error) {
	if !r.id.Valid {
		return out, nil
	}
	if r.at.err != nil {
		return nil, fmt.Errorf("message %q: %w", r.id.String, r.at.err)
	}
	return append(out, store.Message{
		ID: r.id.String, ConversationID: conversationID, UserID: userID,
		Role: r.role.String, Content: r.content.String, AnswerID: r.answerID.String,
		ReplyTo: r.replyTo.String, Cached: r.cached.Bool, FinishReason: r.finishReason.String,
		At: r.at.t,
	}), nil
}

// timeColumn scans a time the driver may hand over as a time.Time or, for
// a column it cannot trace to its declared type (SQLite, through a
// subquery), as the text it wrote.
type timeColumn struct {
	t   time.Time
	err error // kept for appendTo, so a NULL row never fails the scan
}

func (c *timeColumn) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		c.t = time.Time{}
	case time.Time:
		c.t = v.UTC()
	case string:
		c.t, c.err = parseTime(v)
	case []byte:
		c.t, c.err = parseTime(string(v))
	default:
		c.err = fmt.Errorf("time column: unexpected %T", src)
	}
	return nil
}

// NewConversation ends the user's open conversation and starts another, in
// one transaction, returning its id. A user who never had a conversation
// row was in store.FirstConversationID's; that id is stored as ended, so
// that it is no longer current.
func (s *DB) NewConversation(ctx context.Context, userID string) (string, error) {
	if err := store.ValidateUserID(userID); err != nil {
		return "", fmt.Errorf("new conversation: %w", err)
	}
	for attempt := 1; ; attempt++ {
		id := newConversationID()
		err := withTx(ctx, s.db, func(tx *sqlx.Tx) error { return s.startConversation(ctx, tx, userID, id) })
		if err == nil {
			return id, nil
		}
		unique := s.dialect.IsUniqueViolation != nil && s.dialect.IsUniqueViolation(err)
		if !unique || attempt == newConversationAttempts || ctx.Err() != nil {
			return "", fmt.Errorf("new conversation for %q: %w", userID, err)
		}
	}
}

func (s *DB) startConversation(ctx context.Context, tx *sqlx.Tx, userID, id string) error {
	if s.dialect.LockUser != "" {
		if _, err := tx.ExecContext(ctx, s.dialect.LockUser, userID); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
	}
	// Read after the lock, so that the open conversation a reset just
	// committed is the one this one ends.
	now := time.Now().UTC()
	_, err := tx.ExecContext(ctx, s.rebind(`UPDATE conversations SET ended_at = ?
		WHERE user_id = ? AND ended_at IS NULL`), now, userID)
	if err != nil {
		return fmt.Errorf("end conversation: %w", err)
	}
	// A no-op unless the user never had a row: then the derived first
	// conversation is what ends.
	_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO conversations (id, user_id, started_at, ended_at)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`), store.FirstConversationID(userID), userID, now, now)
	if err != nil {
		return fmt.Errorf("end first conversation: %w", err)
	}
	_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO conversations (id, user_id, started_at)
		VALUES (?, ?, ?)`), id, userID, now)
	if err != nil {
		return fmt.Errorf("start conversation: %w", err)
	}
	return nil
}

// PruneMessages deletes the messages stored before t and returns how many,
// a bounded number of rows per statement. Conversations stay: the current
// one must, and an ended one is a row per reset.
func (s *DB) PruneMessages(ctx context.Context, before time.Time) (int64, error) {
	q := s.rebind(`DELETE FROM messages WHERE seq IN (
		SELECT seq FROM messages WHERE at < ? ORDER BY at LIMIT ?)`)
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, q, before.UTC(), pruneRowsPerDelete)
		if err != nil {
			return total, fmt.Errorf("prune messages: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("prune messages: %w", err)
		}
		total += n
		if n < pruneRowsPerDelete {
			return total, nil
		}
	}
}
