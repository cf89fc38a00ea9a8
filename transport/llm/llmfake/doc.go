// Package llmfake is an OpenAI-compatible model server for tests, the load
// tool and the fakellm subcommand. It serves POST /v1/chat/completions
// (streamed as server-sent events in OpenAI's chunk format, or as one JSON
// body) and GET /v1/models, answering each request with deterministic text
// derived from its last user message.
//
// Tests program failures with FailNext (a status with Retry-After, a stream
// cut or stalled after some tokens, an error event) and observe the server
// through Requests, RequestCount, Active and Cancelled. Options.FailRate
// injects random failures under load.
//
// # Concurrency
//
// A Server is safe for concurrent use. Each stream runs on its own handler
// goroutine, checks for a departed client between tokens and never outlives
// its request, except that a stalled (Hang) stream lasts until the client
// goes away or Close is called. Token chunks are encoded by appending
// pre-quoted words to a per-request prefix, so a stream costs almost no
// allocations per token.
package llmfake
