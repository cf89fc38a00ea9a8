package storetest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
)

// JournalStore is a user store that also keeps conversations.
type JournalStore interface {
	store.Accounts
	store.Journal
	SetHistoryMessages(n int)
}

// JournalBackend is one conversation store under RunJournalSuite.
type JournalBackend struct {
	// Open returns a fresh, empty, unmigrated store that it closes when the
	// test ends.
	Open func(tb testing.TB) JournalStore
	// Param is how a query writes its one parameter: "?" or "$1".
	Param string
}

// RunJournalSuite is the behaviour every conversation store must share,
// run against b.
func RunJournalSuite(t *testing.T, b JournalBackend) {
	tests := []struct {
		name string
		run  func(t *testing.T, b JournalBackend)
	}{
		{"ConversationsOff", testConversationsOff},
		{"FirstConversation", testFirstConversation},
		{"AppendAndLoad", testAppendAndLoad},
		{"HistoryPages", testHistoryPages},
		{"OtherUsers", testOtherUsers},
		{"Reset", testReset},
		{"ConcurrentResets", testConcurrentResets},
		{"ResetRacesFirstMessage", testResetRacesFirstMessage},
		{"ConcurrentAppends", testConcurrentAppends},
		{"Prune", testPrune},
		{"UnstorableText", testUnstorableText},
		{"ProfileQuery", testHistoryProfileQuery},
		{"Audit", testAudit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, b) })
	}
}

// journal opens a migrated store loading the last n messages at login,
// with users u1 and u2.
func journal(t *testing.T, b JournalBackend, n int) JournalStore {
	t.Helper()
	s := b.Open(t)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	s.SetHistoryMessages(n)
	MustAdd(t, s, store.User{ID: "u1", Name: "Ada"})
	MustAdd(t, s, store.User{ID: "u2", Name: "Bob"})
	return s
}

// baseTime has whole microseconds, which every backend keeps exactly.
var baseTime = time.Date(2025, 3, 4, 10, 0, 0, 123456000, time.UTC)

// Exchanges returns n exchanges (2n messages) of user in conversation,
// answers prefix1..prefixN, a second apart from at.
func Exchanges(user, conversation, prefix string, n int, at time.Time) []store.Message {
	var out []store.Message
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("%s%d", prefix, i)
		when := at.Add(time.Duration(i) * time.Second)
		out = append(out,
			store.Message{ID: store.MessageID(id, store.RoleUser), ConversationID: conversation, UserID: user,
				Role: store.RoleUser, Content: "question " + id, AnswerID: id, At: when},
			store.Message{ID: store.MessageID(id, store.RoleAssistant), ConversationID: conversation, UserID: user,
				Role: store.RoleAssistant, Content: "answer " + id, AnswerID: id, ReplyTo: "client-" + id,
				Cached: i%2 == 0, FinishReason: "stop", At: when.Add(500 * time.Millisecond)})
	}
	return out
}

func mustAppend(t *testing.T, s store.Journal, msgs []store.Message) {
	t.Helper()
	if err := s.AppendMessages(t.Context(), msgs); err != nil {
		t.Fatalf("AppendMessages(%d): %v", len(msgs), err)
	}
}

func mustHistory(t *testing.T, s store.Journal, user, conv, before string, limit int) ([]store.Message, bool) {
	t.Helper()
	msgs, more, err := s.History(t.Context(), user, conv, before, limit)
	if err != nil {
		t.Fatalf("History(%s, %s, before %q, %d): %v", user, conv, before, limit, err)
	}
	return msgs, more
}

// AssertMessages compares messages field by field, times by instant.
func AssertMessages(t *testing.T, got, want []store.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d messages %v, want %d %v", len(got), messageIDs(got), len(want), messageIDs(want))
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.At.Equal(w.At) {
			t.Errorf("message %d (%s): At = %v, want %v", i, w.ID, g.At, w.At)
		}
		g.At, w.At = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func messageIDs(msgs []store.Message) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

func testConversationsOff(t *testing.T, b JournalBackend) {
	s := journal(t, b, 0)
	mustAppend(t, s, Exchanges("u1", store.FirstConversationID("u1"), "a", 2, baseTime))
	a := MustLoad(t, s, "u1")
	if a.ConversationID != "" || a.History != nil {
		t.Errorf("with no history to load: conversation %q, %d messages; want none", a.ConversationID, len(a.History))
	}
	if a.User.Name != "Ada" {
		t.Errorf("user = %+v", a.User)
	}
}

// A user who never stored a message is in their derived conversation, and
// logging in writes nothing.
func testFirstConversation(t *testing.T, b JournalBackend) {
	s := journal(t, b, 5)
	for range 2 {
		a := MustLoad(t, s, "u1")
		if a.ConversationID != store.FirstConversationID("u1") || len(a.History) != 0 {
			t.Fatalf("new user: conversation %q with %d messages, want %q and none",
				a.ConversationID, len(a.History), store.FirstConversationID("u1"))
		}
	}
	if _, err := s.LoadAccount(t.Context(), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing user: err = %v, want ErrNotFound", err)
	}
}

func testAppendAndLoad(t *testing.T, b JournalBackend) {
	s := journal(t, b, 4)
	conv := store.FirstConversationID("u1")
	all := Exchanges("u1", conv, "a", 3, baseTime)
	mustAppend(t, s, all[:4])

	// The same batch again, as after an ambiguous failure, then one that
	// overlaps it: every message is stored once, in order.
	mustAppend(t, s, all[:4])
	mustAppend(t, s, all[2:])

	a := MustLoad(t, s, "u1")
	if a.ConversationID != conv {
		t.Errorf("conversation = %q, want %q", a.ConversationID, conv)
	}
	AssertMessages(t, a.History, all[2:]) // the last 4, oldest first
	got, more := mustHistory(t, s, "u1", conv, "", 100)
	AssertMessages(t, got, all)
	if more {
		t.Error("more = true with every message on the page")
	}
	if a.User.Name != "Ada" {
		t.Errorf("user = %+v", a.User)
	}

	if err := s.AppendMessages(t.Context(), nil); err != nil {
		t.Errorf("AppendMessages(nil): %v", err)
	}
	// A message without a time is stored at the time of the write.
	start := time.Now().Add(-time.Second)
	late := Exchanges("u1", conv, "b", 1, time.Time{})[:1]
	late[0].At = time.Time{}
	mustAppend(t, s, late)
	last := MustLoad(t, s, "u1").History
	if at := last[len(last)-1].At; at.Before(start) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("zero At stored as %v, want about now", at)
	}
}

// 45 messages in pages of 20 are 20, 20 and 5, newest page first, with
// nothing missing or repeated.
func testHistoryPages(t *testing.T, b JournalBackend) {
	s := journal(t, b, 20)
	conv := store.FirstConversationID("u1")
	all := Exchanges("u1", conv, "a", 23, baseTime)[:45]
	mustAppend(t, s, all)

	steps := []struct {
		wantFrom, wantTo int
		wantMore         bool
	}{
		{25, 45, true},
		{5, 25, true},
		{0, 5, false},
	}
	before := ""
	for i, st := range steps {
		page, more := mustHistory(t, s, "u1", conv, before, 20)
		AssertMessages(t, page, all[st.wantFrom:st.wantTo])
		if more != st.wantMore {
			t.Errorf("page %d: more = %v, want %v", i+1, more, st.wantMore)
		}
		if len(page) == 0 {
			t.Fatalf("page %d empty", i+1)
		}
		before = page[0].ID
	}
	// Before the oldest message: an empty page, not an error.
	page, more := mustHistory(t, s, "u1", conv, all[0].ID, 20)
	if len(page) != 0 || more {
		t.Errorf("before the oldest: %d messages, more %v; want none", len(page), more)
	}
	// A page of exactly what is left says there is no more.
	page, more = mustHistory(t, s, "u1", conv, all[5].ID, 5)
	AssertMessages(t, page, all[:5])
	if more {
		t.Error("exact last page: more = true")
	}
	if _, _, err := s.History(t.Context(), "u1", conv, "", 0); err == nil {
		t.Error("History with limit 0 succeeded")
	}
}

// Nothing of another user's is visible, whatever ids a caller passes: the
// user id is part of every query.
func testOtherUsers(t *testing.T, b JournalBackend) {
	ctx := t.Context()
	s := journal(t, b, 10)
	c1, c2 := store.FirstConversationID("u1"), store.FirstConversationID("u2")
	mine := Exchanges("u1", c1, "a", 2, baseTime)
	theirs := Exchanges("u2", c2, "b", 2, baseTime)
	// Messages of u2 claiming u1's conversation id.
	forged := Exchanges("u2", c1, "f", 1, baseTime.Add(time.Minute))
	mustAppend(t, s, slices.Concat(mine, theirs, forged))

	AssertMessages(t, MustLoad(t, s, "u1").History, mine)
	AssertMessages(t, MustLoad(t, s, "u2").History, theirs)
	got, _ := mustHistory(t, s, "u1", c1, "", 20)
	AssertMessages(t, got, mine)
	if got, more := mustHistory(t, s, "u1", c2, "", 20); len(got) != 0 || more {
		t.Errorf("u1 reading u2's conversation: %d messages, want none", len(got))
	}

	tests := []struct{ name, conv, before string }{
		{"another user's message", c1, theirs[1].ID},
		{"a forged message in my conversation", c1, forged[0].ID},
		{"another user's conversation", c2, theirs[1].ID},
		{"unknown id", c1, "no-such-message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, _, err := s.History(ctx, "u1", tt.conv, tt.before, 20)
			if !errors.Is(err, store.ErrNotFound) || len(msgs) != 0 {
				t.Errorf("History = %d messages, err %v; want ErrNotFound", len(msgs), err)
			}
		})
	}
}

var conversationIDShape = regexp.MustCompile(`^c[0-9a-f]{24}$`)

func testReset(t *testing.T, b JournalBackend) {
	ctx := t.Context()
	s := journal(t, b, 10)
	first := store.FirstConversationID("u1")
	old := Exchanges("u1", first, "a", 2, baseTime)
	mustAppend(t, s, old)

	second, err := s.NewConversation(ctx, "u1")
	if err != nil {
		t.Fatalf("NewConversation: %v", err)
	}
	if second == first || !conversationIDShape.MatchString(second) {
		t.Errorf("new conversation id %q: want c + 24 hex digits, not %q", second, first)
	}
	a := MustLoad(t, s, "u1")
	if a.ConversationID != second || len(a.History) != 0 {
		t.Errorf("after reset: conversation %q with %d messages, want %q and none", a.ConversationID, len(a.History), second)
	}
	if got, more := mustHistory(t, s, "u1", second, "", 20); len(got) != 0 || more {
		t.Errorf("history of the new conversation: %d messages, want none", len(got))
	}
	// An exchange another session still writes to the old conversation
	// stays there and does not make it current again.
	late := Exchanges("u1", first, "late", 1, baseTime.Add(time.Hour))
	mustAppend(t, s, late)
	fresh := Exchanges("u1", second, "b", 1, baseTime.Add(2*time.Hour))
	mustAppend(t, s, fresh)
	a = MustLoad(t, s, "u1")
	if a.ConversationID != second {
		t.Errorf("after a late write to the old conversation: current %q, want %q", a.ConversationID, second)
	}
	AssertMessages(t, a.History, fresh)
	got, _ := mustHistory(t, s, "u1", first, "", 20)
	AssertMessages(t, got, slices.Concat(old, late))

	third, err := s.NewConversation(ctx, "u1")
	if err != nil || third == second || third == first {
		t.Fatalf("second NewConversation = %q, %v; want a third id", third, err)
	}
	if got := MustLoad(t, s, "u1").ConversationID; got != third {
		t.Errorf("after the second reset: current %q, want %q", got, third)
	}

	// A user who never stored a message leaves the derived conversation.
	id, err := s.NewConversation(ctx, "u2")
	if err != nil {
		t.Fatalf("NewConversation(u2): %v", err)
	}
	if a := MustLoad(t, s, "u2"); a.ConversationID != id || a.ConversationID == store.FirstConversationID("u2") {
		t.Errorf("u2 after a reset with no messages: current %q, want %q", a.ConversationID, id)
	}
	if got := MustLoad(t, s, "u1").ConversationID; got != third {
		t.Errorf("u2's reset moved u1 to %q", got)
	}
	if _, err := s.NewConversation(ctx, "bad\x00id"); !errors.Is(err, store.ErrInvalidID) {
		t.Errorf("NewConversation with an invalid id: err = %v, want ErrInvalidID", err)
	}
}

// Resets of one user at once (two tabs) all succeed, and one of their
// conversations is the current one.
func testConcurrentResets(t *testing.T, b JournalBackend) {
	s := journal(t, b, 10)
	const resets = 8
	for _, fresh := range []bool{true, false} {
		t.Run(map[bool]string{true: "no conversation yet", false: "open conversation"}[fresh], func(t *testing.T) {
			user := "u1"
			if !fresh {
				user = "u2"
				mustAppend(t, s, Exchanges(user, store.FirstConversationID(user), "a", 1, baseTime))
			}
			ids := make([]string, resets)
			errs := make([]error, resets)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range resets {
				wg.Go(func() {
					<-start
					ids[i], errs[i] = s.NewConversation(t.Context(), user)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("reset %d: %v", i, err)
				}
			}
			if got := MustLoad(t, s, user).ConversationID; !slices.Contains(ids, got) {
				t.Errorf("current conversation %q is none of the resets' %v", got, ids)
			}
		})
	}
}

// A reset and the first stored message of a user with no conversation
// row, at once: both succeed, and in either order the reset's
// conversation is the current one.
func testResetRacesFirstMessage(t *testing.T, b JournalBackend) {
	s := journal(t, b, 10)
	const rounds = 40
	for r := range rounds {
		user := fmt.Sprintf("race%d", r)
		MustAdd(t, s, store.User{ID: user})
		msgs := Exchanges(user, store.FirstConversationID(user), user+"-", 1, baseTime)
		var id string
		var resetErr, appendErr error
		var wg sync.WaitGroup
		wg.Go(func() { appendErr = s.AppendMessages(t.Context(), msgs) })
		wg.Go(func() { id, resetErr = s.NewConversation(t.Context(), user) })
		wg.Wait()
		if appendErr != nil || resetErr != nil {
			t.Fatalf("round %d: append: %v; reset: %v", r, appendErr, resetErr)
		}
		if got := MustLoad(t, s, user).ConversationID; got != id {
			t.Errorf("round %d: current conversation %q, want the reset's %q", r, got, id)
		}
		if got, _ := mustHistory(t, s, user, id, "", 10); len(got) != 0 {
			t.Errorf("round %d: the reset's conversation has %d messages, want none", r, len(got))
		}
		if err := s.AppendMessages(t.Context(), Exchanges(user, id, user+"-next-", 1, baseTime)); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		if got, more := mustHistory(t, s, user, id, "", 10); len(got) != 2 || more {
			t.Errorf("round %d: %d messages in the new conversation, want 2", r, len(got))
		}
	}
}

// Batches naming the same new conversations in opposite orders, written
// at once, all succeed.
func testConcurrentAppends(t *testing.T, b JournalBackend) {
	s := journal(t, b, 10)
	const rounds, users = 20, 6
	for r := range rounds {
		var forward []store.Message
		for u := range users {
			user := fmt.Sprintf("r%d-u%d", r, u)
			forward = append(forward, Exchanges(user, store.FirstConversationID(user), user+"-f", 1, baseTime)...)
		}
		var backward []store.Message
		for u := users - 1; u >= 0; u-- {
			user := fmt.Sprintf("r%d-u%d", r, u)
			backward = append(backward, Exchanges(user, store.FirstConversationID(user), user+"-b", 1, baseTime)...)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, batch := range [][]store.Message{forward, backward} {
			wg.Go(func() { errs[i] = s.AppendMessages(t.Context(), batch) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
	}
	user := fmt.Sprintf("r%d-u%d", rounds-1, 0)
	got, _ := mustHistory(t, s, user, store.FirstConversationID(user), "", 20)
	if len(got) != 4 {
		t.Errorf("%s has %d messages, want 4", user, len(got))
	}
}

func testPrune(t *testing.T, b JournalBackend) {
	ctx := t.Context()
	s := journal(t, b, 100)
	c1, c2 := store.FirstConversationID("u1"), store.FirstConversationID("u2")
	old := Exchanges("u1", c1, "old", 5, baseTime)                     // 10 messages, before the cut
	recent := Exchanges("u1", c1, "new", 3, baseTime.Add(2*time.Hour)) // 6 after it
	other := Exchanges("u2", c2, "other", 3000, baseTime)              // 6,000 before it: two deletes
	mustAppend(t, s, slices.Concat(old, other, recent))

	cut := baseTime.Add(time.Hour)
	n, err := s.PruneMessages(ctx, cut)
	if err != nil || n != 6010 {
		t.Fatalf("PruneMessages = %d, %v; want 6010", n, err)
	}
	AssertMessages(t, MustLoad(t, s, "u1").History, recent)
	got, more := mustHistory(t, s, "u1", c1, "", 100)
	AssertMessages(t, got, recent)
	if more {
		t.Error("more = true after pruning the older messages")
	}
	if a := MustLoad(t, s, "u2"); a.ConversationID != c2 || len(a.History) != 0 {
		t.Errorf("u2 after pruning: conversation %q, %d messages; want %q, none", a.ConversationID, len(a.History), c2)
	}
	if _, _, err := s.History(ctx, "u1", c1, old[9].ID, 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("paging before a pruned message: err = %v, want ErrNotFound", err)
	}
	if n, err := s.PruneMessages(ctx, cut); err != nil || n != 0 {
		t.Errorf("second PruneMessages = %d, %v; want 0", n, err)
	}
}

// Text a column cannot hold as it is (PostgreSQL refuses NUL and invalid
// UTF-8) is stored with U+FFFD instead of failing the batch, which would
// be retried, and fail, for ever.
func testUnstorableText(t *testing.T, b JournalBackend) {
	s := journal(t, b, 10)
	conv := store.FirstConversationID("u1")
	msgs := Exchanges("u1", conv, "a", 1, baseTime)
	msgs[0].Content = "nul\x00here and bad \xff byte"
	msgs[1].ReplyTo = "client\x00id"
	mustAppend(t, s, msgs)
	want := slices.Clone(msgs)
	want[0].Content = "nul\uFFFDhere and bad \uFFFD byte"
	want[1].ReplyTo = "client\uFFFDid"
	AssertMessages(t, MustLoad(t, s, "u1").History, want)
}

// With an operator's profile query the conversation still comes with the
// account, for users in a table of the operator's own.
func testHistoryProfileQuery(t *testing.T, b JournalBackend) {
	s := journal(t, b, 2)
	q := `SELECT u.id, u.name AS name FROM users u WHERE u.id = ` + b.Param
	if err := s.SetProfileQuery(q); err != nil {
		t.Fatalf("SetProfileQuery: %v", err)
	}
	conv := store.FirstConversationID("u1")
	a := MustLoad(t, s, "u1")
	if a.ConversationID != conv || len(a.History) != 0 || a.User.Name != "Ada" {
		t.Errorf("before any message: %+v", a)
	}
	msgs := Exchanges("u1", conv, "a", 2, baseTime)
	mustAppend(t, s, msgs)
	AssertMessages(t, MustLoad(t, s, "u1").History, msgs[2:])
	if _, err := s.LoadAccount(t.Context(), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing user: err = %v, want ErrNotFound", err)
	}
}

// RunLoadAccountHistoryBenchmark measures logins that bring back 20 of a
// conversation's 40 messages, serial and parallel, and one of a user who
// never chatted.
func RunLoadAccountHistoryBenchmark(b *testing.B, s JournalStore) {
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := s.SeedDemo(ctx); err != nil {
		b.Fatal(err)
	}
	msgs := Exchanges(store.DemoUserID, store.FirstConversationID(store.DemoUserID), "a", 20, baseTime)
	if err := s.AppendMessages(ctx, msgs); err != nil {
		b.Fatal(err)
	}
	s.SetHistoryMessages(20)
	load := func() error {
		a, err := s.LoadAccount(ctx, store.DemoUserID)
		if err == nil && len(a.History) != 20 {
			err = fmt.Errorf("%d messages loaded, want 20", len(a.History))
		}
		return err
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if err := load(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := load(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	if err := s.AddUser(ctx, store.User{ID: "quiet"}); err != nil {
		b.Fatal(err)
	}
	b.Run("no messages", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.LoadAccount(ctx, "quiet"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
