package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/postgres"
	"github.com/wealthwarriors/wealthcoach/store/sqlite"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
	"github.com/wealthwarriors/wealthcoach/transport/auth"
	"github.com/wealthwarriors/wealthcoach/transport/llm/llmfake"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

const testSecret = "test-secret-0123456789-abcdefghijklmnop"

// testServer is the whole program serving on loopback ports, with the
// project's fake model behind it over HTTP.
type testServer struct {
	t      *testing.T
	ws     string // ws://host:port/ws/chat
	admin  string // http://host:port
	model  *llmfake.Server
	store  testStore // the server's database, opened beside it
	logs   *syncBuffer
	env    map[string]string // the server's environment, to start another on the same store
	cancel context.CancelFunc
	done   chan error
}

type serverOpts struct {
	env     map[string]string
	hooks   hooks
	fake    llmfake.Options
	backend backend
	// pgProxy, with the postgres backend, routes the server's database
	// connections through a proxy the test can cut.
	pgProxy **storetest.Proxy
	// redis, with the postgres backend, is a private Redis the test can stop.
	redis **storetest.RedisServer
}

// backend is the pair of store and cache a test server runs on.
type backend string

const (
	embedded     backend = "sqlite+memory"
	realServices backend = "postgres+redis"
)

// forEachBackend runs fn against the embedded default and against the real
// PostgreSQL and Redis: one suite for every implementation.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range []backend{embedded, realServices} {
		t.Run(string(b), func(t *testing.T) { fn(t, b) })
	}
}

// testStore is what tests do to the server's database directly.
type testStore interface {
	AddUser(ctx context.Context, u store.User) error
	PutProfile(ctx context.Context, id string, p store.Profile) error
	SetDisabled(ctx context.Context, id string, disabled bool) error
	SeedUsers(ctx context.Context, prefix string, count int) (int, error)
	Close() error
}

// backendEnv returns the environment that puts a server on o.backend, and
// how the test reaches the same database directly.
func backendEnv(t *testing.T, dir string, o serverOpts) (env map[string]string, direct string) {
	if o.backend != realServices {
		db := filepath.Join(dir, "test.db")
		return map[string]string{"WEALTHCOACH_STORE_DSN": db}, db
	}
	dsn := storetest.PostgresURL(t)
	direct = dsn
	if o.pgProxy != nil {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		*o.pgProxy = storetest.StartProxy(t, u.Host)
		u.Host = (*o.pgProxy).Addr()
		dsn = u.String()
	}
	redisURL := storetest.RedisURL(t)
	if o.redis != nil {
		*o.redis = storetest.StartRedisServer(t)
		redisURL = (*o.redis).URL()
	}
	return map[string]string{
		"DATABASE_URL":             dsn,
		"REDIS_URL":                redisURL,
		"WEALTHCOACH_CACHE_PREFIX": storetest.Prefix(t),
	}, direct
}

func openTestStore(t *testing.T, b backend, direct string) testStore {
	ctx := context.Background()
	if b == realServices {
		st, err := postgres.Open(ctx, direct)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st, err := sqlite.Open(ctx, direct)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// startServer runs `wealthcoach serve` in-process with a fresh SQLite file
// and the fake model, and waits until it listens.
func startServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	dir := t.TempDir()
	fake := llmfake.New(o.fake)
	modelSrv := httptest.NewServer(fake)
	t.Cleanup(func() { fake.Close(); modelSrv.Close() })

	env := map[string]string{
		"WEALTHCOACH_SERVER_LISTEN":      "127.0.0.1:0",
		"WEALTHCOACH_ADMIN_LISTEN":       "127.0.0.1:0",
		"WEALTHCOACH_AUTH_JWT_SECRET":    testSecret,
		"WEALTHCOACH_LLM_PROVIDER":       "openai",
		"WEALTHCOACH_LLM_BASE_URL":       modelSrv.URL + "/v1",
		"WEALTHCOACH_LLM_API_KEY":        "test-key",
		"WEALTHCOACH_LOG_LEVEL":          "debug",
		"WEALTHCOACH_STREAM_FLUSH_BYTES": "1000000",
	}
	benv, direct := backendEnv(t, dir, o)
	for k, v := range benv {
		env[k] = v
	}
	for k, v := range o.env {
		env[k] = v
	}
	logs := &syncBuffer{}
	ready := make(chan [2]string, 1)
	m := &Main{Stdin: strings.NewReader(""), Stdout: logs, Stderr: logs,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, hooks: o.hooks}
	m.hooks.ready = func(pub, adm string) { ready <- [2]string{pub, adm} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte("# test configuration: all from the environment\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	go func() { done <- m.Run(ctx, []string{"serve", "--config", cfgPath}) }()
	ts := &testServer{t: t, model: fake, logs: logs, env: env, cancel: cancel, done: done}
	select {
	case addrs := <-ready:
		ts.ws = "ws://" + addrs[0] + "/ws/chat"
		ts.admin = "http://" + addrs[1]
	case err := <-done:
		t.Fatalf("server exited: %v\n%s", err, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not start\n%s", logs.String())
	}
	st := openTestStore(t, o.backend, direct)
	ts.store = st
	t.Cleanup(func() {
		ts.stop()
		st.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// stop shuts the server down as SIGTERM would and returns Run's result.
func (ts *testServer) stop() error {
	ts.cancel()
	select {
	case err, ok := <-ts.done:
		if ok {
			close(ts.done)
		}
		return err
	case <-time.After(30 * time.Second):
		ts.t.Error("server did not stop within 30s")
		return errors.New("timeout")
	}
}

// addUser creates a user with an optional profile.
func (ts *testServer) addUser(id string, p *store.Profile) {
	ts.t.Helper()
	ctx := context.Background()
	if err := ts.store.AddUser(ctx, store.User{ID: id, Name: "Test " + id}); err != nil {
		ts.t.Fatal(err)
	}
	if p != nil {
		if err := ts.store.PutProfile(ctx, id, *p); err != nil {
			ts.t.Fatal(err)
		}
	}
}

func token(t *testing.T, user string, mod func(*auth.MintOptions)) string {
	t.Helper()
	o := auth.MintOptions{Secret: []byte(testSecret), UserID: user, TTL: time.Hour}
	if mod != nil {
		mod(&o)
	}
	tok, err := auth.Mint(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dial opens a connection without authenticating.
func (ts *testServer) dial() *wsclient.Client {
	ts.t.Helper()
	c, _, err := wsclient.Dial(ts.ws, wsclient.Options{})
	if err != nil {
		ts.t.Fatalf("dial: %v", err)
	}
	ts.t.Cleanup(func() { _ = c.CloseWithoutFrame() })
	return c
}

// connect opens a connection and authenticates as user.
func (ts *testServer) connect(user string) *wsclient.Client {
	ts.t.Helper()
	c := ts.dial()
	if err := c.Authenticate(token(ts.t, user, nil)); err != nil {
		ts.t.Fatal(err)
	}
	f := next(ts.t, c)
	if f.Type != "connected" || f.UserID != user || f.SessionID == "" {
		ts.t.Fatalf("want connected for %s, got %s", user, f.Raw)
	}
	return c
}

const frameWait = 10 * time.Second

func next(t *testing.T, c *wsclient.Client) *wsclient.Frame {
	t.Helper()
	f, err := c.Next(frameWait)
	if err != nil {
		t.Fatalf("waiting for a frame: %v", err)
	}
	return f
}

// expectClose reads the error frame the server sends before an
// authentication close (when wantCode is not empty), then the close.
func expectClose(t *testing.T, c *wsclient.Client, wantCode string, wantClose int, wantReason string) {
	t.Helper()
	if wantCode != "" {
		f := next(t, c)
		if f.Type != "error" || f.Code != wantCode || f.Message == "" {
			t.Fatalf("want error frame %q, got %s", wantCode, f.Raw)
		}
	}
	ce, err := c.Closed(frameWait)
	if err != nil {
		t.Fatalf("waiting for close: %v", err)
	}
	if ce.Code != wantClose || (wantReason != "*" && ce.Reason != wantReason) {
		t.Fatalf("want close %d %q, got %d %q", wantClose, wantReason, ce.Code, ce.Reason)
	}
}

// expectError reads one error frame with code.
func expectError(t *testing.T, c *wsclient.Client, code string) *wsclient.Frame {
	t.Helper()
	f := next(t, c)
	if f.Type != "error" || f.Code != code {
		t.Fatalf("want error %q, got %s", code, f.Raw)
	}
	return f
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func mustSend(t *testing.T, c *wsclient.Client, v any) {
	t.Helper()
	if err := c.Send(v); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func msg(content string) map[string]string {
	return map[string]string{"type": "message", "content": content}
}

var _ = fmt.Sprintf

// errorAfterText reads past the response frames of an answer still
// streaming to the error frame that ends or interrupts it, and checks its
// code and reply_to. An answer cut after some text must end with a done
// frame, finish_reason error, before the error (SPEC 8.1); any other done
// frame fails the test.
func errorAfterText(t *testing.T, c *wsclient.Client, code, replyTo string) {
	t.Helper()
	var text, cut bool
	for {
		f := next(t, c)
		switch {
		case f.Type == "error":
			if f.Code != code || f.ReplyTo != replyTo {
				t.Fatalf("want error %q for %q, got %s", code, replyTo, f.Raw)
			}
			if text && !cut {
				t.Fatalf("text was streamed, but no done frame with finish_reason error came before %s", f.Raw)
			}
			return
		case f.Done:
			if f.FinishReason != "error" || cut {
				t.Fatalf("want error %q, but the answer finished: %s", code, f.Raw)
			}
			cut = true
		case f.Type == "response":
			text = true
		}
	}
}

// readAnswer reads response frames until the done frame and returns them
// all; any other frame fails the test.
func readAnswer(t *testing.T, c *wsclient.Client) []*wsclient.Frame {
	t.Helper()
	var frames []*wsclient.Frame
	for {
		f := next(t, c)
		if f.Type != "response" {
			t.Fatalf("want a response frame, got %s", f.Raw)
		}
		frames = append(frames, f)
		if f.Done {
			return frames
		}
	}
}
