package loadtest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// Received is one answer a session received to its end: a done frame,
// complete or cut by a failure after some text (finish_reason error).
type Received struct {
	User         string
	AnswerID     string
	Content      string // the whole answer, as the last frame carried it
	FinishReason string
	Cached       bool
}

// InMemory reports whether the answer entered the conversation, and so
// must be among the user's stored messages: SPEC 8.1 keeps an answer cut
// by a failure out of memory, though not out of the audit trail.
func (a Received) InMemory() bool { return a.FinishReason != "error" }

// RSSSample is the server's resident memory at one moment of a soak.
type RSSSample struct {
	At  Milliseconds `json:"at_ms"` // since the chat phase began
	RSS int64        `json:"rss_bytes"`
}

func (r *runner) tokenUser(i int) string {
	return r.o.UserPrefix + strconv.Itoa(i%r.o.Users)
}

func (r *runner) record(user string, f *wsclient.Frame) {
	if !r.o.Record {
		return
	}
	a := Received{User: user, AnswerID: f.ID, Content: f.Content, FinishReason: f.FinishReason, Cached: f.Cached}
	r.receivedMu.Lock()
	r.received = append(r.received, a)
	r.receivedMu.Unlock()
}

// sampleRSS samples the server's resident memory every SampleEvery while
// a soak chats; the returned func stops it and waits for it.
func (r *runner) sampleRSS(p *serverProbe) (stop func()) {
	if !r.o.Soak || p.pid == 0 {
		return func() {}
	}
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.o.SampleEvery)
		defer t.Stop()
		for {
			if s, err := sampleProc(p.pid); err == nil {
				r.rss = append(r.rss, RSSSample{At: Milliseconds(time.Since(r.chatAt)), RSS: s.RSS})
			}
			select {
			case <-t.C:
			case <-quit:
				return
			case <-r.ctx.Done():
				return
			}
		}
	}()
	return func() { close(quit); <-done }
}

// StoreReader is what Verify reads of the store the server writes to.
type StoreReader interface {
	History(ctx context.Context, userID, conversationID, before string, limit int) ([]store.Message, bool, error)
	EachAudit(ctx context.Context, userID string, since, until time.Time, fn func(store.AuditRecord) error) error
}

// Verification is the count of answers received against records stored.
type Verification struct {
	Received int `json:"received"` // answers the sessions received
	Audited  int `json:"audited"`  // of them, with an audit record of the same text
	// InMemory is how many received answers entered the conversation, and
	// Stored how many of those are among the user's stored messages with
	// the same text.
	InMemory int `json:"in_memory"`
	Stored   int `json:"stored"`
	// Missing lists up to ten answers not found as they were received.
	Missing []string `json:"missing,omitempty"`
}

// Lost is how many received answers the store lacks, in either table.
func (v *Verification) Lost() int { return v.Received - v.Audited + v.InMemory - v.Stored }

// Verify looks up every received answer in the store: an audit record
// with its answer id and text, and, for an answer that entered memory, the
// assistant message. It reads each user's conversation from the start, so
// it assumes no conversation was reset during the run.
func Verify(ctx context.Context, st StoreReader, received []Received) (*Verification, error) {
	v := &Verification{Received: len(received)}
	byUser := map[string][]Received{}
	for _, a := range received {
		byUser[a.User] = append(byUser[a.User], a)
	}
	users := make([]string, 0, len(byUser))
	for u := range byUser {
		users = append(users, u)
	}
	slices.Sort(users)
	missing := func(format string, args ...any) {
		if len(v.Missing) < 10 {
			v.Missing = append(v.Missing, fmt.Sprintf(format, args...))
		}
	}
	for _, u := range users {
		audit := map[string]string{}
		err := st.EachAudit(ctx, u, time.Time{}, time.Time{}, func(rec store.AuditRecord) error {
			audit[rec.AnswerID] = rec.Answer
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read audit records of %s: %w", u, err)
		}
		msgs, err := storedAnswers(ctx, st, u)
		if err != nil {
			return nil, err
		}
		// found reports whether what holds the answer as received, and
		// notes it missing otherwise.
		found := func(a Received, what string, text string, ok bool) bool {
			switch {
			case !ok:
				missing("%s answer %s: no %s", u, a.AnswerID, what)
			case text != a.Content:
				missing("%s answer %s: %s holds other text (%d bytes, received %d)", u, a.AnswerID, what, len(text), len(a.Content))
			default:
				return true
			}
			return false
		}
		for _, a := range byUser[u] {
			if text, ok := audit[a.AnswerID]; found(a, "audit record", text, ok) {
				v.Audited++
			}
			if !a.InMemory() {
				continue
			}
			v.InMemory++
			if text, ok := msgs[store.MessageID(a.AnswerID, store.RoleAssistant)]; found(a, "stored message", text, ok) {
				v.Stored++
			}
		}
	}
	return v, nil
}

// storedAnswers pages through the user's first conversation, newest to
// oldest, and returns its assistant messages by id.
func storedAnswers(ctx context.Context, st StoreReader, user string) (map[string]string, error) {
	out := map[string]string{}
	conv, before := store.FirstConversationID(user), ""
	for {
		page, more, err := st.History(ctx, user, conv, before, 500)
		if err != nil {
			return nil, fmt.Errorf("read messages of %s: %w", user, err)
		}
		for _, m := range page {
			if m.Role == store.RoleAssistant {
				out[m.ID] = m.Content
			}
		}
		if !more || len(page) == 0 {
			return out, nil
		}
		before = page[0].ID // oldest first: the page's oldest
	}
}

// PrintVerification writes the count a person reads after a soak.
func PrintVerification(w io.Writer, v *Verification) {
	fmt.Fprintf(w, "store: %d answers received; %d in the audit trail; %d of %d that entered memory in the messages; lost %d\n",
		v.Received, v.Audited, v.Stored, v.InMemory, v.Lost())
	for _, m := range v.Missing {
		fmt.Fprintf(w, "  missing: %s\n", m)
	}
}
