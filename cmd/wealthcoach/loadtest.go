package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/wealthwarriors/wealthcoach/cmd/internal/config"
	"github.com/wealthwarriors/wealthcoach/internal/loadtest"
)

// loadtest drives many sessions against a server on this machine and
// prints a latency table. It exits non-zero when any error occurred,
// unless --allow-errors.
func (m *Main) loadtest(ctx context.Context, args []string) error {
	fs, common := m.flagSet("loadtest")
	var o loadtest.Options
	registerLoadFlags(fs, &o)
	jsonFile := fs.String("json", "", "also write the summary as JSON to this file")
	allowErrors := fs.Bool("allow-errors", false, "exit 0 even when errors occurred")
	keyFile := fs.String("key", "", "PEM private key, for RS/ES/EdDSA configurations")
	verify := fs.Bool("verify-store", false, "after the run, look up every answer received in the store of --config (audit records and messages) and fail if one is missing")
	verifyWait := fs.Duration("verify-wait", time.Minute, "with --verify-store, how long to wait for the server's writer to store the last answers")
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
	if o, err = o.WithDefaults(); err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	ttl = o.Duration + o.Timeout + 10*time.Minute
	o.Record = *verify
	if err := m.checkOpenFiles(o.Sessions); err != nil {
		return err
	}
	for _, line := range o.Plan(loadtest.Limits{MaxConnectionsPerUser: cfg.Limits.MaxConnectionsPerUser, RateBurst: cfg.LLM.RateLimit.Burst}) {
		fmt.Fprintln(m.Stderr, "loadtest:", line)
	}
	rep, err := loadtest.Run(ctx, o, m.Stderr)
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	rep.PrintTable(m.Stdout)
	if *verify {
		if rep.Store, err = verifyStore(ctx, cfg, rep.Received, *verifyWait); err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
		loadtest.PrintVerification(m.Stdout, rep.Store)
	}
	if *jsonFile != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write summary: %w", err)
		}
	}
	if rep.Store != nil && rep.Store.Lost() > 0 {
		return fmt.Errorf("loadtest: %d answers received are missing from the store", rep.Store.Lost())
	}
	if rep.ErrorCount > 0 && !*allowErrors {
		return fmt.Errorf("loadtest: %d errors (--allow-errors to exit 0 anyway)", rep.ErrorCount)
	}
	return nil
}

// verifyStore looks up the answers received in the configured store,
// again every second while some are missing and wait has not passed: the
// server's writer stores them in batches, later still after an outage.
func verifyStore(ctx context.Context, cfg config.Config, received []loadtest.Received, wait time.Duration) (*loadtest.Verification, error) {
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return nil, fmt.Errorf("verify store: %w", err)
	}
	defer st.Close()
	deadline := time.Now().Add(wait)
	for {
		v, err := loadtest.Verify(ctx, st, received)
		if err != nil || v.Lost() == 0 || time.Now().After(deadline) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, nil
		case <-time.After(time.Second):
		}
	}
}

// registerLoadFlags binds the flags that configure the run itself.
func registerLoadFlags(fs *flag.FlagSet, o *loadtest.Options) {
	fs.StringVar(&o.URL, "url", "", "chat endpoint, on loopback only (default ws://<server.listen>/ws/chat: ws://127.0.0.1:8080/ws/chat with the defaults)")
	fs.IntVar(&o.Sessions, "sessions", 100, "sessions to open")
	fs.StringVar(&o.UserPrefix, "users-prefix", "user", "users are PREFIX0 … PREFIX{users-1}, as made by `users seed`")
	fs.IntVar(&o.Users, "users", 0, "distinct users; session i is user PREFIX{i % users} (default: one per session)")
	fs.DurationVar(&o.Ramp, "ramp", 2*time.Second, "spread session starts over this long (connect phase and chat phase)")
	fs.IntVar(&o.MaxHandshakes, "max-handshakes", loadtest.DefaultMaxHandshakes, "connects + authentications in flight at most")
	fs.IntVar(&o.Messages, "messages", 1, "messages per session, each sent after the previous answer")
	fs.DurationVar(&o.Think, "think", 500*time.Millisecond, "pause between an answer and the next message")
	fs.Float64Var(&o.Repeat, "repeat", 0, "fraction [0,1] of messages taken from a fixed question set, to exercise the cache")
	fs.DurationVar(&o.Hold, "hold", 0, "stay connected idle this long after chatting")
	fs.DurationVar(&o.Duration, "duration", loadtest.DefaultDuration, "hard cap on the whole run; with --soak, its length")
	fs.DurationVar(&o.Timeout, "timeout", loadtest.DefaultTimeout, "bound on each wait: a handshake, the connected frame, a whole answer")
	fs.BoolVar(&o.Compression, "compression", false, "offer permessage-deflate (the server uses it with server.compression on)")
	fs.IntVar(&o.SourceIPs, "source-ips", 0, "spread source addresses over 127.0.0.1 … 127.0.0.N (default: 1 per 20000 sessions above 20000)")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "server process to sample in /proc: CPU per handshake and per answer, RSS per idle session")
	fs.StringVar(&o.FreeMemoryURL, "free-memory-url", "", "with --server-pid, POST here before each RSS sample (the server's http://ADMIN/debug/free-memory) so that RSS is the memory in use")
	fs.BoolVar(&o.Soak, "soak", false, "chat until --duration ends (ignores --messages); with --server-pid, sample RSS every --sample-every")
	fs.DurationVar(&o.SampleEvery, "sample-every", loadtest.DefaultSampleEvery, "period of the server RSS samples in a --soak")
}

// checkOpenFiles reports the open-file limit and refuses a run that would
// run out of descriptors halfway, where it would fail with obscure dial
// errors.
func (m *Main) checkOpenFiles(sessions int) error {
	soft, hard, err := loadtest.OpenFileLimit()
	if err != nil {
		fmt.Fprintf(m.Stderr, "loadtest: %v\n", err)
		return nil
	}
	fmt.Fprintf(m.Stderr, "loadtest: open-file limit %d (hard %d)\n", soft, hard)
	if need := loadtest.FilesNeeded(sessions); sessions > 0 && need > soft {
		return fmt.Errorf("loadtest: %d sessions need about %d open files, but this process may open %d (hard limit %d): "+
			"raise it (ulimit -n) or run fewer sessions", sessions, need, soft, hard)
	}
	return nil
}
