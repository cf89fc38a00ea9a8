package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/redis"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

func TestCache(t *testing.T) {
	raw := storetest.RedisURL(t) // skips the suite once, not each case
	storetest.RunCacheSuite(t, func(t *testing.T) store.Cache { return openCache(t, raw) })
}

// openCache returns a cache on the Redis at raw (from storetest.RedisURL)
// under a prefix of its own, whose keys are deleted when the test ends.
func openCache(tb testing.TB, raw string) *redis.Cache {
	tb.Helper()
	c, err := redis.NewCache(raw, redis.Options{Prefix: storetest.Prefix(tb)})
	if err != nil {
		tb.Fatalf("NewCache: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Keys land in Redis under the prefix, with a millisecond expiry, so other
// tools can find and reason about them.
func TestCacheKeyLayout(t *testing.T) {
	ctx := t.Context()
	raw := storetest.RedisURL(t)
	prefix := storetest.Prefix(t)
	c, err := redis.NewCache(raw, redis.Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("NewCache: %v", err)
	}
	defer c.Close()
	storetest.MustSet(t, c, "k", "v", 1500*time.Millisecond)

	opts, err := goredis.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	direct := goredis.NewClient(opts)
	defer direct.Close()
	if got, err := direct.Get(ctx, prefix+"k").Result(); err != nil || got != "v" {
		t.Fatalf("GET %sk = %q, %v; want v", prefix, got, err)
	}
	if ttl, err := direct.PTTL(ctx, prefix+"k").Result(); err != nil || ttl <= time.Second || ttl > 1500*time.Millisecond {
		t.Errorf("PTTL = %v, %v; want just under 1.5s", ttl, err)
	}
	if n, err := direct.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("unprefixed key exists: %d, %v", n, err)
	}
}

func TestCacheDefaultPrefix(t *testing.T) {
	raw := storetest.RedisURL(t)
	c, err := redis.NewCache(raw, redis.Options{})
	if err != nil {
		t.Fatalf("NewCache: %v", err)
	}
	defer c.Close()
	// A key no other run uses, deleted below.
	key := storetest.Prefix(t) + "k"
	storetest.MustSet(t, c, key, "v", time.Minute)

	opts, _ := goredis.ParseURL(raw)
	direct := goredis.NewClient(opts)
	defer direct.Close()
	defer direct.Del(context.Background(), "wc:"+key)
	if got, err := direct.Get(t.Context(), "wc:"+key).Result(); err != nil || got != "v" {
		t.Fatalf("GET wc:%s = %q, %v; want v", key, got, err)
	}
}

func TestNewCacheErrors(t *testing.T) {
	const secret = "s3cret-pw"
	tests := []struct{ name, url string }{
		{"bad port", "redis://user:" + secret + "@127.0.0.1:notaport/0"},
		{"bad scheme", "http://user:" + secret + "@127.0.0.1:6379/0"},
		{"bad database", "redis://user:" + secret + "@127.0.0.1:6379/zero"},
		{"unescaped at sign", "redis://user:" + secret + "@x@127.0.0.1:bad/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := redis.NewCache(tt.url, redis.Options{})
			if err == nil {
				c.Close()
				t.Fatal("NewCache succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
}

// A Redis that dies makes cache calls fail fast, and one that comes back
// is used again by the same Cache, without restarting anything.
func TestCacheRecovers(t *testing.T) {
	ctx := t.Context()
	srv := storetest.StartRedisServer(t)
	// A small pool saturates its dial-error count during the outage, so the
	// test covers the client's background redial as well as plain redials.
	c, err := redis.NewCache(srv.URL(), redis.Options{Prefix: "recover:", PoolSize: 2})
	if err != nil {
		t.Fatalf("NewCache: %v", err)
	}
	defer c.Close()
	storetest.MustSet(t, c, "k", "before", time.Minute)
	storetest.AssertHit(t, c, "k", "before")

	srv.Stop()
	// A generous bound: the point is that a dead cache answers in well
	// under a second instead of hanging the chat.
	const bound = 2 * time.Second
	var slowest time.Duration
	for i := range 10 {
		start := time.Now()
		if _, _, err := c.Get(ctx, "k"); err == nil {
			t.Errorf("Get %d with Redis down succeeded", i)
		}
		if err := c.Set(ctx, "k", "during", time.Minute); err == nil {
			t.Errorf("Set %d with Redis down succeeded", i)
		}
		d := time.Since(start)
		if d > bound {
			t.Errorf("Get+Set %d with Redis down took %v, want under %v", i, d, bound)
		}
		slowest = max(slowest, d)
	}
	t.Logf("slowest Get+Set with Redis down: %v", slowest.Round(time.Microsecond))
	if err := c.Ping(ctx); err == nil {
		t.Error("Ping with Redis down succeeded")
	}

	srv.Start() // empty, on the same port
	start := time.Now()
	testutil.WaitFor(t, 15*time.Second, "the cache to work again on the restarted server", func() bool {
		if err := c.Set(ctx, "k", "after", time.Minute); err != nil {
			return false
		}
		answer, ok, err := c.Get(ctx, "k")
		return err == nil && ok && answer == "after"
	})
	t.Logf("cache usable again %v after Redis restarted", time.Since(start).Round(time.Millisecond))
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping after restart: %v", err)
	}
}
