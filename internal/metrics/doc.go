// Package metrics holds the measuring instruments that several packages
// share: the session actors time authentication and answers with them, and
// the WebSocket transport sizes frames with them; the admin endpoints read
// them for /admin/stats and /metrics.
//
// Concurrency: a Histogram is written and read from any goroutine without
// a lock. Observe is a few atomic additions and never allocates, so it may
// sit on every hot path; a reader takes a snapshot bucket by bucket, which
// never blocks an observer and may be off by observations made while it
// reads. The zero Histogram is ready to use and must not be copied after
// first use.
package metrics
