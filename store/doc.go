// Package store owns the persistent user data of the wealth coach: user
// accounts and their financial profiles, the schema that holds them and the
// migrations that evolve it.
//
// SQLite (a single file, pure Go, the embedded default) implements it today;
// the queries live in one dialect-neutral core so another SQL backend only
// supplies a connection, its placeholder style and its migration files under
// migrations/<driver>/.
//
// Concurrency: every store is safe for concurrent use by many goroutines.
// Its methods do blocking I/O, so an actor must never call them from inside
// Receive; it runs the call in a goroutine and receives the result as a
// message. A session loads its Account once, at authentication, and never
// per chat message.
//
// Errors: callers test ErrNotFound (no such user, including an id no user
// can have), ErrExists and ErrInvalidID with errors.Is. Any other error means
// the store could not be reached or failed, and the caller should treat the
// store as unavailable rather than the user as unknown.
package store
