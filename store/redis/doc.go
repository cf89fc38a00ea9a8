// Package redis is the response cache on a Redis server, for nodes that
// share answers. Cache implements store.Cache with short timeouts, so a slow
// or dead Redis costs a cache miss, never a stalled chat, and reconnects by
// itself once Redis is back: a Redis restart needs no restart of the
// process.
//
// Concurrency: a Cache is safe for concurrent use. Every call does network
// I/O bounded by the timeouts in Options and by its context, so an actor
// must not call it from inside Receive.
package redis
