package main

import (
	"errors"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/transport/auth"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// expiringEnv turns on auth.expire_sessions with a one-second warning and
// no leeway, so that a three-second token is warned about and ends within
// the test.
var expiringEnv = map[string]string{
	"WEALTHCOACH_AUTH_EXPIRE_SESSIONS": "true",
	"WEALTHCOACH_AUTH_REFRESH_WARNING": "1s",
	"WEALTHCOACH_AUTH_LEEWAY":          "0s",
}

// connectWithTTL authenticates as user with a token issued at the last
// whole second that lives ttl, and returns the client and the token's exp.
func (ts *testServer) connectWithTTL(user string, ttl time.Duration) (*wsclient.Client, time.Time) {
	ts.t.Helper()
	c := ts.dial()
	issued := time.Unix(time.Now().Unix(), 0)
	exp := issued.Add(ttl)
	if err := c.Authenticate(token(ts.t, user, func(o *auth.MintOptions) { o.Now, o.TTL = issued, ttl })); err != nil {
		ts.t.Fatal(err)
	}
	if f := next(ts.t, c); f.Type != "connected" || f.UserID != user {
		ts.t.Fatalf("want connected for %s, got %s", user, f.Raw)
	}
	return c, exp
}

// expectExpiring reads the token_expiring warning.
func expectExpiring(t *testing.T, c *wsclient.Client) {
	t.Helper()
	if f := expectError(t, c, "token_expiring"); f.ExpiresIn != 1 || f.Message == "" {
		t.Fatalf("want expires_in 1 and a message, got %s", f.Raw)
	}
}

// expectQuietUntil checks that no frame arrives before until.
func expectQuietUntil(t *testing.T, c *wsclient.Client, until time.Time) {
	t.Helper()
	if f, err := c.Next(time.Until(until)); !errors.Is(err, wsclient.ErrTimeout) {
		if f != nil {
			t.Fatalf("want nothing before %v, got %s", until, f.Raw)
		}
		t.Fatalf("want nothing before %v, got %v", until, err)
	}
}

// TestRefreshedSessionOutlivesItsFirstToken: with auth.expire_sessions the
// client is warned a refresh_warning before exp; a new token of the same
// user is answered reauthenticated with its exp, and the session chats on
// past the first token's end (SPEC 8.6).
func TestRefreshedSessionOutlivesItsFirstToken(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOpts{env: expiringEnv})
	ts.addUser("ada", nil)
	c, exp := ts.connectWithTTL("ada", 3*time.Second)
	expectExpiring(t, c)

	before := time.Now()
	mustSend(t, c, map[string]string{"type": "authenticate", "token": token(t, "ada", nil)})
	f := next(t, c)
	if want := before.Add(time.Hour).Unix(); f.Type != "reauthenticated" || f.ExpiresAt < want-1 || f.ExpiresAt > want+1 {
		t.Fatalf("want reauthenticated with expires_at about %d, got %s", want, f.Raw)
	}
	expectQuietUntil(t, c, exp.Add(time.Second))
	mustSend(t, c, msg("still there after the first token?"))
	readAnswer(t, c)
}

// TestUnrefreshedSessionClosesAtExp: without a refresh the session gets
// token_expired and closes 1008 "Token expired" at exp; a token of another
// user, or an invalid one, is refused with invalid_token on the way and
// changes nothing.
func TestUnrefreshedSessionClosesAtExp(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOpts{env: expiringEnv})
	ts.addUser("bea", nil)
	ts.addUser("cy", nil)
	c, exp := ts.connectWithTTL("bea", 4*time.Second)
	for _, tok := range []string{token(t, "cy", nil), "not-a-token"} {
		mustSend(t, c, map[string]string{"type": "authenticate", "token": tok})
		expectError(t, c, "invalid_token")
	}
	mustSend(t, c, msg("the session goes on"))
	readAnswer(t, c)

	expectExpiring(t, c)
	expectClose(t, c, "token_expired", 1008, "Token expired")
	if time.Now().Before(exp) {
		t.Fatalf("closed %v before the token's exp", time.Until(exp))
	}
}

// TestSessionsOutliveTokensWhenExpiryOff: with auth.expire_sessions off, as
// protocol 1.0 clients expect, a session outlives its token without a
// warning, and a second authenticate is already_authenticated.
func TestSessionsOutliveTokensWhenExpiryOff(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_AUTH_LEEWAY": "0s"}})
	ts.addUser("dee", nil)
	c, exp := ts.connectWithTTL("dee", 2*time.Second)
	mustSend(t, c, map[string]string{"type": "authenticate", "token": token(t, "dee", nil)})
	expectError(t, c, "already_authenticated")
	expectQuietUntil(t, c, exp.Add(time.Second))
	mustSend(t, c, msg("still there after the token?"))
	readAnswer(t, c)
}
