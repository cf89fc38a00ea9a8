// Package store is the wealth coach's domain: users, their financial
// profiles and the accounts a session loads, the errors callers test, and
// the interfaces of the services that keep them: Accounts (the user store,
// with AccountLoader, the part a session uses), Journal (the stored
// conversations) and Cache (the response cache). It imports no database or
// network driver, so the actors depend on it alone.
//
// One package per technology implements the interfaces, and only cmd/
// chooses and wires them:
//
//   - store/sqlite: the embedded user and conversation store, one file,
//     pure Go (the default);
//   - store/postgres: the user and conversation store on a PostgreSQL
//     server;
//   - store/memory: the in-process response cache (an LRU);
//   - store/redis: the response cache shared between nodes.
//
// The two SQL stores share their queries and their migrations (goose, with
// the files embedded in each adapter) through store/internal/sqlcore, so a
// backend only supplies a connection, a dialect and its migration files.
// store/storetest holds the suites every implementation must pass.
//
// Concurrency: every store and cache is safe for concurrent use by many
// goroutines. Their methods (except the memory cache's) do blocking I/O, so
// an actor must never call them from inside Receive; it runs the call in a
// goroutine and receives the result as a message. A session loads its
// Account once, at authentication, and never per chat message. Migrate is
// safe to run from several servers at once on one database.
//
// Errors: callers test ErrNotFound (no such user, including an id no user
// can have), ErrExists and ErrInvalidID with errors.Is. Any other error means
// the store could not be reached or failed, and the caller should treat the
// store as unavailable rather than the user as unknown. Errors never contain
// the password of a DSN or URL.
//
// # Conversations
//
// The SQL stores also implement Journal, on two tables of their own
// (conversations and messages, which reference no user row, so they work
// beside an operator's profile query). A user's current conversation is
// their one open conversation row or, for a user who has none at all, the
// id FirstConversationID derives, so that a login writes nothing; the row
// appears with the first stored message. NewConversation ends the current
// one and opens another.
//
// With SetHistoryMessages(n), n > 0 (history.max_messages), LoadAccount
// also returns the current conversation and its last n messages: on the
// built-in tables in the same single statement as the user and profile, on
// PostgreSQL and on SQLite alike. With a profile query the conversation
// costs a second query, as the first is the operator's. n = 0, the
// default, loads no conversation and leaves Account.ConversationID empty.
//
// # Reading accounts from an existing table
//
// Where users already live in a table of their own, SetProfileQuery
// (store.profile_query) replaces the built-in users/profiles query for
// LoadAccount. The query takes the user id as its one parameter ($1 for
// PostgreSQL, ? for SQLite) and returns at most one row, with columns named:
//
//	id                required; the user id
//	name              display name
//	disabled          true refuses the login
//	currency          ISO 4217 code
//	monthly_income    numbers: any numeric type, NUMERIC included
//	monthly_expenses
//	savings
//	debts
//	risk_tolerance    "low", "medium" or "high"
//	goals             a JSON array of strings, or comma-separated text
//	experience        "beginner", "intermediate" or "advanced"
//
// Names match case-insensitively. Columns left out, and NULLs, read as zero
// values. No row is ErrNotFound. An unknown or repeated column, a missing id,
// or more than one row fails the load with an error naming the problem; the
// columns are only known once the query runs, so that happens at the first
// login, not when the query is set. Commands that write users (users add,
// users seed, the demo seed) still write the built-in tables.
//
// For example, with an existing PostgreSQL table
//
//	CREATE TABLE customers (
//	    customer_id TEXT PRIMARY KEY,
//	    full_name   TEXT NOT NULL,
//	    status      TEXT NOT NULL,      -- 'active' or 'closed'
//	    ccy         CHAR(3),
//	    net_income  NUMERIC(12,2),
//	    spend       NUMERIC(12,2),
//	    cash        NUMERIC(14,2),
//	    loans       NUMERIC(14,2),
//	    risk_band   TEXT,               -- 'LOW', 'MEDIUM', 'HIGH'
//	    objectives  TEXT[]
//	);
//
// this configuration maps it:
//
//	store:
//	  driver: postgres
//	  profile_query: |
//	    SELECT customer_id AS id,
//	           full_name AS name,
//	           status <> 'active' AS disabled,
//	           ccy AS currency,
//	           net_income AS monthly_income,
//	           spend AS monthly_expenses,
//	           cash AS savings,
//	           loans AS debts,
//	           lower(risk_band) AS risk_tolerance,
//	           array_to_json(objectives)::text AS goals
//	    FROM customers
//	    WHERE customer_id = $1
package store
