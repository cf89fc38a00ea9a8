package loadtest

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Options configures Run. Defaults are applied in WithDefaults, which Run
// calls itself.
type Options struct {
	// URL is the chat endpoint. Its host must be loopback: 127.0.0.0/8, ::1
	// or localhost.
	URL string
	// Sessions is how many WebSocket sessions to open. Required (>= 1).
	Sessions int
	// Users is how many distinct users the sessions use: session i is user
	// UserPrefix+(i % Users). Zero means one user per session.
	Users int
	// UserPrefix names the users as `users seed --prefix` does. Empty means
	// the users are named 0, 1, ….
	UserPrefix string
	// Token mints an access token for a user. Required.
	Token func(user string) (string, error)
	// Ramp spreads session starts evenly over this long, in the connect
	// phase and again in the chat phase. Zero starts them all at once.
	Ramp time.Duration
	// MaxHandshakes bounds the dials and authentications in flight. Zero
	// means DefaultMaxHandshakes.
	MaxHandshakes int
	// Messages is how many chat messages each session sends, waiting for
	// each answer before the next. Zero only connects.
	Messages int
	// Think is the pause between the end of an answer and the next message.
	// Zero sends the next message at once.
	Think time.Duration
	// Repeat is the fraction in [0, 1] of messages taken from a fixed
	// question set, so that the response cache has something to hit. Zero
	// makes every message unique to its session and run.
	Repeat float64
	// Hold keeps each session connected and idle this long after chatting.
	// The Duration cap cuts a hold short without counting an error. Zero
	// closes at once.
	Hold time.Duration
	// Duration caps the whole run; sessions still busy then are stopped and
	// counted as errors. Zero means DefaultDuration.
	Duration time.Duration
	// Timeout bounds every wait: one handshake, the connected frame, one
	// whole answer. Zero means DefaultTimeout.
	Timeout time.Duration
	// Compression offers permessage-deflate to the server, which uses it
	// when server.compression is on: to measure what it costs per session.
	Compression bool
	// SourceIPs spreads the client source addresses over 127.0.0.1 ..
	// 127.0.0.SourceIPs, each of which has its own ephemeral ports. Zero
	// leaves the choice to the system, except that above AutoSourceIPsAbove
	// sessions one address per that many sessions is used.
	SourceIPs int
	// ServerPID, when non-zero, is the server process whose CPU time and
	// resident memory are sampled from /proc. Zero samples nothing.
	ServerPID int
	// FreeMemoryURL, with ServerPID, is POSTed before each resident-memory
	// sample: a server's POST /debug/free-memory collects garbage and
	// returns free pages to the system, so that the sample is the memory in
	// use. CPU time is sampled before the request, so the collection it
	// causes is not counted. Empty asks nothing.
	FreeMemoryURL string
	// Soak makes every session chat until Duration ends instead of sending
	// Messages messages: the end of Duration is then the plan, not a stop,
	// and the answer in flight at that moment is neither counted nor
	// recorded. With ServerPID the server's resident memory is sampled
	// every SampleEvery over the run.
	Soak bool
	// SampleEvery is the period of the soak's memory samples. Zero means
	// DefaultSampleEvery.
	SampleEvery time.Duration
	// Record keeps every answer the sessions received (Report.Received), so
	// that the caller can look for each one in the store.
	Record bool
}

// Defaults for the zero values of Options.
const (
	DefaultMaxHandshakes = 128
	DefaultDuration      = 10 * time.Minute
	DefaultTimeout       = 30 * time.Second
	DefaultSampleEvery   = 30 * time.Second
)

// AutoSourceIPsAbove is the session count past which source addresses are
// spread by default: one address has about 28,000 ephemeral ports.
const AutoSourceIPsAbove = 20000

// WithDefaults fills in defaults and checks o, so that a run never starts
// with options it would fail on halfway. It reports every problem at once.
func (o Options) WithDefaults() (Options, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Sessions < 1 {
		bad("sessions must be at least 1, not %d", o.Sessions)
	}
	if o.Users == 0 {
		o.Users = o.Sessions
	}
	if o.Users < 1 {
		bad("users must be at least 1, not %d", o.Users)
	}
	if o.Messages < 0 {
		bad("messages must not be negative")
	}
	if math.IsNaN(o.Repeat) || o.Repeat < 0 || o.Repeat > 1 {
		bad("repeat must be in [0, 1], not %v", o.Repeat)
	}
	if o.MaxHandshakes == 0 {
		o.MaxHandshakes = DefaultMaxHandshakes
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = DefaultSampleEvery
	}
	for name, d := range map[string]time.Duration{"ramp": o.Ramp, "think": o.Think, "hold": o.Hold,
		"duration": o.Duration, "timeout": o.Timeout, "sample-every": o.SampleEvery} {
		if d < 0 {
			bad("%s must not be negative", name)
		}
	}
	if o.MaxHandshakes < 1 {
		bad("max-handshakes must be at least 1")
	}
	if o.SourceIPs == 0 && o.Sessions > AutoSourceIPsAbove {
		o.SourceIPs = (o.Sessions + AutoSourceIPsAbove - 1) / AutoSourceIPsAbove
	}
	if o.SourceIPs < 0 || o.SourceIPs > 255 {
		bad("source-ips must be in [0, 255], not %d", o.SourceIPs)
	}
	if o.Token == nil {
		bad("no token source")
	}
	if o.FreeMemoryURL != "" && o.ServerPID == 0 {
		bad("free-memory-url needs server-pid: it is asked before each sample of the server")
	}
	if o.FreeMemoryURL != "" {
		if err := loopbackHTTP(o.FreeMemoryURL); err != nil {
			errs = append(errs, err)
		}
	}
	u, err := loopbackURL(o.URL)
	if err != nil {
		errs = append(errs, err)
	} else if o.SourceIPs > 0 {
		if o.URL, err = ipv4URL(u); err != nil {
			errs = append(errs, err)
		}
	}
	return o, errors.Join(errs...)
}

// loopbackURL parses a chat endpoint and refuses any host off this machine:
// the load tool must never send traffic beyond loopback.
func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("url %q: want ws:// or wss://", raw)
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return u, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return nil, fmt.Errorf("url %q: refusing host %q: the load tool only targets this machine's loopback (127.0.0.0/8, ::1, localhost)", raw, host)
	}
	return u, nil
}

// loopbackHTTP refuses a free-memory URL that is not http(s) on this
// machine's loopback, for the same reason as loopbackURL.
func loopbackHTTP(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("free-memory-url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("free-memory-url %q: want http:// or https://", raw)
	}
	if host := u.Hostname(); !strings.EqualFold(host, "localhost") {
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Unmap().IsLoopback() {
			return fmt.Errorf("free-memory-url %q: refusing host %q: only this machine's loopback", raw, host)
		}
	}
	return nil
}

// ipv4URL rewrites localhost to 127.0.0.1, since connections from
// 127.0.0.x source addresses must go to an IPv4 address.
func ipv4URL(u *url.URL) (string, error) {
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		c := *u
		c.Host = "127.0.0.1"
		if p := u.Port(); p != "" {
			c.Host += ":" + p
		}
		return c.String(), nil
	}
	if ip, _ := netip.ParseAddr(host); !ip.Unmap().Is4() {
		return "", fmt.Errorf("url %q: source-ips spreads over 127.0.0.x, so the server must be on an IPv4 loopback address", u)
	}
	return u.String(), nil
}

// Limits are the server's per-user limits that a plan can run into, as
// its configuration sets them. Zero means no limit.
type Limits struct {
	MaxConnectionsPerUser int // limits.max_connections_per_user
	RateBurst             int // llm.rate_limit.burst
}

// Plan describes the run o would make, one line each, and warns of the
// errors the server's limits will cause. Call it on the Options that
// WithDefaults returned.
func (o Options) Plan(l Limits) []string {
	users := o.Users
	if users < 1 {
		users = max(o.Sessions, 1)
	}
	perUser := (o.Sessions + users - 1) / users
	messages := fmt.Sprintf("%d messages each", o.Messages)
	if o.Soak {
		messages = "chatting until the end (soak)"
	}
	lines := []string{
		fmt.Sprintf("%d sessions as %s0 … %s%d -> %s", o.Sessions, o.UserPrefix, o.UserPrefix,
			min(users, o.Sessions)-1, o.URL),
		fmt.Sprintf("ramp %s, at most %d handshakes in flight, %s, think %s, repeat %.2f, hold %s, cap %s",
			o.Ramp, o.MaxHandshakes, messages, o.Think, o.Repeat, o.Hold, o.Duration),
	}
	if o.SourceIPs > 0 {
		lines = append(lines, fmt.Sprintf("source addresses 127.0.0.1 … 127.0.0.%d", o.SourceIPs))
	}
	if l.MaxConnectionsPerUser > 0 && perUser > l.MaxConnectionsPerUser {
		lines = append(lines, fmt.Sprintf("warning: up to %d sessions per user exceed limits.max_connections_per_user %d: expect 'Max connections reached'",
			perUser, l.MaxConnectionsPerUser))
	}
	if l.RateBurst > 0 && !o.Soak && perUser*o.Messages > l.RateBurst {
		lines = append(lines, fmt.Sprintf("warning: up to %d messages per user exceed llm.rate_limit.burst %d: expect rate_limited unless cached",
			perUser*o.Messages, l.RateBurst))
	}
	switch {
	case o.Repeat == 0:
	case perUser == 1:
		lines = append(lines, "note: cache hits need a user to repeat a conversation; with one session per user, use --users below --sessions")
	case o.Sessions > 0:
		// Sessions i and i+users share a user; the later one hits only if
		// the earlier one's answer was complete (and cached) by then.
		lines = append(lines, fmt.Sprintf("note: sessions of one user start %s apart: a repeated question hits the cache only if the earlier answer has finished by then",
			time.Duration(int64(o.Ramp)*int64(users)/int64(o.Sessions))))
	}
	return lines
}
