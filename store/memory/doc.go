// Package memory is the response cache inside the process: an LRU of
// answers, each with its own expiry, for a single node or for tests. Cache
// implements store.Cache.
//
// Concurrency: a Cache is safe for concurrent use. Its methods hold one
// mutex for a map look-up and a list move, never do I/O and never block on
// anything else, so an actor may call them directly.
package memory
