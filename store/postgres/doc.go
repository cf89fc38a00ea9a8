// Package postgres is the user and conversation store on a PostgreSQL
// server (lib/pq), for deployments with several nodes. Store implements
// store.Accounts and store.Journal on the queries and migrations shared
// with store/sqlite; this package supplies the connection pool, the
// dialect and the migration files under migrations/.
//
// Concurrency: a Store is safe for concurrent use; its pool holds at most
// 20 connections. Migrate may run from every server starting at once: goose
// holds a session-level advisory lock while it migrates, polled once a
// second for up to five minutes, and the server releases it if the holder's
// connection dies. Resets of one user take turns on a transaction-level
// advisory lock keyed by the user id.
package postgres
