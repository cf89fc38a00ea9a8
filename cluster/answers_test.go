package cluster

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

// pendingOf leases a fresh session of user on m and returns the detached
// answers the lease came with.
func pendingOf(t *testing.T, m *member, user, session string) []actors.PendingAnswer {
	t.Helper()
	ok, pending, err := m.Lease(context.Background(), user, session, 10)
	if err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	return pending
}

// A shared answer is found from any node and listed with another node's
// lease, not with its own node's (whose registry lists it); forgotten, or
// past its window, it is found nowhere.
func TestSharedAnswersAreFoundUntilTheirWindowEnds(t *testing.T) {
	nodes := fleetOf(t, 2, 15*time.Second)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	a.ShareAnswer("u1", actors.PendingAnswer{ID: "ans-1", ReplyTo: "q1", Seq: 4}, time.Now().Add(time.Minute))
	a.ShareAnswer("u1", actors.PendingAnswer{ID: "ans-2", Seq: 1}, time.Now().Add(1500*time.Millisecond))
	a.ShareAnswer("u1", actors.PendingAnswer{ID: "ans-2", Seq: 2, Done: true}, time.Now().Add(1500*time.Millisecond))
	testutil.WaitFor(t, 3*time.Second, "both answers to be shared", func() bool {
		p := pendingOf(t, b, "u1", "s1")
		return len(p) == 2
	})
	p := pendingOf(t, b, "u1", "s2")
	slices.SortFunc(p, func(x, y actors.PendingAnswer) int { return strings.Compare(x.ID, y.ID) })
	want := []actors.PendingAnswer{{ID: "ans-1", ReplyTo: "q1", Seq: 4}, {ID: "ans-2", Seq: 2, Done: true}}
	if !slices.Equal(p, want) {
		t.Fatalf("pending on b: %+v, want %+v (the latest progress)", p, want)
	}
	if own := pendingOf(t, a, "u1", "s3"); len(own) != 0 {
		t.Fatalf("a's own lease lists %+v: its registry does", own)
	}
	if other := pendingOf(t, b, "u2", "s4"); len(other) != 0 {
		t.Fatalf("another user sees %+v", other)
	}
	for _, m := range nodes {
		if node, err := m.Locate(ctx, "u1", "ans-1"); err != nil || node != "node-0" {
			t.Fatalf("locate from %s: %q %v", m.NodeID(), node, err)
		}
		if node, _ := m.Locate(ctx, "u2", "ans-1"); node != "" {
			t.Fatalf("another user's locate found %q", node)
		}
	}
	a.ForgetAnswer("u1", "ans-1")
	testutil.WaitFor(t, 3*time.Second, "the forgotten answer to be gone", func() bool {
		node, _ := b.Locate(ctx, "u1", "ans-1")
		return node == ""
	})
	// ans-2's window ends on the Redis server's clock.
	testutil.WaitFor(t, 4*time.Second, "the expired answer to be gone", func() bool {
		node, _ := b.Locate(ctx, "u1", "ans-2")
		return node == "" && len(pendingOf(t, b, "u1", "s5")) == 0
	})
}

// Messages relayed to a node arrive there, in the order sent, and only
// there.
func TestRelayDeliversInOrder(t *testing.T) {
	url, prefix := storetest.RedisURL(t), storetest.Prefix(t)
	var mu sync.Mutex
	var got []int
	newMember(t, url, prefix, "recv", 15*time.Second, true, func(m *actors.RelayMessage) {
		mu.Lock()
		got = append(got, m.AfterSeq)
		mu.Unlock()
	})
	newMember(t, url, prefix, "other", 15*time.Second, true, func(*actors.RelayMessage) { t.Error("delivered to the wrong node") })
	send := newMember(t, url, prefix, "send", 15*time.Second, true)
	testutil.WaitFor(t, 5*time.Second, "the receiver to listen", func() bool {
		ch := nodeChannel(prefix, "recv")
		n, err := send.rdb.PubSubNumSub(context.Background(), ch).Result()
		return err == nil && n[ch] == 1
	})
	const n = 500
	for i := 1; i <= n; i++ {
		send.Relay("recv", &actors.RelayMessage{Kind: actors.RelayFrame, To: "relay-1", AfterSeq: i})
	}
	testutil.WaitFor(t, 5*time.Second, "every message to arrive", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n
	})
	mu.Lock()
	defer mu.Unlock()
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("message %d arrived as %d: out of order", i+1, v)
		}
	}
	if d := send.Stats.Dropped.Load(); d != 0 {
		t.Fatalf("%d dropped", d)
	}
}
