// Package actors is the session runtime: one actor per WebSocket session, a
// registry that enforces the connection caps, a per-user model actor that owns
// the user's rate limit and runs streaming model calls, and a cache actor that
// fronts the response cache.
//
// The path of a chat message, socket to model and back:
//
//  1. transport decodes the frame on the connection's read goroutine and
//     hands it to the session with Handle.Send (never blocks).
//  2. The session validates it, builds the model request (system prompt,
//     memory, message), computes the cache key, and sends cacheGet to the
//     cache actor. The session's first message also sends ensureModel to
//     the registry, once, unless the claim at authentication already named
//     the user's model actor; no later message touches the registry.
//  3. The cache actor adds the asker to the flight of that key if one is
//     under way; otherwise it asks the cache store on an I/O worker (or,
//     while its breaker is open, skips the store) and the result comes back
//     to it as a message.
//  4. A hit goes to every session of the flight as cacheResult, and each
//     sends its single done frame. A miss goes to the first asker only,
//     which leads: the others keep waiting for its answer.
//  5. The leader sends modelAsk to the user's model actor, which checks the
//     user's daily token budget, spends a rate-limit token (or answers
//     modelRejected for either) and runs the call in a
//     goroutine of its own, sending modelText per chunk and modelDone.
//  6. The session coalesces text into response frames through Peer.Answer,
//     which queues the write and returns.
//  7. On done the exchange enters memory, and the session settles the
//     cache: cachePut for an answer the model finished with stop (stored on
//     an I/O worker and handed to the flight's waiters as a hit), or
//     cacheAbandon, which makes the next waiter lead.
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
//     user's rate-limit bucket and the calls in flight, and stops once the
//     user has been gone long enough for the bucket to refill. Operators'
//     per-user listing asks the registry for the sessions and each session
//     for itself, so the chat path keeps no listing up to date.
//   - The cache actor owns the flights (look-ups and misses in flight by
//     key) and the breaker on the cache store.
//   - The connection side (package transport) talks to a session only through
//     Handle.Send, which never blocks, and the session talks back only through
//     the Peer interface, whose methods must never block either.
//   - Counters read by operators (Stats) are atomics, so reading them never
//     waits on an actor.
package actors
