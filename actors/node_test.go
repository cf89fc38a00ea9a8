package actors

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store"
)

// fakePeer records what a session sends.
type fakePeer struct {
	events  chan any
	closed  chan Code
	welcome atomic.Pointer[Welcome] // the last connected frame
}

func newFakePeer() *fakePeer {
	return &fakePeer{events: make(chan any, 1024), closed: make(chan Code, 1)}
}

func (p *fakePeer) Connected(w *Welcome)   { p.welcome.Store(w); p.events <- "connected:" + w.UserID }
func (p *fakePeer) History(h *HistoryPage) { p.events <- h }
func (p *fakePeer) ResetDone(id string)    { p.events <- "reset:" + id }
func (p *fakePeer) Answer(a *Answer)       { p.events <- a }
func (p *fakePeer) Error(e *ErrorFrame)    { p.events <- e }
func (p *fakePeer) Pong()                  { p.events <- "pong" }
func (p *fakePeer) Close(c Code) {
	select {
	case p.closed <- c:
	default:
	}
}

func (p *fakePeer) Reauthenticated(exp time.Time) { p.events <- reauthenticated{exp} }

func (p *fakePeer) next(t testing.TB) any {
	t.Helper()
	select {
	case e := <-p.events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event from the session")
		return nil
	}
}

// answer reads events until the done frame.
func (p *fakePeer) answer(t testing.TB) *Answer {
	t.Helper()
	for {
		switch e := p.next(t).(type) {
		case *Answer:
			if e.Done {
				return e
			}
		case *ErrorFrame:
			t.Fatalf("error %s: %s", e.Code, e.Message)
		}
	}
}

type tokenIsUser struct{}

func (tokenIsUser) Verify(tok string) (string, time.Time, error) {
	if u, ok := strings.CutPrefix(tok, "ok:"); ok {
		return u, time.Now().Add(time.Hour), nil
	}
	return "", time.Time{}, errors.New("bad token")
}

type anyAccount struct{}

func (anyAccount) LoadAccount(_ context.Context, id string) (store.Account, error) {
	return store.Account{User: store.User{ID: id}}, nil
}

// wordModel streams n words at once.
type wordModel struct{ n int }

func (m wordModel) Stream(ctx context.Context, _ ModelRequest) (ModelStream, error) {
	return &wordStream{ctx: ctx, left: m.n}, nil
}

type wordStream struct {
	ctx  context.Context
	left int
}

func (s *wordStream) Recv() (ModelChunk, error) {
	if err := s.ctx.Err(); err != nil {
		return ModelChunk{}, err
	}
	if s.left == 0 {
		return ModelChunk{}, io.EOF
	}
	s.left--
	ch := ModelChunk{Delta: "word "}
	if s.left == 0 {
		ch.FinishReason = "stop"
	}
	return ch, nil
}

func (s *wordStream) Close() error { return nil }

func newTestNode(t testing.TB, edit func(*Options)) *Node {
	t.Helper()
	o := Options{Verifier: tokenIsUser{}, Accounts: anyAccount{},
		Chat: ChatOptions{Model: wordModel{n: 40}, HistoryMessages: 10, FlushInterval: time.Millisecond}}
	if edit != nil {
		edit(&o)
	}
	n, err := NewNode(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

func open(t testing.TB, n *Node, user string) (Handle, *fakePeer) {
	t.Helper()
	if err := n.Admit(); err != nil {
		t.Fatal(err)
	}
	p := newFakePeer()
	h := n.Open(p)
	h.Send(&Authenticate{Token: "ok:" + user, TokenOK: true})
	if e := p.next(t); e != "connected:"+user {
		t.Fatalf("want connected, got %v", e)
	}
	return h, p
}

func TestRateLimitOutlivesSessions(t *testing.T) {
	n := newTestNode(t, func(o *Options) {
		o.Chat.RatePerMinute = 600 // one every 100ms
		o.Chat.Burst = 2
	})
	h, p := open(t, n, "u")
	for i := range 2 {
		h.Send(&ChatMessage{Content: "q" + strconv.Itoa(i)})
		p.answer(t)
	}
	h.Send(&ChatMessage{Content: "q2", ID: "x"})
	e, ok := p.next(t).(*ErrorFrame)
	if !ok || e.Code != CodeRateLimited || e.RetryAfter != 1 || e.ReplyTo != "x" {
		t.Fatalf("want rate_limited, got %+v", e)
	}
	h.Send(&Disconnected{CloseCode: 1000})
	testutil.WaitFor(t, 5*time.Second, "the session to end", func() bool { return n.Live() == 0 })

	// The model actor, and its bucket, outlive the session until the bucket
	// is full again (200ms here), then stop.
	if n.Kind(KindModel).Live.Load() != 1 {
		t.Fatal("model actor stopped with its user's session")
	}
	h2, p2 := open(t, n, "u")
	h2.Send(&ChatMessage{Content: "q3"})
	if e, ok := p2.next(t).(*ErrorFrame); !ok || e.Code != CodeRateLimited {
		t.Fatalf("reconnecting reset the rate limit: %+v", e)
	}
	h2.Send(&Disconnected{CloseCode: 1000})
	testutil.WaitFor(t, 5*time.Second, "the model actor to stop once its bucket refilled", func() bool {
		return n.Kind(KindModel).Live.Load() == 0
	})
	if n.Stats().Users.Load() != 0 {
		t.Fatalf("users gauge %d after every session ended", n.Stats().Users.Load())
	}
}

func TestAdmissionCaps(t *testing.T) {
	n := newTestNode(t, func(o *Options) { o.MaxSessions = 2; o.MaxUnauthenticated = 1 })
	if err := n.Admit(); err != nil {
		t.Fatal(err)
	}
	if err := n.Admit(); !errors.Is(err, ErrNodeFull) {
		t.Fatalf("second unauthenticated connection admitted: %v", err)
	}
	p := newFakePeer()
	h := n.Open(p)
	h.Send(&Authenticate{Token: "ok:a", TokenOK: true})
	p.next(t)
	if err := n.Admit(); err != nil {
		t.Fatalf("a slot freed by authentication was not reusable: %v", err)
	}
	if err := n.Admit(); !errors.Is(err, ErrNodeFull) {
		t.Fatalf("node cap not enforced: %v", err)
	}
}

var roundTrips atomic.Int64

// BenchmarkChatRoundTrip measures one chat message through the session, the
// model actor and back as frames, with a model that answers 40 words at
// once: the actors' own cost per answer.
func BenchmarkChatRoundTrip(b *testing.B) {
	n := newTestNode(b, func(o *Options) {
		o.Chat.RatePerMinute = 1e12
		o.Chat.Burst = 1 << 30
		o.Chat.FlushBytes = 64
	})
	h, p := open(b, n, "bench")
	b.ReportAllocs()
	frames := 0
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; b.Loop(); i++ {
		h.Send(&ChatMessage{Content: "q"})
		for {
			e := p.next(b)
			if a, ok := e.(*Answer); ok {
				frames++
				if a.Done {
					break
				}
			}
		}
		roundTrips.Add(1)
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
	// Allocations per frame sent, the whole pipeline's included (the model
	// stream, the actor messages, the frames).
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(frames), "allocs/frame")
}

// slowAccounts never answers until its context ends.
type slowAccounts struct{}

func (slowAccounts) LoadAccount(ctx context.Context, _ string) (store.Account, error) {
	<-ctx.Done()
	return store.Account{}, ctx.Err()
}

// A session that disconnects while its slot and profile are being fetched
// must give the slot back, or the user would be locked out.
func TestDisconnectDuringAuthenticationReleasesSlot(t *testing.T) {
	n := newTestNode(t, func(o *Options) { o.Accounts = slowAccounts{}; o.MaxConnectionsPerUser = 1 })
	for range 3 {
		if err := n.Admit(); err != nil {
			t.Fatal(err)
		}
		p := newFakePeer()
		h := n.Open(p)
		h.Send(&Authenticate{Token: "ok:u", TokenOK: true})
		h.Send(&Disconnected{CloseCode: 1006})
		testutil.WaitFor(t, 5*time.Second, "the session to end", func() bool { return n.Live() == 0 })
	}
	testutil.WaitFor(t, 5*time.Second, "the registry to forget the user", func() bool { return n.Stats().Users.Load() == 0 })
	if err := n.Admit(); err != nil {
		t.Fatal(err)
	}
	p := newFakePeer()
	n.Open(p).Send(&Authenticate{Token: "ok:u", TokenOK: true})
	select {
	case code := <-p.closed:
		t.Fatalf("slot leaked: closed with %s", code)
	case <-time.After(200 * time.Millisecond):
	}
}
