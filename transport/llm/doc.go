// Package llm owns the connection to the language model behind the chat: an
// OpenAI-compatible client (OpenAI) that works with OpenAI, Azure-style
// gateways, Ollama, vLLM and the project's own fake (package llmfake), and an
// offline Demo provider that is used when no API key is configured. Both
// implement actors.Model, the interface the model actors call, and speak its
// request and chunk types.
//
// # The wire
//
// OpenAI posts to {base_url}/chat/completions itself and reads the
// server-sent events with its own reader. The usual chunk is decoded by a
// hand-written scanner that reads only the fields an answer uses (the first
// choice's text and finish reason, usage); anything else, an error event
// included, goes to encoding/json, one decoder per stream. Per streamed
// answer that is about a fifth of the CPU and a sixth of the allocations of
// go-openai's stream reader (BenchmarkAnswerStream). Failures still carry
// go-openai's error types, an *openai.APIError for an OpenAI error object and
// an *openai.RequestError for any other failed response, inside an *Error.
//
// # Concurrency
//
// A provider is safe for concurrent use: one OpenAI or Demo value serves every
// user. A stream belongs to the goroutine that asked for it; only Close may be
// called from another goroutine, and it aborts a Recv blocked on the network.
// No goroutine started for a stream outlives its Close.
//
// # Retries and cancellation
//
// OpenAI retries a request (429, 5xx, connection failures, a stall or a broken
// stream) only while no token has been produced: Stream reads ahead until the
// first token arrives and returns that token on the first Recv. After Stream
// has returned, a failure surfaces from Recv as an *Error and is never retried,
// so an answer is never shown twice. Cancelling the context passed to Stream
// aborts the HTTP request at once; Stream and Recv then return the context's
// error unwrapped, so errors.Is(err, context.Canceled) tells a cancel from a
// model failure.
package llm
