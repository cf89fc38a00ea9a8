// Package actors is the session runtime: one actor per WebSocket session, a
// registry that enforces the connection caps, a per-user model actor that owns
// the user's rate limit and runs streaming model calls, and a cache actor that
// fronts the response cache.
//
// Concurrency rules:
//
//   - Each actor's state is touched only inside its own Receive. Nothing else
//     reads or writes it.
//   - No Receive blocks on I/O. Profile loads and cache look-ups run on the
//     node's I/O worker pool, model calls in a goroutine of the user's model
//     actor; their results come back to the actor as messages. Each is bounded
//     by a context that its session cancels when it stops, and the node's
//     context, which Node.Stop cancels.
//   - Mailboxes run on a pool of long-lived workers rather than a goroutine
//     per scheduling; since Receive never blocks, a few workers per core keep
//     up. A Receive that blocked would hold a worker: keep them non-blocking.
//   - The registry owns the per-user session slots and starts each user's
//     model actor on the user's first chat message; the model actor owns the
//     user's rate-limit bucket and stops once the user has been gone long
//     enough for the bucket to refill.
//   - The connection side (package transport) talks to a session only through
//     Handle.Send, which never blocks, and the session talks back only through
//     the Peer interface, whose methods must never block either.
//   - Counters read by operators (Stats) are atomics, so reading them never
//     waits on an actor.
package actors
