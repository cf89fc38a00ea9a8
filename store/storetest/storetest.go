package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq" // registers the "postgres" driver
	"github.com/redis/go-redis/v9"
)

// Defaults for the servers `just services` starts locally.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
)

// RequireEnv names the variable that turns skips for missing services into
// failures when set to 1.
const RequireEnv = "WEALTHCOACH_REQUIRE_SERVICES"

// reachTimeout bounds the check that a server is there, so a run without
// services skips quickly.
const reachTimeout = 3 * time.Second

// Unavailable ends the test because a service it needs is missing: a skip
// naming the reason, or a failure when RequireEnv is 1.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf(format+" ("+RequireEnv+"=1)", args...)
	}
	t.Skipf(format+" (set "+RequireEnv+"=1 to fail instead)", args...)
}

// PostgresURL creates an empty database on the server named by
// DATABASE_URL (default DefaultDatabaseURL), returns a URL for it, and drops
// it, disconnecting its users, when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := env("DATABASE_URL", DefaultDatabaseURL)
	admin, err := sql.Open("postgres", base)
	if err != nil {
		Unavailable(t, "postgres %s: %s", redacted(base), scrub(err, base))
	}
	admin.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), reachTimeout)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		Unavailable(t, "postgres %s unreachable: %s", redacted(base), scrub(err, base))
	}
	name := "wc_test_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return withDatabase(base, name)
}

// PostgresSchemas makes one database for tb (see PostgresURL) and returns a
// function giving DSNs on it, each with a schema of its own first on the
// search_path, so every store starts empty without paying for a database
// each. The schemas go with the database when tb ends.
func PostgresSchemas(tb testing.TB) func(tb testing.TB) string {
	tb.Helper()
	base := PostgresURL(tb)
	admin, err := sql.Open("postgres", base)
	if err != nil {
		tb.Fatalf("open admin connection: %v", err)
	}
	tb.Cleanup(func() { _ = admin.Close() })
	var schemas atomic.Int64
	return func(tb testing.TB) string {
		tb.Helper()
		schema := fmt.Sprintf("s%d", schemas.Add(1))
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			tb.Fatalf("create schema: %v", err)
		}
		return withParam(base, "search_path", schema)
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

// withDatabase points a postgres:// URL or a key=value DSN at database name.
func withDatabase(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn + " dbname=" + name // a later key wins in a key=value DSN
	}
	u.Path = "/" + name
	return u.String()
}

// RedisURL returns REDIS_URL (default DefaultRedisURL) once its server
// answers. Use Prefix to keep a test's keys apart.
func RedisURL(t testing.TB) string {
	t.Helper()
	raw := env("REDIS_URL", DefaultRedisURL)
	client, err := newRedis(raw)
	if err != nil {
		Unavailable(t, "redis %s: %s", redacted(raw), scrub(err, raw))
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), reachTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		Unavailable(t, "redis %s unreachable: %s", redacted(raw), scrub(err, raw))
	}
	return raw
}

// Prefix returns a key prefix no other test uses and deletes the keys under
// it, on the server named by REDIS_URL, when the test ends.
func Prefix(t testing.TB) string {
	t.Helper()
	prefix := "wctest:" + randomHex(8) + ":"
	t.Cleanup(func() { deleteKeys(t, env("REDIS_URL", DefaultRedisURL), prefix) })
	return prefix
}

func deleteKeys(t testing.TB, raw, prefix string) {
	client, err := newRedis(raw)
	if err != nil {
		return // RedisURL has reported it
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("list redis keys under %s: %v", prefix, err)
		return
	}
	if len(keys) > 0 {
		if err := client.Del(ctx, keys...).Err(); err != nil {
			t.Logf("delete redis keys under %s: %v", prefix, err)
		}
	}
}

func newRedis(raw string) (*redis.Client, error) {
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	opts.DialTimeout = reachTimeout
	return redis.NewClient(opts), nil
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// redacted names a server for messages without its password.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(connection string)"
	}
	return u.Redacted()
}

// scrub removes raw's password from an error's text: parsers quote the URL
// they failed on.
func scrub(err error, raw string) string {
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	if perr := (*url.Error)(nil); errors.As(err, &perr) {
		msg = "invalid url"
	}
	return msg
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
