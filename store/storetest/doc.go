// Package storetest is what the store adapters' tests share: the suites
// every implementation must pass (RunAccountsSuite and RunMigrationSuite for
// the user stores, RunCacheSuite for the response caches), and access to
// real services, isolated so that test runs never collide: a fresh
// PostgreSQL database per PostgresURL call (and a fresh schema per
// PostgresSchemas DSN), a fresh Redis key prefix per Prefix call, each
// removed when the test ends, and private redis-server processes and TCP
// proxies for fault tests.
//
// When a server cannot be reached the test is skipped with the reason,
// unless WEALTHCOACH_REQUIRE_SERVICES=1, when it fails: CI sets it so a
// missing service cannot pass as a green run.
//
// Concurrency: the suites run some cases in parallel (t.Parallel), so the
// functions giving them stores or caches must be safe to call from several
// tests at once; everything here is.
package storetest
