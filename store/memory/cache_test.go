package memory_test

import (
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/memory"
	"github.com/wealthwarriors/wealthcoach/store/storetest"
)

func TestCache(t *testing.T) {
	storetest.RunCacheSuite(t, func(t *testing.T) store.Cache { return memory.NewCache(0) })
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := memory.NewCache(3)
	for _, k := range []string{"a", "b", "c"} {
		storetest.MustSet(t, c, k, k, time.Hour)
	}
	storetest.AssertHit(t, c, "a", "a") // a is now the most recently used
	storetest.MustSet(t, c, "d", "d", time.Hour)
	storetest.AssertMiss(t, c, "b")
	for _, k := range []string{"a", "c", "d"} {
		storetest.AssertHit(t, c, k, k)
	}
	if n := c.Len(); n != 3 {
		t.Errorf("Len = %d, want 3", n)
	}
}
