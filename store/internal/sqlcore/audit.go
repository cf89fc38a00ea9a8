package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wealthwarriors/wealthcoach/store"
)

// auditRowsPerInsert keeps one INSERT of 21 columns far below both
// backends' parameter limits.
const auditRowsPerInsert = 200

const auditColumns = `answer_id, conversation_id, user_id, session_id, node_id, at, provider, model,
	prompt_version, system_prompt_sha256, history_sha256, question, answer, finish_reason, cached,
	prompt_tokens, completion_tokens, ttft_ms, prev_hash, hash`

// AppendAudit appends recs to their users' chains in one transaction. Each
// user's chain is extended under Dialect.LockUser (on a key of its own), so
// that two nodes appending for one user take turns and never fork it; on
// SQLite the immediate transaction's write lock does that.
//
// The statements do not grow with the users in the batch: the chains'
// heads, the records an earlier attempt stored and the inserts each take
// one statement per chunk of the batch, because the writer runs beside
// streaming answers and a statement per user (four, before) was most of
// its cost on SQLite and a round trip each on PostgreSQL.
func (s *DB) AppendAudit(ctx context.Context, recs []store.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	now := time.Now()
	byUser := make(map[string][]store.AuditRecord)
	var users []string
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		r = storableAudit(r, now)
		if _, ok := byUser[r.UserID]; !ok {
			users = append(users, r.UserID)
		}
		byUser[r.UserID] = append(byUser[r.UserID], r)
		ids = append(ids, r.AnswerID)
	}
	slices.Sort(users) // one lock order for every writer: no deadlock
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		for _, u := range users {
			if err := s.lockAudit(ctx, tx, u); err != nil {
				return fmt.Errorf("user %q: %w", u, err)
			}
		}
		heads, err := s.auditHeads(ctx, tx, users)
		if err != nil {
			return err
		}
		seen, err := s.storedAudit(ctx, tx, ids)
		if err != nil {
			return err
		}
		fresh := make([]store.AuditRecord, 0, len(recs))
		for _, u := range users {
			prev := heads[u]
			for _, r := range byUser[u] {
				if seen[r.AnswerID] {
					continue // stored by an earlier attempt of this batch
				}
				seen[r.AnswerID] = true
				r.PrevHash = prev
				r.Hash = r.ComputeHash()
				prev = r.Hash
				fresh = append(fresh, r)
			}
		}
		return s.insertAudit(ctx, tx, fresh)
	})
	if err != nil {
		return fmt.Errorf("append %d audit records: %w", len(recs), err)
	}
	return nil
}

func storableAudit(r store.AuditRecord, now time.Time) store.AuditRecord {
	for _, f := range []*string{&r.AnswerID, &r.ConversationID, &r.UserID, &r.SessionID, &r.NodeID,
		&r.Provider, &r.Model, &r.PromptVersion, &r.SystemPromptSHA256, &r.HistorySHA256,
		&r.Question, &r.Answer, &r.FinishReason} {
		*f = cleanText(*f)
	}
	if r.At.IsZero() {
		r.At = now
	}
	// The precision both backends keep, so that the hash computed here is
	// the one recomputed from the stored row.
	r.At = r.At.UTC().Truncate(time.Microsecond)
	return r
}

func auditLockKey(userID string) string { return "audit:" + userID }

func (s *DB) lockAudit(ctx context.Context, tx *sqlx.Tx, userID string) error {
	if s.dialect.LockUser == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.dialect.LockUser, auditLockKey(userID)); err != nil {
		return fmt.Errorf("lock audit chain: %w", err)
	}
	return nil
}

// auditKeysPerQuery bounds an IN list, far below both backends' parameter
// limits.
const auditKeysPerQuery = 500

// inList is "(?, ?, …)" for n values, and the values as arguments.
func inList(keys []string) (string, []any) {
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	return "(?" + strings.Repeat(", ?", len(keys)-1) + ")", args
}

// auditHeads is the hash each user's next record chains to: the user's
// latest record's, else the anchor retention left, else the genesis hash.
func (s *DB) auditHeads(ctx context.Context, q sqlx.QueryerContext, users []string) (map[string]string, error) {
	heads := make(map[string]string, len(users))
	var bare []string
	for chunk := range slices.Chunk(users, auditKeysPerQuery) {
		in, args := inList(chunk)
		if err := collectPairs(ctx, q, s.rebind(`SELECT user_id, hash FROM audit WHERE seq IN
			(SELECT MAX(seq) FROM audit WHERE user_id IN `+in+` GROUP BY user_id)`), args, heads); err != nil {
			return nil, fmt.Errorf("last audit hashes: %w", err)
		}
	}
	for _, u := range users {
		if _, ok := heads[u]; !ok {
			bare = append(bare, u)
		}
	}
	for chunk := range slices.Chunk(bare, auditKeysPerQuery) {
		in, args := inList(chunk)
		if err := collectPairs(ctx, q, s.rebind(`SELECT user_id, hash FROM audit_anchors WHERE user_id IN `+in), args, heads); err != nil {
			return nil, fmt.Errorf("audit anchors: %w", err)
		}
	}
	for _, u := range bare {
		if _, ok := heads[u]; !ok {
			heads[u] = store.GenesisHash
		}
	}
	return heads, nil
}

// collectPairs adds the (key, value) rows of a query to m.
func collectPairs(ctx context.Context, q sqlx.QueryerContext, query string, args []any, m map[string]string) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		m[k] = v
	}
	return rows.Err()
}

// storedAudit reports which of ids already have their record.
func (s *DB) storedAudit(ctx context.Context, q sqlx.QueryerContext, ids []string) (map[string]bool, error) {
	seen := make(map[string]bool)
	for chunk := range slices.Chunk(ids, auditKeysPerQuery) {
		in, args := inList(chunk)
		found := map[string]string{}
		if err := collectPairs(ctx, q, s.rebind(`SELECT answer_id, '' FROM audit WHERE answer_id IN `+in), args, found); err != nil {
			return nil, fmt.Errorf("find stored records: %w", err)
		}
		for id := range found {
			seen[id] = true
		}
	}
	return seen, nil
}

func (s *DB) insertAudit(ctx context.Context, tx *sqlx.Tx, fresh []store.AuditRecord) error {
	for chunk := range slices.Chunk(fresh, auditRowsPerInsert) {
		var b strings.Builder
		b.WriteString(`INSERT INTO audit (` + auditColumns + `) VALUES `)
		args := make([]any, 0, 20*len(chunk))
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			var pt, ct sql.NullInt64
			if r.Usage != nil {
				pt = sql.NullInt64{Int64: r.Usage.PromptTokens, Valid: true}
				ct = sql.NullInt64{Int64: r.Usage.CompletionTokens, Valid: true}
			}
			args = append(args, r.AnswerID, r.ConversationID, r.UserID, r.SessionID, r.NodeID, r.At,
				r.Provider, r.Model, r.PromptVersion, r.SystemPromptSHA256, r.HistorySHA256,
				r.Question, r.Answer, r.FinishReason, r.Cached, pt, ct, r.TTFTMillis, r.PrevHash, r.Hash)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(b.String()), args...); err != nil {
			return fmt.Errorf("insert audit records: %w", err)
		}
	}
	return nil
}

func (s *DB) auditAnchor(ctx context.Context, q sqlx.QueryerContext, userID string) (string, error) {
	var h string
	err := q.QueryRowxContext(ctx, s.rebind(`SELECT hash FROM audit_anchors WHERE user_id = ?`), userID).Scan(&h)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.GenesisHash, nil
	case err != nil:
		return "", fmt.Errorf("audit anchor: %w", err)
	}
	return h, nil
}

// AuditAnchor is the prev_hash the user's oldest stored record must name.
func (s *DB) AuditAnchor(ctx context.Context, userID string) (string, error) {
	return s.auditAnchor(ctx, s.db, userID)
}

// AuditUsers lists the users with audit records or an anchor, sorted.
func (s *DB) AuditUsers(ctx context.Context) ([]string, error) {
	var users []string
	err := s.db.SelectContext(ctx, &users,
		`SELECT user_id FROM audit UNION SELECT user_id FROM audit_anchors`)
	if err != nil {
		return nil, fmt.Errorf("audit users: %w", err)
	}
	slices.Sort(users) // in Go, not the database's collation
	return users, nil
}

// EachAudit streams the user's records in chain order.
func (s *DB) EachAudit(ctx context.Context, userID string, since, until time.Time, fn func(store.AuditRecord) error) error {
	q := `SELECT ` + auditColumns + ` FROM audit WHERE user_id = ?`
	args := []any{userID}
	if !since.IsZero() {
		q += ` AND at >= ?`
		args = append(args, since.UTC())
	}
	if !until.IsZero() {
		q += ` AND at < ?`
		args = append(args, until.UTC())
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(q+` ORDER BY seq`), args...)
	if err != nil {
		return fmt.Errorf("audit records of %q: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r store.AuditRecord
		var at timeColumn
		var pt, ct sql.NullInt64
		err := rows.Scan(&r.AnswerID, &r.ConversationID, &r.UserID, &r.SessionID, &r.NodeID, &at,
			&r.Provider, &r.Model, &r.PromptVersion, &r.SystemPromptSHA256, &r.HistorySHA256,
			&r.Question, &r.Answer, &r.FinishReason, &r.Cached, &pt, &ct, &r.TTFTMillis, &r.PrevHash, &r.Hash)
		if err == nil {
			err = at.err
		}
		if err != nil {
			return fmt.Errorf("audit records of %q: %w", userID, err)
		}
		r.At = at.t
		if pt.Valid || ct.Valid {
			r.Usage = &store.AuditUsage{PromptTokens: pt.Int64, CompletionTokens: ct.Int64}
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit records of %q: %w", userID, err)
	}
	return nil
}

// PruneAudit deletes each user's records older than before up to the first
// one kept, one transaction per user, and stores the last deleted record's
// hash as the user's anchor. A record older than before that follows a
// newer one in the chain stays with it: only a prefix of a chain can go.
func (s *DB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	before = before.UTC()
	var users []string
	err := s.db.SelectContext(ctx, &users, s.rebind(`SELECT DISTINCT user_id FROM audit WHERE at < ?`), before)
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	slices.Sort(users)
	var total int64
	for _, u := range users {
		err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
			if err := s.lockAudit(ctx, tx, u); err != nil {
				return err
			}
			var cut sql.NullInt64
			err := tx.QueryRowxContext(ctx, s.rebind(`SELECT MIN(seq) FROM audit WHERE user_id = ? AND at >= ?`),
				u, before).Scan(&cut)
			if err != nil {
				return fmt.Errorf("first kept record: %w", err)
			}
			if !cut.Valid {
				cut.Int64 = math.MaxInt64
			}
			var last string
			err = tx.QueryRowxContext(ctx, s.rebind(`SELECT hash FROM audit WHERE user_id = ? AND seq < ?
				ORDER BY seq DESC LIMIT 1`), u, cut.Int64).Scan(&last)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("last pruned record: %w", err)
			}
			res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM audit WHERE user_id = ? AND seq < ?`), u, cut.Int64)
			if err != nil {
				return fmt.Errorf("delete records: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("delete records: %w", err)
			}
			_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO audit_anchors (user_id, hash, pruned_before)
				VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash,
				pruned_before = excluded.pruned_before`), u, last, before)
			if err != nil {
				return fmt.Errorf("store anchor: %w", err)
			}
			total += n
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("prune audit of %q: %w", u, err)
		}
	}
	return total, nil
}
