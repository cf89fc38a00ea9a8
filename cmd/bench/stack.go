package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userPrefix names the users the bench seeds: bench0, bench1, …
const userPrefix = "bench"

// startTimeout bounds how long a child may take to listen.
const startTimeout = 30 * time.Second

// bench is what every phase shares: options, binaries, the work directory
// and the processes it owns.
type bench struct {
	o        options
	bins     binaries
	dir      string // work directory: database, logs, reports
	procs    *group
	secret   string // HS256 secret shared by servers, baselines and load
	progress io.Writer
}

func newBench(o options, bins binaries, dir string, procs *group, progress io.Writer) (*bench, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("make a JWT secret: %w", err)
	}
	return &bench{o: o, bins: bins, dir: dir, procs: procs, secret: hex.EncodeToString(raw[:]), progress: progress}, nil
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.progress, "bench: "+format+"\n", a...)
}

func (b *bench) log(name string) string { return logPath(b.dir, name) }

// env is this process's environment without any setting of the server's
// own, so that nothing in the caller's shell changes what is measured, plus
// the given variables.
func (b *bench) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "WEALTHCOACH_"), k == "DATABASE_URL", k == "REDIS_URL", k == "OPENAI_API_KEY", k == "GOGC", k == "GOMEMLIMIT", k == "GOMAXPROCS", k == "GODEBUG":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// serverEnv configures the real server and its seeding. The per-user
// model rate limit and the per-address cap, which would refuse a
// benchmark's load, are raised, and
// shutdown does not wait long for answers; everything else keeps its
// default.
func (b *bench) serverEnv(listen, admin, modelURL string) []string {
	return b.env(
		"WEALTHCOACH_SERVER_LISTEN="+listen,
		"WEALTHCOACH_ADMIN_LISTEN="+admin,
		"WEALTHCOACH_AUTH_JWT_SECRET="+b.secret,
		"WEALTHCOACH_STORE_DRIVER=sqlite",
		"WEALTHCOACH_STORE_DSN="+filepath.Join(b.dir, "wealthcoach.db"),
		"WEALTHCOACH_CACHE_DRIVER=memory",
		"WEALTHCOACH_LLM_PROVIDER=openai",
		"WEALTHCOACH_LLM_BASE_URL="+modelURL,
		"WEALTHCOACH_LLM_API_KEY=bench",
		"WEALTHCOACH_LLM_RATE_LIMIT_PER_MINUTE=6000",
		"WEALTHCOACH_LLM_RATE_LIMIT_BURST=100",
		"WEALTHCOACH_SHUTDOWN_DRAIN_TIMEOUT=2s",
		// Every load session comes from loopback: the per-address cap on
		// sockets still authenticating would refuse a fast ramp.
		"WEALTHCOACH_LIMITS_MAX_UNAUTHENTICATED_PER_IP=100000",
	)
}

// loadEnv is the load tool's environment: it mints tokens with the secret.
func (b *bench) loadEnv() []string {
	return b.env("WEALTHCOACH_AUTH_JWT_SECRET="+b.secret, "WEALTHCOACH_LLM_RATE_LIMIT_BURST=100")
}

// seedUsers adds bench0 … bench{n-1} to the database every server uses.
func (b *bench) seedUsers(ctx context.Context, n int) error {
	return b.procs.run(ctx, procSpec{
		Name: "seed", Bin: b.bins.wealthcoach, Dir: b.dir, Log: b.log("seed"),
		Args: []string{"users", "seed", "--count", strconv.Itoa(n), "--prefix", userPrefix},
		Env:  b.serverEnv(b.o.Host+":0", b.o.Host+":0", "http://"+b.o.Host+":1/v1"),
	})
}

// fakeModel is a running fake model.
type fakeModel struct {
	proc    *process
	baseURL string
}

func (b *bench) startFakeModel(ctx context.Context, name string) (*fakeModel, error) {
	addr, err := freeAddr(b.o.Host)
	if err != nil {
		return nil, err
	}
	p, err := b.procs.start(procSpec{
		Name: name, Bin: b.bins.wealthcoach, Dir: b.dir, Log: b.log(name), Env: b.env(),
		Args: []string{"fakellm", "--listen", addr, "--tokens", strconv.Itoa(b.o.Tokens),
			"--first-token-delay", b.o.FirstTokenDelay.String(), "--token-delay", b.o.TokenDelay.String()},
	})
	if err != nil {
		return nil, err
	}
	if err := waitListening(ctx, p, addr, startTimeout); err != nil {
		b.procs.stop(p)
		return nil, err
	}
	return &fakeModel{proc: p, baseURL: "http://" + addr + "/v1"}, nil
}

// target is a running WebSocket server under load: a baseline or the
// real server.
type target struct {
	proc *process
	url  string // ws://…/ws/chat
	// freeURL answers POST by collecting garbage and returning free
	// memory to the system, for the idle-memory samples.
	freeURL string
}

// startBaseline runs the bare gws server in mode auth or relay.
func (b *bench) startBaseline(ctx context.Context, name, mode string, model *fakeModel) (*target, error) {
	addr, err := freeAddr(b.o.Host)
	if err != nil {
		return nil, err
	}
	args := []string{"--mode", mode, "--listen", addr, "--secret", b.secret}
	if model != nil {
		args = append(args, "--model-url", model.baseURL)
	}
	p, err := b.procs.start(procSpec{Name: name, Bin: b.bins.baseline, Dir: b.dir, Log: b.log(name), Env: b.env(), Args: args})
	if err != nil {
		return nil, err
	}
	if err := waitListening(ctx, p, addr, startTimeout); err != nil {
		b.procs.stop(p)
		return nil, err
	}
	return &target{proc: p, url: "ws://" + addr + "/ws/chat", freeURL: "http://" + addr + "/debug/free-memory"}, nil
}

// startServer runs the real server against the fake model.
func (b *bench) startServer(ctx context.Context, name string, model *fakeModel, env ...string) (*target, error) {
	listen, err := freeAddr(b.o.Host)
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr(b.o.Host)
	if err != nil {
		return nil, err
	}
	p, err := b.procs.start(procSpec{
		Name: name, Bin: b.bins.wealthcoach, Dir: b.dir, Log: b.log(name),
		Args: []string{"serve"}, Env: append(b.serverEnv(listen, admin, model.baseURL), env...),
	})
	if err != nil {
		return nil, err
	}
	for _, addr := range []string{listen, admin} {
		if err := waitListening(ctx, p, addr, startTimeout); err != nil {
			b.procs.stop(p)
			return nil, err
		}
	}
	return &target{proc: p, url: "ws://" + listen + "/ws/chat", freeURL: "http://" + admin + "/debug/free-memory"}, nil
}
