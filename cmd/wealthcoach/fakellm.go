package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
)

// fakellm serves the project's OpenAI-compatible fake model, for trials,
// tests and load: point llm.base_url at http://ADDR/v1.
func (m *Main) fakellm(ctx context.Context, args []string) error {
	fs, _ := m.flagSet("fakellm")
	listen := fs.String("listen", "127.0.0.1:8099", "listen address")
	var o llmfake.Options
	fs.IntVar(&o.Tokens, "tokens", 40, "answer length in tokens")
	fs.DurationVar(&o.FirstTokenDelay, "first-token-delay", 200*time.Millisecond, "pause before the first token")
	fs.DurationVar(&o.TokenDelay, "token-delay", 50*time.Millisecond, "pause between tokens")
	fs.Float64Var(&o.FailRate, "fail-rate", 0, "share of requests that fail, 0 to 1")
	fs.IntVar(&o.FailStatus, "fail-status", 500, "HTTP status of injected failures")
	fs.Float64Var(&o.CutRate, "cut-rate", 0, "share of streams dropped midway, 0 to 1")
	fs.Float64Var(&o.HangRate, "hang-rate", 0, "share of requests that stall until the client gives up, 0 to 1")
	fs.StringVar(&o.APIKey, "api-key", "", "require this bearer token (default: accept any)")
	fs.Int64Var(&o.Seed, "seed", 1, "seed for injected failures")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.FailRate < 0 || o.CutRate < 0 || o.HangRate < 0 || o.FailRate+o.CutRate+o.HangRate > 1 {
		return fmt.Errorf("--fail-rate, --cut-rate and --hang-rate must be 0 or more and add up to at most 1")
	}
	o.MaxRecorded = -1 // a long-running server must not accumulate requests
	fake := llmfake.New(o)
	defer fake.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 5 * time.Second}
	log := slog.New(slog.NewTextHandler(m.Stderr, nil))
	log.Info("fake model listening", slog.String("base_url", "http://"+ln.Addr().String()+"/v1"),
		slog.Int("tokens", o.Tokens), slog.Duration("first_token_delay", o.FirstTokenDelay),
		slog.Duration("token_delay", o.TokenDelay), slog.Float64("fail_rate", o.FailRate))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	fake.Close() // ends streams in progress so Shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
