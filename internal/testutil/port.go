package testutil

import (
	"net"
	"testing"
)

// FreePort returns a loopback TCP port that nothing listened on a moment
// ago: for a server that must be told its port before it starts (a child
// redis-server), or for a dial that must be refused. Another process may
// take the port in between, so a test that can listen on ":0" itself
// should do that instead.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
