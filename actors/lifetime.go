package actors

import (
	"errors"
	"log/slog"
	"math"
	"time"
)

// A session lives no longer than its token when Options.ExpireSessions is
// on (SPEC 8.6). Two timers, armed once the session is authenticated, send
// the session messages of their own: the warning, RefreshWarning before
// the token's exp, and the end, TokenLeeway after it (the skew the verifier
// allowed the token at authentication). A refresh, a new authenticate
// frame with a valid token of the same user, arms them again for the new
// token; each arming has a generation, so that a timer that fired just
// before a refresh, its message already queued, does nothing.

// lifetime is a session's token deadline.
type lifetime struct {
	expires time.Time // the current token's exp
	gen     int       // the arming the timers below belong to
	warn    *time.Timer
	end     *time.Timer
}

// Messages the lifetime timers send.
type (
	tokenExpiring struct{ gen int }
	tokenEnded    struct{ gen int }
)

// errNoToken refuses a refresh frame without a token.
var errNoToken = errors.New("the authenticate frame has no token")

// armLifetime starts the timers for a token that expires at exp, replacing
// those of the token before it. A warning already due, for a token that
// lives less than RefreshWarning, goes out at once.
func (s *session) armLifetime(exp time.Time) {
	if !s.node.opts.ExpireSessions {
		return
	}
	l := &s.lifetime
	l.stop()
	l.gen++
	l.expires = exp
	root, self, gen := s.node.root, s.self, l.gen
	l.warn = time.AfterFunc(time.Until(exp.Add(-s.node.opts.RefreshWarning)), func() { root.Send(self, &tokenExpiring{gen: gen}) })
	l.end = time.AfterFunc(time.Until(exp.Add(s.node.opts.TokenLeeway)), func() { root.Send(self, &tokenEnded{gen: gen}) })
}

// stop stops the timers. A message one of them sent already is told
// apart by its generation once armLifetime moves it, or never handled
// once the session closes.
func (l *lifetime) stop() {
	if l.warn != nil {
		l.warn.Stop()
		l.end.Stop()
	}
}

// lifetimeEvent handles the timers' messages. A detached session has no
// client to tell or to close: its answer runs on for its window, and
// whoever resumes it does so with a token of their own.
func (s *session) lifetimeEvent(msg any) {
	if s.detached != nil {
		return
	}
	switch m := msg.(type) {
	case *tokenExpiring:
		if m.gen != s.lifetime.gen {
			return
		}
		s.peer.Error(&ErrorFrame{Code: CodeTokenExpiring, ExpiresIn: secondsUntil(s.lifetime.expires),
			Message: `the token expires soon; send {"type":"authenticate","token":"..."} with a new one to stay connected`})
	case *tokenEnded:
		if m.gen != s.lifetime.gen {
			return
		}
		s.logger().Info("token expired; session closed")
		s.close(CodeSessionExpired)
	}
}

// secondsUntil is the whole seconds left until t, rounded up, never
// negative: a warning sent a little less than a second before exp says 1.
func secondsUntil(t time.Time) int {
	return int(math.Max(0, math.Ceil(time.Until(t).Seconds())))
}

// reauthenticate answers an authenticate frame on an authenticated session:
// a refresh when sessions expire, already_authenticated otherwise, as in
// protocol 1.0.
func (s *session) reauthenticate(m *Authenticate) {
	if !s.node.opts.ExpireSessions {
		s.node.stats.Reject(CodeAlreadyAuthenticated)
		s.peer.Error(&ErrorFrame{Code: CodeAlreadyAuthenticated, Message: "this connection is already authenticated"})
		return
	}
	userID, exp, err := "", time.Time{}, errNoToken
	if m.TokenOK && m.Token != "" {
		userID, exp, err = s.node.opts.Verifier.Verify(m.Token)
	}
	if err == nil && userID != s.userID {
		// The user id of the other token is not logged: the session's
		// own is on the line already, and that is who presented it.
		err = errors.New("the token names another user")
	}
	if err != nil {
		s.logger().Info("token refresh refused", slog.String("error", err.Error()))
		s.node.stats.Reject(CodeInvalidToken) // counted as the client sees it
		s.peer.Error(&ErrorFrame{Code: CodeRefreshRefused,
			Message: "the token is not valid for this session; it still ends when its current token expires"})
		return
	}
	s.armLifetime(exp)
	s.peer.Reauthenticated(exp)
	s.logger().Debug("token refreshed", slog.Time("expires", exp))
}
