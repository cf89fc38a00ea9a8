package wsclient

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// burstServer answers every text frame {"n":N} with N response frames,
// seq 1 to N, written back to back.
type burstServer struct{ gws.BuiltinEventHandler }

func (burstServer) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	var in struct{ N int }
	if json.Unmarshal(m.Bytes(), &in) != nil {
		return
	}
	for i := 1; i <= in.N; i++ {
		_ = c.WriteMessage(gws.OpcodeText, []byte(`{"type":"response","seq":`+strconv.Itoa(i)+`}`))
	}
}

func dialBurst(t *testing.T, o Options) *Client {
	t.Helper()
	up := gws.NewUpgrader(burstServer{}, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if socket, err := up.Upgrade(w, r); err == nil {
			go socket.ReadLoop()
		}
	}))
	t.Cleanup(srv.Close)
	c, _, err := Dial("ws"+strings.TrimPrefix(srv.URL, "http"), o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseWithoutFrame() })
	return c
}

// A frame's Received time is when the read loop had it, not when the
// caller got round to reading it: latency measured with it leaves out the
// caller's own delay.
func TestReceivedIsWhenTheReadLoopHadTheFrame(t *testing.T) {
	c := dialBurst(t, Options{})
	sent := time.Now()
	if err := c.Send(map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	// The frame arrives within milliseconds; the caller reads it late.
	const late = 300 * time.Millisecond
	time.Sleep(late)
	f, err := c.Next(5 * time.Second)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	read := time.Now()
	if f.Type != "response" || f.Seq != 1 {
		t.Fatalf("frame = %s", f.Raw)
	}
	if f.Received.Before(sent) {
		t.Fatalf("received %v before the request was sent", sent.Sub(f.Received))
	}
	if got := f.Received.Sub(sent); got >= late {
		t.Errorf("received %v after sending: the caller's delay was counted (read %v after)", got, read.Sub(sent))
	}
}

// Frames beyond the buffer wait in the read loop, in order, for a reader
// that reads slowly; none is dropped.
func TestFramesBeyondTheBufferWaitForTheReader(t *testing.T) {
	c := dialBurst(t, Options{Buffer: 1})
	const n = 5
	if err := c.Send(map[string]int{"n": n}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the buffer fills and the read loop waits
	for want := 1; want <= n; want++ {
		f, err := c.Next(5 * time.Second)
		if err != nil {
			t.Fatalf("frame %d: %v", want, err)
		}
		if f.Seq != want {
			t.Fatalf("frame %d has seq %d", want, f.Seq)
		}
	}
}
