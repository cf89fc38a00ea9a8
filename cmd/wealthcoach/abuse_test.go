package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// expectPong sends a ping and fails unless the next frame is its pong:
// the session still works.
func expectPong(t *testing.T, c *wsclient.Client, after string) {
	t.Helper()
	mustSend(t, c, map[string]string{"type": "ping"})
	if f := next(t, c); f.Type != "pong" {
		t.Fatalf("want pong after %s, got %s", after, f.Raw)
	}
}

// manyKeys is a ping frame padded with keys the server does not know, of
// about size bytes.
func manyKeys(size int) []byte {
	var b strings.Builder
	b.WriteString(`{"type":"ping"`)
	for i := 0; b.Len() < size-40; i++ {
		fmt.Fprintf(&b, `,"k%d":"%s"`, i, strings.Repeat("v", 20))
	}
	b.WriteString("}")
	return []byte(b.String())
}

// TestHostileFramesWithinTheLimit: frames a JSON parser can choke on, but
// within limits.max_frame_bytes, are bad_request (or ignored padding) and
// the session goes on; before authentication such a frame is not an
// authenticate and closes 1008. The server keeps nothing of them.
func TestHostileFramesWithinTheLimit(t *testing.T) {
	ts := startServer(t, serverOpts{})
	ts.addUser("hostile", nil)

	t.Run("before authentication", func(t *testing.T) {
		c := ts.dial()
		// Within the first frame's 8 KiB.
		if err := c.SendRaw(gws.OpcodeText, []byte(strings.Repeat("[", 8000))); err != nil {
			t.Fatal(err)
		}
		expectClose(t, c, "auth_required", 1008, "Authentication required")
	})

	c := ts.connect("hostile")
	nested := func(levels int) []byte {
		return []byte(`{"type":"ping","x":` + strings.Repeat("[", levels) + strings.Repeat("]", levels) + `}`)
	}
	frames := []struct {
		name  string
		frame []byte
		want  string // the code of the error frame, or "" for the pong
	}{
		{"10,000 open brackets", []byte(strings.Repeat("[", 10_000)), "bad_request"},
		{"a ping nested 10,000 levels deep", nested(10_000), "bad_request"},
		{"a ping nested just within the parser's depth", nested(9_998), ""},
		{"a ping with thousands of unknown keys", manyKeys(60 << 10), ""},
		{"a message of 60,000 characters", []byte(`{"type":"message","content":"` + strings.Repeat("x", 60_000) + `"}`), "message_too_long"},
		{"thousands of keys and no type", []byte(`{"pad":0` + string(manyKeys(60 << 10))[len(`{"type":"ping"`):]), "bad_request"},
	}
	for _, f := range frames {
		t.Run(f.name, func(t *testing.T) {
			if len(f.frame) > 64<<10 {
				t.Fatalf("the frame is %d bytes, over limits.max_frame_bytes", len(f.frame))
			}
			if err := c.SendRaw(gws.OpcodeText, f.frame); err != nil {
				t.Fatal(err)
			}
			if f.want == "" {
				if got := next(t, c); got.Type != "pong" {
					t.Fatalf("want pong, got %s", got.Raw)
				}
			} else {
				expectError(t, c, f.want)
			}
			expectPong(t, c, f.name)
		})
	}
	mustSend(t, c, msg("After all that, how do I start investing?"))
	if a := readAnswer(t, c); a[len(a)-1].FinishReason != "stop" {
		t.Fatalf("want an answer, got %s", a[len(a)-1].Raw)
	}

	t.Run("memory stays bounded", func(t *testing.T) {
		// Four sessions send what the flood guard lets through at once
		// (its burst of 40, the authenticate having spent one): about
		// 6 MB of big and deep frames in all, each answered.
		const sessions, each = 4, 38
		big := manyKeys(60 << 10)
		deep := nested(10_000)
		var clients []*wsclient.Client
		for i := range sessions {
			user := fmt.Sprintf("hostile%d", i)
			ts.addUser(user, nil)
			clients = append(clients, ts.connect(user))
		}
		before := liveHeap()
		var wg sync.WaitGroup
		errs := make(chan error, sessions)
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					frame, want := big, "pong"
					if i%2 == 1 {
						frame, want = deep, "error"
					}
					if err := c.SendRaw(gws.OpcodeText, frame); err != nil {
						errs <- err
						return
					}
					f, err := c.Next(frameWait)
					if err != nil || f.Type != want {
						errs <- fmt.Errorf("frame %d: want %s, got %v %v", i, want, f, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		after := liveHeap()
		sent := sessions * each / 2 * (len(big) + len(deep))
		t.Logf("live heap %d KiB before, %d KiB after %d KiB of frames", before>>10, after>>10, sent>>10)
		if after > before+uint64(sent)/4 {
			t.Fatalf("the heap grew by %d KiB for %d KiB of frames answered", (after-before)>>10, sent>>10)
		}
		for _, c := range clients {
			expectPong(t, c, "the big frames")
		}
	})
}

// dialStalled opens a raw connection whose receive buffer is a few KiB,
// so that a client that stops reading backs the server up after little
// data, as a phone on a dead radio link would, rather than after the
// megabytes loopback buffers otherwise take.
func dialStalled(t *testing.T, wsURL string) *rawConn {
	t.Helper()
	return dialRawWith(t, wsURL, net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}})
}

// TestOthersAreServedWhileOneClientStalls: a client that stops reading
// while its answer streams is dropped once limits.max_pending_bytes wait
// for it (TestSlowClientIsDropped, which also checks that the server
// serves new sessions afterwards); meanwhile, other sessions get their
// answers whole and are not dropped.
func TestOthersAreServedWhileOneClientStalls(t *testing.T) {
	ts := startServer(t, serverOpts{
		env: map[string]string{
			"WEALTHCOACH_LIMITS_MAX_PENDING_BYTES": "262144",
			"WEALTHCOACH_LLM_MAX_TOKENS":           "100000",
			"WEALTHCOACH_LLM_RATE_LIMIT_BURST":     "20",
			"WEALTHCOACH_STREAM_FLUSH_INTERVAL":    "5ms",
		},
		// About 5,000 words 100us apart until llm.max_answer_bytes (32
		// KiB) cuts the answer: a second or two of frames every 5 ms, each
		// repeating the answer so far, megabytes in all, more than the
		// kernel's send buffer holds for the stalled client.
		fake: llmfake.Options{Tokens: 30000, TokenDelay: 100 * time.Microsecond},
	})
	ts.addUser("stuck", nil)
	stuck := dialStalled(t, ts.ws)
	stuck.authenticate(token(t, "stuck", nil))
	stuck.sendJSON(msg("tell me everything")) // and never read again

	const others = 3
	var wg sync.WaitGroup
	errs := make(chan error, others)
	for i := range others {
		user := fmt.Sprintf("reader%d", i)
		ts.addUser(user, nil)
		c := ts.connect(user)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Message("question of "+user, ""); err != nil {
				errs <- err
				return
			}
			var last *wsclient.Frame
			for last == nil || !last.Done {
				f, err := c.Next(frameWait)
				if err != nil || f.Type != "response" {
					errs <- fmt.Errorf("%s: want a response frame, got %v %v", user, f, err)
					return
				}
				last = f
			}
			if last.FinishReason != "length" || len(last.Content) < 30<<10 {
				errs <- fmt.Errorf("%s: answer ended %q after %d bytes", user, last.FinishReason, len(last.Content))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the stalled client to be dropped", func() bool {
		return ts.stats()["transport"].(map[string]any)["slow_dropped"].(float64) >= 1
	})
	if n := ts.stats()["transport"].(map[string]any)["slow_dropped"].(float64); n != 1 {
		t.Fatalf("%v clients dropped as too slow, want only the stalled one", n)
	}
	// Dropped, not closed: the close frame could not get through either.
	_ = stuck.c.SetReadDeadline(time.Now().Add(frameWait))
	if _, err := io.Copy(io.Discard, stuck.br); err != nil {
		t.Fatalf("want the stalled connection ended, got %v", err)
	}
}

// TestIdleSocketsAreCappedAndTimedOut: hundreds of sockets that upgrade
// and never authenticate take at most limits.max_unauthenticated slots of
// the node (the rest are told unavailable and closed 1013) and
// limits.max_unauthenticated_per_ip of one address (HTTP 429), cost a
// bounded amount of memory, never disturb an authenticated session, and
// are closed at auth.timeout, after which the node takes new clients.
func TestIdleSocketsAreCappedAndTimedOut(t *testing.T) {
	const (
		nodeCap   = 120
		perIPCap  = 50
		addresses = 4
	)
	ts := startServer(t, serverOpts{env: map[string]string{
		"WEALTHCOACH_LOG_LEVEL":                         "info",
		"WEALTHCOACH_AUTH_TIMEOUT":                      "3s",
		"WEALTHCOACH_LIMITS_MAX_UNAUTHENTICATED":        fmt.Sprint(nodeCap),
		"WEALTHCOACH_LIMITS_MAX_UNAUTHENTICATED_PER_IP": fmt.Sprint(perIPCap),
	}})
	ts.addUser("busy", nil)
	user := ts.connect("busy")
	before := liveHeap()

	// One address first: its connections all fit under the node's cap,
	// and the next one is refused before the upgrade.
	var all []*wsclient.Client
	for range perIPCap {
		all = append(all, ts.mustDialFrom("127.0.0.1", ""))
	}
	ts.mustBeRefused("127.0.0.1", "")
	for a := 2; a <= addresses; a++ {
		for range perIPCap {
			all = append(all, ts.mustDialFrom(fmt.Sprintf("127.0.0.%d", a), ""))
		}
	}
	opened := time.Now()
	// Which sockets the node refused depends on the order their sessions
	// started in, not the order they were dialled: a refused one is told
	// at once, an admitted one hears nothing until auth.timeout.
	refused := make([]bool, len(all))
	var wg sync.WaitGroup
	for i, c := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := c.Next(time.Second)
			refused[i] = err == nil && f.Type == "error" && f.Code == "unavailable"
			if err == nil && !refused[i] {
				t.Errorf("want nothing or unavailable before auth.timeout, got %s", f.Raw)
			}
		}()
	}
	wg.Wait()
	var idle []*wsclient.Client
	for i, c := range all {
		if !refused[i] {
			idle = append(idle, c)
			continue
		}
		if ce, err := c.Closed(frameWait); err != nil || ce.Code != 1013 || ce.Reason != "Try again later" {
			t.Fatalf("want close 1013 Try again later after unavailable, got %v %v", ce, err)
		}
	}
	if len(idle) != nodeCap {
		t.Fatalf("%d of %d idle sockets admitted, want limits.max_unauthenticated (%d)", len(idle), len(all), nodeCap)
	}
	if got := ts.stats()["sessions"].(map[string]any)["unauthenticated"].(float64); got != nodeCap {
		t.Fatalf("%v unauthenticated sessions, want the cap of %d", got, nodeCap)
	}
	held := liveHeap()
	t.Logf("live heap %d KiB, %d KiB with %d idle sockets", before>>10, held>>10, nodeCap)
	if held > before+nodeCap*64<<10 {
		t.Fatalf("%d idle sockets hold %d KiB, want at most 64 KiB each", nodeCap, (held-before)>>10)
	}

	// The authenticated session is not disturbed.
	mustSend(t, user, msg("Is my session still fine?"))
	readAnswer(t, user)

	for _, c := range idle {
		expectClose(t, c, "auth_timeout", 1008, "Authentication timeout")
	}
	if d := time.Since(opened); d > 3*time.Second+frameWait {
		t.Fatalf("idle sockets closed %v after they opened, want about auth.timeout (3s)", d)
	}
	testutil.WaitFor(t, 5*time.Second, "the node to let go of the idle sockets", func() bool {
		st := ts.stats()
		return st["sessions"].(map[string]any)["unauthenticated"].(float64) == 0 &&
			st["transport"].(map[string]any)["open_sockets"].(float64) == 1
	})
	ts.connect("busy")
	expectPong(t, user, "the idle sockets")
}

// slowJournal makes each history query take a while, and records how
// many ran and how many ran at once.
type slowJournal struct {
	store.Journal
	calls, running, most atomic.Int64
}

func (j *slowJournal) History(ctx context.Context, userID, conversationID, before string, limit int) ([]store.Message, bool, error) {
	j.calls.Add(1)
	n := j.running.Add(1)
	defer j.running.Add(-1)
	for {
		m := j.most.Load()
		if n <= m || j.most.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-time.After(100 * time.Millisecond):
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	return j.Journal.History(ctx, userID, conversationID, before, limit)
}

// TestFloodOfHistoryAndResumeFrames: a client that sends history and
// resume frames as fast as it can gets rate_limited from the flood guard,
// its excess frames are dropped, it never has more than one history query
// running in the store (the others are answered busy), and the session
// answers normally once the client slows down.
func TestFloodOfHistoryAndResumeFrames(t *testing.T) {
	j := &slowJournal{}
	ts := startServer(t, serverOpts{
		env: map[string]string{
			"WEALTHCOACH_LIMITS_FRAMES_PER_SECOND": "20",
			"WEALTHCOACH_LIMITS_FRAME_BURST":       "40",
		},
		hooks: hooks{journal: func(inner store.Journal) store.Journal {
			j.Journal = inner
			return j
		}},
	})
	ts.addUser("flood", nil)
	c := ts.connect("flood")
	ask(t, c, "What is a bond?", "")
	dropped := ts.stats()["transport"].(map[string]any)["flood_dropped"].(float64)

	const frames = 400
	for i := range frames {
		if i%2 == 0 {
			mustSend(t, c, map[string]any{"type": "history", "limit": 100})
		} else {
			mustSend(t, c, map[string]any{"type": "resume", "id": fmt.Sprintf("guess-%d", i)})
		}
	}
	counts := map[string]int{}
	for {
		f, err := c.Next(time.Second)
		if errors.Is(err, wsclient.ErrTimeout) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		key := f.Type
		if f.Type == "error" {
			key = f.Code
		}
		counts[key]++
	}
	t.Logf("answers to %d frames: %v; %d store queries", frames, counts, j.calls.Load())
	answered := counts["history"] + counts["busy"] + counts["not_found"]
	if counts["rate_limited"] < 1 || answered > 60 || answered+counts["rate_limited"] != total(counts) {
		t.Fatalf("want rate_limited, and history pages, busy or not_found for at most about the flood guard's burst, got %v", counts)
	}
	if got := ts.stats()["transport"].(map[string]any)["flood_dropped"].(float64) - dropped; got < frames-60 {
		t.Fatalf("%v frames dropped by the flood guard, want at least %d", got, frames-60)
	}
	if counts["history"] < 1 || counts["busy"] < 1 || counts["not_found"] < 1 {
		t.Fatalf("want history pages, busy and not_found among the answers, got %v", counts)
	}
	if most := j.most.Load(); most != 1 {
		t.Fatalf("%d history queries ran at once for one session, want 1", most)
	}
	if n := j.calls.Load(); int(n) != counts["history"] {
		t.Fatalf("%d store queries for %d history pages", n, counts["history"])
	}
	// Slowed down, the client is served again.
	mustSend(t, c, map[string]any{"type": "history"})
	if f := next(t, c); f.Type != "history" || len(f.Messages) != 2 {
		t.Fatalf("want the history page, got %s", f.Raw)
	}
}

// total adds up the counts of every kind of answer.
func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
