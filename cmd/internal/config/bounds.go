package config

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Sizes used by the bounds below.
const (
	kib = 1 << 10
	mib = 1 << 20
)

// MaxFrameBytesLimit is the largest limits.max_frame_bytes accepted. gws
// reads at most 16 MiB by default and a frame header above 4 GiB crashes it,
// so the limit stays well inside what it handles; a chat frame needs far less.
const MaxFrameBytesLimit = 16 * mib

// bound is the allowed range of one numeric or duration key, ends included.
// Durations are in nanoseconds. why is shown with the error and documented
// beside the key in config.yaml and the README.
type bound struct {
	key      string
	min, max float64
	why      string
}

func ints(key string, lo, hi int, why string) bound {
	return bound{key: key, min: float64(lo), max: float64(hi), why: why}
}

func durations(key string, lo, hi time.Duration, why string) bound {
	return bound{key: key, min: float64(lo), max: float64(hi), why: why}
}

func numbers(key string, lo, hi float64, why string) bound {
	return bound{key: key, min: lo, max: hi, why: why}
}

// bounds lists the range of every numeric and duration key, checked in one
// place (checkBounds). A key missing here fails TestEveryNumberIsBounded.
// Rules that relate two keys are in validateLimits.
var bounds = []bound{
	durations("server.write_timeout", time.Second, 5*time.Minute,
		"shorter drops slow links; longer keeps stalled sockets"),
	durations("server.ping_interval", 100*time.Millisecond, 10*time.Minute,
		"a pong needs a round trip; a vanished client holds its session for three"),
	durations("auth.leeway", 0, 5*time.Minute,
		"more is a broken clock, and lets expired tokens in"),
	durations("auth.timeout", 100*time.Millisecond, 5*time.Minute,
		"a client needs a round trip; a waiting socket holds a slot"),
	durations("auth.refresh_warning", time.Second, time.Hour,
		"a client needs a round trip to refresh; tokens rarely live an hour"),
	ints("limits.max_connections_per_user", 1, 100,
		"a user has a few devices, not hundreds"),
	ints("limits.max_sessions", 1, 1_000_000,
		"about 16 KiB each, so a million take 16 GiB"),
	ints("limits.max_unauthenticated", 1, 1_000_000,
		"a waiting socket costs about as much as a session"),
	ints("limits.max_unauthenticated_per_ip", 1, 100_000,
		"a NAT shares one address among many users; one host must not take every slot"),
	ints("limits.max_message_chars", 1, 100_000,
		"longer would crowd the model's context"),
	ints("limits.max_frame_bytes", kib, MaxFrameBytesLimit,
		"gws reads at most 16 MiB, and crashes at 4 GiB"),
	ints("limits.max_auth_frame_bytes", kib, 64*kib,
		"a token takes a few KiB; unauthenticated input stays small"),
	ints("limits.frames_per_second", 1, 1000,
		"a chat client sends a few frames a second"),
	ints("limits.frame_burst", 1, 1000,
		"a chat client sends a few frames at once"),
	ints("limits.max_pending_bytes", 64*kib, 64*mib,
		"a response frame carries the whole answer; more wastes memory on slow clients"),
	ints("history.max_messages", 0, 100,
		"each one is sent with every request"),
	durations("history.flush_interval", 10*time.Millisecond, 10*time.Second,
		"shorter writes a batch per exchange; longer loses more in a crash"),
	ints("history.queue", 100, 1_000_000,
		"each waiting exchange holds its question and answer in memory"),
	// validateHistory refuses the gap between 0 and 1h.
	durations("history.retention", 0, 100*365*24*time.Hour,
		"0 keeps every message; pruning runs hourly"),
	// validateHistory refuses the gap between 0 and 1h.
	durations("audit.retention", 0, 100*365*24*time.Hour,
		"0 keeps every record; pruning runs hourly"),
	durations("llm.timeout", time.Second, 10*time.Minute,
		"long answers stream for minutes, stuck calls should not"),
	ints("llm.max_tokens", 1, 131_072,
		"no current model writes longer answers"),
	numbers("llm.temperature", 0, 2,
		"what OpenAI-compatible APIs accept"),
	ints("llm.max_retries", 0, 10,
		"each retry delays the first token further"),
	ints("llm.breaker.failures", 1, 1000,
		"one failure is noise; a thousand in a row is never a healthy provider"),
	durations("llm.breaker.cooldown", time.Second, time.Hour,
		"shorter hammers a failing provider; longer keeps a recovered one idle"),
	ints("llm.max_answer_bytes", kib, mib,
		"caps what one answer costs in memory, cache and frames"),
	ints("llm.rate_limit.per_minute", 1, 60_000,
		"more than one call a millisecond is no limit"),
	ints("llm.rate_limit.burst", 1, 1000,
		"a larger burst is no limit"),
	ints("llm.budget.daily_tokens", 0, 1_000_000_000,
		"0 is off; a billion tokens a day is no budget"),
	durations("cache.ttl", time.Second, 30*24*time.Hour,
		"answers about money go stale within a month"),
	ints("cache.max_entries", 1, 1_000_000,
		"each entry holds up to llm.max_answer_bytes"),
	durations("cluster.lease_ttl", 3*time.Second, 10*time.Minute,
		"renewed every third of it; longer keeps a dead node's slots"),
	durations("stream.flush_interval", time.Millisecond, time.Second,
		"shorter sends a frame per token, longer looks stuck"),
	ints("stream.flush_bytes", 1, mib,
		"past the largest answer only flush_interval matters"),
	durations("stream.resume_window", 0, 10*time.Minute,
		"a client reconnects within seconds; a held answer costs memory"),
	durations("shutdown.drain_timeout", 0, 10*time.Minute,
		"orchestrators kill a process that takes longer"),
}

// checkBounds reports every numeric key, among those under one of the
// prefixes (all keys when none is given), that is outside its range or not
// a finite number.
func (c *Config) checkBounds(p *problems, prefixes ...string) {
	values := map[string]reflect.Value{}
	for _, l := range leaves(reflect.ValueOf(c).Elem(), "") {
		values[l.key] = l.value
	}
	for _, b := range bounds {
		v, ok := values[b.key]
		if !ok || !underAny(b.key, prefixes) {
			continue
		}
		x, shown := numeric(v)
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			p.addf(b.key, "%s is not a finite number; allowed %s", shown, b.describe(v.Type()))
		case x < b.min || x > b.max:
			p.addf(b.key, "%s is outside the allowed %s", shown, b.describe(v.Type()))
		}
	}
}

// describe gives the range, as config.yaml and the README write it, with
// the reason.
func (b bound) describe(t reflect.Type) string {
	return "range " + b.rangeText(t) + " (" + b.why + ")"
}

// rangeText is the range as config.yaml and the README write it, e.g.
// "1 KiB to 16 MiB" or "0s to 5m".
func (b bound) rangeText(t reflect.Type) string {
	return b.format(b.min, t) + " to " + b.format(b.max, t)
}

func underAny(key string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, prefix := range prefixes {
		if strings.HasPrefix(key, prefix) {
			return true
		}
	}
	return false
}

// numeric returns a numeric field's value for comparison, and as written
// in config.yaml.
func numeric(v reflect.Value) (float64, string) {
	switch {
	case v.Type() == durationType:
		return float64(v.Int()), time.Duration(v.Int()).String()
	case v.CanInt():
		return float64(v.Int()), strconv.FormatInt(v.Int(), 10)
	case v.CanUint():
		return float64(v.Uint()), strconv.FormatUint(v.Uint(), 10)
	case v.CanFloat():
		return v.Float(), strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return math.NaN(), v.Kind().String()
}

// format writes one end of a range: durations without trailing zero
// units ("5m", not "5m0s"), byte counts of whole KiB or MiB in those units.
func (b bound) format(x float64, t reflect.Type) string {
	switch {
	case t == durationType:
		s := time.Duration(x).String()
		if head, ok := strings.CutSuffix(s, "m0s"); ok {
			s = head + "m"
		}
		if head, ok := strings.CutSuffix(s, "h0m"); ok {
			s = head + "h"
		}
		return s
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	n := int64(x)
	switch {
	case !strings.HasSuffix(b.key, "_bytes") || n == 0:
	case n%mib == 0:
		return strconv.FormatInt(n/mib, 10) + " MiB"
	case n%kib == 0:
		return strconv.FormatInt(n/kib, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10)
}
