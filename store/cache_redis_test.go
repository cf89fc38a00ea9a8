package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

// Keys land in Redis under the prefix, with a millisecond expiry, so other
// tools can find and reason about them.
func TestRedisCacheKeyLayout(t *testing.T) {
	ctx := t.Context()
	raw := storetest.RedisURL(t)
	prefix := storetest.Prefix(t)
	c, err := store.NewRedisCache(raw, store.RedisOptions{Prefix: prefix})
	if err != nil {
		t.Fatalf("NewRedisCache: %v", err)
	}
	defer c.Close()
	mustSet(t, c, "k", "v", 1500*time.Millisecond)

	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	direct := redis.NewClient(opts)
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

func TestRedisCacheDefaultPrefix(t *testing.T) {
	raw := storetest.RedisURL(t)
	c, err := store.NewRedisCache(raw, store.RedisOptions{})
	if err != nil {
		t.Fatalf("NewRedisCache: %v", err)
	}
	defer c.Close()
	// A key no other run uses, deleted below.
	key := storetest.Prefix(t) + "k"
	mustSet(t, c, key, "v", time.Minute)

	opts, _ := redis.ParseURL(raw)
	direct := redis.NewClient(opts)
	defer direct.Close()
	defer direct.Del(context.Background(), "wc:"+key)
	if got, err := direct.Get(t.Context(), "wc:"+key).Result(); err != nil || got != "v" {
		t.Fatalf("GET wc:%s = %q, %v; want v", key, got, err)
	}
}

func TestNewRedisCacheErrors(t *testing.T) {
	const secret = "s3cret-pw"
	tests := []struct{ name, url string }{
		{"bad port", "redis://user:" + secret + "@127.0.0.1:notaport/0"},
		{"bad scheme", "http://user:" + secret + "@127.0.0.1:6379/0"},
		{"bad database", "redis://user:" + secret + "@127.0.0.1:6379/zero"},
		{"unescaped at sign", "redis://user:" + secret + "@x@127.0.0.1:bad/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := store.NewRedisCache(tt.url, store.RedisOptions{})
			if err == nil {
				c.Close()
				t.Fatal("NewRedisCache succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
}

// A Redis that dies makes cache calls fail fast, and one that comes back
// is used again by the same RedisCache, without restarting anything.
func TestRedisCacheRecovers(t *testing.T) {
	ctx := t.Context()
	port := freePort(t)
	srv := startRedisServer(t, port)
	// A small pool saturates its dial-error count during the outage, so the
	// test covers the client's background redial as well as plain redials.
	c, err := store.NewRedisCache(srv.url(), store.RedisOptions{Prefix: "recover:", PoolSize: 2})
	if err != nil {
		t.Fatalf("NewRedisCache: %v", err)
	}
	defer c.Close()
	mustSet(t, c, "k", "before", time.Minute)
	assertHit(t, c, "k", "before")

	srv.stop()
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

	startRedisServer(t, port)
	start := time.Now()
	waitFor(t, 15*time.Second, func() bool {
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
