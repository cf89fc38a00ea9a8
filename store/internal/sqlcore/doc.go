// Package sqlcore is what the SQL user stores share: the queries of
// store.Accounts and store.Journal, written once in the dialect SQLite and
// PostgreSQL have in common (the JSON aggregate of a login's last messages
// and PostgreSQL's per-user lock are the Dialect's), and the schema
// migrations, run by goose from each backend's embedded files. A backend
// (store/sqlite, store/postgres) opens the connection and describes its
// Dialect; DB does the rest.
//
// Concurrency: a DB is safe for concurrent use. Its methods block on the
// database and honour their context. The login statements and an
// operator's profile query are prepared once, on first use, behind atomics
// and a mutex, so concurrent first logins prepare at most one extra
// statement each, which is closed at once. AppendMessages may run from
// every node at once: it creates conversation rows in one order (user, id),
// so concurrent batches never deadlock, and resets of one user take turns
// (Dialect.LockUser, or SQLite's single writer). Migrate may run in several processes at
// once: the dialect's session locker makes goose take turns, and adopting
// the old history table happens in one transaction under the same lock.
package sqlcore
