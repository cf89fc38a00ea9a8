package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// fleetShared are the variables that put servers on one database, one
// Redis and one key prefix: one fleet.
var fleetShared = []string{"DATABASE_URL", "REDIS_URL", "WEALTHCOACH_CACHE_PREFIX"}

// startFleet runs n servers as one fleet (cluster.enabled) on the real
// PostgreSQL and Redis, named node-0 … node-{n-1}, each with env. redis,
// when set, is a private Redis the test can stop, shared by all.
func startFleet(t *testing.T, n int, env map[string]string, redis **storetest.RedisServer) []*testServer {
	t.Helper()
	return startFleetWith(t, n, serverOpts{env: env, redis: redis})
}

// startFleetWith is startFleet with every option of startServer; each node
// has a fake model of its own, with o.fake.
func startFleetWith(t *testing.T, n int, o serverOpts) []*testServer {
	t.Helper()
	withID := func(i int, shared map[string]string) map[string]string {
		e := map[string]string{"WEALTHCOACH_CLUSTER_ENABLED": "true",
			"WEALTHCOACH_CLUSTER_NODE_ID": fmt.Sprintf("node-%d", i)}
		for k, v := range o.env {
			e[k] = v
		}
		for k, v := range shared {
			e[k] = v
		}
		return e
	}
	first := startServer(t, serverOpts{backend: realServices, env: withID(0, nil), redis: o.redis, fake: o.fake, hooks: o.hooks})
	nodes := []*testServer{first}
	shared := map[string]string{}
	for _, k := range fleetShared {
		shared[k] = first.env[k]
	}
	for i := 1; i < n; i++ {
		nodes = append(nodes, startServer(t, serverOpts{backend: realServices, env: withID(i, shared), fake: o.fake, hooks: o.hooks}))
	}
	return nodes
}

// tryConnect authenticates as user and reports whether the session was
// admitted; a refused one must be refused with the cap's close.
func (ts *testServer) tryConnect(user string) (*wsclient.Client, bool) {
	ts.t.Helper()
	c := ts.dial()
	return admittedOrCapped(ts.t, c, user)
}

// admittedOrCapped authenticates c as user and reports whether the session
// was admitted; a refused one must be refused with the cap's close.
func admittedOrCapped(t *testing.T, c *wsclient.Client, user string) (*wsclient.Client, bool) {
	t.Helper()
	if err := c.Authenticate(token(t, user, nil)); err != nil {
		t.Fatal(err)
	}
	f := next(t, c)
	switch {
	case f.Type == "connected":
		return c, true
	case f.Type == "error" && f.Code == "max_connections":
		ce, err := c.Closed(frameWait)
		if err != nil || ce.Code != 1008 || ce.Reason != "Max connections reached" {
			t.Fatalf("after max_connections: close %v %v, want 1008 Max connections reached", ce, err)
		}
		return nil, false
	}
	t.Fatalf("want connected or max_connections, got %s", f.Raw)
	return nil, false
}

func (ts *testServer) cluster() map[string]any {
	ts.t.Helper()
	c, _ := ts.stats()["cluster"].(map[string]any)
	if c == nil {
		ts.t.Fatal("/stats has no cluster section")
	}
	return c
}

// TestFleetCapHoldsHoweverSpread: with three nodes and a cap of 3, a
// user's fourth session is refused with 1008 "Max connections reached"
// however the four are spread, and closing one frees a slot on any node.
func TestFleetCapHoldsHoweverSpread(t *testing.T) {
	nodes := startFleet(t, 3, nil, nil)
	for i, spread := range [][]int{{0, 0, 0, 0}, {0, 1, 2, 1}, {2, 2, 1, 0}} {
		user := fmt.Sprintf("spread%d", i)
		nodes[0].addUser(user, nil)
		t.Run(fmt.Sprint(spread), func(t *testing.T) {
			var open []*wsclient.Client
			for j, n := range spread {
				c, ok := nodes[n].tryConnect(user)
				if j < 3 && !ok {
					t.Fatalf("session %d (node %d) refused", j, n)
				}
				if j == 3 && ok {
					t.Fatalf("a fourth session was admitted on node %d", n)
				}
				if ok {
					open = append(open, c)
				}
			}
			_ = open[0].Close()
			other := nodes[(spread[0]+1)%3]
			testutil.WaitFor(t, 5*time.Second, "the freed slot on another node", func() bool {
				c, ok := other.tryConnect(user)
				if ok {
					open = append(open, c)
				}
				return ok
			})
			if _, ok := nodes[spread[0]].tryConnect(user); ok {
				t.Fatal("a fourth session was admitted after the freed slot was taken")
			}
			for _, c := range open[1:] {
				mustSend(t, c, map[string]string{"type": "ping"})
				if f := next(t, c); f.Type != "pong" {
					t.Fatalf("an admitted session: %s", f.Raw)
				}
			}
		})
	}
	// The fleet view: three nodes, and the sessions they hold.
	testutil.WaitFor(t, 10*time.Second, "the fleet view", func() bool {
		cl := nodes[1].cluster()
		nl, _ := cl["nodes"].([]any)
		return len(nl) == 3 && cl["sessions"] == 9.0 && cl["users"] == 3.0 && cl["degraded"] == false
	})
	if cl := nodes[2].cluster(); cl["node_id"] != "node-2" || cl["enabled"] != true {
		t.Errorf("cluster section: %v", cl)
	}
	body := scrape(t, nodes[0])
	for _, want := range []string{"wealthcoach_cluster_nodes 3", "wealthcoach_cluster_degraded 0", "wealthcoach_cluster_leases_refused_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func scrape(t *testing.T, ts *testServer) string {
	t.Helper()
	resp, err := http.Get(ts.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}

// TestFleetRevocation: an operator's disconnect on one node, and users
// disable, close the user's sessions on every node.
func TestFleetRevocation(t *testing.T) {
	nodes := startFleet(t, 3, nil, nil)
	nodes[0].addUser("rev", nil)
	nodes[0].addUser("dis", nil)
	nodes[0].addUser("bystander", nil)
	waitListening(t, nodes)
	var sessions []*wsclient.Client
	for _, n := range nodes {
		sessions = append(sessions, n.connect("rev"))
	}
	bystander := nodes[2].connect("bystander")
	status, body := nodes[1].disconnectUser("rev")
	if status != http.StatusOK || body["sessions"] != 1.0 || body["nodes"] != 3.0 {
		t.Fatalf("disconnect: %d %v, want 200, 1 session here, 3 nodes told", status, body)
	}
	for _, c := range sessions {
		expectClose(t, c, "session_revoked", 1008, "Session revoked")
	}
	mustSend(t, bystander, map[string]string{"type": "ping"})
	if f := next(t, bystander); f.Type != "pong" {
		t.Fatalf("another user's session: %s", f.Raw)
	}

	sessions = sessions[:0]
	for _, n := range nodes {
		sessions = append(sessions, n.connect("dis"))
	}
	var out syncBuffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out,
		Getenv: func(k string) (string, bool) { v, ok := nodes[0].env[k]; return v, ok }}
	if err := m.Run(context.Background(), []string{"users", "disable", "dis"}); err != nil {
		t.Fatalf("users disable: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "told 3 nodes") {
		t.Errorf("users disable said: %s", out.String())
	}
	for _, c := range sessions {
		expectClose(t, c, "session_revoked", 1008, "Session revoked")
	}
	c := nodes[1].dial()
	if err := c.Authenticate(token(t, "dis", nil)); err != nil {
		t.Fatal(err)
	}
	expectClose(t, c, "auth_failed", 1008, "*")
}

// waitListening waits until every node listens for revocations, which it
// starts doing just after it serves.
func waitListening(t *testing.T, nodes []*testServer) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, "every node in the fleet view", func() bool {
		nl, _ := nodes[0].cluster()["nodes"].([]any)
		return len(nl) == len(nodes)
	})
}

// TestFleetRateLimitIsShared: the per-user model rate limit holds across
// nodes: the burst spent on one node is spent on the others.
func TestFleetRateLimitIsShared(t *testing.T) {
	nodes := startFleet(t, 2, map[string]string{
		"WEALTHCOACH_LLM_RATE_LIMIT_BURST":      "2",
		"WEALTHCOACH_LLM_RATE_LIMIT_PER_MINUTE": "1",
	}, nil)
	nodes[0].addUser("rl", nil)
	a, b := nodes[0].connect("rl"), nodes[1].connect("rl")
	ask(t, a, "first question", "")
	ask(t, b, "second question", "")
	if err := a.Message("third question", "q3"); err != nil {
		t.Fatal(err)
	}
	f := expectError(t, a, "rate_limited")
	if f.RetryAfter < 1 {
		t.Errorf("rate_limited without retry_after: %s", f.Raw)
	}
	if err := b.Message("fourth question", "q4"); err != nil {
		t.Fatal(err)
	}
	expectError(t, b, "rate_limited")
	if n := nodes[0].model.RequestCount() + nodes[1].model.RequestCount(); n != 2 {
		t.Errorf("%d model calls over the fleet, want 2", n)
	}
}

// TestFleetRedisOutage: with the fleet's Redis stopped, sessions keep
// chatting on node-local limits, /readyz stays 200 reporting the cluster
// degraded, and after a restart the fleet view and the shared cap return.
func TestFleetRedisOutage(t *testing.T) {
	var redis *storetest.RedisServer
	nodes := startFleet(t, 2, map[string]string{"WEALTHCOACH_CLUSTER_LEASE_TTL": "3s",
		"WEALTHCOACH_LIMITS_MAX_CONNECTIONS_PER_USER": "2"}, &redis)
	nodes[0].addUser("out", nil)
	a := nodes[0].connect("out")
	redis.Stop()
	testutil.WaitFor(t, 10*time.Second, "the cluster to read degraded", func() bool {
		return nodes[0].cluster()["degraded"] == true && nodes[1].cluster()["degraded"] == true
	})
	code, ready := nodes[0].readiness()
	checks, _ := ready["checks"].(map[string]any)
	if code != http.StatusOK || ready["degraded"] != true || !strings.HasPrefix(fmt.Sprint(checks["cluster"]), "error: ") {
		t.Errorf("readyz with the fleet's Redis down: %d %v", code, ready)
	}
	ask(t, a, "still there?", "")
	// Node-local cap: node-0 holds one of its 2, node-1 none of its 2.
	b := nodes[1].connect("out")
	ask(t, b, "and here?", "")
	nodes[1].connect("out")
	if _, ok := nodes[1].tryConnect("out"); ok {
		t.Fatal("node-1 admitted a third session with a local cap of 2")
	}
	redis.Start()
	testutil.WaitFor(t, 10*time.Second, "the fleet to rejoin", func() bool {
		cl := nodes[1].cluster()
		nl, _ := cl["nodes"].([]any)
		return cl["degraded"] == false && len(nl) == 2
	})
	// The three live sessions were registered again: the fleet-wide cap
	// of 2 refuses any more, on either node.
	if _, ok := nodes[0].tryConnect("out"); ok {
		t.Fatal("after rejoin node-0 admitted a session over the fleet's cap")
	}
	ask(t, a, "after the outage", "")
}
