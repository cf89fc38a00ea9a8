package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// closeWait bounds the wait for a connection's end after a close.
const closeWait = 5 * time.Second

// Run drives o.Sessions sessions against the server and reports what
// happened. It returns once every session has ended: when each has
// finished its plan, or when o.Duration or ctx ends the run, whose
// Report then says so in Stopped. Progress bars go to progress when it is
// not nil. The error is for options or set-up only (bad options, a token
// that cannot be minted, a server process that cannot be sampled):
// failures under load are in the Report.
func Run(ctx context.Context, o Options, progress io.Writer) (*Report, error) {
	o, err := o.WithDefaults()
	if err != nil {
		return nil, err
	}
	tokens := make([]string, min(o.Users, o.Sessions))
	for u := range tokens {
		if tokens[u], err = o.Token(o.UserPrefix + strconv.Itoa(u)); err != nil {
			return nil, fmt.Errorf("token for user %s%d: %w", o.UserPrefix, u, err)
		}
	}
	probe, err := newServerProbe(o.ServerPID, o.FreeMemoryURL)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	r := newRunner(runCtx, o, tokens, progress)
	rep := r.run(probe)
	switch {
	case ctx.Err() != nil:
		rep.Stopped = "interrupted"
	case o.Soak:
	case runCtx.Err() != nil && rep.ErrorCount > 0:
		rep.Stopped = "--duration " + o.Duration.String() + " reached"
	}
	return rep, nil
}

// runner is the state one run shares between its session goroutines.
type runner struct {
	o          Options
	ctx        context.Context
	runID      string   // makes the unique questions unique across runs
	tokens     []string // per user
	out        io.Writer
	bar        atomic.Pointer[progressbar.ProgressBar]
	handshakes chan struct{} // a slot per handshake in flight

	connectAt  time.Time     // start of the connect phase
	chatAt     time.Time     // start of the chat phase, set before chatStart closes
	chatStart  chan struct{} // closed when every session has connected or failed
	connecting sync.WaitGroup
	chatting   sync.WaitGroup
	all        sync.WaitGroup

	connect, auth, firstToken, answer, cached *latencies
	connected, answers, cachedN               atomic.Int64
	errs                                      errorTally

	receivedMu sync.Mutex
	received   []Received // with Options.Record
	rss        []RSSSample
}

func newRunner(ctx context.Context, o Options, tokens []string, out io.Writer) *runner {
	answers := o.Sessions * o.Messages
	if o.Soak {
		// About one answer per think time per session, at most 1M to size
		// the buffers; past it latencies are still counted.
		answers = o.Sessions * min(int(o.Duration/max(o.Think, 100*time.Millisecond)), 1<<20/max(o.Sessions, 1))
	}
	return &runner{
		o: o, ctx: ctx, tokens: tokens, out: out, runID: NewRunID(),
		handshakes: make(chan struct{}, o.MaxHandshakes),
		chatStart:  make(chan struct{}),
		connect:    newLatencies(o.Sessions),
		auth:       newLatencies(o.Sessions),
		firstToken: newLatencies(answers),
		answer:     newLatencies(answers),
		cached:     newLatencies(answers),
	}
}

func (r *runner) run(probe *serverProbe) *Report {
	began, cpu0 := time.Now(), selfCPU()
	n := r.o.Sessions
	r.startBar("connected", "sessions", int64(n))
	r.connecting.Add(n)
	r.chatting.Add(n)
	r.all.Add(n)
	r.connectAt = time.Now()
	for i := range n {
		go r.session(i)
	}
	r.connecting.Wait()
	connectPhase := time.Since(r.connectAt)
	r.endBar()
	probe.sample(&probe.connected)

	planned := r.connected.Load() * int64(r.o.Messages)
	if r.o.Soak {
		planned = -1 // open-ended: a spinner with the count
	}
	r.startBar("answered", "answers", planned)
	r.chatAt = time.Now()
	close(r.chatStart)
	stopSampling := r.sampleRSS(probe)
	r.chatting.Wait()
	stopSampling()
	chatPhase := time.Since(r.chatAt)
	r.endBar()
	if r.o.Messages > 0 || r.o.Soak {
		probe.sample(&probe.after)
	}
	r.all.Wait()
	return r.report(probe, time.Since(began), connectPhase, chatPhase, time.Duration(selfCPU()-cpu0))
}

func (r *runner) report(probe *serverProbe, elapsed, connectPhase, chatPhase, cpu time.Duration) *Report {
	o := r.o
	rep := &Report{
		URL: o.URL, Sessions: o.Sessions, Users: o.Users, Messages: o.Messages,
		Ramp: Milliseconds(o.Ramp), Think: Milliseconds(o.Think), Repeat: o.Repeat, Hold: Milliseconds(o.Hold),
		MaxHandshakes: o.MaxHandshakes, SourceIPs: o.SourceIPs,
		Connected: r.connected.Load(), Answers: r.answers.Load(), Cached: r.cachedN.Load(),
		ConnectPhase: Milliseconds(connectPhase), ChatPhase: Milliseconds(chatPhase), Elapsed: Milliseconds(elapsed),
		ClientCPU: Milliseconds(cpu),
		Latency: []Latency{
			r.connect.summary(MetricConnect),
			r.auth.summary(MetricAuth),
			r.firstToken.summary(MetricFirstToken),
			r.answer.summary(MetricAnswer),
			r.cached.summary(MetricCached),
		},
	}
	if connectPhase > 0 {
		rep.HandshakeRate = float64(rep.Connected) / connectPhase.Seconds()
	}
	rep.Errors, rep.ErrorCount = r.errs.list()
	rep.Server = probe.usage(rep.Connected, rep.Answers)
	rep.Soak = o.Soak
	rep.RSS = r.rss
	rep.Received = r.received
	return rep
}

// session is one session's whole life.
func (r *runner) session(i int) {
	defer r.all.Done()
	c := r.open(i)
	if c == nil {
		r.chatting.Done()
		return
	}
	stop := context.AfterFunc(r.ctx, func() { _ = c.CloseWithoutFrame() })
	defer stop()
	defer release(c)
	select {
	case <-r.chatStart:
	case <-r.ctx.Done():
		r.stopped()
		r.chatting.Done()
		return
	}
	ok := r.chat(i, c)
	r.chatting.Done()
	if ok {
		r.hold(c)
	}
}

// offset is session i's place in the ramp.
func (r *runner) offset(i int) time.Duration {
	return time.Duration(int64(r.o.Ramp) * int64(i) / int64(r.o.Sessions))
}

// open connects and authenticates session i, within the bound on
// handshakes in flight. It returns nil when the session failed.
func (r *runner) open(i int) *wsclient.Client {
	defer r.connecting.Done()
	defer r.progress(1)
	if !SleepUntil(r.ctx, r.connectAt.Add(r.offset(i))) {
		r.stopped()
		return nil
	}
	select {
	case r.handshakes <- struct{}{}:
	case <-r.ctx.Done():
		r.stopped()
		return nil
	}
	defer func() { <-r.handshakes }()
	start := time.Now()
	c, resp, err := wsclient.Dial(r.o.URL, wsclient.Options{Timeout: r.o.Timeout, LocalAddr: r.sourceAddr(i), Compression: r.o.Compression})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
			if resp.Body != nil {
				_ = resp.Body.Close()
			}
		}
		r.fail(dialErrorKind(err, status), err.Error())
		return nil
	}
	r.connect.add(time.Since(start))
	if !r.authenticate(c, r.tokens[i%len(r.tokens)]) {
		release(c)
		return nil
	}
	r.connected.Add(1)
	return c
}

// sourceAddr spreads sessions over 127.0.0.1 .. 127.0.0.SourceIPs.
func (r *runner) sourceAddr(i int) *net.TCPAddr {
	if r.o.SourceIPs == 0 {
		return nil
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%r.o.SourceIPs))}
}

func (r *runner) authenticate(c *wsclient.Client, token string) bool {
	start := time.Now()
	if err := c.Authenticate(token); err != nil {
		r.fail("send authenticate", err.Error())
		return false
	}
	f, err := c.Next(r.o.Timeout)
	if err != nil {
		r.waitFailed("the connected frame", err)
		return false
	}
	switch f.Type {
	case "connected":
		r.auth.add(time.Since(start))
		return true
	case "error":
		// An authentication error comes just before its close: count both.
		r.errs.add("error "+f.Code, f.Message)
		if ce, err := c.Closed(closeWait); err == nil {
			r.errs.add(closeKind(ce), "after error "+f.Code)
		}
	default:
		r.fail("unexpected "+f.Type+" frame before connected", string(f.Raw))
	}
	return false
}

// release closes a connection and waits for its reader to end. Reading
// the frames left also unblocks a reader waiting to hand one over.
func release(c *wsclient.Client) {
	_ = c.Close()
	if _, err := c.Closed(closeWait); err != nil {
		_ = c.CloseWithoutFrame()
	}
}

// hold keeps the session idle until the hold ends or the run does.
func (r *runner) hold(c *wsclient.Client) {
	if r.o.Hold <= 0 {
		return
	}
	t := time.NewTimer(r.o.Hold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.ctx.Done():
	case <-c.Done():
		if r.ctx.Err() == nil {
			if ce, err := c.Closed(closeWait); err == nil {
				r.errs.add(closeKind(ce), "while holding")
			}
		}
	}
}

// fail counts an error that ended a session's plan. Once the run is over,
// the failure is the stop's doing (it closes every connection), so it
// counts as stopped instead.
func (r *runner) fail(kind, example string) {
	if r.ctx.Err() != nil {
		r.stopped()
		return
	}
	r.errs.add(kind, example)
}

// stopped counts a session that the end of the run cut short. A soak
// ends every session that way, as planned.
func (r *runner) stopped() {
	if r.o.Soak {
		return
	}
	r.errs.add("stopped before finishing", "the run ended (--duration or interrupt)")
}

// waitFailed counts a failed wait for a frame.
func (r *runner) waitFailed(what string, err error) {
	var ce *wsclient.CloseError
	switch {
	case errors.As(err, &ce):
		r.fail(closeKind(ce), "waiting for "+what)
	case errors.Is(err, wsclient.ErrTimeout):
		r.fail("timeout waiting for "+what, "nothing within "+r.o.Timeout.String())
	default:
		r.fail("read: "+err.Error(), "")
	}
}

// startBar shows a bar towards max, or a spinner with the count when max
// is -1.
func (r *runner) startBar(desc, unit string, max int64) {
	if r.out == nil || max == 0 || max < -1 {
		r.bar.Store(nil)
		return
	}
	r.bar.Store(progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(r.out),
		progressbar.OptionSetDescription(fmt.Sprintf("%-9s", desc)),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
	))
}

func (r *runner) progress(n int) {
	if b := r.bar.Load(); b != nil && n > 0 {
		_ = b.Add(n)
	}
}

// endBar leaves the bar as it stands on its own line.
func (r *runner) endBar() {
	if b := r.bar.Load(); b != nil {
		_ = b.Exit()
		fmt.Fprintln(r.out)
	}
}

// NewRunID is a short random id that makes a run's questions unique
// across runs against one store.
func NewRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SleepUntil waits until t or the end of ctx, and reports whether ctx is
// still live.
func SleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
