package actors

import (
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
)

// Code is a protocol error code, as sent in an error frame. Codes that end a
// session are mapped to WebSocket close codes and reasons by the transport.
type Code string

// Error codes that keep the connection open.
const (
	CodeBadRequest           Code = "bad_request"
	CodeEmptyMessage         Code = "empty_message"
	CodeMessageTooLong       Code = "message_too_long"
	CodeBusy                 Code = "busy"
	CodeRateLimited          Code = "rate_limited"
	CodeLLMUnavailable       Code = "llm_unavailable"
	CodeAlreadyAuthenticated Code = "already_authenticated"
	CodeShuttingDown         Code = "shutting_down"
	CodeInternal             Code = "internal"
)

// Error codes that close the connection.
const (
	CodeAuthRequired   Code = "auth_required"
	CodeTokenMissing   Code = "token_missing"
	CodeInvalidToken   Code = "invalid_token"
	CodeTokenExpired   Code = "token_expired"
	CodeAuthFailed     Code = "auth_failed"
	CodeAuthTimeout    Code = "auth_timeout"
	CodeMaxConnections Code = "max_connections"
	CodeUnavailable    Code = "unavailable"
	// CodeServerShutdown closes a session at the end of a graceful shutdown.
	// No error frame precedes it.
	CodeServerShutdown Code = "server_shutdown"
)

// Messages the transport sends to a session, one per decoded client frame.

// Authenticate is the client's authenticate frame. TokenOK is false when the
// frame had no token field or one that was not a string.
type Authenticate struct {
	Token   string
	TokenOK bool
}

// ChatMessage is a client's chat message. ID is optional and echoed back as
// reply_to.
type ChatMessage struct {
	ID      string
	Content string
}

// Cancel asks the session to stop the answer being streamed.
type Cancel struct{}

// Ping is the app-level keepalive.
type Ping struct{}

// Invalid is a frame the transport could not decode: not JSON, an unknown
// type, or fields of the wrong type. Reason is safe to show to the client.
type Invalid struct {
	Reason string
}

// Disconnected tells the session its socket is gone. CloseCode is the
// WebSocket close code that ended it (1006 when there was none).
type Disconnected struct {
	CloseCode int
}

// shutdownSession asks a session to close with CodeServerShutdown.
type shutdownSession struct{}

// What a session sends back through its Peer.

// Answer is one response frame of a streamed or cached answer.
type Answer struct {
	ID           string // answer id
	ReplyTo      string // the chat message's id, if it had one
	Content      string // the whole answer so far
	Delta        string // the text new in this frame
	Done         bool
	Cached       bool
	FinishReason string // set on the done frame: stop, length or cancelled
}

// ErrorFrame is an error that keeps the connection open.
type ErrorFrame struct {
	Code       Code
	Message    string
	ReplyTo    string
	RetryAfter int // seconds, for CodeRateLimited
}

// Peer is a session's view of its connection. Implementations must never
// block: they queue the frame and return.
type Peer interface {
	Connected(sessionID, userID string)
	Answer(a *Answer)
	Error(e *ErrorFrame)
	Pong()
	// Close sends the error frame code calls for, if any, then closes the
	// socket with the close code and reason the transport maps code to.
	// Calls after the first are ignored.
	Close(code Code)
}

// Internal messages.

// attach is a session's first message: its connection and id.
type attach struct {
	peer Peer
	id   string
}

type authDeadline struct{}

// accountLoaded carries the result of the profile load started at
// authentication.
type accountLoaded struct {
	account store.Account
	err     error
	took    time.Duration
}

// recovered tells a session that handling msg panicked and the supervisor
// resumed it.
type recovered struct {
	msg    any
	reason any
}
