package store

import (
	"context"
	"time"
)

// MaxCachedAnswerBytes bounds one cached answer. Longer answers are not
// stored: they are rare, and one runaway answer must not evict hundreds of
// ordinary ones.
const MaxCachedAnswerBytes = 64 << 10

// Cache is the response cache: complete answers by cache key, each with its
// own expiry.
type Cache interface {
	// Get returns the answer stored under key; ok is false on a miss,
	// which is not an error.
	Get(ctx context.Context, key string) (answer string, ok bool, err error)
	// Set stores answer under key for ttl. Answers over
	// MaxCachedAnswerBytes are not stored, nor are ttls too short for the
	// cache to keep: not positive, or below its resolution.
	Set(ctx context.Context, key, answer string, ttl time.Duration) error
	// Ping checks that the cache can be reached.
	Ping(ctx context.Context) error
}
