package main

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
)

// pingInterval is server.ping_interval for these tests: short, so that the
// three silent intervals before a drop pass in about a second, and long
// enough that a client answering pings under the race detector on a busy
// machine is never late by a whole interval.
const pingInterval = 300 * time.Millisecond

// dropDeadline is the latest a silent client may be dropped, counted from
// its last frame: three intervals of silence, one heartbeat tick (half an
// interval) for the heartbeat to notice, and slack for a loaded machine.
const dropDeadline = 3*pingInterval + pingInterval/2 + time.Second

// startPinging starts a server with the short ping interval. One
// connection per user, so that a dropped session still holding its slot
// in the registry would refuse the user's next connection.
func startPinging(t *testing.T) *testServer {
	t.Helper()
	return startServer(t, serverOpts{env: map[string]string{
		"WEALTHCOACH_SERVER_PING_INTERVAL":            pingInterval.String(),
		"WEALTHCOACH_LIMITS_MAX_CONNECTIONS_PER_USER": "1",
	}})
}

func (ts *testServer) transportStat(name string) float64 {
	return ts.stats()["transport"].(map[string]any)[name].(float64)
}

// dialHalfOpen upgrades and authenticates a raw connection as user and
// returns it with the time just before its last frame was sent. From then
// on the caller neither reads nor writes nor closes it: the peer of a phone
// that lost its radio link.
func (ts *testServer) dialHalfOpen(t *testing.T, user string) (*rawConn, time.Time) {
	t.Helper()
	r := dialRaw(t, ts.ws)
	lastFrame := time.Now()
	r.authenticate(token(t, user, nil))
	return r, lastFrame
}

// readUntilEnd reads the frames the server left in the socket and returns
// how many were pings, failing unless the connection then ended: a read
// that times out means the server still holds the socket open.
func readUntilEnd(t *testing.T, r *rawConn) int {
	t.Helper()
	pings := 0
	for {
		f, err := r.read(frameWait)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("the server kept the connection open after %d pings", pings)
		case err != nil: // EOF or reset: the server closed the TCP connection
			return pings
		case f.opcode == opPing:
			pings++
		}
	}
}

// TestHalfOpenClientIsPingedThenDropped: a client that stops reading,
// writing and answering pings without closing its TCP connection is pinged
// once it has been silent for server.ping_interval and dropped once silent
// for three, which frees its session and its registry slot.
func TestHalfOpenClientIsPingedThenDropped(t *testing.T) {
	ts := startPinging(t)
	ts.addUser("vanished", nil)
	dropped := ts.transportStat("silent_dropped")

	r, lastFrame := ts.dialHalfOpen(t, "vanished")
	testutil.WaitFor(t, 10*time.Second, "the silent client to be dropped", func() bool {
		return ts.transportStat("silent_dropped") > dropped
	})
	// Both ends hold: a drop at the first ping would ignore a pong on its
	// way, a late one holds a vanished client's slot too long.
	silent := time.Since(lastFrame)
	t.Logf("dropped after %v of silence", silent)
	switch {
	case silent <= 3*pingInterval:
		t.Fatalf("dropped after %v of silence, before three intervals (%v)", silent, 3*pingInterval)
	case silent > dropDeadline:
		t.Fatalf("dropped after %v of silence, want within %v", silent, dropDeadline)
	}
	if n := ts.transportStat("silent_dropped"); n != dropped+1 {
		t.Fatalf("silent_dropped went from %v to %v, want one more", dropped, n)
	}

	testutil.WaitFor(t, 5*time.Second, "the dropped session to end", func() bool {
		st := ts.stats()
		s := st["sessions"].(map[string]any)
		return s["authenticated"].(float64) == 0 && st["users"].(float64) == 0 &&
			st["transport"].(map[string]any)["open_sockets"].(float64) == 0
	})
	// The frames were sent while the client did not read, so they wait in
	// its receive buffer, followed by the end of the connection.
	pings := readUntilEnd(t, r)
	t.Logf("%d pings before the drop", pings)
	if pings == 0 {
		t.Fatal("dropped without being pinged first")
	}
	// limits.max_connections_per_user is 1: this is refused with 1008 if
	// the registry still counts the dropped session.
	expectPong(t, ts.connect("vanished"), "reconnecting")
}

// TestClientAnsweringPingsStaysConnected: a client that answers the
// server's pings but sends nothing for five intervals is not dropped and
// its session still works. A half-open client silent over the same spell
// is dropped, so the spell was long enough for the heartbeat to act.
func TestClientAnsweringPingsStaysConnected(t *testing.T) {
	ts := startPinging(t)
	ts.addUser("quiet", nil)
	ts.addUser("vanished", nil)
	dropped := ts.transportStat("silent_dropped")

	// wsclient reads on its own goroutine and answers every ping.
	c := ts.connect("quiet")
	quietFrom := time.Now()
	ts.dialHalfOpen(t, "vanished")
	// Longer than three intervals and a tick, when the half-open client
	// is due to be dropped.
	spell := 5*pingInterval + pingInterval/2
	select {
	case <-c.Done():
		ce, _ := c.Closed(time.Second)
		t.Fatalf("the client answering pings was dropped after %v: %v", time.Since(quietFrom), ce)
	case <-time.After(spell):
	}
	testutil.WaitFor(t, 10*time.Second, "the half-open client to be dropped", func() bool {
		return ts.transportStat("silent_dropped") > dropped
	})
	if n := ts.transportStat("silent_dropped"); n != dropped+1 {
		t.Fatalf("silent_dropped went from %v to %v, want only the half-open client", dropped, n)
	}
	expectPong(t, c, "five intervals without a frame from the client")
}
