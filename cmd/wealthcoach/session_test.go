package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/transport/auth"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// TestAuthenticationCloses covers every authentication close of the
// protocol: the error frame with its code, then the close code and reason.
func TestAuthenticationCloses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ts := startServer(t, serverOpts{backend: b})
		ts.addUser("alice", nil)
		ts.addUser("mallory", nil)
		if err := ts.store.SetDisabled(context.Background(), "mallory", true); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name       string
			send       func(c *wsclient.Client) error
			code       string
			closeCode  int
			reasonText string
		}{
			{"message first", func(c *wsclient.Client) error { return c.Send(msg("hi")) },
				"auth_required", 1008, "Authentication required"},
			{"ping first", func(c *wsclient.Client) error { return c.Send(map[string]string{"type": "ping"}) },
				"auth_required", 1008, "Authentication required"},
			{"not json first", func(c *wsclient.Client) error { return c.SendRaw(gws.OpcodeText, []byte("hello")) },
				"auth_required", 1008, "Authentication required"},
			{"no token", func(c *wsclient.Client) error { return c.Send(map[string]string{"type": "authenticate"}) },
				"token_missing", 1008, "Token missing"},
			{"empty token", func(c *wsclient.Client) error { return c.Authenticate("") },
				"token_missing", 1008, "Token missing"},
			{"token not a string", func(c *wsclient.Client) error {
				return c.Send(map[string]any{"type": "authenticate", "token": 42})
			}, "token_missing", 1008, "Token missing"},
			{"malformed token", func(c *wsclient.Client) error { return c.Authenticate("not.a.jwt") },
				"invalid_token", 1008, "Invalid token"},
			{"wrong secret", func(c *wsclient.Client) error {
				return c.Authenticate(token(t, "alice", func(o *auth.MintOptions) { o.Secret = []byte(strings.Repeat("x", 40)) }))
			}, "invalid_token", 1008, "Invalid token"},
			{"alg none", func(c *wsclient.Client) error {
				// {"alg":"none","typ":"JWT"} . {"sub":"alice","exp":4102444800} .
				return c.Authenticate("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.")
			}, "invalid_token", 1008, "Invalid token"},
			{"expired", func(c *wsclient.Client) error {
				return c.Authenticate(token(t, "alice", func(o *auth.MintOptions) { o.Now = time.Now().Add(-3 * time.Hour) }))
			}, "token_expired", 1008, "Invalid token"},
			{"unknown user", func(c *wsclient.Client) error { return c.Authenticate(token(t, "nobody", nil)) },
				"auth_failed", 1008, "Authentication failed"},
			{"disabled user", func(c *wsclient.Client) error { return c.Authenticate(token(t, "mallory", nil)) },
				"auth_failed", 1008, "Authentication failed"},
			{"binary first", func(c *wsclient.Client) error { return c.SendRaw(gws.OpcodeBinary, []byte{1, 2, 3}) },
				"", 1003, "Binary frames not supported"},
			{"first frame over the pre-auth limit", func(c *wsclient.Client) error {
				return c.Authenticate(strings.Repeat("a", 9000))
			}, "", 1009, "*"},
			{"frame over the read limit", func(c *wsclient.Client) error {
				return c.SendRaw(gws.OpcodeText, []byte(strings.Repeat("a", 70_000)))
			}, "", 1009, "*"},
			{"invalid utf-8", func(c *wsclient.Client) error {
				return c.SendRaw(gws.OpcodeText, []byte{'{', 0xff, 0xfe, '}'})
			}, "", 1007, "*"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := ts.dial()
				if err := tt.send(c); err != nil {
					t.Fatal(err)
				}
				expectClose(t, c, tt.code, tt.closeCode, tt.reasonText)
			})
		}
		t.Run("token never logged", func(t *testing.T) {
			if strings.Contains(ts.logs.String(), "eyJ") {
				t.Fatalf("a token reached the log:\n%s", ts.logs.String())
			}
		})
	})
}

func TestAuthTimeout(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_AUTH_TIMEOUT": "300ms"}})
	c := ts.dial()
	start := time.Now()
	expectClose(t, c, "auth_timeout", 1008, "Authentication timeout")
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("closed after %s, before the 300ms timeout", d)
	}
	// A session that authenticates in time is not closed by the timer: it
	// answers every ping and stays open until well past the timeout.
	ts.addUser("bob", nil)
	c2 := ts.connect("bob")
	authed := time.Now()
	for time.Since(authed) < 500*time.Millisecond {
		mustSend(t, c2, map[string]string{"type": "ping"})
		if f := next(t, c2); f.Type != "pong" {
			t.Fatalf("want pong %v after authentication, got %s", time.Since(authed), f.Raw)
		}
		expectQuiet(t, c2, 50*time.Millisecond)
	}
}

// expectQuiet fails the test if a frame arrives, or the connection ends,
// within d.
func expectQuiet(t *testing.T, c *wsclient.Client, d time.Duration) {
	t.Helper()
	f, err := c.Next(d)
	switch {
	case errors.Is(err, wsclient.ErrTimeout):
	case err != nil:
		t.Fatalf("connection ended: %v", err)
	default:
		t.Fatalf("want no frame, got %s", f.Raw)
	}
}

func TestErrorsKeepConnectionOpen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ts := startServer(t, serverOpts{backend: b})
		ts.addUser("alice", nil)
		c := ts.connect("alice")
		tests := []struct {
			name string
			send func() error
			code string
		}{
			{"not json", func() error { return c.SendRaw(gws.OpcodeText, []byte("{oops")) }, "bad_request"},
			{"unknown type", func() error { return c.Send(map[string]string{"type": "launch"}) }, "bad_request"},
			{"no type", func() error { return c.Send(map[string]string{"content": "x"}) }, "bad_request"},
			{"content not a string", func() error { return c.Send(map[string]any{"type": "message", "content": 7}) }, "bad_request"},
			{"id too long", func() error {
				return c.Send(map[string]string{"type": "message", "content": "x", "id": strings.Repeat("i", 65)})
			}, "bad_request"},
			{"empty message", func() error { return c.Send(msg("   \n\t ")) }, "empty_message"},
			{"missing content", func() error { return c.Send(map[string]string{"type": "message"}) }, "empty_message"},
			{"too long", func() error { return c.Send(msg(strings.Repeat("é", 4001))) }, "message_too_long"},
			{"second authenticate", func() error { return c.Authenticate(token(t, "alice", nil)) }, "already_authenticated"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.send(); err != nil {
					t.Fatal(err)
				}
				expectError(t, c, tt.code)
				// The session still answers.
				mustSend(t, c, map[string]string{"type": "ping"})
				if f := next(t, c); f.Type != "pong" {
					t.Fatalf("want pong after %s, got %s", tt.code, f.Raw)
				}
			})
		}
		t.Run("reply_to on message errors", func(t *testing.T) {
			mustSend(t, c, map[string]string{"type": "message", "content": "", "id": "m-1"})
			if f := expectError(t, c, "empty_message"); f.ReplyTo != "m-1" {
				t.Fatalf("want reply_to m-1, got %s", f.Raw)
			}
		})
		t.Run("4000 characters is not too long", func(t *testing.T) {
			mustSend(t, c, msg("  "+strings.Repeat("é", 4000)+"  "))
			if f := next(t, c); f.Type != "response" {
				t.Fatalf("want a response, got %s", f.Raw)
			}
		})
		t.Run("binary after auth", func(t *testing.T) {
			if err := c.SendRaw(gws.OpcodeBinary, []byte("x")); err != nil {
				t.Fatal(err)
			}
			ce, err := c.Closed(frameWait)
			if err != nil || ce.Code != 1003 || ce.Reason != "Binary frames not supported" {
				t.Fatalf("want 1003, got %v %v", ce, err)
			}
		})
	})
}

func TestPerUserCapReleasesSlot(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ts := startServer(t, serverOpts{backend: b})
		ts.addUser("carol", nil)
		var open []*wsclient.Client
		for range 3 {
			open = append(open, ts.connect("carol"))
		}
		c := ts.dial()
		mustSend(t, c, map[string]string{"type": "authenticate", "token": token(t, "carol", nil)})
		expectClose(t, c, "max_connections", 1008, "Max connections reached")

		// Closing one session frees its slot; the release travels through the
		// registry, so poll.
		if err := open[0].Close(); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 5*time.Second, "a free slot", func() bool {
			c := ts.dial()
			_ = c.Authenticate(token(t, "carol", nil))
			f, err := c.Next(frameWait)
			if err == nil && f.Type == "connected" {
				return true
			}
			return false
		})
	})
}

func TestNodeSessionCap(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_LIMITS_MAX_SESSIONS": "2"}})
	ts.addUser("a", nil)
	ts.addUser("b", nil)
	ts.connect("a")
	ts.connect("b")
	c := ts.dial()
	expectClose(t, c, "unavailable", 1013, "Try again later")
}

// countingAccounts counts profile loads and can be made to fail.
type countingAccounts struct {
	next  actors.AccountLoader
	loads atomic.Int64
	fail  atomic.Bool
}

func (c *countingAccounts) LoadAccount(ctx context.Context, id string) (store.Account, error) {
	c.loads.Add(1)
	if c.fail.Load() {
		return store.Account{}, errors.New("connection refused")
	}
	return c.next.LoadAccount(ctx, id)
}

func TestProfileLoadedOnceAndStoreOutage(t *testing.T) {
	counter := &countingAccounts{}
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_LLM_RATE_LIMIT_BURST": "20"}, hooks: hooks{accounts: func(a actors.AccountLoader) actors.AccountLoader {
		counter.next = a
		return counter
	}}})
	ts.addUser("dave", &store.Profile{Currency: "EUR", MonthlyIncome: 4000})
	c := ts.connect("dave")
	for i := range 5 {
		mustSend(t, c, msg("question "+string(rune('a'+i))))
		readAnswer(t, c)
		mustSend(t, c, map[string]string{"type": "ping"})
		next(t, c)
	}
	if n := counter.loads.Load(); n != 1 {
		t.Fatalf("profile loaded %d times, want once", n)
	}

	counter.fail.Store(true)
	c2 := ts.dial()
	mustSend(t, c2, map[string]string{"type": "authenticate", "token": token(t, "dave", nil)})
	expectClose(t, c2, "unavailable", 1013, "Try again later")

	// The session authenticated before the outage keeps chatting.
	mustSend(t, c, msg("still there?"))
	readAnswer(t, c)
	counter.fail.Store(false)
	ts.connect("dave")
}

func TestPanicInOneSessionSparesOthers(t *testing.T) {
	ts := startServer(t, serverOpts{hooks: hooks{node: func(o *actors.Options) {
		o.BeforeReceive = func(m any) {
			if cm, ok := m.(*actors.ChatMessage); ok && cm.Content == "boom" {
				panic("injected failure")
			}
		}
	}}})
	ts.addUser("erin", nil)
	ts.addUser("frank", nil)
	victim := ts.connect("erin")
	other := ts.connect("frank")

	mustSend(t, victim, map[string]string{"type": "message", "content": "boom", "id": "b1"})
	if f := expectError(t, victim, "internal"); f.ReplyTo != "b1" {
		t.Fatalf("want reply_to b1, got %s", f.Raw)
	}
	// The failed session is still authenticated and usable.
	mustSend(t, victim, msg("hello again"))
	readAnswer(t, victim)
	// So is every other session.
	mustSend(t, other, msg("hello"))
	readAnswer(t, other)

	// A session that keeps failing is closed with 1011, the others go on.
	for range 3 {
		mustSend(t, victim, msg("boom"))
	}
	for {
		f, err := victim.Next(frameWait)
		var ce *wsclient.CloseError
		if errors.As(err, &ce) {
			if ce.Code != 1011 || ce.Reason != "Internal error" {
				t.Fatalf("want 1011 Internal error, got %d %q", ce.Code, ce.Reason)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != "error" {
			t.Fatalf("unexpected frame %s", f.Raw)
		}
	}
	mustSend(t, other, map[string]string{"type": "ping"})
	if f := next(t, other); f.Type != "pong" {
		t.Fatalf("want pong, got %s", f.Raw)
	}
}

func TestGracefulShutdownCloses1001(t *testing.T) {
	ts := startServer(t, serverOpts{})
	ts.addUser("gina", nil)
	c := ts.connect("gina")
	if err := ts.stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	expectClose(t, c, "", 1001, "Server shutting down")
}

// TestFloodGuard answers a client that sends frames faster than
// limits.frames_per_second with rate_limited, drops the excess, and keeps
// the session.
func TestFloodGuard(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{
		"WEALTHCOACH_LIMITS_FRAMES_PER_SECOND": "5",
		"WEALTHCOACH_LIMITS_FRAME_BURST":       "5",
	}})
	ts.addUser("flo", nil)
	c := ts.connect("flo") // the authenticate frame spent one token
	for range 20 {
		mustSend(t, c, map[string]string{"type": "ping"})
	}
	pongs, limited := 0, 0
	for {
		f, err := c.Next(500 * time.Millisecond)
		if errors.Is(err, wsclient.ErrTimeout) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case f.Type == "pong":
			pongs++
		case f.Type == "error" && f.Code == "rate_limited" && f.RetryAfter == 1:
			limited++
		default:
			t.Fatalf("unexpected frame %s", f.Raw)
		}
	}
	if pongs < 4 || pongs > 8 || limited != 1 {
		t.Fatalf("want about 4 pongs and one rate_limited, got %d pongs, %d rate_limited", pongs, limited)
	}
	// The bucket refills at 5/s: a client pinging every 100ms after the
	// flood is answered again soon. Until then a ping may be dropped
	// unanswered or refused with rate_limited, and nothing else.
	deadline := time.Now().Add(3 * time.Second)
	for {
		mustSend(t, c, map[string]string{"type": "ping"})
		f, err := c.Next(100 * time.Millisecond)
		switch {
		case err == nil && f.Type == "pong":
			return
		case err == nil && (f.Type != "error" || f.Code != "rate_limited"):
			t.Fatalf("unexpected frame after the flood %s", f.Raw)
		case err != nil && !errors.Is(err, wsclient.ErrTimeout):
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("no pong within 3s after the flood")
		}
	}
}
