package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store/redis"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

// fleetOf starts n members of one fleet on url under one prefix, each
// running until the test ends. revoked collects the users each was told
// to revoke.
type member struct {
	*Fleet
	mu      sync.Mutex
	revoked []string
	stop    context.CancelFunc
	done    chan struct{}
}

func (m *member) revocations() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.revoked...)
}

// newMember starts a member; deliver, when given, receives its relay
// messages.
func newMember(t *testing.T, url, prefix, id string, ttl time.Duration, run bool, deliver ...func(*actors.RelayMessage)) *member {
	t.Helper()
	var onRelay func(*actors.RelayMessage)
	if len(deliver) > 0 {
		onRelay = deliver[0]
	}
	rdb, err := redis.NewClient(url, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &member{done: make(chan struct{})}
	f, err := New(Options{Client: rdb, Prefix: prefix, NodeID: id, LeaseTTL: ttl,
		Local: func() int64 { return int64(len(id)) },
		Revoke: func(u string) {
			m.mu.Lock()
			m.revoked = append(m.revoked, u)
			m.mu.Unlock()
		},
		Deliver: onRelay})
	if err != nil {
		t.Fatal(err)
	}
	m.Fleet = f
	if !run {
		close(m.done)
		t.Cleanup(func() { _ = rdb.Close() })
		return m
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go func() { defer close(m.done); f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-m.done })
	return m
}

func fleetOf(t *testing.T, n int, ttl time.Duration) []*member {
	url, prefix := storetest.RedisURL(t), storetest.Prefix(t)
	out := make([]*member, n)
	for i := range out {
		out[i] = newMember(t, url, prefix, fmt.Sprintf("node-%d", i), ttl, true)
	}
	return out
}

func take(t *testing.T, f *member, user, session string, max int) bool {
	t.Helper()
	ok, _, err := f.Lease(context.Background(), user, session, max)
	if err != nil {
		t.Fatalf("lease %s: %v", session, err)
	}
	return ok
}

// However a user's sessions are spread over the nodes, the cap holds for
// the fleet, and closing one frees a slot on any node.
func TestLeaseCapHoldsAcrossNodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spread []int // node of each of the user's first four sessions
	}{
		{"all on one node", []int{0, 0, 0, 0}},
		{"one per node", []int{0, 1, 2, 0}},
		{"two and two", []int{1, 1, 2, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := fleetOf(t, 3, 15*time.Second)
			granted := 0
			for i, n := range tc.spread {
				if take(t, nodes[n], "u1", fmt.Sprintf("s%d", i), 3) {
					granted++
				} else if i < 3 {
					t.Fatalf("session %d refused with %d granted", i, granted)
				}
			}
			if granted != 3 {
				t.Fatalf("granted %d of 4 with a cap of 3", granted)
			}
			// Another user is not affected.
			if !take(t, nodes[2], "u2", "x", 3) {
				t.Fatal("another user was refused")
			}
			first := tc.spread[0]
			nodes[first].Unlease("u1", "s0")
			other := nodes[(first+1)%3]
			testutil.WaitFor(t, 5*time.Second, "the released slot on another node", func() bool {
				return take(t, other, "u1", "s-new", 3)
			})
			if take(t, nodes[first], "u1", "s-more", 3) {
				t.Fatal("a fourth session was granted after the freed slot was taken")
			}
		})
	}
}

// A session that ends while its lease is being asked for gives it back
// once the answer comes.
func TestUnleaseWhileAsking(t *testing.T) {
	f := fleetOf(t, 1, 15*time.Second)[0]
	l := &lease{user: "u1", session: "s1", asking: true}
	f.leases["s1"] = l
	f.Unlease("u1", "s1")
	if len(f.releases) != 0 {
		t.Fatal("released before the lease was granted")
	}
	f.settle(l, true)
	if _, held := f.leases["s1"]; held || len(f.releases) != 1 {
		t.Fatalf("after the grant: held %v, releases %v", held, f.releases)
	}
}

// The slots of a node that stopped renewing (it died) come back within the
// lease; those of a live node stay.
func TestDeadNodeSlotsExpire(t *testing.T) {
	const ttl = 3 * time.Second
	url, prefix := storetest.RedisURL(t), storetest.Prefix(t)
	live := newMember(t, url, prefix, "live", ttl, true)
	dead := newMember(t, url, prefix, "dead", ttl, false) // never renews
	other := newMember(t, url, prefix, "other", ttl, true)
	if !take(t, live, "u1", "a", 2) || !take(t, dead, "u1", "b", 2) {
		t.Fatal("first two sessions refused")
	}
	if take(t, other, "u1", "c", 2) {
		t.Fatal("third session granted with a cap of 2")
	}
	start := time.Now()
	testutil.WaitFor(t, ttl+2*time.Second, "the dead node's slot", func() bool {
		return take(t, other, "u1", "c", 2)
	})
	if took := time.Since(start); took > ttl+time.Second {
		t.Errorf("the slot came back after %v, lease %v", took, ttl)
	}
	// Past another lease, the live node's renewed slot is still taken.
	time.Sleep(ttl / 2)
	if take(t, other, "u1", "d", 2) {
		t.Fatal("the live node's renewed lease expired")
	}
}

// The rate limit holds for the fleet: calls spread over three nodes get
// the burst at once, then the rate.
func TestGateRateIsFleetWide(t *testing.T) {
	nodes := fleetOf(t, 3, 15*time.Second)
	limits := actors.GateLimits{PerMinute: 600, Burst: 5} // 10 a second after the burst
	ctx := context.Background()
	allowed := 0
	start := time.Now()
	var lastWait time.Duration
	for i := 0; time.Since(start) < time.Second; i++ {
		g, err := nodes[i%3].Gate(ctx, "u1", limits)
		if err != nil {
			t.Fatal(err)
		}
		if g.Allowed {
			allowed++
		} else {
			lastWait = g.RetryAfter
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start).Seconds()
	want := 5 + 10*elapsed
	if float64(allowed) < want-2 || float64(allowed) > want+1 {
		t.Fatalf("allowed %d in %.2fs over three nodes, want about %.1f", allowed, elapsed, want)
	}
	if lastWait <= 0 || lastWait > 100*time.Millisecond+5*time.Millisecond {
		t.Errorf("retry after %v, want within one interval (100ms)", lastWait)
	}
	// Another user has their own bucket.
	if g, _ := nodes[0].Gate(ctx, "u2", limits); !g.Allowed {
		t.Error("another user was refused")
	}
}

// The day's budget is shared: tokens spent on two nodes stop the third.
func TestBudgetIsShared(t *testing.T) {
	nodes := fleetOf(t, 3, 15*time.Second)
	ctx, now := context.Background(), time.Now()
	limits := actors.GateLimits{PerMinute: 6000, Burst: 100, DailyTokens: 100}
	if g, _ := nodes[2].Gate(ctx, "u1", limits); !g.Allowed {
		t.Fatal("refused before any spend")
	}
	for i, n := range []int{60, 50} {
		if err := nodes[i].Spend(ctx, "u1", n, now); err != nil {
			t.Fatal(err)
		}
	}
	g, err := nodes[2].Gate(ctx, "u1", limits)
	if err != nil || g.Allowed || !g.OverBudget {
		t.Fatalf("after 110 of 100 tokens: %+v %v", g, err)
	}
	// A refusal for the budget spends no rate token, and cache-free users
	// are untouched.
	if g, _ := nodes[0].Gate(ctx, "u2", limits); !g.Allowed {
		t.Fatal("another user was refused")
	}
	ttl := nodes[0].rdb.TTL(ctx, nodes[0].budgetKey("u1", utcDay(now))).Val()
	if ttl <= 0 || ttl > 25*time.Hour {
		t.Errorf("budget key expires in %v, want by the end of the day", ttl)
	}
}

// Redis gone: calls fail fast and count as fallbacks, the fleet reads
// degraded; Redis back: the node rejoins by itself and registers its
// leases again, the shared cap holding once more.
func TestDegradedAndRejoin(t *testing.T) {
	srv := storetest.StartRedisServer(t)
	prefix := "wctest:degraded:"
	a := newMember(t, srv.URL(), prefix, "a", 3*time.Second, true)
	b := newMember(t, srv.URL(), prefix, "b", 3*time.Second, true)
	if !take(t, a, "u1", "s1", 2) {
		t.Fatal("refused")
	}
	srv.Stop()
	start := time.Now()
	_, _, err := a.Lease(context.Background(), "u1", "s2", 2)
	if err == nil {
		t.Fatal("lease with redis stopped: no error")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("a lease took %v to fail with redis stopped", took)
	}
	testutil.WaitFor(t, 5*time.Second, "the fleet to read degraded", func() bool { return a.Degraded() && b.Degraded() })
	start = time.Now()
	if _, err := a.Gate(context.Background(), "u1", actors.GateLimits{PerMinute: 60, Burst: 1}); err == nil {
		t.Fatal("gate while degraded: no error")
	}
	if took := time.Since(start); took > 10*time.Millisecond {
		t.Errorf("a gate took %v while degraded: want no wait", took)
	}
	if a.Report().Fallbacks < 2 {
		t.Errorf("fallbacks %d, want the lease and the gate counted", a.Report().Fallbacks)
	}
	srv.Start() // empty: it keeps nothing on disk
	testutil.WaitFor(t, 5*time.Second, "the fleet to rejoin", func() bool { return !a.Degraded() && !b.Degraded() })
	// s1 and s2 (granted on the node's own cap) are registered again: the
	// user is at the cap of 2 for the fleet.
	testutil.WaitFor(t, 3*time.Second, "the leases registered again", func() bool {
		n, _ := a.rdb.ZCard(context.Background(), a.leaseKey("u1")).Result()
		return n == 2
	})
	if take(t, b, "u1", "s3", 2) {
		t.Fatal("a third session was granted after rejoin with a cap of 2")
	}
	// Each node's view is refreshed on its own tick.
	testutil.WaitFor(t, 3*time.Second, "the fleet view to list both nodes again", func() bool {
		return len(a.Report().Nodes) == 2
	})
}

// A revocation published by one node reaches every other, never itself.
func TestRevocationReachesOtherNodes(t *testing.T) {
	nodes := fleetOf(t, 3, 15*time.Second)
	// Subscriptions are set up as Run starts; wait until all listen.
	testutil.WaitFor(t, 5*time.Second, "every node to listen", func() bool {
		n, err := nodes[0].rdb.PubSubNumSub(context.Background(), revokeChannel(nodes[0].o.Prefix)).Result()
		return err == nil && n[revokeChannel(nodes[0].o.Prefix)] == 3
	})
	heard, err := nodes[0].Revoke(context.Background(), "u1")
	if err != nil || heard != 3 {
		t.Fatalf("revoke: heard by %d, %v", heard, err)
	}
	for i, n := range nodes[1:] {
		testutil.WaitFor(t, 5*time.Second, fmt.Sprintf("node %d to revoke", i+1), func() bool {
			r := n.revocations()
			return len(r) == 1 && r[0] == "u1"
		})
	}
	if r := nodes[0].revocations(); len(r) != 0 {
		t.Errorf("the publishing node revoked again: %v", r)
	}
	// The command-line form reaches every node.
	rdb := goredis.NewClient(&goredis.Options{Addr: nodes[0].rdb.Options().Addr})
	defer rdb.Close()
	if _, err := PublishRevoke(context.Background(), rdb, nodes[0].o.Prefix, "u2"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the first node to revoke u2", func() bool {
		r := nodes[0].revocations()
		return len(r) == 1 && r[0] == "u2"
	})
}

// Each node's heartbeat shows in the others' view; one that leaves is
// gone from it.
func TestFleetView(t *testing.T) {
	nodes := fleetOf(t, 2, 3*time.Second)
	if !take(t, nodes[0], "u1", "s1", 3) || !take(t, nodes[1], "u2", "s2", 3) {
		t.Fatal("refused")
	}
	testutil.WaitFor(t, 5*time.Second, "both nodes and users in the view", func() bool {
		v := nodes[1].Report()
		return len(v.Nodes) == 2 && v.Sessions == int64(2*len("node-0")) && v.Users == 2
	})
	v := nodes[1].Report()
	if !v.Enabled || v.NodeID != "node-1" || v.Degraded || v.Leases != 1 {
		t.Errorf("view: %+v", v)
	}
	nodes[0].stop()
	<-nodes[0].done
	testutil.WaitFor(t, 5*time.Second, "the stopped node to leave the view", func() bool {
		v := nodes[1].Report()
		return len(v.Nodes) == 1 && v.Nodes[0].NodeID == "node-1"
	})
	// Its leases went with it.
	if n := nodes[1].rdb.ZCard(context.Background(), nodes[1].leaseKey("u1")).Val(); n != 0 {
		t.Errorf("the stopped node left %d leases", n)
	}
}
