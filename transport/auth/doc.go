// Package auth verifies the JSON Web Token a client presents in its first
// frame (the `authenticate` message) and mints tokens for the CLI and tests.
//
// It owns the token rules of the wire protocol: an allow-list of signing
// algorithms (HS256 only by default), key material chosen by configuration
// and never by the token header, a required `exp`, `nbf` and `iat` honoured
// with a configurable leeway, `iss` and `aud` checked when configured, and
// the user id read from a configurable claim (`sub` by default).
//
// Concurrency: a [Verifier] is immutable once [NewVerifier] returns and is
// safe for concurrent use by any number of goroutines. [Verifier.Verify] does
// no I/O and never blocks, so it may run inside a WebSocket callback or an
// actor's Receive. It rejects tokens longer than [MaxTokenBytes] before any
// decoding, so its cost per call is bounded.
//
// Privacy: errors returned by this package never contain the token or any
// part of it, so they are safe to log. [Error.Expired] lets the caller answer
// `token_expired` rather than `invalid_token`.
package auth
