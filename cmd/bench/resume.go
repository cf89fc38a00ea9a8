package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/loadtest"
	"github.com/wealthwarriors/wealthcoach/transport/auth"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// The resume phase's client is the bench itself: the load tool has no
// resume mode. Each session asks a question, drops its socket without a
// close frame at the answer's first frame, reconnects as the same user and
// sends {"type":"resume","id":<answer id>,"after_seq":<last seq seen>}
// (SPEC 8.3); the figure is the time from that frame to the first frame
// answering it.

// resumeQuestion starts every question of the phase; the rest makes it
// unique, so that no answer comes from the cache, which would be one
// finished frame with nothing left to resume.
const resumeQuestion = "How do index funds work?"

// resumeMessageID is the id of each session's one message.
const resumeMessageID = "r0"

// relistPause is the wait before connecting again when the server has not
// yet seen the dropped socket, so that the answer is not listed pending.
const relistPause = 10 * time.Millisecond

// closeWait bounds the wait for a connection's end after a close.
const closeWait = 5 * time.Second

// resumeOptions configures runResume.
type resumeOptions struct {
	URL           string
	Sessions      int // session i is user UserPrefix+i
	UserPrefix    string
	Secret        []byte        // the HS256 secret the server verifies tokens with
	Ramp          time.Duration // spread of session starts
	MaxHandshakes int           // connects + authentications in flight at most
	Timeout       time.Duration // bound on each wait for a frame or a handshake
}

// resumeReport is what a resume run measured.
type resumeReport struct {
	Sessions   int
	Resumed    int             // resumes answered by a frame of their answer
	Completed  int             // resumed answers that then finished with stop
	Relisted   int64           // reconnects made again because the answer was not listed pending yet
	First      []time.Duration // resume frame to first answering frame, sorted
	Errors     []loadtest.ErrorKind
	ErrorCount int64
}

// percentile is the nearest-rank percentile of the first-frame times; ok
// is false when no resume was answered.
func (r *resumeReport) percentile(p float64) (ms float64, ok bool) {
	if len(r.First) == 0 {
		return 0, false
	}
	i := min(max(int(math.Ceil(p*float64(len(r.First))))-1, 0), len(r.First)-1)
	return float64(r.First[i]) / float64(time.Millisecond), true
}

// summary is the report in one line, for progress output.
func (r *resumeReport) summary() string {
	s := fmt.Sprintf("%d/%d resumed, %d finished", r.Resumed, r.Sessions, r.Completed)
	if p50, ok := r.percentile(0.50); ok {
		p99, _ := r.percentile(0.99)
		s += fmt.Sprintf(", first frame p50 %.2f ms p99 %.2f ms", p50, p99)
	}
	if r.Relisted > 0 {
		s += fmt.Sprintf(", %d reconnects before the answer was listed", r.Relisted)
	}
	if r.ErrorCount == 0 {
		return s + ", no errors"
	}
	s += ", " + strconv.FormatInt(r.ErrorCount, 10) + " errors"
	for i, e := range r.Errors {
		if i == 2 {
			break
		}
		s += fmt.Sprintf("; %d× %s", e.Count, e.Kind)
	}
	return s
}

// failure is what ended a session: a kind to count and an example.
type failure struct{ kind, example string }

func (f *failure) Error() string { return f.kind + ": " + f.example }

func fail(kind, example string) error { return &failure{kind, example} }

// resumeRun is the state one run shares between its sessions.
type resumeRun struct {
	o          resumeOptions
	runID      string
	tokens     []string
	handshakes chan struct{}

	mu        sync.Mutex
	first     []time.Duration
	errs      map[string]*loadtest.ErrorKind
	completed int
	relisted  atomic.Int64
}

// runResume runs every session and reports. Its error is for set-up only;
// failures under load are in the report.
func runResume(ctx context.Context, o resumeOptions) (*resumeReport, error) {
	ttl := o.Ramp + 4*o.Timeout + 10*time.Minute // outlives every session
	r := &resumeRun{o: o, runID: loadtest.NewRunID(), tokens: make([]string, o.Sessions),
		handshakes: make(chan struct{}, max(o.MaxHandshakes, 1)), errs: map[string]*loadtest.ErrorKind{}}
	for i := range r.tokens {
		tok, err := auth.Mint(auth.MintOptions{Secret: o.Secret, UserID: o.UserPrefix + strconv.Itoa(i), TTL: ttl})
		if err != nil {
			return nil, fmt.Errorf("token for user %s%d: %w", o.UserPrefix, i, err)
		}
		r.tokens[i] = tok
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.Sessions {
		wg.Go(func() {
			offset := time.Duration(int64(o.Ramp) * int64(i) / int64(o.Sessions))
			if !loadtest.SleepUntil(ctx, start.Add(offset)) {
				r.record(fail("stopped before finishing", "the run was interrupted"))
				return
			}
			r.record(r.session(ctx, i))
		})
	}
	wg.Wait()
	return r.report(), nil
}

// record counts a session's outcome: nil is a resumed answer that finished.
func (r *resumeRun) record(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.completed++
		return
	}
	var f *failure
	if !errors.As(err, &f) {
		f = &failure{"other", err.Error()}
	}
	k := r.errs[f.kind]
	if k == nil {
		k = &loadtest.ErrorKind{Kind: f.kind, Example: f.example}
		r.errs[f.kind] = k
	}
	k.Count++
}

func (r *resumeRun) addFirst(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.first = append(r.first, d)
}

func (r *resumeRun) report() *resumeReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &resumeReport{Sessions: r.o.Sessions, Resumed: len(r.first), Completed: r.completed,
		Relisted: r.relisted.Load(), First: slices.Clone(r.first)}
	slices.Sort(rep.First)
	for _, k := range r.errs {
		rep.Errors = append(rep.Errors, *k)
		rep.ErrorCount += k.Count
	}
	slices.SortFunc(rep.Errors, func(a, b loadtest.ErrorKind) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Kind, b.Kind))
	})
	return rep
}

// session is one session's whole life: ask, drop, reconnect, resume, read
// the answer to its end.
func (r *resumeRun) session(ctx context.Context, i int) error {
	c, _, err := r.open(ctx, i)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.CloseWithoutFrame() })
	first, err := r.ask(c, i)
	// The drop: no close frame, as when a phone loses its network.
	_ = c.CloseWithoutFrame()
	stop()
	if err != nil {
		return err
	}
	waitClosed(c)

	c, err = r.reopen(ctx, i, first.ID)
	if err != nil {
		return err
	}
	stop = context.AfterFunc(ctx, func() { _ = c.CloseWithoutFrame() })
	defer stop()
	defer release(c)
	return r.resume(c, first)
}

// ask sends the session's question and returns the answer's first frame.
func (r *resumeRun) ask(c *wsclient.Client, i int) (*wsclient.Frame, error) {
	q := fmt.Sprintf("%s (resume run %s, session %d)", resumeQuestion, r.runID, i)
	if err := c.Message(q, resumeMessageID); err != nil {
		return nil, fail("send message", err.Error())
	}
	deadline := time.Now().Add(r.o.Timeout)
	for {
		f, err := r.next(c, deadline, "the answer's first frame")
		if err != nil {
			return nil, err
		}
		switch {
		case f.Type == "response" && f.ReplyTo == resumeMessageID:
			if f.Done {
				return nil, fail("answer finished before the drop", string(f.Raw))
			}
			return f, nil
		case f.Type == "pong":
		default:
			return nil, unexpected(f)
		}
	}
}

// resume sends the resume frame for the answer whose frames up to seen the
// client has, times the first frame answering it, and reads the answer to
// its end, checking that the frames continue what the client had.
func (r *resumeRun) resume(c *wsclient.Client, seen *wsclient.Frame) error {
	start := time.Now()
	if err := c.ResumeAnswer(seen.ID, seen.Seq); err != nil {
		return fail("send resume", err.Error())
	}
	deadline := start.Add(r.o.Timeout)
	content, resumed := seen.Content, false
	for {
		f, err := r.next(c, deadline, "a frame of the resumed answer")
		if err != nil {
			return err
		}
		switch {
		case f.Type == "response" && f.ID == seen.ID:
		case f.Type == "pong":
			continue
		default:
			return unexpected(f)
		}
		if !resumed {
			// Timed at the read loop, so that the wait for this goroutine
			// to run on a loaded client is not counted as the server's.
			r.addFirst(f.Received.Sub(start))
			resumed = true
			if !f.Resumed {
				return fail("first frame after resume not marked resumed", string(f.Raw))
			}
		}
		// The deltas seen plus those after them are exactly the answer.
		if content+f.Delta != f.Content {
			return fail("resumed frames do not continue the answer", string(f.Raw))
		}
		content = f.Content
		if f.Done {
			if f.FinishReason != "stop" {
				return fail("resumed answer finished with "+strconv.Quote(f.FinishReason), "")
			}
			return nil
		}
	}
}

// open connects and authenticates as session i's user, within the bound
// on handshakes in flight, and returns the connected frame.
func (r *resumeRun) open(ctx context.Context, i int) (*wsclient.Client, *wsclient.Frame, error) {
	select {
	case r.handshakes <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fail("stopped before finishing", "the run was interrupted")
	}
	defer func() { <-r.handshakes }()
	c, resp, err := wsclient.Dial(r.o.URL, wsclient.Options{Timeout: r.o.Timeout})
	if err != nil {
		return nil, nil, fail(dialKind(resp), err.Error())
	}
	if err := c.Authenticate(r.tokens[i]); err != nil {
		release(c)
		return nil, nil, fail("send authenticate", err.Error())
	}
	f, err := r.next(c, time.Now().Add(r.o.Timeout), "the connected frame")
	if err == nil && f.Type != "connected" {
		err = unexpected(f)
	}
	if err != nil {
		release(c)
		return nil, nil, err
	}
	return c, f, nil
}

// reopen connects again as session i's user until the connected frame
// lists the dropped answer id as pending: a reconnect can reach the server
// before it has seen the drop, and then the answer is not resumable yet.
func (r *resumeRun) reopen(ctx context.Context, i int, id string) (*wsclient.Client, error) {
	deadline := time.Now().Add(r.o.Timeout)
	for {
		c, connected, err := r.open(ctx, i)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(connected.Pending, func(p wsclient.Pending) bool { return p.ID == id }) {
			return c, nil
		}
		release(c)
		if time.Now().After(deadline) {
			return nil, fail("dropped answer not listed as pending", "within "+r.o.Timeout.String())
		}
		r.relisted.Add(1)
		if !loadtest.SleepUntil(ctx, time.Now().Add(relistPause)) {
			return nil, fail("stopped before finishing", "the run was interrupted")
		}
	}
}

// next waits for a frame until deadline; an error frame, a close or the
// deadline is the session's failure.
func (r *resumeRun) next(c *wsclient.Client, deadline time.Time, what string) (*wsclient.Frame, error) {
	f, err := c.Next(time.Until(deadline))
	var ce *wsclient.CloseError
	switch {
	case errors.As(err, &ce):
		return nil, fail("close "+strconv.Itoa(ce.Code)+" "+ce.Reason, "waiting for "+what)
	case errors.Is(err, wsclient.ErrTimeout):
		return nil, fail("timeout waiting for "+what, "nothing within "+r.o.Timeout.String())
	case err != nil:
		return nil, fail("read", err.Error())
	case f.Type == "error":
		// not_found, busy, rate_limited…: the resume (or the question) was refused.
		return nil, fail("error "+f.Code, f.Message)
	}
	return f, nil
}

func unexpected(f *wsclient.Frame) error {
	return fail("unexpected "+f.Type+" frame", string(f.Raw))
}

// dialKind names a failed dial without the ports that would make every
// failure a kind of its own.
func dialKind(resp *http.Response) string {
	if resp == nil {
		return "dial"
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	return "dial: HTTP " + strconv.Itoa(resp.StatusCode)
}

// waitClosed waits, boundedly, for a dropped connection's reader to end.
func waitClosed(c *wsclient.Client) {
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-c.Done():
	case <-t.C:
	}
}

// release closes a connection and waits for its reader to end. Reading
// the frames left also unblocks a reader waiting to hand one over.
func release(c *wsclient.Client) {
	_ = c.Close()
	if _, err := c.Closed(closeWait); err != nil {
		_ = c.CloseWithoutFrame()
	}
}

// resumePhase resumes ResumeSessions interrupted answers on a fresh server
// and records the time from each resume frame to its first frame.
func (b *bench) resumePhase(ctx context.Context, run int, m *measurements) error {
	name := fmt.Sprintf("resume%d-server", run)
	return b.withTarget(ctx, name, kindServer, func(t *target) error {
		rep, err := runResume(ctx, resumeOptions{URL: t.url, Sessions: b.o.ResumeSessions, UserPrefix: userPrefix,
			Secret: []byte(b.secret), Ramp: b.o.ResumeRamp, MaxHandshakes: b.o.MaxHandshakes, Timeout: b.o.Timeout})
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if p50, ok := rep.percentile(0.50); ok {
			p99, _ := rep.percentile(0.99)
			m.add(sideServer, figResumeP50, p50)
			m.add(sideServer, figResumeP99, p99)
		}
		m.add(sideServer, figResumeErrors, float64(rep.ErrorCount))
		b.logf("  %-16s %s", name, rep.summary())
		return nil
	})
}
