// Package loadtest drives many chat sessions against a Wealth Coach server
// on this machine and measures what they saw: handshake and authentication
// latency, time to first token, whole and cached answers, errors by kind,
// and optionally the server process's CPU time and resident memory.
//
// Run is the engine behind `wealthcoach loadtest`; the command turns its
// flags into Options and prints the Report with PrintTable or as JSON. The
// Report's JSON form is what scripts and cmd/bench read, so its field names
// do not change.
//
// A run has two phases. In the first every session connects and
// authenticates, its start spread over Options.Ramp, with at most
// Options.MaxHandshakes handshakes in flight; the server is then sampled
// with every session connected and idle. In the second every session
// chats, again spread over the ramp, each message sent after the previous
// answer, then holds its connection idle and closes.
//
// A soak (Options.Soak) chats until Options.Duration instead: its end is
// the plan, not a failure. With Options.Record every answer received is
// kept, and Verify then looks each one up in the store the server writes
// to, counting answers received against audit records and messages stored.
//
// Concurrency: each session is one goroutine, and Run returns only after
// every one of them has ended. Waits are bounded by Options.Timeout, and
// the end of the run (Options.Duration, or the caller's context) closes
// every connection, so no goroutine outlives Run. Sessions share only
// atomic counters, latency buffers written by one atomic slot reservation
// each, and an error tally under a mutex; a latency summary sorts its
// buffer, so the report is built only once every session has finished.
//
// The engine refuses any endpoint that is not this machine's loopback
// (127.0.0.0/8, ::1, localhost): it must never send load elsewhere.
package loadtest
