package actors

import (
	"context"
	"testing"
	"time"
)

// TestLocalLimiter walks one user's bucket through a burst, denials and
// refills: an allowed call spends one token, a denied one spends nothing
// and is told when the next token comes, and FullIn says how long the
// model actor must outlive the user's sessions.
func TestLocalLimiter(t *testing.T) {
	const ms = time.Millisecond
	t0 := time.Unix(1_700_000_000, 0)
	l := newLocalLimiter(600, 2) // one token every 100ms
	steps := []struct {
		name       string
		at         time.Duration // since t0
		ok         bool
		retryAfter time.Duration
		fullIn     time.Duration // after the call
	}{
		{name: "a full bucket allows", at: 0, ok: true, fullIn: 100 * ms},
		{name: "the burst's second token", at: 0, ok: true, fullIn: 200 * ms},
		{name: "empty: denied", at: 0, retryAfter: 100 * ms, fullIn: 200 * ms},
		{name: "a denial spent nothing", at: 40 * ms, retryAfter: 60 * ms, fullIn: 160 * ms},
		{name: "one token back", at: 100 * ms, ok: true, fullIn: 200 * ms},
		{name: "refilled to the brim and no further", at: time.Minute, ok: true, fullIn: 100 * ms},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			now := t0.Add(s.at)
			ok, retryAfter, err := l.Allow(context.Background(), now)
			if err != nil || ok != s.ok || !near(retryAfter, s.retryAfter) {
				t.Fatalf("Allow = %v, %v, %v; want %v, %v, nil", ok, retryAfter, err, s.ok, s.retryAfter)
			}
			if got := l.FullIn(now); !near(got, s.fullIn) {
				t.Fatalf("FullIn = %v, want %v", got, s.fullIn)
			}
		})
	}
	if got := l.FullIn(t0.Add(time.Minute + 100*ms)); got != 0 {
		t.Fatalf("FullIn = %v once refilled, want 0", got)
	}
}

// near allows for the bucket's floating-point arithmetic.
func near(got, want time.Duration) bool {
	d := got - want
	return d > -time.Microsecond && d < time.Microsecond
}
