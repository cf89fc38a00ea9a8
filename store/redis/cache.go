package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/wealthwarriors/wealthcoach/store"
	"github.com/wealthwarriors/wealthcoach/store/internal/redact"
)

// Options tunes a Cache. Zero fields take the defaults below;
// timeouts set in the URL's query (dial_timeout=...) win over the defaults
// but not over fields set here.
type Options struct {
	// Prefix is put before every key, so that several deployments, or the
	// cache and other data, can share one Redis. Default "wc:".
	Prefix string
	// DialTimeout bounds opening a connection. Default 200ms.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for a reply. Default 150ms.
	ReadTimeout time.Duration
	// WriteTimeout bounds sending a command. Default 150ms.
	WriteTimeout time.Duration
	// PoolSize is the most connections kept open. Default go-redis's,
	// 10 per GOMAXPROCS.
	PoolSize int
}

// The timeouts are short because the cache is an optimisation: a chat that
// waits on a slow Redis longer than a few hundred milliseconds would have
// been better off asking the model.
const (
	defaultPrefix       = "wc:"
	defaultDialTimeout  = 200 * time.Millisecond
	defaultReadTimeout  = 150 * time.Millisecond
	defaultWriteTimeout = 150 * time.Millisecond
)

// A command is retried once, soon, on a fresh connection: that absorbs the
// stale pooled connections a Redis restart leaves behind without letting
// one call add up many timeouts.
const (
	maxRetries      = 1
	maxRetryBackoff = 50 * time.Millisecond
)

// Cache is the response cache on a Redis server, for nodes that share
// answers. It is safe for concurrent use. Every call does network I/O
// bounded by the timeouts in Options and by its context.
//
// When Redis goes away, calls fail fast with an error, and the client
// reconnects on its own once the server is back: a restart of Redis needs no
// restart of the process.
type Cache struct {
	client *goredis.Client
	prefix string
}

var _ store.Cache = (*Cache)(nil)

// NewCache returns a cache on the server named by rawURL
// (redis://[user:password@]host:port/db or rediss:// for TLS). It does not
// connect: call Ping to check the server. Errors never contain the URL's
// password.
func NewCache(rawURL string, o Options) (*Cache, error) {
	client, err := NewClient(rawURL, o)
	if err != nil {
		return nil, fmt.Errorf("redis cache: %w", err)
	}
	return &Cache{client: client, prefix: o.prefix()}, nil
}

// NewClient returns a go-redis client for rawURL with the timeouts and
// retry policy of Options (Prefix aside), for the other users of the same
// Redis (package cluster). It does not connect. Errors never contain the
// URL's password.
func NewClient(rawURL string, o Options) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", redact.Error(err, redact.PasswordOf(rawURL)))
	}
	o.applyTo(opts)
	return goredis.NewClient(opts), nil
}

// prefix is o.Prefix or the default.
func (o Options) prefix() string {
	if o.Prefix == "" {
		return defaultPrefix
	}
	return o.Prefix
}

// applyTo sets the client options. A timeout comes from o, else from the
// URL, else from the defaults.
func (o Options) applyTo(opts *goredis.Options) {
	opts.DialTimeout = firstDuration(o.DialTimeout, opts.DialTimeout, defaultDialTimeout)
	opts.ReadTimeout = firstDuration(o.ReadTimeout, opts.ReadTimeout, defaultReadTimeout)
	opts.WriteTimeout = firstDuration(o.WriteTimeout, opts.WriteTimeout, defaultWriteTimeout)
	if o.PoolSize > 0 {
		opts.PoolSize = o.PoolSize
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = maxRetries
	}
	if opts.MaxRetryBackoff == 0 {
		opts.MaxRetryBackoff = maxRetryBackoff
	}
	// One dial attempt per command: the default five attempts with pauses
	// would hold a chat for half a second each time Redis is down.
	if opts.DialerRetries == 0 {
		opts.DialerRetries = 1
	}
	// Callers' deadlines apply, so a cache call never outlives the request.
	opts.ContextTimeoutEnabled = true
	// Maintenance push notifications serve managed clusters; a cache has no
	// use for the extra handshake they add to every new connection.
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}

func firstDuration(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d != 0 {
			return d
		}
	}
	return 0
}

// Get returns the answer stored under key; a missing key is a miss, not an
// error.
func (c *Cache) Get(ctx context.Context, key string) (string, bool, error) {
	answer, err := c.client.Get(ctx, c.prefix+key).Result()
	if errors.Is(err, goredis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("redis cache get: %w", err)
	}
	return answer, true, nil
}

// Set stores answer under key for ttl, to the millisecond. Answers over
// store.MaxCachedAnswerBytes, and a ttl under a millisecond, are not stored.
func (c *Cache) Set(ctx context.Context, key, answer string, ttl time.Duration) error {
	if len(answer) > store.MaxCachedAnswerBytes || ttl < time.Millisecond {
		return nil
	}
	// SET ... PX whatever the ttl, so expiry is to the millisecond.
	err := c.client.Do(ctx, "set", c.prefix+key, answer, "px", ttl.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redis cache set: %w", err)
	}
	return nil
}

// Ping checks that the server answers.
func (c *Cache) Ping(ctx context.Context) error {
	if err := c.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis cache ping: %w", err)
	}
	return nil
}

// Close releases the connections. Calls in flight fail.
func (c *Cache) Close() error {
	return c.client.Close()
}
