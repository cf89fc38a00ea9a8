package store_test

// The store tests' access to real services: PostgreSQL and Redis through
// storetest (which skips or fails when they are missing, per
// WEALTHCOACH_REQUIRE_SERVICES), and private redis-server processes for
// fault tests.

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

// postgresOpener makes one database for tb and returns a function opening
// stores on it, each in a schema of its own, so every store starts empty
// without paying for a database each. It also returns the store's DSN, for
// tests that set up tables of their own.
func postgresOpener(tb testing.TB) func(tb testing.TB) (*store.Postgres, string) {
	tb.Helper()
	base := storetest.PostgresURL(tb)
	admin, err := sql.Open("postgres", base)
	if err != nil {
		tb.Fatalf("open admin connection: %v", err)
	}
	tb.Cleanup(func() { _ = admin.Close() })
	var schemas atomic.Int64
	return func(tb testing.TB) (*store.Postgres, string) {
		tb.Helper()
		schema := fmt.Sprintf("s%d", schemas.Add(1))
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			tb.Fatalf("create schema: %v", err)
		}
		dsn := withParam(base, "search_path", schema)
		s, err := store.OpenPostgres(context.Background(), dsn)
		if err != nil {
			tb.Fatalf("OpenPostgres: %v", err)
		}
		tb.Cleanup(func() { _ = s.Close() })
		return s, dsn
	}
}

// withParam adds a connection parameter to a postgres:// URL or a key=value
// DSN. The driver sends parameters it does not know, search_path among
// them, to the server as settings.
func withParam(dsn, key, value string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn + " " + key + "=" + value
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// openRedisCache returns a cache on the Redis at raw (from
// storetest.RedisURL) under a prefix of its own, whose keys are deleted
// when the test ends.
func openRedisCache(tb testing.TB, raw string) *store.RedisCache {
	tb.Helper()
	c, err := store.NewRedisCache(raw, store.RedisOptions{Prefix: storetest.Prefix(tb)})
	if err != nil {
		tb.Fatalf("NewRedisCache: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// redisServer is a private redis-server process, for tests that stop it.
type redisServer struct {
	port int
	cmd  *exec.Cmd
}

// startRedisServer runs redis-server on port, without persistence, and
// waits until it accepts connections. It is stopped when the test ends.
func startRedisServer(t *testing.T, port int) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		storetest.Unavailable(t, "redis-server binary: %v", err)
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	s := &redisServer{port: port, cmd: cmd}
	t.Cleanup(s.stop)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitFor(t, 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	return s
}

// stop kills the server, as a crash would, and waits for it to exit.
func (s *redisServer) stop() {
	if s.cmd.ProcessState != nil {
		return // already stopped
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
