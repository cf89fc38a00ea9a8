package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// tryNginx authenticates as user through nginx and reports whether the
// session was admitted; a refused one must carry the cap's close.
func tryNginx(t *testing.T, wss, user string) (*wsclient.Client, bool) {
	t.Helper()
	c, code := dialNginx(t, wss, "", "")
	if c == nil {
		t.Fatalf("upgrade through nginx refused with HTTP %d", code)
	}
	return admittedOrCapped(t, c, user)
}

// TestFleetCapThroughNginx: three nodes with a cap of 3 behind nginx. A
// user's sessions land on more than one node, exactly three authenticate,
// the fourth is closed with 1008 "Max connections reached", and closing
// one frees a slot for the next connection through nginx.
func TestFleetCapThroughNginx(t *testing.T) {
	nginxBinary(t) // skip before starting nodes for nothing
	nodes := startFleet(t, 3, nil, nil)
	wss := startNginx(t, chatAddrs(nodes))
	// Other users first, so that nginx's spread shows across nodes.
	for i := range 3 {
		u := fmt.Sprintf("nxother%d", i)
		nodes[0].addUser(u, nil)
		if _, ok := tryNginx(t, wss, u); !ok {
			t.Fatalf("user %s refused", u)
		}
	}
	const user = "nxcap"
	nodes[0].addUser(user, nil)
	var open []*wsclient.Client
	for j := range 3 {
		c, ok := tryNginx(t, wss, user)
		if !ok {
			t.Fatalf("session %d refused", j)
		}
		open = append(open, c)
	}
	if _, ok := tryNginx(t, wss, user); ok {
		t.Fatal("a fourth session through nginx was admitted")
	}
	testutil.WaitFor(t, 5*time.Second, "the sessions in the nodes' /stats", func() bool {
		var sum float64
		for _, n := range nodes {
			sum += n.liveSessions()
		}
		return sum == 6
	})
	used := 0
	var per []float64
	for _, n := range nodes {
		s := n.liveSessions()
		per = append(per, s)
		if s > 0 {
			used++
		}
	}
	if used < 2 {
		t.Fatalf("sessions per node %v: nginx sent every connection to one node", per)
	}
	t.Logf("sessions per node through nginx: %v", per)
	_ = open[0].Close()
	testutil.WaitFor(t, 5*time.Second, "the freed slot through nginx", func() bool {
		c, ok := tryNginx(t, wss, user)
		if ok {
			open = append(open, c)
		}
		return ok
	})
	if _, ok := tryNginx(t, wss, user); ok {
		t.Fatal("a fourth session was admitted after the freed slot was taken")
	}
}
