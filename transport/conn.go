package transport

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/wealthwarriors/wealthcoach/actors"
)

// conn is one WebSocket connection: the session's Peer, and gws's session
// storage for the socket (so that no map is needed to find it).
type conn struct {
	srv    *Server
	ws     *gws.Conn
	nc     *netConn // the socket under ws
	handle actors.Handle
	opened bool // a session was started; set in OnOpen, read on the read goroutine

	authed   atomic.Bool   // the session is authenticated: lifts the first-frame limit
	closing  atomic.Bool   // a close was queued or the socket is gone
	sentCode atomic.Uint32 // the close code this side sent
	pending  atomic.Int64  // bytes queued for writing
	lastRead atomic.Int64  // unix nanoseconds of the last frame received

	// Flood guard, touched only on the read goroutine.
	tokens   float64
	filled   time.Time
	warnedAt time.Time
}

var _ actors.Peer = (*conn)(nil)

// Connected implements actors.Peer.
func (c *conn) Connected(sessionID, userID string) {
	c.authed.Store(true)
	c.nc.authenticated()
	c.write(appendConnected(make([]byte, 0, 96), sessionID, userID))
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

// Close implements actors.Peer: the error frame for code, then the close
// frame, both behind whatever is already queued.
func (c *conn) Close(code actors.Code) {
	spec, ok := closes[code]
	if !ok {
		spec = closes[actors.CodeInternal]
	}
	if spec.message != "" {
		c.write(appendError(nil, &actors.ErrorFrame{Code: code, Message: spec.message}))
	}
	c.closeRaw(spec.code, spec.reason)
}

// closeRaw queues a close frame with code and reason. Only the first call
// has an effect.
func (c *conn) closeRaw(code uint16, reason string) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.sentCode.Store(uint32(code))
	ws := c.ws
	ws.Async(func() { _ = ws.WriteClose(code, []byte(reason)) })
}

// refuseOversized closes at once with 1009, from the read goroutine: the
// frame announced is never read, so nothing queued may wait for it.
func (c *conn) refuseOversized() {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.sentCode.Store(closeTooLarge)
	_ = c.ws.WriteClose(closeTooLarge, []byte(reasonTooLarge))
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
	c.srv.log.Info("dropping connection", slog.String("reason", why))
	_ = c.ws.NetConn().Close()
}

// allow is the per-connection flood guard on all frames. A frame over the
// rate is dropped; the client is told at most once a second.
func (c *conn) allow(now time.Time) bool {
	o := &c.srv.opts
	c.tokens += now.Sub(c.filled).Seconds() * o.FramesPerSecond
	if max := float64(o.FrameBurst); c.tokens > max {
		c.tokens = max
	}
	c.filled = now
	if c.tokens >= 1 {
		c.tokens--
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
