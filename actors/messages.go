package actors

import (
	"strconv"
	"time"

	"github.com/wealthwarriors/wealthcoach/store"
)

// Code names an outcome a session reports to its client. A code that keeps
// the connection open is sent as is in an error frame; a code that closes it
// goes to Peer.Close, and the transport's table gives its close code, reason
// and the error frame, if any, that precedes it. Codes lists every code.
type Code string

// Error codes that keep the connection open.
const (
	CodeBadRequest           Code = "bad_request"
	CodeEmptyMessage         Code = "empty_message"
	CodeMessageTooLong       Code = "message_too_long"
	CodeBusy                 Code = "busy"
	CodeRateLimited          Code = "rate_limited"
	CodeBudgetExceeded       Code = "budget_exceeded" // the daily token budget is spent (SPEC 8.5); RetryAfter says until 00:00 UTC
	CodeLLMUnavailable       Code = "llm_unavailable"
	CodeAlreadyAuthenticated Code = "already_authenticated"
	CodeShuttingDown         Code = "shutting_down"
	// CodeInternal answers one frame whose handling failed; the session
	// goes on. CodeSessionFailed is the failure it cannot recover from.
	CodeInternal Code = "internal"
	// CodeUnavailable answers a frame that needed the store while it is
	// unreachable (a history page, a reset); CodeNodeUnavailable is the
	// close for a connection the node cannot take.
	CodeUnavailable Code = "unavailable"
	// CodeNotFound answers a frame naming something the session cannot
	// see: an unknown, expired or foreign answer or message id.
	CodeNotFound Code = "not_found"
	// CodeTokenExpiring warns, Options.RefreshWarning before the token's
	// exp, that the session ends then unless the client refreshes it; the
	// frame carries ExpiresIn.
	CodeTokenExpiring Code = "token_expiring"
	// CodeRefreshRefused answers a refresh with a token that is invalid or
	// names another user; the session goes on as it was. Its error frame
	// says invalid_token, the code that closes at authentication.
	CodeRefreshRefused Code = "refresh_refused"
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
	// CodeNodeUnavailable closes with 1013: the node is full, or the
	// profile store was unreachable at authentication. Its error frame says
	// unavailable.
	CodeNodeUnavailable Code = "node_unavailable"
	// CodeServerShutdown closes a session at the end of a graceful shutdown.
	// No error frame precedes it.
	CodeServerShutdown Code = "server_shutdown"
	// CodeSessionFailed closes a session that kept failing (1011): its
	// state can no longer be trusted.
	CodeSessionFailed Code = "session_failed"
	// CodeSessionRevoked closes a session an operator disconnected
	// (Node.Disconnect). The user may connect again at once: it ends
	// sessions, it bans no one.
	CodeSessionRevoked Code = "session_revoked"
	// CodeSessionExpired closes a session whose token expired without a
	// refresh (Options.ExpireSessions): 1008 "Token expired", preceded by
	// the error token_expired. CodeTokenExpired is the token already
	// expired at authentication.
	CodeSessionExpired Code = "session_expired"
)

// Effect is what sending a code does to the connection.
type Effect uint8

const (
	// KeepsOpen codes go in an error frame, through Peer.Error.
	KeepsOpen Effect = iota + 1
	// Closes codes end the session, through Peer.Close.
	Closes
)

// String returns the effect's name.
func (e Effect) String() string {
	switch e {
	case KeepsOpen:
		return "KeepsOpen"
	case Closes:
		return "Closes"
	}
	return "Effect(" + strconv.Itoa(int(e)) + ")"
}

// CodeRule is one code and its effect.
type CodeRule struct {
	Code   Code
	Effect Effect
}

// Codes is every code a session can emit, with its effect: the list the
// transport's wire table is checked against. A new code is its constant
// above and one line here; the transport's tests then ask for its wire form.
var Codes = []CodeRule{
	{CodeBadRequest, KeepsOpen},
	{CodeEmptyMessage, KeepsOpen},
	{CodeMessageTooLong, KeepsOpen},
	{CodeBusy, KeepsOpen},
	{CodeRateLimited, KeepsOpen},
	{CodeBudgetExceeded, KeepsOpen},
	{CodeLLMUnavailable, KeepsOpen},
	{CodeAlreadyAuthenticated, KeepsOpen},
	{CodeShuttingDown, KeepsOpen},
	{CodeInternal, KeepsOpen},
	{CodeUnavailable, KeepsOpen},
	{CodeNotFound, KeepsOpen},
	{CodeTokenExpiring, KeepsOpen},
	{CodeRefreshRefused, KeepsOpen},

	{CodeAuthRequired, Closes},
	{CodeTokenMissing, Closes},
	{CodeInvalidToken, Closes},
	{CodeTokenExpired, Closes},
	{CodeAuthFailed, Closes},
	{CodeAuthTimeout, Closes},
	{CodeMaxConnections, Closes},
	{CodeNodeUnavailable, Closes},
	{CodeServerShutdown, Closes},
	{CodeSessionFailed, Closes},
	{CodeSessionRevoked, Closes},
	{CodeSessionExpired, Closes},
}

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

// HistoryRequest is a client's history frame: a page of the conversation.
// Limit is 0 when the frame gave none (the default applies); Before is the
// id of the message the page ends before, "" for the newest.
type HistoryRequest struct {
	Limit  int
	Before string
}

// Reset is a client's reset frame: end the conversation and start another.
type Reset struct{}

// Resume is a client's resume frame: follow the interrupted answer ID from
// after its frame AfterSeq.
type Resume struct {
	ID       string
	AfterSeq int
}

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

// revokeSession asks a session to close with CodeSessionRevoked.
type revokeSession struct{}

// What a session sends back through its Peer.

// Answer is one response frame of a streamed or cached answer.
type Answer struct {
	ID           string // answer id
	ReplyTo      string // the chat message's id, if it had one
	Content      string // the whole answer so far
	Delta        string // the text new in this frame
	Seq          int    // 1, 2, 3, ... within the answer
	Resumed      bool   // the first frame after a resume
	Done         bool
	Cached       bool
	FinishReason string // set on the done frame: stop, length, cancelled, error or content_filter
	// Model is the model that answered, and Usage its token counts when it
	// reported them; both only on the done frame, Usage nil when unknown.
	Model string
	Usage *Usage
}

// Usage is the token count a model reported for one answer.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
}

// Welcome is what the connected frame tells a client (protocol 1.1).
type Welcome struct {
	SessionID      string
	UserID         string
	ConversationID string // empty when conversations are not kept
	History        int    // messages the session starts with in memory
	Pending        []PendingAnswer
	Notice         string // the coach.notice disclosure; empty for none
}

// PendingAnswer is an interrupted answer a client may resume.
type PendingAnswer struct {
	ID      string
	ReplyTo string
	Seq     int // the latest frame produced
	Done    bool
}

// HistoryPage answers a client's history frame.
type HistoryPage struct {
	ConversationID string
	Messages       []HistoryMessage
	More           bool // older messages exist
}

// HistoryMessage is one message of a history page.
type HistoryMessage struct {
	ID      string
	Role    string // "user" or "assistant"
	Content string
	At      time.Time
	ReplyTo string // assistant messages only
	Cached  bool   // assistant messages only
}

// ErrorFrame is an error that keeps the connection open.
type ErrorFrame struct {
	Code       Code
	Message    string
	ReplyTo    string
	RetryAfter int // seconds, for CodeRateLimited and CodeBudgetExceeded
	ExpiresIn  int // seconds to the token's exp, for CodeTokenExpiring
}

// Peer is a session's view of its connection. Implementations must never
// block: they queue the frame and return.
type Peer interface {
	Connected(w *Welcome)
	Answer(a *Answer)
	// History sends a history page; ResetDone the reset frame with the new
	// conversation's id.
	History(p *HistoryPage)
	ResetDone(conversationID string)
	// Reauthenticated answers a refresh: the session now ends at the new
	// token's exp, expiresAt.
	Reauthenticated(expiresAt time.Time)
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
	// full is set when the fleet refused the session a slot: the user has
	// every connection the cap allows on other nodes.
	full bool
	// pending are the user's answers detached on other nodes.
	pending []PendingAnswer
}

// recovered tells a session that handling msg panicked and the supervisor
// resumed it.
type recovered struct {
	msg    any
	reason any
}
