package main

import (
	"bufio"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

// redisCalls follows the commands clients send to a Redis server through
// MONITOR, leaving out those scripts run inside it: each counted command is
// one round trip of a client (a pipeline's commands count one each).
type redisCalls struct {
	mu    sync.Mutex
	names []string
}

func watchRedis(t *testing.T, addr string) *redisCalls {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	rc := &redisCalls{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			// +1733493600.123456 [0 127.0.0.1:5000] "evalsha" "…" …
			line := sc.Text()
			_, rest, ok := strings.Cut(line, "] \"")
			if !ok || strings.Contains(line, " lua] ") {
				continue
			}
			name, _, _ := strings.Cut(rest, "\"")
			rc.mu.Lock()
			rc.names = append(rc.names, strings.ToUpper(name))
			rc.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); <-done })
	// MONITOR is on once a PING of ours shows.
	testutil.WaitFor(t, 3*time.Second, "MONITOR to start", func() bool {
		if p, err := net.Dial("tcp", addr); err == nil {
			_, _ = p.Write([]byte("PING\r\n"))
			_, _ = bufio.NewReader(p).ReadString('\n')
			_ = p.Close()
		}
		return rc.take()["PING"] > 0
	})
	return rc
}

// wait waits until each of names has been seen since the last take.
func (rc *redisCalls) wait(t *testing.T, names ...string) {
	t.Helper()
	testutil.WaitFor(t, 5*time.Second, "Redis to see "+strings.Join(names, ", "), func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, want := range names {
			if !slices.Contains(rc.names, want) {
				return false
			}
		}
		return true
	})
}

// take returns the commands seen since the last take, counted by name.
func (rc *redisCalls) take() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]int{}
	for _, n := range rc.names {
		out[n]++
	}
	rc.names = nil
	return out
}

// TestFleetRedisRoundTrips counts what the fleet costs in Redis (SPEC 7,
// wave 2): one round trip to authenticate (the lease script, which also
// brings the pending answers), and on the chat path only the cache look-up
// and the rate-limit check; the cache store and the budget's spend follow
// the answer.
func TestFleetRedisRoundTrips(t *testing.T) {
	var rs *storetest.RedisServer
	// A lease of 10 minutes: no renewal or heartbeat runs while counting.
	nodes := startFleetWith(t, 1, serverOpts{redis: &rs, env: map[string]string{
		"WEALTHCOACH_CLUSTER_LEASE_TTL": "10m", "WEALTHCOACH_LLM_BUDGET_DAILY_TOKENS": "100000"}})
	ts := nodes[0]
	ts.addUser("rt", nil)
	calls := watchRedis(t, rs.Addr())
	// Warm up: the scripts get loaded (a first EVALSHA falls back to EVAL).
	warm := ts.connect("rt")
	ask(t, warm, "warm up", "")
	_ = warm.Close()
	// The budget's spend follows the answer; the release, the close.
	calls.wait(t, "EXEC", "ZREM")
	calls.take()

	c := ts.connect("rt")
	calls.wait(t, "EVALSHA")
	time.Sleep(100 * time.Millisecond) // anything else authentication would send
	if got := calls.take(); got["EVALSHA"] != 1 || commandCount(got) != 1 {
		t.Errorf("authentication cost %v, want one EVALSHA (the lease)", got)
	}
	ask(t, c, "How much should I save each month?", "")
	calls.wait(t, "EXEC") // the spend, last of all
	got := calls.take()
	if got["GET"] != 1 || got["EVALSHA"] != 1 {
		t.Errorf("chat message cost %v, want one GET (cache) and one EVALSHA (rate limit and budget)", got)
	}
	for name, n := range got {
		switch name {
		case "GET", "EVALSHA", "SET", "MULTI", "INCRBY", "EXPIREAT", "EXEC":
		default:
			t.Errorf("unexpected %s ×%d on the chat path", name, n)
		}
	}
	t.Logf("per chat message: %v", got)
}

func commandCount(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
