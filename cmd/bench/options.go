package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The phases, in the order they run.
const (
	phaseConnect  = "connect"
	phaseStream   = "stream"
	phasePersist  = "persist"
	phaseCached   = "cached"
	phaseResume   = "resume"
	phaseCapacity = "capacity"
)

var allPhases = []string{phaseConnect, phaseStream, phasePersist, phaseCached, phaseResume, phaseCapacity}

// options configures a bench run. The defaults are the sizes and pacing
// of the performance targets.
type options struct {
	BinDir string // prebuilt wealthcoach and baseline; empty builds them
	Keep   bool   // keep the work directory (logs, database, reports)
	JSON   string // also write the results here
	Strict bool   // exit non-zero when a target is missed
	Host   string // loopback address every process listens on

	Repeat int      // runs of each phase; figures are the medians
	Phases []string // which phases run, in the order of allPhases

	IdleSessions     int           // phase 1
	ConnectRamp      time.Duration // phase 1, rate: zero connects as fast as MaxHandshakes allows
	MemoryRamp       time.Duration // phase 1, memory: spread of session starts
	MemorySessions   int           // phase 1, memory: idle sessions
	MaxHandshakes    int
	StreamSessions   int           // streaming and persistence phases
	StreamMessages   int           // streaming and persistence phases, per session
	Think            time.Duration // streaming and persistence phases: pause between an answer and the next message
	ChatRamp         time.Duration // streaming, persistence and cached phases: spread of session starts
	CachedSessions   int           // cached phase
	ResumeSessions   int           // resume phase
	ResumeRamp       time.Duration // resume phase: spread of session starts
	CapacitySessions int           // capacity phase; zero skips it
	CapacityRamp     time.Duration

	Tokens          int // fake model answer length
	FirstTokenDelay time.Duration
	TokenDelay      time.Duration
	Timeout         time.Duration // loadtest's bound on each wait
}

func defaultOptions() options {
	return options{
		Host:           "127.0.0.1",
		Repeat:         1,
		Phases:         allPhases,
		IdleSessions:   5000,
		ConnectRamp:    0,
		MemoryRamp:     10 * time.Second,
		MemorySessions: 10000,
		MaxHandshakes:  128,
		StreamSessions: 1000,
		StreamMessages: 1,
		Think:          500 * time.Millisecond,
		ChatRamp:       5 * time.Second,
		CachedSessions: 1000,
		ResumeSessions: 1000,
		// Each resume session makes two handshakes and a drop besides its
		// answer, and its client is the bench itself: at 5 s the 2 cores
		// were 89-94 % busy and the figure measured the contention; at
		// 10 s they were about 67 % busy (SPEC 7: pace the load).
		ResumeRamp:       10 * time.Second,
		CapacitySessions: 19000,
		CapacityRamp:     60 * time.Second,
		Tokens:           40,
		FirstTokenDelay:  100 * time.Millisecond,
		TokenDelay:       50 * time.Millisecond,
		Timeout:          30 * time.Second,
	}
}

// parseOptions reads the command line.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	o := defaultOptions()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bench [flags]\n\nMeasures the server against bare gws baselines on loopback and prints the targets table.")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.BinDir, "bin-dir", "", "directory holding prebuilt wealthcoach and baseline binaries (default: go build them into the work directory)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the work directory with every process's log and every loadtest report")
	fs.StringVar(&o.JSON, "json", "", "also write the results table, pacing and machine as JSON to this file")
	fs.BoolVar(&o.Strict, "strict", false, "exit 1 when a figure misses its target")
	fs.StringVar(&o.Host, "host", o.Host, "loopback address for every listener (127.0.0.0/8 only)")
	fs.IntVar(&o.Repeat, "repeat", o.Repeat, "runs of each phase (the capacity phase runs once); the table shows medians")
	phases := fs.String("phases", strings.Join(allPhases, ","), "phases to run, comma-separated")
	fs.IntVar(&o.IdleSessions, "sessions", o.IdleSessions, "idle sessions in the connect phase")
	fs.DurationVar(&o.ConnectRamp, "connect-ramp", o.ConnectRamp, "spread of session starts in the connect-rate runs (0: as fast as --max-handshakes allows, which measures capacity)")
	fs.DurationVar(&o.MemoryRamp, "memory-ramp", o.MemoryRamp, "spread of session starts in the idle-memory runs")
	fs.IntVar(&o.MemorySessions, "memory-sessions", o.MemorySessions, "idle sessions in the idle-memory runs (SPEC: RSS growth over 10,000)")
	fs.IntVar(&o.MaxHandshakes, "max-handshakes", o.MaxHandshakes, "connects + authentications in flight at most")
	fs.IntVar(&o.StreamSessions, "stream-sessions", o.StreamSessions, "sessions in the streaming phase")
	fs.IntVar(&o.StreamMessages, "stream-messages", o.StreamMessages, "messages per session in the streaming phase")
	fs.DurationVar(&o.Think, "think", o.Think, "pause between an answer and the session's next message, with --stream-messages above 1")
	fs.DurationVar(&o.ChatRamp, "chat-ramp", o.ChatRamp, "spread of session starts in the streaming, persistence and cached phases")
	fs.IntVar(&o.CachedSessions, "cached-sessions", o.CachedSessions, "sessions in the cached phase")
	fs.IntVar(&o.ResumeSessions, "resume-sessions", o.ResumeSessions, "sessions in the resume phase, each resuming one interrupted answer")
	fs.DurationVar(&o.ResumeRamp, "resume-ramp", o.ResumeRamp, "spread of session starts in the resume phase")
	fs.IntVar(&o.CapacitySessions, "capacity-sessions", o.CapacitySessions, "concurrent sessions, one message each, in the capacity phase (0 skips it)")
	fs.DurationVar(&o.CapacityRamp, "capacity-ramp", o.CapacityRamp, "spread of the capacity phase's connects, and again of its messages")
	fs.IntVar(&o.Tokens, "tokens", o.Tokens, "fake model answer length in tokens")
	fs.DurationVar(&o.FirstTokenDelay, "first-token-delay", o.FirstTokenDelay, "fake model pause before the first token")
	fs.DurationVar(&o.TokenDelay, "token-delay", o.TokenDelay, "fake model pause between tokens")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "bound on each wait of a session: handshake, connected frame, whole answer")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.Phases = strings.Split(*phases, ",")
	return o, o.validate()
}

// validate refuses options that would fail halfway or leave loopback.
func (o options) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := checkLoopback(o.Host); err != nil {
		errs = append(errs, err)
	}
	if o.Repeat < 1 {
		bad("--repeat must be at least 1")
	}
	for _, p := range o.Phases {
		if !slices.Contains(allPhases, p) {
			bad("--phases: unknown phase %q (want some of %s)", p, strings.Join(allPhases, ","))
		}
	}
	for name, n := range map[string]int{"--sessions": o.IdleSessions, "--memory-sessions": o.MemorySessions, "--stream-sessions": o.StreamSessions,
		"--cached-sessions": o.CachedSessions, "--resume-sessions": o.ResumeSessions, "--max-handshakes": o.MaxHandshakes, "--stream-messages": o.StreamMessages,
		"--tokens": o.Tokens} {
		if n < 1 {
			bad("%s must be at least 1", name)
		}
	}
	if o.CapacitySessions < 0 {
		bad("--capacity-sessions must not be negative")
	}
	for name, d := range map[string]time.Duration{"--connect-ramp": o.ConnectRamp, "--memory-ramp": o.MemoryRamp, "--chat-ramp": o.ChatRamp, "--resume-ramp": o.ResumeRamp,
		"--capacity-ramp": o.CapacityRamp, "--think": o.Think, "--first-token-delay": o.FirstTokenDelay, "--token-delay": o.TokenDelay} {
		if d < 0 {
			bad("%s must not be negative", name)
		}
	}
	if o.Timeout <= 0 {
		bad("--timeout must be positive")
	}
	return errors.Join(errs...)
}

// checkLoopback refuses any address off this machine: the bench only ever
// loads loopback.
func checkLoopback(host string) error {
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is4() || !ip.IsLoopback() {
		return fmt.Errorf("--host %q: the bench only runs on an IPv4 loopback address (127.0.0.0/8)", host)
	}
	return nil
}

// fdBase is the open files a process needs besides one per session and
// one per model call in flight: listeners, the poller, the store, logs, a
// report.
const fdBase = 64

// runs reports whether phase p is to run.
func (o options) runs(p string) bool {
	if p == phaseCapacity && o.CapacitySessions == 0 {
		return false
	}
	return slices.Contains(o.Phases, p)
}

// maxSessions is the largest number of sessions any phase that runs opens.
func (o options) maxSessions() int {
	n := 1
	for p, s := range map[string]int{phaseConnect: max(o.IdleSessions, o.MemorySessions), phaseStream: o.StreamSessions, phasePersist: o.StreamSessions,
		phaseCached: o.CachedSessions, phaseResume: o.ResumeSessions, phaseCapacity: o.CapacitySessions} {
		if o.runs(p) {
			n = max(n, s)
		}
	}
	return n
}

// answerTime is how long the fake model takes over one answer.
func (o options) answerTime() time.Duration {
	return o.FirstTokenDelay + time.Duration(o.Tokens-1)*o.TokenDelay
}

// answersInFlight estimates the model calls open at once when n sessions
// send messages answered in answerTime, the first ones spread over ramp:
// during the ramp n*answer/ramp, and with several messages per session
// the share of each cycle a session spends waiting for its answer. A
// quarter more covers uneven arrival. It is never more than n, each
// session having one answer at a time.
func (o options) answersInFlight(n, messages int, ramp time.Duration) int {
	if ramp <= 0 {
		return n
	}
	answer := o.answerTime().Seconds()
	est := float64(n) * answer / ramp.Seconds()
	if messages > 1 {
		est = max(est, float64(n)*answer/(answer+o.Think.Seconds()))
	}
	return min(n, int(math.Ceil(1.25*est)))
}

// filesNeeded is about how many open files the busiest process of the
// largest phase that runs needs: the server holds one descriptor per
// session, one per model call in flight, and fdBase more; the load tool
// (or, in the resume phase, the bench) one per session and its own few.
// A loose estimate would refuse the capacity phase at its SPEC size,
// 19,000 sessions under the SPEC's limit of 20,000 open files.
func (o options) filesNeeded() uint64 {
	need := 0
	add := func(p string, sessions, inFlight int) {
		if o.runs(p) {
			need = max(need, sessions+inFlight)
		}
	}
	add(phaseConnect, max(o.IdleSessions, o.MemorySessions), 0)
	add(phaseStream, o.StreamSessions, o.answersInFlight(o.StreamSessions, o.StreamMessages, o.ChatRamp))
	add(phasePersist, o.StreamSessions, o.answersInFlight(o.StreamSessions, o.StreamMessages, o.ChatRamp))
	add(phaseCached, o.CachedSessions, o.answersInFlight(o.CachedSessions, 1, o.ChatRamp))
	add(phaseResume, o.ResumeSessions, o.answersInFlight(o.ResumeSessions, 1, o.ResumeRamp))
	add(phaseCapacity, o.CapacitySessions, o.answersInFlight(o.CapacitySessions, 1, o.CapacityRamp))
	return uint64(need) + fdBase
}

// openFileLimit is the most descriptors a process the bench starts may
// open: Go programs raise their soft limit to the hard one.
func openFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("read the open-file limit: %w", err)
	}
	return max(rl.Cur, rl.Max), nil
}

// checkOpenFiles refuses a run whose largest phase would exhaust the
// open-file limit of the server or the load tool halfway.
func checkOpenFiles(need uint64) error {
	limit, err := openFileLimit()
	if err != nil {
		return err
	}
	if need > limit {
		return fmt.Errorf("the largest phase needs about %d open files per process, but the limit is %d: run fewer sessions or raise it (ulimit -n)",
			need, limit)
	}
	return nil
}

// pacing describes how the load was paced, for the report.
func (o options) pacing() []string {
	connect := "as fast as " + fmt.Sprint(o.MaxHandshakes) + " handshakes in flight allow"
	if o.ConnectRamp > 0 {
		connect = "starts spread over " + o.ConnectRamp.String()
	}
	lines := []string{
		fmt.Sprintf("fake model: %d tokens per answer, first token after %s, then one every %s (about %s per answer)",
			o.Tokens, o.FirstTokenDelay, o.TokenDelay, o.FirstTokenDelay+time.Duration(o.Tokens-1)*o.TokenDelay),
	}
	if o.runs(phaseConnect) {
		lines = append(lines, fmt.Sprintf("connect phase: %d idle sessions, one user each, %s, for the rate and CPU per handshake; "+
			"then %d with starts spread over %s, for the memory per idle session (sampled after a forced GC); a fresh process for every run", o.IdleSessions, connect, o.MemorySessions, o.MemoryRamp))
	}
	if o.runs(phaseStream) {
		think := ""
		if o.StreamMessages > 1 {
			think = fmt.Sprintf(", %s between an answer and the next question", o.Think)
		}
		lines = append(lines, fmt.Sprintf("streaming phase: %d sessions, %d distinct question(s) each%s, session starts and first messages spread over %s",
			o.StreamSessions, o.StreamMessages, think, o.ChatRamp))
	}
	if o.runs(phasePersist) {
		lines = append(lines, fmt.Sprintf("persistence phase: the streaming phase's load (%d sessions) against the server twice, with history.persist and audit.enabled on and with both off (the \"baseline\" column)",
			o.StreamSessions))
	}
	if o.runs(phaseCached) {
		lines = append(lines, fmt.Sprintf("cached phase: %d sessions ask one fixed question (warm-up run), then %d fresh sessions of the same users ask it again, spread over %s, with history.persist off (a session that starts with its user's stored memory asks in another context, which is another cache key)",
			o.CachedSessions, o.CachedSessions, o.ChatRamp))
	}
	if o.runs(phaseResume) {
		lines = append(lines, fmt.Sprintf("resume phase: %d sessions, starts spread over %s; each asks a question, drops its socket without a close at the answer's first frame, "+
			"reconnects as the same user and resumes the answer; the bench process itself is the client (not the load tool), still a process apart from the server",
			o.ResumeSessions, o.ResumeRamp))
	}
	if o.runs(phaseCapacity) {
		lines = append(lines, fmt.Sprintf("capacity phase: %d sessions connect over %s, from %d loopback source address(es), then each sends one message, spread over %s, all staying connected until the last answer",
			o.CapacitySessions, o.CapacityRamp, sourceIPs(o.CapacitySessions), o.CapacityRamp))
	}
	lines = append(lines, fmt.Sprintf("repeats: %d of each phase but capacity (medians shown); the sides alternate which goes first", o.Repeat),
		"targets: each row is judged against the stricter of the two lists of SPEC section 7; the \"wave 1\" column shows the first list's target where it differs (\"same\" where it does not)")
	return lines
}
