package testutil

import (
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf records the message and ends the
// calling goroutine, as the real one does.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder on a goroutine of its own, so that Fatalf
// can end it, and returns what it failed with ("" when it did not).
func run(f func(tb testing.TB)) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.failed
}

func TestWaitFor(t *testing.T) {
	tests := []struct {
		name     string
		trueFrom int32 // the check from which cond holds; 0 never
		wantFail string
	}{
		{name: "already true", trueFrom: 1},
		{name: "true after a few polls", trueFrom: 4},
		{name: "never true", wantFail: "timed out after 50ms waiting for the thing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var checks atomic.Int32
			start := time.Now()
			failed := run(func(tb testing.TB) {
				WaitFor(tb, 50*time.Millisecond, "the thing", func() bool {
					n := checks.Add(1)
					return tt.trueFrom != 0 && n >= tt.trueFrom
				})
			})
			if failed != tt.wantFail {
				t.Fatalf("failed with %q, want %q", failed, tt.wantFail)
			}
			if tt.trueFrom != 0 && checks.Load() != tt.trueFrom {
				t.Errorf("cond checked %d times, want %d", checks.Load(), tt.trueFrom)
			}
			if tt.wantFail != "" && time.Since(start) < 50*time.Millisecond {
				t.Errorf("gave up after %v, before the timeout", time.Since(start))
			}
		})
	}
}

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("port %d out of range", port)
	}
	// Nothing listens on it, so a server can take it.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("listen on the free port: %v", err)
	}
	l.Close()
}
