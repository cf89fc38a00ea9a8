package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/wealthwarriors/wealthcoach/store"
)

// sessionState is where a session is in its state machine:
// unauthenticated -> authenticating -> authenticated <-> streaming.
type sessionState uint8

const (
	stateUnauthenticated sessionState = iota
	stateAuthenticating               // token verified, slot and profile being fetched
	stateAuthenticated
	stateStreaming // an answer is being produced
	stateClosing   // the socket is being closed; everything is ignored
)

func (s sessionState) String() string {
	switch s {
	case stateUnauthenticated:
		return "unauthenticated"
	case stateAuthenticating:
		return "authenticating"
	case stateAuthenticated:
		return "authenticated"
	case stateStreaming:
		return "streaming"
	default:
		return "closing"
	}
}

// session is the actor behind one WebSocket connection.
type session struct {
	node   *Node
	peer   Peer
	id     string
	self   *actor.PID
	state  sessionState
	opened time.Time
	log    *slog.Logger

	authTimer  *time.Timer
	loadCancel context.CancelFunc
	stash      []any // frames that arrived while authentication completed

	userID     string
	account    store.Account
	authed     bool       // the profile is loaded and the client told it is connected
	claimed    bool       // the registry holds a slot for this session
	model      *actor.PID // the user's model actor, once known
	modelAsked bool       // ensureModel was sent
	// modelWaiting is set while the answer in flight waits for ensureModel's
	// answer to reach the model actor.
	modelWaiting bool

	detached *detachedState  // set once the socket dropped with an answer in flight (resume.go)
	pending  []PendingAnswer // the user's interrupted answers, from the claim until connected
	// cancelledResume is the id of an answer whose resume was cancelled
	// before the answer's session replied.
	cancelledResume string

	conversation string // the current conversation's id; "" when none is kept
	historyBusy  bool   // a history page is being loaded
	resetting    bool   // a reset is under way

	chat chatState

	lifetime lifetime // the token's deadline, with Options.ExpireSessions (lifetime.go)

	closeCode int
	counts    struct{ messages, answers, cacheHits int }
}

func (s *session) Receive(c actor.Context) {
	msg := c.Message()
	if hook := s.node.opts.BeforeReceive; hook != nil {
		hook(msg)
	}
	switch m := msg.(type) {
	case *actor.Started:
		s.started(c)
	case *attach:
		s.peer, s.id = m.peer, m.id
	case *actor.Stopping:
		s.stopping(c)
	case *Disconnected:
		s.closeCode = m.CloseCode
		if s.state == stateStreaming && s.canDetach() {
			s.detach(c)
			return
		}
		s.setState(stateClosing)
		c.Stop(s.self)
	case *shutdownSession:
		if s.detached != nil {
			s.endDetached(c)
			return
		}
		s.close(CodeServerShutdown)
	case *revokeSession:
		s.close(CodeSessionRevoked)
	case *recovered:
		s.recovered(m)
	case *sessionInfo:
		c.Respond(SessionInfo{SessionID: s.id, State: s.state.String(), Opened: s.opened, Messages: s.counts.messages})
	case *actor.Stopped, *actor.Restarting:
	default:
		s.handle(c, msg)
	}
}

// handle dispatches a message to the current state's handler. Handlers take
// the message as an argument so that stashed frames can be replayed.
func (s *session) handle(c actor.Context, msg any) {
	switch s.state {
	case stateUnauthenticated:
		s.unauthenticated(c, msg)
	case stateAuthenticating:
		s.authenticating(c, msg)
	case stateAuthenticated, stateStreaming:
		s.authenticated(c, msg)
	}
}

func (s *session) started(c actor.Context) {
	s.self = c.Self()
	s.opened = time.Now()
	s.node.stats.SessionsOpened.Add(1)
	s.node.stats.move(stateClosing, stateUnauthenticated)
	root, self := c.ActorSystem().Root, c.Self()
	s.authTimer = time.AfterFunc(s.node.opts.AuthTimeout, func() { root.Send(self, &authDeadline{}) })
}

func (s *session) unauthenticated(c actor.Context, msg any) {
	switch m := msg.(type) {
	case *Authenticate:
		s.authenticate(c, m)
	case *authDeadline:
		s.close(CodeAuthTimeout)
	case *ChatMessage, *Cancel, *Ping, *Invalid, *HistoryRequest, *Reset, *Resume:
		s.close(CodeAuthRequired)
	}
}

func (s *session) authenticate(c actor.Context, m *Authenticate) {
	if !m.TokenOK || m.Token == "" {
		s.close(CodeTokenMissing)
		return
	}
	userID, expires, err := s.node.opts.Verifier.Verify(m.Token)
	if err != nil {
		var exp interface{ Expired() bool }
		if errors.As(err, &exp) && exp.Expired() {
			s.close(CodeTokenExpired)
		} else {
			s.close(CodeInvalidToken)
		}
		s.logger().Debug("token rejected", slog.String("error", err.Error()))
		return
	}
	s.userID = userID
	s.lifetime.expires = expires
	s.setState(stateAuthenticating)
	c.Send(s.node.registry, &claim{userID: userID, sessionID: s.id, session: s.self})
}

func (s *session) authenticating(c actor.Context, msg any) {
	switch m := msg.(type) {
	case *claimResult:
		s.onClaim(c, m)
	case *accountLoaded:
		s.accountLoaded(c, m)
	case *authDeadline:
		s.close(CodeAuthTimeout)
	case *Authenticate:
		s.peer.Error(&ErrorFrame{Code: CodeAlreadyAuthenticated, Message: "authentication is already in progress"})
	default:
		if len(s.stash) >= s.node.opts.MaxStashed {
			s.node.stats.Reject(CodeBusy)
			s.peer.Error(&ErrorFrame{Code: CodeBusy, Message: "authentication still in progress", ReplyTo: replyTo(msg)})
			return
		}
		s.stash = append(s.stash, msg)
	}
}

func (s *session) onClaim(c actor.Context, m *claimResult) {
	if m.code != "" {
		s.close(m.code)
		return
	}
	s.claimed = true
	s.model = m.model
	s.pending = m.pending
	// The profile load is the only I/O of authentication. It runs outside
	// Receive and its result comes back as a message; Stopping cancels it.
	ctx, cancel := context.WithTimeout(s.node.ctx, s.node.opts.LoadTimeout)
	s.loadCancel = cancel
	root, self, accounts, userID := c.ActorSystem().Root, s.self, s.node.opts.Accounts, s.userID
	node, sessionID := s.node, s.id
	s.node.io.Go(func() {
		defer cancel()
		start := time.Now()
		// The fleet's cap before the load: a refused session costs the
		// store nothing.
		ok, pending := node.fleetLease(ctx, userID, sessionID)
		if !ok {
			root.Send(self, &accountLoaded{full: true, took: time.Since(start)})
			return
		}
		acct, err := accounts.LoadAccount(ctx, userID)
		root.Send(self, &accountLoaded{account: acct, err: err, took: time.Since(start), pending: pending})
	})
}

func (s *session) accountLoaded(c actor.Context, m *accountLoaded) {
	s.loadCancel = nil
	s.pending = mergePending(s.pending, m.pending)
	switch {
	case m.full:
		s.close(CodeMaxConnections)
		return
	case errors.Is(m.err, store.ErrNotFound):
		s.close(CodeAuthFailed)
		return
	case m.err != nil:
		s.logger().Warn("profile store unavailable", slog.String("error", m.err.Error()), slog.Duration("took", m.took))
		s.close(CodeNodeUnavailable)
		return
	case m.account.User.Disabled:
		s.close(CodeAuthFailed)
		return
	}
	s.authTimer.Stop()
	s.authTimer = nil // an idle session should not keep a spent timer and its closure
	s.node.stats.AuthTime.ObserveDuration(time.Since(s.opened))
	s.account = m.account
	s.authed = true
	s.log = nil // the next line logged carries the user id
	s.node.unauth.Add(-1)
	s.conversation = m.account.ConversationID
	s.chat.history = memoryFrom(m.account.History, s.node.opts.Chat.HistoryMessages)
	s.account.History = nil // memory holds what is needed of it
	s.setState(stateAuthenticated)
	s.armLifetime(s.lifetime.expires)
	s.peer.Connected(&Welcome{SessionID: s.id, UserID: s.userID, ConversationID: s.conversation,
		History: len(s.chat.history), Pending: s.pending, Notice: s.node.opts.Notice})
	s.pending = nil
	stash := s.stash
	s.stash = nil
	for _, msg := range stash {
		s.authenticated(c, msg)
	}
}

func (s *session) authenticated(c actor.Context, msg any) {
	switch m := msg.(type) {
	case *ChatMessage:
		s.chatMessage(c, m)
	case *Cancel:
		s.cancel(c)
	case *Ping:
		s.peer.Pong()
	case *HistoryRequest:
		s.historyRequest(c, m)
	case *historyLoaded:
		s.historyLoaded(m)
	case *Reset:
		s.reset(c)
	case *conversationStarted:
		s.conversationStarted(m)
	case *Resume:
		s.resume(c, m)
	case *Authenticate:
		s.reauthenticate(m)
	case *tokenExpiring, *tokenEnded:
		s.lifetimeEvent(msg)
	case *Invalid:
		s.node.stats.Reject(CodeBadRequest)
		s.peer.Error(&ErrorFrame{Code: CodeBadRequest, Message: m.Reason})
	default:
		if s.detached != nil && s.detachedEvent(c, msg) {
			return
		}
		if s.resumedEvent(msg) {
			return
		}
		s.chatEvent(c, msg)
	}
}

// chatMessage validates a chat message and starts its answer.
func (s *session) chatMessage(c actor.Context, m *ChatMessage) {
	text := strings.TrimSpace(m.Content)
	var code Code
	var reason string
	switch {
	case s.node.draining.Load():
		code, reason = CodeShuttingDown, "the server is shutting down; reconnect shortly"
	case text == "":
		code, reason = CodeEmptyMessage, "message is empty"
	case utf8.RuneCountInString(text) > s.node.opts.MaxMessageChars:
		code, reason = CodeMessageTooLong, fmt.Sprintf("message is longer than %d characters", s.node.opts.MaxMessageChars)
	case s.state == stateStreaming:
		code, reason = CodeBusy, "an answer is still streaming; wait for it or cancel it"
	case s.resetting:
		code, reason = CodeBusy, "the conversation is being reset"
	}
	if code != "" {
		s.node.stats.Reject(code)
		s.peer.Error(&ErrorFrame{Code: code, Message: reason, ReplyTo: m.ID})
		return
	}
	s.counts.messages++
	s.node.stats.ChatMessages.Add(1)
	s.ask(c, text, m.ID)
}

func (s *session) recovered(m *recovered) {
	if s.state == stateClosing {
		return
	}
	s.peer.Error(&ErrorFrame{Code: CodeInternal, Message: "the server failed to handle that frame", ReplyTo: replyTo(m.msg)})
}

// close ends the session: the peer sends the error and close frames, and
// the Disconnected that follows stops the actor.
func (s *session) close(code Code) {
	if s.state == stateClosing {
		return
	}
	if code != CodeServerShutdown {
		s.node.stats.Reject(code)
	}
	s.setState(stateClosing)
	s.peer.Close(code)
}

func (s *session) stopping(c actor.Context) {
	if s.state != stateClosing {
		// Stopped by the supervisor after repeated failures, not by a
		// disconnect: the socket is still open.
		s.peer.Close(CodeSessionFailed)
		s.setState(stateClosing)
	}
	if s.authTimer != nil {
		s.authTimer.Stop()
	}
	s.lifetime.stop()
	if s.loadCancel != nil {
		s.loadCancel()
	}
	if a := s.chat.cur; a != nil && a.remote != nil && a.remote != resumePending {
		// This session followed an answer resumed from another: hand it
		// back, to be resumed again within its window.
		c.Send(a.remote, &resumerGone{})
	}
	s.settleCache(s.chat.cur, "")
	s.chat.stop()
	if s.userID != "" {
		// A claim was sent, whether or not its answer arrived before the
		// session stopped: release it, or the registry would keep the slot.
		// Messages from one sender arrive in order, so the release follows
		// the claim; releasing a slot never granted is a no-op.
		c.Send(s.node.registry, &release{userID: s.userID, sessionID: s.id})
	}
	if s.claimed && s.node.opts.Fleet != nil {
		// The lease was asked for once the claim was granted; Unlease
		// also covers one still being asked for.
		s.node.opts.Fleet.Unlease(s.userID, s.id)
	}
	if !s.authed {
		s.node.unauth.Add(-1)
	}
	s.node.live.Add(-1)
	s.node.stats.SessionsClosed.Add(1)
	s.node.sessions.Delete(s.id)
	s.logger().Info("session ended",
		slog.Duration("duration", time.Since(s.opened)),
		slog.Int("messages", s.counts.messages),
		slog.Int("answers", s.counts.answers),
		slog.Int("cache_hits", s.counts.cacheHits),
		slog.Int("close_code", s.closeCode))
}

// setState moves the session to st, keeping the state gauges current.
func (s *session) setState(st sessionState) {
	if st == s.state {
		return
	}
	s.node.stats.move(s.state, st)
	s.state = st
}

// logger is the session's logger, made on first use so that sessions that
// never log cost nothing.
func (s *session) logger() *slog.Logger {
	if s.log == nil {
		s.log = s.node.log.With(slog.String("session", s.id), slog.String("user", s.userID))
	}
	return s.log
}

func replyTo(msg any) string {
	if m, ok := msg.(*ChatMessage); ok {
		return m.ID
	}
	return ""
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }
