package transport

import (
	"encoding/binary"
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// errPreAuthTooLarge ends the read loop of a connection whose client
// announced a frame over the first-frame limit.
var errPreAuthTooLarge = errors.New("frame over the limit before authentication")

// netConn wraps the socket under gws for two reasons gws has no option for.
//
// Writes: every write gets a fresh deadline, whoever makes it. gws writes
// pongs and its reply to a client's close frame itself, under whatever
// deadline the socket holds; a deadline left over from the last frame sent
// would have expired after a quiet spell, and the pong or close reply with it.
//
// Reads: until the session is authenticated, the frame headers flowing
// through are parsed, and a data frame (or fragmented message) whose
// declared length is over the first-frame limit ends the connection with
// 1009 before gws allocates its payload. gws checks only the connection-wide
// limit, so without this an unauthenticated socket could make it buffer
// max_frame_bytes per connection.
type netConn struct {
	net.Conn
	writeTimeout time.Duration
	limit        int64        // largest message before authentication
	guarded      atomic.Bool  // cleared for good once the session is authenticated
	pre          []byte       // bytes the HTTP server read ahead of the upgrade
	tooLarge     func()       // sends the 1009 close; called on the read goroutine
	frames       frameScanner // read goroutine only
}

func newNetConn(c net.Conn, writeTimeout time.Duration, limit int, pre []byte) *netConn {
	nc := &netConn{Conn: c, writeTimeout: writeTimeout, limit: int64(limit), pre: pre}
	nc.guarded.Store(true)
	return nc
}

// Write implements net.Conn with a fresh write deadline for every write.
func (c *netConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return 0, err
	}
	if isInflateTooLarge(b) {
		// The caller counts the bytes it asked to write.
		if _, err := c.Conn.Write(frameTooLargeClose); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// gwsInflateTooLarge is the close frame gws v1.8.9 sends when a compressed
// message inflates past the read limit: its decompression error is wrapped
// as an internal error (conn.go, emitMessage), so the code on the wire is
// 1011 although the error is its own 1009. SPEC section 3 names 1009 for an
// oversized message, and frameTooLargeClose is what goes out instead: the
// same close as for a frame declared too large.
var (
	gwsInflateTooLarge = closeFrame(1011, "gws: message too large")
	frameTooLargeClose = closeFrame(1009, "Frame too large")
)

// closeFrame encodes an unmasked close frame (RFC 6455 section 5.5.1).
func closeFrame(code uint16, reason string) []byte {
	b := []byte{0x88, byte(2 + len(reason)), 0, 0}
	binary.BigEndian.PutUint16(b[2:], code)
	return append(b, reason...)
}

// isInflateTooLarge reports whether b is exactly gws's close frame for an
// inflated message over the limit. gws writes a frame in one call.
func isInflateTooLarge(b []byte) bool {
	return len(b) == len(gwsInflateTooLarge) && string(b) == string(gwsInflateTooLarge)
}

// Read implements net.Conn, scanning frame headers until authentication.
func (c *netConn) Read(b []byte) (int, error) {
	var n int
	var err error
	if len(c.pre) > 0 {
		n = copy(b, c.pre)
		c.pre = c.pre[n:]
	} else {
		n, err = c.Conn.Read(b)
	}
	// Checked after the read: bytes that arrive once the session is
	// authenticated are the client's answer to "connected" and are not
	// subject to the first-frame limit.
	if n > 0 && c.guarded.Load() && !c.frames.scan(b[:n], c.limit) {
		if c.tooLarge != nil {
			c.tooLarge()
		}
		return 0, errPreAuthTooLarge
	}
	return n, err
}

// authenticated lifts the first-frame limit. Safe from any goroutine.
func (c *netConn) authenticated() { c.guarded.Store(false) }

// frameScanner follows the frame boundaries of a client byte stream
// (RFC 6455 section 5.2) without copying payloads.
type frameScanner struct {
	hdr     [14]byte
	hn      int   // header bytes collected
	skip    int64 // payload bytes left in the current frame
	message int64 // data bytes of the current message, across fragments
}

// scan consumes p and reports false as soon as a data frame would take the
// current message past limit. Control frames are left to gws, which caps
// them at 125 bytes.
func (s *frameScanner) scan(p []byte, limit int64) bool {
	for len(p) > 0 {
		if s.skip > 0 {
			k := min(int64(len(p)), s.skip)
			s.skip -= k
			p = p[k:]
			continue
		}
		k := copy(s.hdr[s.hn:], p)
		s.hn += k
		need := headerLen(s.hdr[:s.hn])
		if s.hn < need {
			return true // the rest of the header is in a later read
		}
		// Bytes copied past the header belong to the payload.
		p = p[k-(s.hn-need):]
		length := payloadLen(s.hdr[:need])
		if opcode := s.hdr[0] & 0x0f; opcode < 0x8 {
			if opcode != 0 {
				s.message = 0 // a new message; 0 continues one
			}
			s.message += length
			if length < 0 || s.message > limit {
				return false
			}
		}
		s.skip = length
		s.hn = 0
	}
	return true
}

// headerLen is the length of the frame header that starts with h, or a
// number larger than len(h) while too little of it is known.
func headerLen(h []byte) int {
	if len(h) < 2 {
		return 2
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4 // masking key
	}
	return n
}

// payloadLen reads the payload length from a complete header. A 64-bit
// length with the top bit set comes back negative.
func payloadLen(h []byte) int64 {
	switch l := h[1] & 0x7f; l {
	case 126:
		return int64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		return int64(binary.BigEndian.Uint64(h[2:10]))
	default:
		return int64(l)
	}
}
