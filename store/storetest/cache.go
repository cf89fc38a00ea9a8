package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store"
)

// RunCacheSuite is the behaviour every response cache must share. newCache
// returns an empty cache, independent of every other it returns, released
// when the test ends.
func RunCacheSuite(t *testing.T, newCache func(t *testing.T) store.Cache) {
	tests := []struct {
		name string
		run  func(t *testing.T, newCache func(t *testing.T) store.Cache)
	}{
		{"Ping", testCachePing},
		{"Miss", testCacheMiss},
		{"SetGet", testCacheSetGet},
		{"Overwrite", testCacheOverwrite},
		{"Expiry", testCacheExpiry},
		{"NoTTL", testCacheNoTTL},
		{"Oversized", testCacheOversized},
		{"Isolated", testCacheIsolated},
		{"Concurrent", testCacheConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // expiry waits; the rest need not wait with it
			tt.run(t, newCache)
		})
	}
}

func testCachePing(t *testing.T, newCache func(t *testing.T) store.Cache) {
	if err := newCache(t).Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testCacheMiss(t *testing.T, newCache func(t *testing.T) store.Cache) {
	answer, ok, err := newCache(t).Get(t.Context(), "absent")
	if answer != "" || ok || err != nil {
		t.Fatalf("Get(absent) = %q, %v, %v; want a miss", answer, ok, err)
	}
}

func testCacheSetGet(t *testing.T, newCache func(t *testing.T) store.Cache) {
	c := newCache(t)
	tests := []struct{ name, key, answer string }{
		{"plain", "k1", "Save 20% of your income."},
		{"unicode", "ключ:💰", "Épargnez d'abord — 貯金"},
		{"empty answer", "k-empty", ""},
		{"binary-looking", "k\x00\xff", "line1\r\nline2\x00end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			MustSet(t, c, tt.key, tt.answer, time.Hour)
			AssertHit(t, c, tt.key, tt.answer)
		})
	}
}

func testCacheOverwrite(t *testing.T, newCache func(t *testing.T) store.Cache) {
	c := newCache(t)
	MustSet(t, c, "k", "first", time.Hour)
	MustSet(t, c, "k", "second", time.Hour)
	AssertHit(t, c, "k", "second")
}

func testCacheExpiry(t *testing.T, newCache func(t *testing.T) store.Cache) {
	ctx := t.Context()
	c := newCache(t)
	const ttl = 500 * time.Millisecond
	set := time.Now()
	MustSet(t, c, "short", "soon gone", ttl)
	MustSet(t, c, "long", "stays", time.Hour)
	// Only assert the hit if the test was quick enough for it to be due.
	if answer, ok, err := c.Get(ctx, "short"); err != nil {
		t.Fatalf("Get: %v", err)
	} else if !ok && time.Since(set) < ttl {
		t.Fatal("short-lived entry missing before its ttl")
	} else if ok && answer != "soon gone" {
		t.Fatalf("Get = %q", answer)
	}
	testutil.WaitFor(t, 5*time.Second, "the short-lived entry to expire", func() bool {
		_, ok, err := c.Get(ctx, "short")
		return err == nil && !ok
	})
	if time.Since(set) < ttl {
		t.Errorf("entry expired after %v, before its ttl of %v", time.Since(set), ttl)
	}
	AssertHit(t, c, "long", "stays")
}

func testCacheNoTTL(t *testing.T, newCache func(t *testing.T) store.Cache) {
	c := newCache(t)
	for _, ttl := range []time.Duration{0, -time.Second} {
		MustSet(t, c, "k", "never stored", ttl)
		AssertMiss(t, c, "k")
	}
}

func testCacheOversized(t *testing.T, newCache func(t *testing.T) store.Cache) {
	c := newCache(t)
	limit := strings.Repeat("a", store.MaxCachedAnswerBytes)
	MustSet(t, c, "at-limit", limit, time.Hour)
	AssertHit(t, c, "at-limit", limit)
	MustSet(t, c, "over", limit+"b", time.Hour)
	AssertMiss(t, c, "over")
}

func testCacheIsolated(t *testing.T, newCache func(t *testing.T) store.Cache) {
	a, b := newCache(t), newCache(t)
	MustSet(t, a, "same-key", "a's answer", time.Hour)
	AssertMiss(t, b, "same-key")
	MustSet(t, b, "same-key", "b's answer", time.Hour)
	AssertHit(t, a, "same-key", "a's answer")
	AssertHit(t, b, "same-key", "b's answer")
}

func testCacheConcurrent(t *testing.T, newCache func(t *testing.T) store.Cache) {
	ctx := t.Context()
	c := newCache(t)
	const workers, rounds = 16, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				key := fmt.Sprintf("w%d-%d", w, i%5)
				want := fmt.Sprintf("answer %d/%d", w, i)
				if err := c.Set(ctx, key, want, time.Hour); err != nil {
					t.Errorf("Set: %v", err)
					return
				}
				if err := c.Set(ctx, "shared", want, time.Hour); err != nil {
					t.Errorf("Set shared: %v", err)
					return
				}
				// Only this worker writes key, so it must read its own write.
				if got, ok, err := c.Get(ctx, key); err != nil || !ok || got != want {
					t.Errorf("Get(%s) = %q, %v, %v; want %q", key, got, ok, err, want)
					return
				}
				if got, ok, err := c.Get(ctx, "shared"); err != nil || !ok || !strings.HasPrefix(got, "answer ") {
					t.Errorf("Get(shared) = %q, %v, %v", got, ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// MustSet stores answer under key in c or ends the test.
func MustSet(t *testing.T, c store.Cache, key, answer string, ttl time.Duration) {
	t.Helper()
	if err := c.Set(t.Context(), key, answer, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

// AssertHit fails the test unless c holds want under key.
func AssertHit(t *testing.T, c store.Cache, key, want string) {
	t.Helper()
	got, ok, err := c.Get(t.Context(), key)
	if err != nil || !ok || got != want {
		t.Fatalf("Get(%q) = %.40q, %v, %v; want %.40q", key, got, ok, err, want)
	}
}

// AssertMiss fails the test unless c misses key.
func AssertMiss(t *testing.T, c store.Cache, key string) {
	t.Helper()
	got, ok, err := c.Get(t.Context(), key)
	if err != nil || ok {
		t.Fatalf("Get(%q) = %.40q, %v, %v; want a miss", key, got, ok, err)
	}
}
