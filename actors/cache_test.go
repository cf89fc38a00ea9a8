package actors

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
)

func TestBreaker(t *testing.T) {
	fail := errors.New("timeout")
	b := breaker{threshold: 3, cooldown: time.Second}
	t0 := time.Unix(1000, 0)
	type step struct {
		at    time.Duration
		err   error // recorded after the call, when allowed
		allow bool
		open  bool // after the step
	}
	steps := []step{
		{0, fail, true, false},
		{0, fail, true, false},
		{0, fail, true, true}, // third failure in a row opens it
		{500 * time.Millisecond, nil, false, true},
		{time.Second, fail, true, true}, // the probe fails: open again
		{1500 * time.Millisecond, nil, false, true},
		{2 * time.Second, nil, true, false}, // the probe succeeds: closed
		{2 * time.Second, fail, true, false},
	}
	for i, s := range steps {
		now := t0.Add(s.at)
		if got := b.allow(now); got != s.allow {
			t.Fatalf("step %d: allow = %v, want %v", i, got, s.allow)
		}
		if s.allow {
			b.record(s.err, now)
		}
		if b.open() != s.open {
			t.Fatalf("step %d: open = %v, want %v", i, b.open(), s.open)
		}
	}
}

func TestBreakerLetsOneProbeThrough(t *testing.T) {
	b := breaker{threshold: 1, cooldown: time.Second}
	now := time.Unix(1000, 0)
	b.record(errors.New("down"), now)
	later := now.Add(2 * time.Second)
	if !b.allow(later) {
		t.Fatal("no probe after the cooldown")
	}
	if b.allow(later) {
		t.Fatal("a second operation went through while the probe runs")
	}
}

// TestNoRegistryHopPerMessage: after a session's first chat message has
// found the model actor, no message touches the registry.
func TestNoRegistryHopPerMessage(t *testing.T) {
	n := newTestNode(t, func(o *Options) { o.Chat.Burst = 20 })
	h, p := open(t, n, "hops")
	h.Send(&ChatMessage{Content: "first"})
	p.answer(t)
	reg := n.Kind(KindRegistry)
	before := reg.Processed.Load()
	for i := range 5 {
		h.Send(&ChatMessage{Content: "again " + string(rune('a'+i))})
		p.answer(t)
	}
	if got := reg.Processed.Load() - before; got != 0 {
		t.Fatalf("the registry processed %d messages for 5 chat messages, want 0", got)
	}
}

// gateModel holds every answer until release is closed, and counts calls.
type gateModel struct {
	calls   atomic.Int64
	release chan struct{}
}

func (m *gateModel) Stream(ctx context.Context, _ ModelRequest) (ModelStream, error) {
	m.calls.Add(1)
	select {
	case <-m.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &wordStream{ctx: ctx, left: 3}, nil
}

// TestConcurrentMissesLedByOne: sessions asking the same key while the
// first is being answered get that answer, not a model call each; when the
// leader gives up, the next waiter leads.
func TestConcurrentMissesLedByOne(t *testing.T) {
	model := &gateModel{release: make(chan struct{})}
	n := newTestNode(t, func(o *Options) {
		o.Chat.Model = model
		o.Chat.Cache = newMapCache()
		o.Chat.SharedCache = true
	})
	h1, p1 := open(t, n, "a")
	h1.Send(&ChatMessage{Content: "same"})
	testutil.WaitFor(t, 5*time.Second, "the leader's model call", func() bool { return model.calls.Load() == 1 })
	h2, p2 := open(t, n, "b")
	h3, p3 := open(t, n, "c")
	h2.Send(&ChatMessage{Content: "same"})
	h3.Send(&ChatMessage{Content: "same"})
	testutil.WaitFor(t, 5*time.Second, "both to join the flight", func() bool { return n.Stats().CacheCoalesced.Load() == 2 })

	// The leader cancels: the next waiter leads and calls the model.
	h1.Send(&Cancel{})
	if a := p1.answer(t); a.FinishReason != "cancelled" {
		t.Fatalf("leader: %+v", a)
	}
	testutil.WaitFor(t, 5*time.Second, "the next waiter to lead", func() bool { return model.calls.Load() == 2 })
	close(model.release)
	a2, a3 := p2.answer(t), p3.answer(t)
	if a2.Content != "word word word " || a3.Content != a2.Content {
		t.Fatalf("answers %q and %q", a2.Content, a3.Content)
	}
	if a2.Cached == a3.Cached {
		t.Fatalf("want one fresh answer and one handed over, got cached %v and %v", a2.Cached, a3.Cached)
	}
	if got := model.calls.Load(); got != 2 {
		t.Fatalf("%d model calls, want 2 (the cancelled leader's and the new leader's)", got)
	}
}

// mapCache is a ResponseCache in a map.
type mapCache struct {
	mu sync.Mutex
	m  map[string]string
}

func newMapCache() *mapCache { return &mapCache{m: make(map[string]string)} }

func (c *mapCache) Get(_ context.Context, key string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok, nil
}

func (c *mapCache) Set(_ context.Context, key, answer string, _ time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = answer
	return nil
}
