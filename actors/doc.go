// Package actors is the session runtime: one actor per WebSocket session, a
// registry that enforces the connection caps, a per-user model actor that owns
// the user's rate limit and runs streaming model calls, and a cache actor that
// fronts the response cache.
//
// Concurrency rules:
//
//   - Each actor's state is touched only inside its own Receive. Nothing else
//     reads or writes it.
//   - No Receive blocks on I/O. Profile loads, cache look-ups and model calls
//     run in goroutines started by the actor that owns them; their results
//     come back to the actor as messages. Every such goroutine is bounded by a
//     context the owning actor cancels when it stops.
//   - The connection side (package transport) talks to a session only through
//     Handle.Send, which never blocks, and the session talks back only through
//     the Peer interface, whose methods must never block either.
//   - Counters read by operators (Stats) are atomics, so reading them never
//     waits on an actor.
package actors
