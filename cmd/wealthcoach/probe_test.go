package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
)

// rawConn is a WebSocket client written against RFC 6455 by hand, so that
// tests can send what a stock client never would: a frame header without
// its payload, a ping with a payload, a close frame without a status code.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

// rawFrame is one frame read from the server.
type rawFrame struct {
	opcode  byte
	payload []byte
}

// closeCode is the status code of a close frame, 1005 when it has none.
func (f rawFrame) closeCode() int {
	if len(f.payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

func dialRaw(t *testing.T, wsURL string) *rawConn {
	t.Helper()
	return dialRawWith(t, wsURL, net.Dialer{Timeout: 5 * time.Second})
}

// dialRawWith is dialRaw over a socket of d's making.
func dialRawWith(t *testing.T, wsURL string, d net.Dialer) *rawConn {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws://"), "/ws/chat")
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := "GET /ws/chat HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	return &rawConn{t: t, c: c, br: br}
}

// frame encodes one masked client frame. declared, when not negative,
// overrides the length in the header.
func frame(fin bool, opcode byte, payload []byte, declared int) []byte {
	var b bytes.Buffer
	first := opcode
	if fin {
		first |= 0x80
	}
	b.WriteByte(first)
	n := len(payload)
	if declared >= 0 {
		n = declared
	}
	switch {
	case n < 126:
		b.WriteByte(0x80 | byte(n))
	case n < 1<<16:
		b.WriteByte(0x80 | 126)
		_ = binary.Write(&b, binary.BigEndian, uint16(n))
	default:
		b.WriteByte(0x80 | 127)
		_ = binary.Write(&b, binary.BigEndian, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b.Write(mask[:])
	for i, c := range payload {
		b.WriteByte(c ^ mask[i%4])
	}
	return b.Bytes()
}

func (r *rawConn) write(b ...[]byte) {
	r.t.Helper()
	if _, err := r.c.Write(bytes.Join(b, nil)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawConn) sendJSON(v any) {
	r.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(frame(true, opText, b, -1))
}

// read returns the next frame within timeout.
func (r *rawConn) read(timeout time.Duration) (rawFrame, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(timeout))
	var h [2]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		return rawFrame{}, err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l uint16
		if err := binary.Read(r.br, binary.BigEndian, &l); err != nil {
			return rawFrame{}, err
		}
		n = int(l)
	case 127:
		var l uint64
		if err := binary.Read(r.br, binary.BigEndian, &l); err != nil {
			return rawFrame{}, err
		}
		n = int(l)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r.br, p); err != nil {
		return rawFrame{}, err
	}
	return rawFrame{opcode: h[0] & 0x0f, payload: p}, nil
}

// next returns the next frame of the given opcode, skipping others.
func (r *rawConn) next(opcode byte, timeout time.Duration) rawFrame {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := r.read(time.Until(deadline))
		if err != nil {
			r.t.Fatalf("waiting for opcode %#x: %v", opcode, err)
		}
		if f.opcode == opcode {
			return f
		}
		if f.opcode == opClose && opcode != opClose {
			r.t.Fatalf("waiting for opcode %#x: server closed with %d %q", opcode, f.closeCode(), f.payload[min(2, len(f.payload)):])
		}
	}
}

// authenticate sends the first frame and waits for "connected".
func (r *rawConn) authenticate(tok string) {
	r.t.Helper()
	r.sendJSON(map[string]string{"type": "authenticate", "token": tok})
	f := r.next(opText, frameWait)
	if !bytes.Contains(f.payload, []byte(`"type":"connected"`)) {
		r.t.Fatalf("want connected, got %s", f.payload)
	}
}

// TestControlFramesAfterQuietSpell: a pong and the reply to a close frame
// are written with a fresh deadline, however long the connection was
// quiet. The write timeout is set short so that a quiet spell outlives it.
func TestControlFramesAfterQuietSpell(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_SERVER_WRITE_TIMEOUT": "1s"}})
	ts.addUser("quiet", nil)
	quiet := 1500 * time.Millisecond // longer than the write timeout

	t.Run("ping", func(t *testing.T) {
		r := dialRaw(t, ts.ws)
		r.authenticate(token(t, "quiet", nil))
		time.Sleep(quiet) // the scenario itself: no frame either way
		r.write(frame(true, opPing, []byte("keepalive-42"), -1))
		pong := r.next(opPong, 3*time.Second)
		if string(pong.payload) != "keepalive-42" {
			t.Fatalf("pong payload %q, want the ping's %q", pong.payload, "keepalive-42")
		}
		r.sendJSON(map[string]string{"type": "ping"})
		if f := r.next(opText, frameWait); !bytes.Contains(f.payload, []byte(`"pong"`)) {
			t.Fatalf("want the app-level pong, got %s", f.payload)
		}
	})
	t.Run("close", func(t *testing.T) {
		r := dialRaw(t, ts.ws)
		r.authenticate(token(t, "quiet", nil))
		time.Sleep(quiet)
		r.write(frame(true, opClose, []byte{0x03, 0xe8, 'b', 'y', 'e'}, -1)) // 1000 "bye"
		if f := r.next(opClose, 3*time.Second); f.closeCode() != 1000 {
			t.Fatalf("close reply %d, want 1000", f.closeCode())
		}
	})
}

// TestPreAuthFrameRefusedFromItsHeader: before authentication a frame
// over the first-frame limit is refused from its header, with 1009 at once,
// without the server waiting for (or buffering) its payload.
func TestPreAuthFrameRefusedFromItsHeader(t *testing.T) {
	ts := startServer(t, serverOpts{})
	ts.addUser("big", nil)
	cases := []struct {
		name  string
		bytes [][]byte
	}{
		{"announced 64 KiB, 100 bytes sent", [][]byte{frame(true, opText, bytes.Repeat([]byte("x"), 100), 64<<10)[:6+4+100]}},
		{"announced 9 KiB, nothing sent", [][]byte{frame(true, opText, nil, 9<<10)}},
		{"fragments adding up past the limit", [][]byte{
			frame(false, opText, bytes.Repeat([]byte("a"), 5000), -1),
			frame(true, 0x0, nil, 5000),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, ts.ws)
			r.write(tc.bytes...)
			f := r.next(opClose, 2*time.Second)
			if f.closeCode() != 1009 {
				t.Fatalf("close %d, want 1009", f.closeCode())
			}
		})
	}

	t.Run("the limit is lifted once authenticated", func(t *testing.T) {
		r := dialRaw(t, ts.ws)
		r.authenticate(token(t, "big", nil))
		long := strings.Repeat("é", 5000) // 10 KB: over the first-frame limit, under the frame limit
		r.sendJSON(map[string]string{"type": "message", "content": long})
		if f := r.next(opText, frameWait); !bytes.Contains(f.payload, []byte(`"message_too_long"`)) {
			t.Fatalf("want message_too_long, got %s", f.payload)
		}
	})
	t.Run("authenticate and a 2 KB frame in one write", func(t *testing.T) {
		r := dialRaw(t, ts.ws)
		auth, _ := json.Marshal(map[string]string{"type": "authenticate", "token": token(t, "big", nil)})
		ping, _ := json.Marshal(map[string]string{"type": "ping", "padding": strings.Repeat("p", 2000)})
		r.write(frame(true, opText, auth, -1), frame(true, opText, ping, -1))
		if f := r.next(opText, frameWait); !bytes.Contains(f.payload, []byte(`"connected"`)) {
			t.Fatalf("want connected, got %s", f.payload)
		}
		if f := r.next(opText, frameWait); !bytes.Contains(f.payload, []byte(`"pong"`)) {
			t.Fatalf("want pong, got %s", f.payload)
		}
	})
}

// TestCloseWithoutStatusIsLogged1005: a close frame with no status code
// is logged as 1005, the code RFC 6455 reserves for it.
func TestCloseWithoutStatusIsLogged1005(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_LOG_FORMAT": "json"}})
	ts.addUser("mute", nil)
	r := dialRaw(t, ts.ws)
	r.authenticate(token(t, "mute", nil))
	r.write(frame(true, opClose, nil, -1))
	r.next(opClose, 3*time.Second)
	testutil.WaitFor(t, 5*time.Second, "the session's end line", func() bool {
		return strings.Contains(ts.logs.String(), `"user":"mute"`) && strings.Contains(ts.logs.String(), `"msg":"session ended"`)
	})
	for _, line := range strings.Split(ts.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"session ended"`) && strings.Contains(line, `"user":"mute"`) {
			if !strings.Contains(line, `"close_code":1005`) {
				t.Fatalf("want close_code 1005, got %s", line)
			}
			return
		}
	}
}

// TestRefusedOriginsDoNotFloodTheLog: a refused Origin is logged cut
// short, and a flood of refusals is counted rather than logged line by
// line.
func TestRefusedOriginsDoNotFloodTheLog(t *testing.T) {
	ts := startServer(t, serverOpts{env: map[string]string{"WEALTHCOACH_LOG_FORMAT": "json"}})
	huge := "https://" + strings.Repeat("a", 100<<10) + ".example"
	const requests = 50
	before := len(ts.logs.String())
	for i := 0; i < requests; i++ {
		req, _ := http.NewRequest(http.MethodGet, "http"+strings.TrimPrefix(ts.ws, "ws"), nil)
		req.Header.Set("Origin", huge)
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
	}
	logged := ts.logs.String()[before:]
	if n := len(logged); n > 4<<10 {
		t.Fatalf("%d refusals wrote %d bytes of log, want at most 4 KiB", requests, n)
	}
	if got := strings.Count(logged, "origin refused"); got != 1 {
		t.Fatalf("%d log lines about refused origins, want 1 (the rest counted)", got)
	}
	if got := ts.stats()["transport"].(map[string]any)["origins_refused"].(float64); got != requests {
		t.Fatalf("origins_refused %v, want %d", got, requests)
	}
}

// TestIdleHTTPConnectionsAreClosed: a keep-alive connection left idle on
// the public listener is closed by the server, and both listeners have
// read and idle timeouts.
func TestIdleHTTPConnectionsAreClosed(t *testing.T) {
	var public, admin *http.Server
	ts := startServer(t, serverOpts{hooks: hooks{http: func(p, a *http.Server) { public, admin = p, a }}})
	for name, s := range map[string]*http.Server{"public": public, "admin": admin} {
		if s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.ReadHeaderTimeout <= 0 {
			t.Errorf("%s listener: read %s, idle %s, header %s: want all set", name, s.ReadTimeout, s.IdleTimeout, s.ReadHeaderTimeout)
		}
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(ts.ws, "ws://"), "/ws/chat")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(public.IdleTimeout + 5*time.Second))
	_, err = br.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("idle keep-alive connection still open after %s", time.Since(start).Round(time.Millisecond))
	}
	if !errors.Is(err, io.EOF) {
		t.Logf("connection ended with %v", err)
	}
}
