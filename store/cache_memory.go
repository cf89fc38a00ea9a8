package store

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// MemoryCache is the embedded response cache: an LRU of at most maxEntries
// answers, each with its own expiry. It is safe for concurrent use and
// never blocks on I/O.
type MemoryCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*list.Element
	lru     list.List // front: most recently used
	now     func() time.Time
}

type memoryEntry struct {
	key     string
	answer  string
	expires time.Time
}

// NewMemoryCache returns a cache holding at most maxEntries answers
// (default 10,000 when maxEntries <= 0).
func NewMemoryCache(maxEntries int) *MemoryCache {
	if maxEntries <= 0 {
		maxEntries = 10_000
	}
	return &MemoryCache{max: maxEntries, entries: make(map[string]*list.Element), now: time.Now}
}

// Get returns the answer stored under key, if it has not expired.
func (c *MemoryCache) Get(_ context.Context, key string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return "", false, nil
	}
	e := el.Value.(*memoryEntry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		return "", false, nil
	}
	c.lru.MoveToFront(el)
	return e.answer, true, nil
}

// Set stores answer under key for ttl, evicting the least recently used
// entry when the cache is full. Answers over MaxCachedAnswerBytes are not
// stored.
func (c *MemoryCache) Set(_ context.Context, key, answer string, ttl time.Duration) error {
	if len(answer) > MaxCachedAnswerBytes || ttl <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	expires := c.now().Add(ttl)
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*memoryEntry)
		e.answer, e.expires = answer, expires
		c.lru.MoveToFront(el)
		return nil
	}
	c.entries[key] = c.lru.PushFront(&memoryEntry{key: key, answer: answer, expires: expires})
	for c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
	return nil
}

// Len is the number of entries held, expired ones included until touched.
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Ping always succeeds: the memory cache cannot be unreachable.
func (c *MemoryCache) Ping(context.Context) error { return nil }

func (c *MemoryCache) remove(el *list.Element) {
	c.lru.Remove(el)
	delete(c.entries, el.Value.(*memoryEntry).key)
}
