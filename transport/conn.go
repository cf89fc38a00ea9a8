package transport

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"golang.org/x/time/rate"

	"github.com/wealthwarriors/wealthcoach/actors"
)

// conn is one WebSocket connection: the session's Peer, and gws's session
// storage for the socket (so that no map is needed to find it).
type conn struct {
	srv    *Server
	ws     *gws.Conn
	nc     *netConn   // the socket under ws
	client clientAddr // set before the read loop starts
	handle actors.Handle
	// opened is set once a session was started and handle holds it, so
	// that any goroutine that sees it set may read handle.
	opened atomic.Bool
	log    atomic.Pointer[slog.Logger] // see logger

	authed   atomic.Bool   // the session is authenticated: lifts the first-frame limit
	closing  atomic.Bool   // a close was queued or the socket is gone
	sentCode atomic.Uint32 // the close code this side sent
	pending  atomic.Int64  // bytes queued for writing
	lastRead atomic.Int64  // unix nanoseconds of the last frame received

	// countedIP is set while the connection holds one of its address's
	// unauthenticated slots, so that authenticating and closing, whichever
	// comes first, give it back once.
	countedIP atomic.Bool

	// Flood guard, touched only on the read goroutine.
	flood    *rate.Limiter
	warnedAt time.Time
}

var _ actors.Peer = (*conn)(nil)

// Connected implements actors.Peer.
func (c *conn) Connected(w *actors.Welcome) {
	c.authed.Store(true)
	c.releaseIP()
	c.nc.authenticated()
	c.write(appendConnected(make([]byte, 0, 160+len(w.Notice)), w))
}

// History implements actors.Peer.
func (c *conn) History(p *actors.HistoryPage) {
	size := 96
	for _, m := range p.Messages {
		size += 96 + len(m.Content)
	}
	c.write(appendHistory(make([]byte, 0, size), p))
}

// ResetDone implements actors.Peer.
func (c *conn) ResetDone(conversationID string) {
	c.write(appendReset(make([]byte, 0, 64), conversationID))
}

// Reauthenticated implements actors.Peer.
func (c *conn) Reauthenticated(expiresAt time.Time) {
	c.write(appendReauthenticated(make([]byte, 0, 48), expiresAt))
}

// Answer implements actors.Peer.
func (c *conn) Answer(a *actors.Answer) {
	c.write(appendAnswer(make([]byte, 0, 96+len(a.Content)+len(a.Delta)), a))
}

// Error implements actors.Peer.
func (c *conn) Error(e *actors.ErrorFrame) {
	c.write(appendError(make([]byte, 0, 96+len(e.Message)), e))
}

// Pong implements actors.Peer.
func (c *conn) Pong() { c.write(pongFrame) }

// Close implements actors.Peer: the error frame for code, if its wire form
// has one, then the close frame, both behind whatever is already queued.
// Every close this side sends goes through here or refuseOversized, and so
// through wireForms.
func (c *conn) Close(code actors.Code) {
	w, frame, ok := closeOf(code)
	if !ok {
		c.logger().Error("close with a code that keeps the connection open", slog.String("code", string(code)))
	}
	if w.message != "" {
		c.write(appendError(nil, &actors.ErrorFrame{Code: frame, Message: w.message}))
	}
	if !c.markClosing(w.close) {
		return
	}
	ws := c.ws
	ws.Async(func() { _ = ws.WriteClose(w.close, []byte(w.reason)) })
}

// refuseOversized closes at once with 1009, from the read goroutine: the
// frame announced is never read, so nothing queued may wait for it.
func (c *conn) refuseOversized() {
	w := wireForms[codeFrameTooLarge]
	if c.markClosing(w.close) {
		_ = c.ws.WriteClose(w.close, []byte(w.reason))
	}
}

// markClosing records that this side closes with code. Only the first
// close, or drop, has an effect: it reports whether this is it.
func (c *conn) markClosing(code uint16) bool {
	if !c.closing.CompareAndSwap(false, true) {
		return false
	}
	c.sentCode.Store(uint32(code))
	return true
}

// write queues one text frame. It never blocks: a client that lets more
// than MaxPendingBytes pile up is disconnected instead.
func (c *conn) write(frame []byte) {
	if c.closing.Load() {
		return
	}
	n := int64(len(frame))
	if c.pending.Add(n) > c.srv.opts.MaxPendingBytes {
		c.pending.Add(-n)
		c.srv.Stats.SlowDropped.Add(1)
		c.drop("client too slow to read")
		return
	}
	st := &c.srv.Stats
	st.FramesOut.Add(1)
	st.BytesOut.Add(n)
	st.FrameSizeOut.Observe(uint64(n))
	ws := c.ws
	ws.Async(func() {
		_ = ws.WriteMessage(gws.OpcodeText, frame) // netConn sets the deadline
		c.pending.Add(-n)
	})
}

// drop closes the TCP connection at once, without a close frame: used when
// the write queue itself is stuck.
func (c *conn) drop(why string) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.logger().Info("dropping connection", slog.String("reason", why))
	_ = c.ws.NetConn().Close()
}

// logger is the connection's logger, made on its first line so that
// connections that never log cost nothing. Once the connection has a
// session its lines carry the session id, as the session's own lines do;
// before, or when refused one, they carry the remote address. It is safe
// from any goroutine.
func (c *conn) logger() *slog.Logger {
	if l := c.log.Load(); l != nil {
		return l
	}
	var l *slog.Logger
	switch {
	case c.opened.Load():
		l = c.srv.log.With(slog.String("session", c.handle.SessionID()))
		c.log.Store(l)
	case c.ws != nil:
		// Not kept: the connection may yet get its session.
		l = c.srv.log.With(slog.String("remote", c.remote()))
	default:
		l = c.srv.log
	}
	return l
}

// remote is the client address for log lines.
func (c *conn) remote() string { return c.client.remote(c.ws.RemoteAddr().String()) }

// releaseIP gives back the connection's unauthenticated slot, if it still
// holds it.
func (c *conn) releaseIP() {
	if c.countedIP.CompareAndSwap(true, false) {
		c.srv.perIP.release(c.client.ip)
	}
}

// recoverCallback logs a panic in a gws callback instead of letting it end
// the process.
func (c *conn) recoverCallback(where string) {
	if r := recover(); r != nil {
		c.logger().Error("websocket callback panicked", slog.String("callback", where), slog.Any("panic", r))
	}
}

// newFloodGuard returns a full bucket of FrameBurst frames that refills at
// FramesPerSecond: about 80 bytes a connection. Only the read goroutine
// uses it, so its lock is never contended.
func newFloodGuard(o *Options) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(o.FramesPerSecond), o.FrameBurst)
}

// allow is the per-connection flood guard on all frames. A frame over the
// rate is dropped, spending nothing; the client is told at most once a
// second.
func (c *conn) allow(now time.Time) bool {
	if c.flood.AllowN(now, 1) {
		return true
	}
	if now.Sub(c.warnedAt) >= time.Second {
		c.warnedAt = now
		c.Error(&actors.ErrorFrame{Code: actors.CodeRateLimited, Message: "too many frames; slow down", RetryAfter: 1})
	}
	return false
}

// beat runs on the heartbeat goroutine.
func (c *conn) beat(now time.Time) {
	idle := now.Sub(time.Unix(0, c.lastRead.Load()))
	interval := c.srv.opts.PingInterval
	switch {
	case idle > 3*interval:
		c.srv.Stats.SilentDropped.Add(1)
		c.drop("client silent for " + idle.Round(time.Second).String())
	case idle > interval:
		ws := c.ws
		ws.Async(func() { _ = ws.WritePing(nil) })
	}
}

// gws.SessionStorage: conn is its own session storage, holding nothing.
func (c *conn) Len() int                           { return 0 }
func (c *conn) Load(string) (any, bool)            { return nil, false }
func (c *conn) Delete(string)                      {}
func (c *conn) Store(string, any)                  {}
func (c *conn) Range(func(key string, v any) bool) {}
