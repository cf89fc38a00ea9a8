package main

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// loadOptions configures runLoad. Defaults are applied in withDefaults.
type loadOptions struct {
	// URL is the chat endpoint. Its host must be loopback: 127.0.0.0/8, ::1
	// or localhost.
	URL string
	// Sessions is how many WebSocket sessions to open. Required (>= 1).
	Sessions int
	// Users is how many distinct users the sessions use: session i is user
	// UserPrefix+(i % Users). Zero means one user per session.
	Users int
	// UserPrefix names the users as `users seed --prefix` does.
	UserPrefix string
	// Token mints an access token for a user. Required.
	Token func(user string) (string, error)
	// Ramp spreads session starts evenly over this long, in the connect
	// phase and again in the chat phase. Zero starts them all at once.
	Ramp time.Duration
	// MaxHandshakes bounds the dials and authentications in flight. Zero
	// means 128.
	MaxHandshakes int
	// Messages is how many chat messages each session sends, waiting for
	// each answer before the next. Zero only connects.
	Messages int
	// Think is the pause between the end of an answer and the next message.
	Think time.Duration
	// Repeat is the fraction in [0, 1] of messages taken from a fixed
	// question set, so that the response cache has something to hit.
	Repeat float64
	// Hold keeps each session connected and idle this long after chatting.
	// The --duration cap cuts a hold short without counting an error.
	Hold time.Duration
	// Duration caps the whole run; sessions still busy then are stopped and
	// counted as errors. Zero means 10 minutes.
	Duration time.Duration
	// Timeout bounds every wait: one handshake, the connected frame, one
	// whole answer. Zero means 30 seconds.
	Timeout time.Duration
	// SourceIPs spreads the client source addresses over 127.0.0.1 ..
	// 127.0.0.SourceIPs, each of which has its own ephemeral ports. Zero
	// leaves the choice to the system, except that above autoSourceIPsAbove
	// sessions one address per that many sessions is used.
	SourceIPs int
	// ServerPID, when non-zero, is the server process whose CPU time and
	// resident memory are sampled from /proc.
	ServerPID int
}

// autoSourceIPsAbove is the session count past which source addresses are
// spread by default: one address has about 28,000 ephemeral ports.
const autoSourceIPsAbove = 20000

const (
	defaultMaxHandshakes = 128
	defaultLoadDuration  = 10 * time.Minute
	defaultLoadTimeout   = 30 * time.Second
)

// withDefaults fills in defaults and checks o, so that a run never starts
// with options it would fail on halfway.
func (o loadOptions) withDefaults() (loadOptions, error) {
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
		o.MaxHandshakes = defaultMaxHandshakes
	}
	if o.Duration == 0 {
		o.Duration = defaultLoadDuration
	}
	if o.Timeout == 0 {
		o.Timeout = defaultLoadTimeout
	}
	for name, d := range map[string]time.Duration{"ramp": o.Ramp, "think": o.Think, "hold": o.Hold,
		"duration": o.Duration, "timeout": o.Timeout} {
		if d < 0 {
			bad("%s must not be negative", name)
		}
	}
	if o.MaxHandshakes < 1 {
		bad("max-handshakes must be at least 1")
	}
	if o.SourceIPs == 0 && o.Sessions > autoSourceIPsAbove {
		o.SourceIPs = (o.Sessions + autoSourceIPsAbove - 1) / autoSourceIPsAbove
	}
	if o.SourceIPs < 0 || o.SourceIPs > 255 {
		bad("source-ips must be in [0, 255], not %d", o.SourceIPs)
	}
	if o.Token == nil {
		bad("no token source")
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
