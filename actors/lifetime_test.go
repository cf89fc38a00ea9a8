package actors

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reauthenticated is what fakePeer records for a refresh's answer.
type reauthenticated struct{ expiresAt time.Time }

// expiringTokens takes "<user>@<exp in unix milliseconds>" as a valid token
// of user expiring then; anything else is invalid.
type expiringTokens struct{}

func (expiringTokens) Verify(tok string) (string, time.Time, error) {
	user, ms, ok := strings.Cut(tok, "@")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || user == "" {
		return "", time.Time{}, errors.New("bad token")
	}
	return user, time.UnixMilli(n), nil
}

func expiringToken(user string, exp time.Time) string {
	return user + "@" + strconv.FormatInt(exp.UnixMilli(), 10)
}

// in is the time d from now, in whole milliseconds as the tokens hold it.
func in(d time.Duration) time.Time { return time.UnixMilli(time.Now().Add(d).UnixMilli()) }

// newLifetimeNode is a node whose sessions expire with their tokens,
// warned warn before.
func newLifetimeNode(t *testing.T, warn time.Duration, edit func(*Options)) *Node {
	return newTestNode(t, func(o *Options) {
		o.Verifier = expiringTokens{}
		o.ExpireSessions = true
		o.RefreshWarning = warn
		if edit != nil {
			edit(o)
		}
	})
}

// openUntil opens a session of user with a token expiring at exp.
func openUntil(t *testing.T, n *Node, user string, exp time.Time) (Handle, *fakePeer) {
	t.Helper()
	if err := n.Admit(); err != nil {
		t.Fatal(err)
	}
	p := newFakePeer()
	h := n.Open(p)
	h.Send(&Authenticate{Token: expiringToken(user, exp), TokenOK: true})
	if e := p.next(t); e != "connected:"+user {
		t.Fatalf("want connected, got %v", e)
	}
	return h, p
}

// expectWarning reads the token_expiring warning, not sent before
// notBefore.
func expectWarning(t *testing.T, p *fakePeer, notBefore time.Time) {
	t.Helper()
	e, ok := p.next(t).(*ErrorFrame)
	if !ok || e.Code != CodeTokenExpiring || e.ExpiresIn != 1 || e.Message == "" {
		t.Fatalf("want token_expiring with expires_in 1, got %+v", e)
	}
	if now := time.Now(); now.Before(notBefore) {
		t.Fatalf("warning %v early", notBefore.Sub(now))
	}
}

// expectExpiredClose waits for the session to close as expired, not
// before notBefore.
func expectExpiredClose(t *testing.T, p *fakePeer, notBefore time.Time) {
	t.Helper()
	select {
	case code := <-p.closed:
		if code != CodeSessionExpired {
			t.Fatalf("closed with %s, want %s", code, CodeSessionExpired)
		}
		if now := time.Now(); now.Before(notBefore) {
			t.Fatalf("closed %v before the token's end", notBefore.Sub(now))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the session outlived its token")
	}
}

// expectOpenUntil checks that the session is not closed before t, then
// that it still answers.
func expectOpenUntil(t *testing.T, h Handle, p *fakePeer, until time.Time) {
	t.Helper()
	select {
	case code := <-p.closed:
		t.Fatalf("closed with %s before %v", code, until)
	case <-time.After(time.Until(until)):
	}
	h.Send(&Ping{})
	if e := p.next(t); e != "pong" {
		t.Fatalf("want pong, got %+v", e)
	}
}

// TestSessionEndsWithItsToken: RefreshWarning before exp the client is
// warned with the seconds left, and at exp plus the leeway the session
// closes as expired (SPEC 8.6).
func TestSessionEndsWithItsToken(t *testing.T) {
	for _, leeway := range []time.Duration{0, 500 * time.Millisecond} {
		t.Run("leeway "+leeway.String(), func(t *testing.T) {
			t.Parallel()
			n := newLifetimeNode(t, time.Second, func(o *Options) { o.TokenLeeway = leeway })
			exp := in(1500 * time.Millisecond)
			_, p := openUntil(t, n, "u", exp)
			expectWarning(t, p, exp.Add(-time.Second))
			expectExpiredClose(t, p, exp.Add(leeway))
		})
	}
}

// TestShortTokenIsWarnedAtOnce: a token that lives less than the warning
// is warned about as soon as the session is connected.
func TestShortTokenIsWarnedAtOnce(t *testing.T) {
	n := newLifetimeNode(t, time.Minute, nil)
	exp := in(30 * time.Second)
	_, p := openUntil(t, n, "u", exp)
	e, ok := p.next(t).(*ErrorFrame)
	if !ok || e.Code != CodeTokenExpiring || e.ExpiresIn < 28 || e.ExpiresIn > 30 {
		t.Fatalf("want token_expiring with expires_in about 30, got %+v", e)
	}
}

// TestRefreshMovesTheEnd: a valid token of the same user is answered
// reauthenticated with its exp, and the session then lives until that
// exp, warned again before it.
func TestRefreshMovesTheEnd(t *testing.T) {
	n := newLifetimeNode(t, time.Second, nil)
	first := in(1200 * time.Millisecond)
	h, p := openUntil(t, n, "u", first)
	expectWarning(t, p, first.Add(-time.Second))

	second := in(3500 * time.Millisecond)
	h.Send(&Authenticate{Token: expiringToken("u", second), TokenOK: true})
	if e, ok := p.next(t).(reauthenticated); !ok || !e.expiresAt.Equal(second) {
		t.Fatalf("want reauthenticated until %v, got %+v", second, e)
	}
	expectOpenUntil(t, h, p, first.Add(300*time.Millisecond))
	expectWarning(t, p, second.Add(-time.Second))
	expectExpiredClose(t, p, second)
}

// TestStaleLifetimeTimerIsIgnored: a timer of the token before a refresh
// whose message was already queued does nothing.
func TestStaleLifetimeTimerIsIgnored(t *testing.T) {
	n := newLifetimeNode(t, time.Second, nil)
	h, p := openUntil(t, n, "u", in(time.Hour))
	exp := in(2 * time.Hour)
	h.Send(&Authenticate{Token: expiringToken("u", exp), TokenOK: true})
	if _, ok := p.next(t).(reauthenticated); !ok {
		t.Fatal("refresh not answered")
	}
	h.Send(&tokenExpiring{gen: 1})
	h.Send(&tokenEnded{gen: 1})
	h.Send(&Ping{})
	if e := p.next(t); e != "pong" {
		t.Fatalf("the first token's timers acted after the refresh: %+v", e)
	}
	select {
	case code := <-p.closed:
		t.Fatalf("closed with %s by the first token's timer", code)
	default:
	}
}

// TestRefreshRefused: a token of another user, an invalid one or none at
// all gets invalid_token (CodeRefreshRefused on the wire) and changes
// nothing: the session goes on and ends with its first token.
func TestRefreshRefused(t *testing.T) {
	tests := []struct {
		name string
		auth *Authenticate
	}{
		{"another user", &Authenticate{Token: expiringToken("mallory", in(time.Hour)), TokenOK: true}},
		{"invalid", &Authenticate{Token: "garbage", TokenOK: true}},
		{"empty", &Authenticate{Token: "", TokenOK: true}},
		{"no token", &Authenticate{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newLifetimeNode(t, 200*time.Millisecond, nil)
			exp := in(1500 * time.Millisecond)
			h, p := openUntil(t, n, "u", exp)
			h.Send(tc.auth)
			if e, ok := p.next(t).(*ErrorFrame); !ok || e.Code != CodeRefreshRefused {
				t.Fatalf("want the refused refresh, got %+v", e)
			}
			h.Send(&Ping{})
			if e := p.next(t); e != "pong" {
				t.Fatalf("want pong after the refused refresh, got %+v", e)
			}
			expectWarning(t, p, exp.Add(-200*time.Millisecond))
			expectExpiredClose(t, p, exp)
		})
	}
}

// TestSessionsOutliveTokensByDefault: with ExpireSessions off, as in
// protocol 1.0, a session outlives its token and a second authenticate is
// already_authenticated.
func TestSessionsOutliveTokensByDefault(t *testing.T) {
	n := newTestNode(t, func(o *Options) { o.Verifier = expiringTokens{}; o.RefreshWarning = 200 * time.Millisecond })
	exp := in(300 * time.Millisecond)
	h, p := openUntil(t, n, "u", exp)
	h.Send(&Authenticate{Token: expiringToken("u", in(time.Hour)), TokenOK: true})
	if e, ok := p.next(t).(*ErrorFrame); !ok || e.Code != CodeAlreadyAuthenticated {
		t.Fatalf("want already_authenticated, got %+v", e)
	}
	expectOpenUntil(t, h, p, exp.Add(300*time.Millisecond))
}
