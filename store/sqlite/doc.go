// Package sqlite is the embedded user and conversation store: one SQLite
// database file, in pure Go (modernc.org/sqlite), the default that needs no
// server. Store implements store.Accounts and store.Journal on the queries
// and migrations shared with store/postgres; this package supplies the
// connection settings, the dialect and the migration files under
// migrations/.
//
// Concurrency: a Store is safe for concurrent use. The file is in WAL mode,
// so logins read in parallel while one writer commits; writers queue on the
// file's lock for up to five seconds. Migrate may run from several
// processes (or stores) sharing the file: they take turns on an exclusive
// flock of <file>.migrate-lock, beside the database, which the kernel
// releases if the holder dies.
package sqlite
