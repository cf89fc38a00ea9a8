package testutil

import (
	"testing"
	"time"
)

// pollInterval is how long WaitFor sleeps between two checks: short enough
// that a test waits at most a few milliseconds past the moment its
// condition holds, long enough that polling leaves the CPU to the code
// under test.
const pollInterval = 5 * time.Millisecond

// WaitFor checks cond every few milliseconds until it holds, and fails the
// test with "timed out after <timeout> waiting for <what>" if it still
// does not once timeout has passed. what names the awaited event as a
// phrase ("the session to end").
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
			return
		}
		time.Sleep(pollInterval)
	}
}
