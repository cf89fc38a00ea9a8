package memory

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
)

// Cache is the embedded response cache: an LRU of at most a fixed number of
// answers, each with its own expiry. It is safe for concurrent use and
// never blocks on I/O.
type Cache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*list.Element
	lru     list.List // front: most recently used
	now     func() time.Time
}

type entry struct {
	key     string
	answer  string
	expires time.Time
}

// defaultMaxEntries applies when NewCache is given no positive bound.
const defaultMaxEntries = 10_000

var _ store.Cache = (*Cache)(nil)

// NewCache returns a cache holding at most maxEntries answers (default
// 10,000 when maxEntries <= 0).
func NewCache(maxEntries int) *Cache {
	if maxEntries <= 0 {
		maxEntries = defaultMaxEntries
	}
	return &Cache{max: maxEntries, entries: make(map[string]*list.Element), now: time.Now}
}

// Get returns the answer stored under key, if it has not expired.
func (c *Cache) Get(_ context.Context, key string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return "", false, nil
	}
	e := el.Value.(*entry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		return "", false, nil
	}
	c.lru.MoveToFront(el)
	return e.answer, true, nil
}

// Set stores answer under key for ttl, evicting the least recently used
// entry when the cache is full. Answers over store.MaxCachedAnswerBytes, and
// a ttl that is not positive, are not stored.
func (c *Cache) Set(_ context.Context, key, answer string, ttl time.Duration) error {
	if len(answer) > store.MaxCachedAnswerBytes || ttl <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	expires := c.now().Add(ttl)
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*entry)
		e.answer, e.expires = answer, expires
		c.lru.MoveToFront(el)
		return nil
	}
	c.entries[key] = c.lru.PushFront(&entry{key: key, answer: answer, expires: expires})
	for c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
	return nil
}

// Len is the number of entries held, expired ones included until touched.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Ping always succeeds: the memory cache cannot be unreachable.
func (c *Cache) Ping(context.Context) error { return nil }

func (c *Cache) remove(el *list.Element) {
	c.lru.Remove(el)
	delete(c.entries, el.Value.(*entry).key)
}
