// Package testutil holds the helpers that tests of every package share:
// polling for a condition instead of sleeping, picking a free loopback
// port, and making self-signed TLS certificates.
//
// It imports nothing from this module, so that any package's tests,
// including those of store and actors, can import it without a cycle.
//
// Concurrency: the helpers fail the test with tb.Fatalf, which must run on
// the test's own goroutine; call them there, not from goroutines a test
// starts.
package testutil
