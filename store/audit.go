package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// GenesisHash is the prev_hash of a user's first audit record.
var GenesisHash = strings.Repeat("0", 64)

// AuditTimeLayout is how an audit record's at is written, in the export and
// in the hashed encoding: RFC 3339, UTC, always six fractional digits (the
// precision both SQL backends keep).
const AuditTimeLayout = "2006-01-02T15:04:05.000000Z"

// AuditUsage is the model's reported usage of an audited answer.
type AuditUsage struct {
	PromptTokens     int64
	CompletionTokens int64
}

// AuditRecord is one answer that reached a user (SPEC 8.5). PrevHash and
// Hash are set by the store when it appends the record to the user's chain.
type AuditRecord struct {
	AnswerID           string
	ConversationID     string
	UserID             string
	SessionID          string
	NodeID             string
	At                 time.Time
	Provider           string
	Model              string
	PromptVersion      string
	SystemPromptSHA256 string
	HistorySHA256      string
	Question           string
	Answer             string
	FinishReason       string
	Cached             bool
	Usage              *AuditUsage // nil when the model reported none
	TTFTMillis         int64
	PrevHash           string
	Hash               string
}

// AuditLog is the append-only, per-user hash-chained audit trail.
type AuditLog interface {
	// AppendAudit appends recs, in order, each to its user's chain: it sets
	// PrevHash to the hash of the user's last record (or of the anchor left
	// by pruning, or GenesisHash) and Hash from it, in one transaction. A
	// record whose AnswerID is already stored is skipped, so a retried
	// batch is stored once.
	AppendAudit(ctx context.Context, recs []AuditRecord) error
	// AuditUsers lists the users with records or an anchor, sorted.
	AuditUsers(ctx context.Context) ([]string, error)
	// AuditAnchor is the hash the user's oldest stored record must name as
	// prev_hash: GenesisHash unless records were pruned.
	AuditAnchor(ctx context.Context, userID string) (string, error)
	// EachAudit calls fn with the user's records at or after since and
	// before until (zero: unbounded), in chain order, streaming.
	EachAudit(ctx context.Context, userID string, since, until time.Time, fn func(AuditRecord) error) error
	// PruneAudit deletes, for each user, the oldest records up to the
	// first one at or after before, and keeps the hash of the last deleted
	// one as the user's anchor, so that the chain still verifies.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}

// Canonical is the encoding the hash is computed over: the record's fields
// other than hash, under their SPEC names, as JSON canonicalised per RFC
// 8785 (keys sorted, no whitespace, UTF-8, strings escaping only `"`, `\`
// and control characters: \b \f \n \r \t, others \u00xx), integers in
// decimal, at in AuditTimeLayout, usage an object
// {"completion_tokens":N,"prompt_tokens":N} or null.
func (r *AuditRecord) Canonical() []byte {
	return r.appendJSON(nil, false)
}

// ComputeHash is the lowercase hex sha256 of r.Canonical().
func (r *AuditRecord) ComputeHash() string {
	sum := sha256.Sum256(r.Canonical())
	return hex.EncodeToString(sum[:])
}

// ExportJSON is the record as one line of an export: the canonical
// encoding with hash added in its sorted place.
func (r *AuditRecord) ExportJSON() []byte {
	return r.appendJSON(nil, true)
}

// appendJSON writes the fields in sorted key order (all keys are ASCII, so
// byte order is RFC 8785's UTF-16 order).
func (r *AuditRecord) appendJSON(b []byte, withHash bool) []byte {
	str := func(k, v string) {
		b = appendJSONString(append(b, ','), k)
		b = appendJSONString(append(b, ':'), v)
	}
	b = append(b, '{')
	b = appendJSONString(b, "answer")
	b = appendJSONString(append(b, ':'), r.Answer)
	str("answer_id", r.AnswerID)
	str("at", r.At.UTC().Format(AuditTimeLayout))
	b = strconv.AppendBool(append(b, `,"cached":`...), r.Cached)
	str("conversation_id", r.ConversationID)
	str("finish_reason", r.FinishReason)
	if withHash {
		str("hash", r.Hash)
	}
	str("history_sha256", r.HistorySHA256)
	str("model", r.Model)
	str("node_id", r.NodeID)
	str("prev_hash", r.PrevHash)
	str("prompt_version", r.PromptVersion)
	str("provider", r.Provider)
	str("question", r.Question)
	str("session_id", r.SessionID)
	str("system_prompt_sha256", r.SystemPromptSHA256)
	b = strconv.AppendInt(append(b, `,"ttft_ms":`...), r.TTFTMillis, 10)
	b = append(b, `,"usage":`...)
	if r.Usage == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(append(b, `{"completion_tokens":`...), r.Usage.CompletionTokens, 10)
		b = strconv.AppendInt(append(b, `,"prompt_tokens":`...), r.Usage.PromptTokens, 10)
		b = append(b, '}')
	}
	str("user_id", r.UserID)
	return append(b, '}')
}

// appendJSONString writes s as an RFC 8785 string. Invalid UTF-8 is
// written as U+FFFD (the store never holds any: see its text cleaning).
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range strings.ToValidUTF8(s, string(utf8.RuneError)) {
		switch c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			} else {
				b = utf8.AppendRune(b, c)
			}
		}
	}
	return append(b, '"')
}

// HistorySHA256 is the history_sha256 of the messages sent with a question
// (its memory, without the system prompt and the question): the lowercase
// hex sha256 of a JSON array, RFC 8785 as above, of objects
// {"content":C,"role":R}, oldest first; "[]" when there are none.
func HistorySHA256(roles, contents []string) string {
	b := []byte{'['}
	for i := range roles {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(append(b, `{"content":`...), contents[i])
		b = appendJSONString(append(b, `,"role":`...), roles[i])
		b = append(b, '}')
	}
	b = append(b, ']')
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// AuditBreak is the first record of a chain that does not verify.
type AuditBreak struct {
	UserID   string
	AnswerID string
	Reason   string
}

// ErrAuditBroken wraps every AuditBreak returned as an error.
var ErrAuditBroken = errors.New("audit chain broken")

func (b *AuditBreak) Error() string {
	return fmt.Sprintf("%s: user %s, answer %s: %s", ErrAuditBroken, b.UserID, b.AnswerID, b.Reason)
}

func (b *AuditBreak) Unwrap() error { return ErrAuditBroken }

// VerifyAudit recomputes the user's chain from its anchor and returns how
// many records it holds, or an *AuditBreak naming the first record that
// does not verify: one altered (its hash), or one after a deleted or
// reordered record (its prev_hash).
func VerifyAudit(ctx context.Context, log AuditLog, userID string) (int, error) {
	want, err := log.AuditAnchor(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("verify %s: %w", userID, err)
	}
	n := 0
	err = log.EachAudit(ctx, userID, time.Time{}, time.Time{}, func(r AuditRecord) error {
		switch {
		case r.PrevHash != want:
			return &AuditBreak{UserID: userID, AnswerID: r.AnswerID,
				Reason: "prev_hash does not name the record before it (a record was deleted or moved)"}
		case r.ComputeHash() != r.Hash:
			return &AuditBreak{UserID: userID, AnswerID: r.AnswerID,
				Reason: "hash does not match the record (it was altered)"}
		}
		want = r.Hash
		n++
		return nil
	})
	if err != nil {
		var br *AuditBreak
		if errors.As(err, &br) {
			return n, br
		}
		return n, fmt.Errorf("verify %s: %w", userID, err)
	}
	return n, nil
}
