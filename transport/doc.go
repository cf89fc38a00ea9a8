// Package transport connects WebSocket clients to session actors: it
// upgrades /ws/chat with gws, decodes client frames into actor messages,
// encodes the session's replies as JSON text frames, and maps protocol
// errors to close codes and reasons in one table (protocol.go).
//
// Concurrency rules: gws calls OnOpen, OnMessage and OnClose from one
// read goroutine per connection; those callbacks never block on an actor
// (they only Send). Writes go through the connection's gws write queue,
// whose pending bytes are bounded: a client that stops reading is dropped
// instead of growing the queue without limit.
package transport
