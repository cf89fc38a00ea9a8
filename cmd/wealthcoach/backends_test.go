package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

// stats reads the admin /stats document.
func (ts *testServer) stats() map[string]any {
	ts.t.Helper()
	resp, err := http.Get(ts.admin + "/stats")
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		ts.t.Fatal(err)
	}
	return out
}

func (ts *testServer) cacheStat(name string) float64 {
	return ts.stats()["cache"].(map[string]any)[name].(float64)
}

// waitStored waits until n answers have been written to the cache: a
// finished answer is stored after its done frame, so a test asking again
// at once could beat the write.
func (ts *testServer) waitStored(n int) {
	ts.t.Helper()
	testutil.WaitFor(ts.t, 5*time.Second, "answers to reach the cache", func() bool { return ts.cacheStat("stores") >= float64(n) })
}

// TestRedisOutage stops Redis under a running server: chats go on from the
// model, the failures are counted, the node stays ready but reports itself
// degraded (a load balancer must not take the fleet out for the cache),
// and when Redis is back the cache serves again without a restart.
func TestRedisOutage(t *testing.T) {
	var redis *storetest.RedisServer
	ts := startServer(t, serverOpts{backend: realServices, redis: &redis,
		env: map[string]string{"WEALTHCOACH_LLM_RATE_LIMIT_BURST": "50"}})
	ts.addUser("liz", nil)
	ask := func(q string) bool {
		c := ts.connect("liz")
		defer c.Close()
		mustSend(t, c, msg(q))
		a := readAnswer(t, c)
		return a[len(a)-1].Cached
	}
	ask("first question")
	ts.waitStored(1)
	if !ask("first question") {
		t.Fatal("no cache hit with Redis up")
	}

	redis.Stop()
	c := ts.connect("liz")
	start := time.Now()
	mustSend(t, c, msg("asked while redis is down"))
	readAnswer(t, c)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("an answer took %s with Redis down: the cache timeout is not bounding it", d)
	}
	if ask("first question") {
		t.Fatal("a cache hit with Redis down")
	}
	if ts.cacheStat("errors") == 0 {
		t.Fatal("cache errors not counted")
	}
	code, ready := ts.readiness()
	checks, _ := ready["checks"].(map[string]any)
	if code != http.StatusOK || ready["ready"] != true || ready["degraded"] != true ||
		checks["store"] != "ok" || !strings.HasPrefix(fmt.Sprint(checks["cache"]), "error: ") {
		t.Errorf("readyz with Redis down: %d %v; want 200, ready, degraded, the cache check failing", code, ready)
	}

	redis.Start() // empty, on the same port
	testutil.WaitFor(t, 15*time.Second, "the cache to serve again", func() bool {
		ask("after the outage")
		return ask("after the outage")
	})
	if code, ready := ts.readiness(); code != http.StatusOK || ready["degraded"] != false {
		t.Errorf("readyz after the outage: %d %v; want 200, not degraded", code, ready)
	}
}

// TestPostgresOutage cuts the database under a running server: new
// sessions are refused with 1013 and the node reports not ready, sessions
// already authenticated keep chatting, and all recovers when it is back.
func TestPostgresOutage(t *testing.T) {
	var proxy *storetest.Proxy
	ts := startServer(t, serverOpts{backend: realServices, pgProxy: &proxy})
	ts.addUser("max", nil)
	ts.addUser("ned", nil)
	live := ts.connect("max")

	proxy.SetDown(true)
	c := ts.dial()
	mustSend(t, c, map[string]string{"type": "authenticate", "token": token(t, "ned", nil)})
	expectClose(t, c, "unavailable", 1013, "Try again later")
	if code, ready := ts.readiness(); code != http.StatusServiceUnavailable || ready["ready"] != false {
		t.Errorf("readyz with the database down: %d %v", code, ready)
	}
	mustSend(t, live, msg("still here?"))
	readAnswer(t, live)

	proxy.SetDown(false)
	testutil.WaitFor(t, 15*time.Second, "authentication to work again", func() bool {
		c := ts.dial()
		defer c.CloseWithoutFrame()
		_ = c.Authenticate(token(t, "ned", nil))
		f, err := c.Next(frameWait)
		return err == nil && f.Type == "connected"
	})
	if code := ts.readyz(); code != http.StatusOK {
		t.Errorf("readyz %d after the database came back", code)
	}
}

func (ts *testServer) readyz() int {
	code, _ := ts.readiness()
	return code
}

// readiness returns the status of /readyz and its decoded body.
func (ts *testServer) readiness() (int, map[string]any) {
	ts.t.Helper()
	resp, err := http.Get(ts.admin + "/readyz")
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		ts.t.Fatalf("readyz: body not JSON: %v", err)
	}
	return resp.StatusCode, out
}
