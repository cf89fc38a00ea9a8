package sqlcore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wealthwarriors/wealthcoach/store"
)

// The conversation part of a login: three more columns on the account row.
// The open conversation is joined as c; whether the user has any
// conversation row is asked only when there is no open one, because only
// then does the answer matter (see conversationRow.current); the last
// messages are aggregated into one JSON value so that the account stays one
// row. The first parameter is the number of messages, the second the user
// id.
const (
	conversationColumns = `c.id,
	CASE WHEN c.id IS NULL
		THEN EXISTS (SELECT 1 FROM conversations e WHERE e.user_id = u.id)
		ELSE true END,
	(SELECT %s FROM (` + lastMessagesSQL + `) h)`

	// lastMessagesSQL walks the conversation index backwards from the
	// newest message, so it reads the limit rows and no more (on
	// PostgreSQL, given migration 0002's statistics on the two columns).
	lastMessagesSQL = `SELECT m.seq, m.id, m.role, m.content, m.answer_id, m.reply_to,
		m.cached, m.finish_reason, m.at
	FROM messages m
	WHERE m.conversation_id = c.id AND m.user_id = u.id
	ORDER BY m.seq DESC LIMIT ?`

	conversationJoin = `LEFT JOIN conversations c ON c.user_id = u.id AND c.ended_at IS NULL`
)

// LoadHistorySQL is the login query with the conversation, rebound for the
// driver: one statement, so one round trip on PostgreSQL.
func (d Dialect) LoadHistorySQL() string {
	q := `SELECT u.id, u.name, u.disabled, u.created_at,
	p.currency, p.monthly_income, p.monthly_expenses, p.savings, p.debts,
	p.risk_tolerance, p.goals, p.experience, p.updated_at,
	` + fmt.Sprintf(conversationColumns, d.MessagesJSON) + `
FROM users u
LEFT JOIN profiles p ON p.user_id = u.id
` + conversationJoin + `
WHERE u.id = ?`
	return sqlx.Rebind(d.Bind, q)
}

// conversationSQL reads the conversation alone, for a login whose profile
// came from an operator's query: the user need not be in the users table.
func (d Dialect) conversationSQL() string {
	q := `SELECT ` + fmt.Sprintf(conversationColumns, d.MessagesJSON) + `
FROM (SELECT CAST(? AS TEXT) AS id) u
` + conversationJoin
	return sqlx.Rebind(d.Bind, q)
}

// SetHistoryMessages makes LoadAccount return the user's current
// conversation and its last n messages (history.max_messages). 0, the
// default, loads no conversation and leaves Account.ConversationID empty,
// for a server that keeps none; a negative n counts as 0. Call it before
// the store serves logins.
func (s *DB) SetHistoryMessages(n int) {
	s.historyMessages.Store(int64(max(n, 0)))
}

// loadConversation adds the conversation to an account read by an
// operator's profile query: a second query, as the first is the operator's
// own.
func (s *DB) loadConversation(ctx context.Context, a *store.Account, id string, limit int64) error {
	st, err := s.conversation.get(ctx, s.db)
	if err != nil {
		return fmt.Errorf("conversation: %w", err)
	}
	var c conversationRow
	if err := st.QueryRowContext(ctx, limit, id).Scan(c.targets()...); err != nil {
		return fmt.Errorf("conversation: %w", err)
	}
	if a.ConversationID, a.History, err = c.current(id); err != nil {
		return fmt.Errorf("conversation: %w", err)
	}
	return nil
}

// conversationRow receives conversationColumns.
type conversationRow struct {
	open     sql.NullString // the open conversation's id
	hasAny   bool           // the user has a conversation row, open or ended
	messages []byte         // JSON; see Dialect.MessagesJSON
}

func (c *conversationRow) targets() []any { return []any{&c.open, &c.hasAny, &c.messages} }

// current names the user's current conversation and its last messages. A
// user who never had a conversation row is in their derived first one, so
// that a login writes nothing. One whose conversations have all ended
// without a successor (only an operator's edit leaves that) starts a new
// one, stored with its first message.
func (c *conversationRow) current(userID string) (string, []store.Message, error) {
	switch {
	case c.open.Valid:
		msgs, err := decodeMessages(c.messages, c.open.String, userID)
		return c.open.String, msgs, err
	case !c.hasAny:
		return store.FirstConversationID(userID), nil, nil
	default:
		return newConversationID(), nil, nil
	}
}

// newConversationID names a new conversation: random, in the shape of
// store.FirstConversationID.
func newConversationID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return "c" + hex.EncodeToString(b[:])
}

// decodeMessages reads the JSON Dialect.MessagesJSON builds. A NULL or
// empty aggregate is no messages. It is a parser for this one shape
// rather than encoding/json, which took several times as long as the
// query itself for a login's twenty messages.
func decodeMessages(raw []byte, conversationID, userID string) ([]store.Message, error) {
	d := jsonRows{b: raw}
	if d.skipSpace(); d.i == len(d.b) || d.literal() == "null" {
		return nil, nil
	}
	d.i = 0
	var msgs []store.Message
	err := d.array(func() error {
		m := store.Message{ConversationID: conversationID, UserID: userID}
		if err := d.message(&m); err != nil {
			return fmt.Errorf("message %d: %w", len(msgs), err)
		}
		msgs = append(msgs, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decode messages: %w", err)
	}
	return msgs, nil
}

// jsonRows reads a JSON array of [id, role, content, answer_id, reply_to,
// cached, finish_reason, at] arrays.
type jsonRows struct {
	b []byte
	i int
}

// message reads one row into m.
func (d *jsonRows) message(m *store.Message) error {
	n := 0
	var err error
	perr := d.array(func() error {
		switch n {
		case 0, 1, 2, 3, 4, 6:
			dst := [...]*string{&m.ID, &m.Role, &m.Content, &m.AnswerID, &m.ReplyTo, nil, &m.FinishReason}[n]
			*dst, err = d.str()
		case 5:
			lit := d.literal()
			m.Cached = lit == "true" || lit == "1" // SQLite writes 0 and 1
		case 7:
			m.At, err = d.time()
		default:
			err = errors.New("more than 8 fields")
		}
		n++
		return err
	})
	if perr == nil && n != 8 {
		perr = fmt.Errorf("%d fields, want 8", n)
	}
	return perr
}

// array reads '[' elem (',' elem)* ']', calling elem at each element.
func (d *jsonRows) array(elem func() error) error {
	if err := d.expect('['); err != nil {
		return err
	}
	if d.skipSpace(); d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return nil
	}
	for {
		d.skipSpace()
		if err := elem(); err != nil {
			return err
		}
		d.skipSpace()
		if d.i < len(d.b) && d.b[d.i] == ',' {
			d.i++
			continue
		}
		return d.expect(']')
	}
}

func (d *jsonRows) expect(c byte) error {
	d.skipSpace()
	if d.i >= len(d.b) || d.b[d.i] != c {
		return fmt.Errorf("offset %d: want %q", d.i, c)
	}
	d.i++
	return nil
}

func (d *jsonRows) skipSpace() {
	for d.i < len(d.b) && (d.b[d.i] == ' ' || d.b[d.i] == '\n' || d.b[d.i] == '\t' || d.b[d.i] == '\r') {
		d.i++
	}
}

// literal reads a number, true, false or null.
func (d *jsonRows) literal() string {
	start := d.i
	for d.i < len(d.b) && !strings.ContainsRune(",] \n\t\r", rune(d.b[d.i])) {
		d.i++
	}
	return string(d.b[start:d.i])
}

// str reads a string (null as ""). One without escapes is the bytes
// between its quotes; encoding/json decodes the others.
func (d *jsonRows) str() (string, error) {
	if d.i < len(d.b) && d.b[d.i] == 'n' {
		if lit := d.literal(); lit != "null" {
			return "", fmt.Errorf("offset %d: %q is not a string", d.i, lit)
		}
		return "", nil
	}
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return "", fmt.Errorf("offset %d: want a string", d.i)
	}
	start, escaped := d.i, false
	for d.i++; d.i < len(d.b); d.i++ {
		switch d.b[d.i] {
		case '\\':
			escaped = true
			d.i++
		case '"':
			d.i++
			if !escaped {
				return string(d.b[start+1 : d.i-1]), nil
			}
			var s string
			err := json.Unmarshal(d.b[start:d.i], &s)
			return s, err
		}
	}
	return "", errors.New("unterminated string")
}

// time reads Unix microseconds (PostgreSQL's, which do not depend on the
// session's time zone) or a time as the SQLite driver writes it.
func (d *jsonRows) time() (time.Time, error) {
	if d.i < len(d.b) && d.b[d.i] == '"' {
		s, err := d.str()
		if err != nil {
			return time.Time{}, err
		}
		return parseTime(s)
	}
	lit := d.literal()
	us, err := strconv.ParseInt(lit, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", lit, err)
	}
	return time.UnixMicro(us).UTC(), nil
}

// timeLayouts are the forms the SQLite driver writes (_time_format=sqlite)
// and reads.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSuffix(s, "Z")
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: unknown format", s)
}
