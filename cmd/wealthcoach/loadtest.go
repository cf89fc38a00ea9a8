package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"
)

// fdMargin is the open files a run needs besides one per session: standard
// streams, the runtime's poller, the JSON file.
const fdMargin = 64

// loadtest drives many sessions against a server on this machine and
// prints a latency table. It exits non-zero when any error occurred,
// unless --allow-errors.
func (m *Main) loadtest(ctx context.Context, args []string) error {
	fs, common := m.flagSet("loadtest")
	var o loadOptions
	registerLoadFlags(fs, &o)
	jsonFile := fs.String("json", "", "also write the summary as JSON to this file")
	allowErrors := fs.Bool("allow-errors", false, "exit 0 even when errors occurred")
	keyFile := fs.String("key", "", "PEM private key, for RS/ES/EdDSA configurations")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(m.Stderr, "loadtest takes no arguments, got %q\n", fs.Args())
		return errUsage
	}
	cfg, _, err := m.loadConfig(*common)
	if err != nil {
		return err
	}
	if o.URL == "" {
		o.URL = "ws://" + dialable(cfg.Server.Listen) + "/ws/chat"
	}
	var ttl time.Duration // tokens must outlive the run
	o.Token = func(user string) (string, error) { return mintToken(cfg, user, ttl, *keyFile) }
	if o, err = o.withDefaults(); err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	ttl = o.Duration + o.Timeout + 10*time.Minute
	if err := m.checkOpenFiles(o.Sessions); err != nil {
		return err
	}
	m.warnLoadPlan(o, cfg.Limits.MaxConnectionsPerUser, cfg.LLM.RateLimit.Burst)
	rep, err := runLoad(ctx, o, m.Stderr)
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	printLoadReport(m.Stdout, rep)
	if *jsonFile != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write summary: %w", err)
		}
	}
	if rep.ErrorCount > 0 && !*allowErrors {
		return fmt.Errorf("loadtest: %d errors (--allow-errors to exit 0 anyway)", rep.ErrorCount)
	}
	return nil
}

// registerLoadFlags binds the flags that configure the run itself.
func registerLoadFlags(fs *flag.FlagSet, o *loadOptions) {
	fs.StringVar(&o.URL, "url", "", "chat endpoint, on loopback only (default ws://<server.listen>/ws/chat: ws://127.0.0.1:8080/ws/chat with the defaults)")
	fs.IntVar(&o.Sessions, "sessions", 100, "sessions to open")
	fs.StringVar(&o.UserPrefix, "users-prefix", "user", "users are PREFIX0 … PREFIX{users-1}, as made by `users seed`")
	fs.IntVar(&o.Users, "users", 0, "distinct users; session i is user PREFIX{i % users} (default: one per session)")
	fs.DurationVar(&o.Ramp, "ramp", 2*time.Second, "spread session starts over this long (connect phase and chat phase)")
	fs.IntVar(&o.MaxHandshakes, "max-handshakes", defaultMaxHandshakes, "connects + authentications in flight at most")
	fs.IntVar(&o.Messages, "messages", 1, "messages per session, each sent after the previous answer")
	fs.DurationVar(&o.Think, "think", 500*time.Millisecond, "pause between an answer and the next message")
	fs.Float64Var(&o.Repeat, "repeat", 0, "fraction [0,1] of messages taken from a fixed question set, to exercise the cache")
	fs.DurationVar(&o.Hold, "hold", 0, "stay connected idle this long after chatting")
	fs.DurationVar(&o.Duration, "duration", defaultLoadDuration, "hard cap on the whole run")
	fs.DurationVar(&o.Timeout, "timeout", defaultLoadTimeout, "bound on each wait: a handshake, the connected frame, a whole answer")
	fs.IntVar(&o.SourceIPs, "source-ips", 0, "spread source addresses over 127.0.0.1 … 127.0.0.N (default: 1 per 20000 sessions above 20000)")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "server process to sample in /proc: CPU per handshake and per answer, RSS per idle session")
}

// checkOpenFiles reports the open-file limit and refuses a run that would
// run out of descriptors halfway, where it would fail with obscure dial
// errors.
func (m *Main) checkOpenFiles(sessions int) error {
	soft, hard, err := openFileLimit()
	if err != nil {
		fmt.Fprintf(m.Stderr, "loadtest: %v\n", err)
		return nil
	}
	fmt.Fprintf(m.Stderr, "loadtest: open-file limit %d (hard %d)\n", soft, hard)
	if need := uint64(sessions) + fdMargin; sessions > 0 && need > soft {
		return fmt.Errorf("loadtest: %d sessions need about %d open files, but this process may open %d (hard limit %d): "+
			"raise it (ulimit -n) or run fewer sessions", sessions, need, soft, hard)
	}
	return nil
}

// warnLoadPlan points out plans that will meet the server's per-user
// limits, as this configuration sets them.
func (m *Main) warnLoadPlan(o loadOptions, maxPerUser, burst int) {
	perUser := (o.Sessions + o.Users - 1) / o.Users
	fmt.Fprintf(m.Stderr, "loadtest: %d sessions as %s0 … %s%d -> %s\n", o.Sessions, o.UserPrefix, o.UserPrefix,
		min(o.Users, o.Sessions)-1, o.URL)
	fmt.Fprintf(m.Stderr, "loadtest: ramp %s, at most %d handshakes in flight, %d messages each, think %s, repeat %.2f, hold %s, cap %s\n",
		o.Ramp, o.MaxHandshakes, o.Messages, o.Think, o.Repeat, o.Hold, o.Duration)
	if o.SourceIPs > 0 {
		fmt.Fprintf(m.Stderr, "loadtest: source addresses 127.0.0.1 … 127.0.0.%d\n", o.SourceIPs)
	}
	if maxPerUser > 0 && perUser > maxPerUser {
		fmt.Fprintf(m.Stderr, "loadtest: warning: up to %d sessions per user exceed limits.max_connections_per_user %d: expect 'Max connections reached'\n",
			perUser, maxPerUser)
	}
	if burst > 0 && perUser*o.Messages > burst {
		fmt.Fprintf(m.Stderr, "loadtest: warning: up to %d messages per user exceed llm.rate_limit.burst %d: expect rate_limited unless cached\n",
			perUser*o.Messages, burst)
	}
	switch {
	case o.Repeat == 0:
	case perUser == 1:
		fmt.Fprintln(m.Stderr, "loadtest: note: cache hits need a user to repeat a conversation; with one session per user, use --users below --sessions")
	default:
		// Sessions i and i+users share a user; the later one hits only if
		// the earlier one's answer was complete (and cached) by then.
		fmt.Fprintf(m.Stderr, "loadtest: note: sessions of one user start %s apart: a repeated question hits the cache only if the earlier answer has finished by then\n",
			time.Duration(int64(o.Ramp)*int64(o.Users)/int64(o.Sessions)))
	}
}
