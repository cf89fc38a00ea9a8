package main

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// Sizes of the leak test: leakWorkers clients at a time, each its own
// user, open leakSessions sessions a round between them.
const (
	leakWorkers  = 32
	leakSessions = 320
	leakWarmUp   = 64
	// leakHeapBound is how much more live heap round 2 may leave than round
	// 1: about 6 KiB a session. What a round legitimately adds (cache
	// entries, conversation rows in SQLite's page cache, log lines) is far
	// less; a session whose connection, actor or memory is kept is more.
	leakHeapBound = 2 << 20
	// leakGoroutineSlack absorbs goroutines that come and go whatever the
	// sessions do (a timer firing, a pool job on a goroutine of its own):
	// a leak of one goroutine per session is leakSessions of them.
	leakGoroutineSlack = 10
	// leakPooledBound caps the goroutines of kept-alive HTTP connections
	// to the model (three each: the client's reader and writer, the fake
	// model's server side). The server keeps one per call that ran at
	// once, and at most about two calls a worker run at once (its own and
	// an answer detached before it); a connection kept per call would be
	// three goroutines a session.
	leakPooledBound = 3 * 2 * leakWorkers
)

// How a leak-test session ends. Each is a way a real client leaves.
const (
	endCleanAfterAnswer    = iota // whole answer, then a close frame
	endDropAfterAnswer            // whole answer, then the TCP connection closed
	endDropMidAnswer              // the socket cut after the first frame
	endCloseMidAnswer             // a close frame after the first frame
	endCancelThenDrop             // cancel, the cancelled done frame, then the TCP close
	endDropMidResume              // cut mid-answer, resumed elsewhere, cut again
	endDropUnauthenticated        // connected but never authenticated
	endDropAuthenticating         // authenticate sent, then gone at once
	endPingThenClose              // no chat at all
	endKinds
)

// TestSessionsLeaveNothingBehind opens and ends hundreds of sessions in
// every way a client leaves (a clean close, a dropped socket, mid-answer,
// mid-resume, before or during authentication) and checks that once the
// last detached answer's resume window has passed the node is back where
// it started: no session, user or registry slot, no actor of a user, no
// model call in flight, no open socket, no extra goroutine. A second
// round must not leave the heap larger than the first did.
func TestSessionsLeaveNothingBehind(t *testing.T) {
	ts := startServer(t, serverOpts{
		env: map[string]string{
			"WEALTHCOACH_LOG_LEVEL":                       "info",
			"WEALTHCOACH_STREAM_RESUME_WINDOW":            "1s",
			"WEALTHCOACH_STREAM_FLUSH_INTERVAL":           "30ms",
			"WEALTHCOACH_LIMITS_MAX_CONNECTIONS_PER_USER": "20",
			// Each user asks several times a round; a bucket that refills
			// in milliseconds lets the model actors end soon after.
			"WEALTHCOACH_LLM_RATE_LIMIT_PER_MINUTE": "60000",
		},
		// 30 words 40 ms apart: an answer outlasts the one-second resume
		// window, so some detached answers are cut by its end and others
		// finish within it. Requests are not recorded: the test would
		// otherwise keep them in its heap.
		fake: llmfake.Options{Tokens: 30, TokenDelay: 40 * time.Millisecond, MaxRecorded: -1},
	})
	if _, err := ts.store.SeedUsers(t.Context(), "leak", leakWorkers); err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, leakWorkers)
	for w := range tokens {
		tokens[w] = token(t, fmt.Sprintf("leak%d", w), nil)
	}

	leakRound(t, ts, tokens, 0, leakWarmUp)
	base := waitQuiet(t, ts, nil)
	t.Logf("baseline: %d goroutines (and %d of kept-alive HTTP connections), actors %v", base.goroutines, base.pooled, base.actors)

	var heap [2]uint64
	for r := range heap {
		leakRound(t, ts, tokens, r+1, leakSessions)
		waitQuiet(t, ts, &base)
		heap[r] = liveHeap()
	}
	t.Logf("live heap after round 1: %d KiB, after round 2: %d KiB", heap[0]>>10, heap[1]>>10)
	if heap[1] > heap[0]+leakHeapBound {
		t.Fatalf("round 2 left %d KiB more live heap than round 1 (%d sessions a round), want at most %d KiB",
			(heap[1]-heap[0])>>10, leakSessions, leakHeapBound>>10)
	}
}

// leakRound runs n sessions over the workers, each worker one user, and
// fails the test on anything a client would see as wrong.
func leakRound(t *testing.T, ts *testServer, tokens []string, round, n int) {
	t.Helper()
	var (
		wg      sync.WaitGroup
		next    atomic.Int64
		resumed atomic.Int64
		errs    = make(chan error, len(tokens))
	)
	for w := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("leak%d", w)
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				lc := leakClient{ws: ts.ws, user: user, token: tokens[w]}
				ok, err := lc.run(i%endKinds, fmt.Sprintf("Round %d, question %d: how do I start an emergency fund?", round, i))
				if err != nil {
					errs <- fmt.Errorf("%s, session %d (way %d): %w", user, i, i%endKinds, err)
					return
				}
				if ok {
					resumed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	// A resume can lose the race with the window's end on a busy machine,
	// but not every one of them.
	if resumed.Load() == 0 {
		t.Fatalf("round %d: none of the interrupted answers could be resumed", round)
	}
}

// leakClient is one session of the leak test. Its helpers return errors
// instead of failing the test, as they run on the workers' goroutines.
type leakClient struct {
	ws, user, token string
}

const leakWait = 15 * time.Second

// run plays one session that ends the way end says. It reports whether an
// interrupted answer was resumed.
func (lc leakClient) run(end int, question string) (bool, error) {
	c, _, err := wsclient.Dial(lc.ws, wsclient.Options{})
	if err != nil {
		return false, fmt.Errorf("dial: %w", err)
	}
	defer c.CloseWithoutFrame()
	switch end {
	case endDropUnauthenticated:
		return false, c.CloseWithoutFrame()
	case endDropAuthenticating:
		if err := c.Authenticate(lc.token); err != nil {
			return false, err
		}
		return false, c.CloseWithoutFrame()
	}
	if _, err := lc.authenticate(c); err != nil {
		return false, err
	}
	if end == endPingThenClose {
		if err := c.Send(map[string]string{"type": "ping"}); err != nil {
			return false, err
		}
		if _, err := expectFrame(c, func(f *wsclient.Frame) bool { return f.Type == "pong" }); err != nil {
			return false, err
		}
		return false, closeCleanly(c)
	}
	if err := c.Message(question, "q"); err != nil {
		return false, err
	}
	first, err := expectFrame(c, func(f *wsclient.Frame) bool { return f.Type == "response" })
	if err != nil {
		return false, err
	}
	switch end {
	case endCleanAfterAnswer, endDropAfterAnswer:
		last := first
		for !last.Done {
			if last, err = expectFrame(c, func(f *wsclient.Frame) bool { return f.Type == "response" }); err != nil {
				return false, err
			}
		}
		if last.FinishReason != "stop" {
			return false, fmt.Errorf("answer ended with %s", last.Raw)
		}
		if end == endCleanAfterAnswer {
			return false, closeCleanly(c)
		}
		return false, c.CloseWithoutFrame()
	case endDropMidAnswer:
		return false, c.CloseWithoutFrame()
	case endCloseMidAnswer:
		return false, closeCleanly(c)
	case endCancelThenDrop:
		if err := c.Send(map[string]string{"type": "cancel"}); err != nil {
			return false, err
		}
		done, err := expectFrame(c, func(f *wsclient.Frame) bool { return f.Type == "response" && f.Done })
		if err != nil {
			return false, err
		}
		if done.FinishReason != "cancelled" && done.FinishReason != "stop" {
			return false, fmt.Errorf("cancelled answer ended with %s", done.Raw)
		}
		return false, c.CloseWithoutFrame()
	case endDropMidResume:
		_ = c.CloseWithoutFrame()
		return lc.resumeAndDrop(first)
	}
	return false, fmt.Errorf("no way %d", end)
}

// authenticate sends the token and returns the connected frame.
func (lc leakClient) authenticate(c *wsclient.Client) (*wsclient.Frame, error) {
	if err := c.Authenticate(lc.token); err != nil {
		return nil, err
	}
	return expectFrame(c, func(f *wsclient.Frame) bool { return f.Type == "connected" })
}

// resumeAndDrop resumes the interrupted answer from a new session, reads
// one frame of it and drops that socket too. An answer whose window ended
// first is not_found; that is reported as not resumed.
func (lc leakClient) resumeAndDrop(first *wsclient.Frame) (bool, error) {
	deadline := time.Now().Add(leakWait)
	for time.Now().Before(deadline) {
		c, _, err := wsclient.Dial(lc.ws, wsclient.Options{})
		if err != nil {
			return false, fmt.Errorf("dial: %w", err)
		}
		hello, err := lc.authenticate(c)
		if err != nil {
			_ = c.CloseWithoutFrame()
			return false, err
		}
		listed := false
		for _, p := range hello.Pending {
			listed = listed || p.ID == first.ID
		}
		if !listed {
			// The server notices the dropped socket a moment after the
			// client does; try again.
			_ = c.CloseWithoutFrame()
			time.Sleep(5 * time.Millisecond)
			continue
		}
		defer c.CloseWithoutFrame()
		if err := c.ResumeAnswer(first.ID, first.Seq); err != nil {
			return false, err
		}
		f, err := expectFrame(c, func(f *wsclient.Frame) bool { return f.Type == "response" || f.Type == "error" })
		switch {
		case err != nil:
			return false, err
		case f.Type == "error" && f.Code == "not_found":
			return false, nil
		case f.Type == "error" || !f.Resumed || f.ID != first.ID:
			return false, fmt.Errorf("resume of %s answered %s", first.ID, f.Raw)
		}
		return true, c.CloseWithoutFrame()
	}
	return false, fmt.Errorf("answer %s never listed as pending", first.ID)
}

// expectFrame reads frames until one satisfies want. An error frame that
// want does not accept, or the end of the connection, is an error.
func expectFrame(c *wsclient.Client, want func(*wsclient.Frame) bool) (*wsclient.Frame, error) {
	for {
		f, err := c.Next(leakWait)
		if err != nil {
			return nil, fmt.Errorf("waiting for a frame: %w", err)
		}
		if want(f) {
			return f, nil
		}
		if f.Type == "error" {
			return nil, fmt.Errorf("unexpected error frame %s", f.Raw)
		}
	}
}

// closeCleanly sends a close frame (1000) and waits for the connection to
// end. The client's own side closes the connection once the frame is
// written, so how it ended says nothing about the server: the server's
// part is checked by the node letting the session go.
func closeCleanly(c *wsclient.Client) error {
	if err := c.Close(); err != nil {
		return err
	}
	select {
	case <-c.Done():
		return nil
	case <-time.After(leakWait):
		return errors.New("the connection did not end after a close frame")
	}
}

// nodeState is what a node holds between sessions.
type nodeState struct {
	goroutines int                // but those of pooled connections to the model
	pooled     int                // of kept-alive connections to the model
	sessions   map[string]float64 // by state
	users      float64
	actors     map[string]float64 // live actors by kind
	inFlight   float64            // model calls, as the node counts them
	sockets    float64
	active     int // model calls, as the model sees them
}

func readNodeState(ts *testServer) nodeState {
	st := ts.stats()
	other, pooled := countGoroutines()
	s := nodeState{
		goroutines: other,
		pooled:     pooled,
		sessions:   map[string]float64{},
		actors:     map[string]float64{},
		users:      st["users"].(float64),
		inFlight:   st["llm"].(map[string]any)["in_flight"].(float64),
		sockets:    st["transport"].(map[string]any)["open_sockets"].(float64),
		active:     ts.model.Active(),
	}
	for _, k := range []string{"unauthenticated", "authenticated", "streaming"} {
		s.sessions[k] = st["sessions"].(map[string]any)[k].(float64)
	}
	for kind, a := range st["actors"].(map[string]any) {
		s.actors[kind] = a.(map[string]any)["live"].(float64)
	}
	return s
}

// differs says how s is not back at base; base nil asks for an idle node
// with only its fixed actors.
func (s nodeState) differs(base *nodeState) error {
	var errs []error
	for k, v := range s.sessions {
		if v != 0 {
			errs = append(errs, fmt.Errorf("%v sessions %s", v, k))
		}
	}
	if s.users != 0 || s.inFlight != 0 || s.sockets != 0 || s.active != 0 {
		errs = append(errs, fmt.Errorf("users %v, model calls in flight %v (the model sees %d), open sockets %v",
			s.users, s.inFlight, s.active, s.sockets))
	}
	for kind, live := range s.actors {
		want := 0.0
		if base != nil {
			want = base.actors[kind]
		} else if kind == "registry" || kind == "cache" {
			want = 1
		}
		if live != want {
			errs = append(errs, fmt.Errorf("%v live %s actors, want %v", live, kind, want))
		}
	}
	if base != nil && s.goroutines > base.goroutines+leakGoroutineSlack {
		errs = append(errs, fmt.Errorf("%d goroutines, %d at the baseline", s.goroutines, base.goroutines))
	}
	if s.pooled > leakPooledBound {
		errs = append(errs, fmt.Errorf("%d goroutines of kept-alive model connections, want at most %d", s.pooled, leakPooledBound))
	}
	return errors.Join(errs...)
}

// waitQuiet waits for the node to hold nothing of the sessions that
// ended, within the resume window plus a margin, and returns its state.
func waitQuiet(t *testing.T, ts *testServer, base *nodeState) nodeState {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := readNodeState(ts)
		err := s.differs(base)
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			var stacks strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			t.Fatalf("15s after the last session ended the node still holds: %v\n%s", err, stacks.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countGoroutines counts the test process's goroutines, which include
// the server's, apart from those of kept-alive HTTP connections (to the
// model, and the admin endpoint's): a pool sized by the most calls that
// ever ran at once, not by the sessions that ended.
func countGoroutines() (other, pooled int) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		switch {
		case strings.Contains(g, "net/http.(*persistConn)."),
			strings.Contains(g, "net/http.(*conn).serve"),
			strings.Contains(g, "net/http.(*connReader).backgroundRead"):
			pooled++
		default:
			other++
		}
	}
	return other, pooled
}

// liveHeap is the heap in use once garbage is collected.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
