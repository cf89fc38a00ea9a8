package transport

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/wealthwarriors/wealthcoach/actors"
)

// closeSpec is how a session-ending code reaches the client: an optional
// error frame, then a close frame with code and reason.
type closeSpec struct {
	code    uint16
	reason  string
	message string // the error frame's message; empty for no error frame
}

// Close codes this package sends itself, outside the table.
const (
	closeUnsupported = 1003 // binary frame
	closeTooLarge    = 1009 // frame over the read limit
	closeGoingAway   = 1001
	closeNoStatus    = 1005 // the client's close frame carried no status code
	closeAbnormal    = 1006 // no close frame: the TCP connection dropped
)

const (
	reasonBinary   = "Binary frames not supported"
	reasonTooLarge = "Frame too large"
)

// closes maps every code that ends a session to its wire form. The reasons
// are part of the protocol: clients match on them.
var closes = map[actors.Code]closeSpec{
	actors.CodeAuthRequired:   {1008, "Authentication required", `the first frame must be {"type":"authenticate","token":"..."}`},
	actors.CodeTokenMissing:   {1008, "Token missing", "the authenticate frame needs a non-empty token"},
	actors.CodeInvalidToken:   {1008, "Invalid token", "the token is not valid; sign in again"},
	actors.CodeTokenExpired:   {1008, "Invalid token", "the token has expired; refresh it and reconnect"},
	actors.CodeAuthFailed:     {1008, "Authentication failed", "the account does not exist or is disabled"},
	actors.CodeAuthTimeout:    {1008, "Authentication timeout", "no authenticate frame arrived in time"},
	actors.CodeMaxConnections: {1008, "Max connections reached", "this account has too many open connections; close one and retry"},
	actors.CodeUnavailable:    {1013, "Try again later", "the server cannot take this connection right now; retry with backoff"},
	actors.CodeInternal:       {1011, "Internal error", "the session failed and cannot continue; reconnect"},
	actors.CodeServerShutdown: {closeGoingAway, "Server shutting down", ""},
}

// maxIDChars is the longest message id a client may send.
const maxIDChars = 64

// inFrame is every field a client frame may carry. Pointers tell a missing
// field from an empty one.
type inFrame struct {
	Type    *string `json:"type"`
	Token   *string `json:"token"`
	Content *string `json:"content"`
	ID      *string `json:"id"`
}

// decodeFrame turns a client text frame into the message for its session.
// It never fails: a frame it cannot use becomes *actors.Invalid, which the
// session answers according to its state.
func decodeFrame(b []byte) any {
	var f inFrame
	err := json.Unmarshal(b, &f)
	var typeErr *json.UnmarshalTypeError
	if err != nil && (!errors.As(err, &typeErr) || typeErr.Field == "") {
		return &actors.Invalid{Reason: "frame is not a JSON object"}
	}
	if f.Type == nil || (typeErr != nil && typeErr.Field == "type") {
		return &actors.Invalid{Reason: `frame needs a string "type"`}
	}
	switch *f.Type {
	case "authenticate":
		tokenOK := f.Token != nil && (typeErr == nil || typeErr.Field != "token")
		return &actors.Authenticate{Token: deref(f.Token), TokenOK: tokenOK}
	case "message":
		if typeErr != nil {
			return &actors.Invalid{Reason: strconv.Quote(typeErr.Field) + " must be a string"}
		}
		id := deref(f.ID)
		if utf8.RuneCountInString(id) > maxIDChars {
			return &actors.Invalid{Reason: `"id" is longer than 64 characters`}
		}
		return &actors.ChatMessage{ID: id, Content: deref(f.Content)}
	case "cancel":
		return &actors.Cancel{}
	case "ping":
		return &actors.Ping{}
	default:
		return &actors.Invalid{Reason: "unknown frame type " + strconv.Quote(truncate(*f.Type, 32))}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Frame encoders. They append to b by hand: these frames are the hot path
// of every streamed answer, and reflection-based encoding costs several
// times more.

func appendConnected(b []byte, sessionID, userID string) []byte {
	b = append(b, `{"type":"connected","session_id":`...)
	b = appendString(b, sessionID)
	b = append(b, `,"user_id":`...)
	b = appendString(b, userID)
	return append(b, '}')
}

func appendAnswer(b []byte, a *actors.Answer) []byte {
	b = append(b, `{"type":"response","id":`...)
	b = appendString(b, a.ID)
	if a.ReplyTo != "" {
		b = append(b, `,"reply_to":`...)
		b = appendString(b, a.ReplyTo)
	}
	b = append(b, `,"content":`...)
	b = appendString(b, a.Content)
	b = append(b, `,"delta":`...)
	b = appendString(b, a.Delta)
	b = append(b, `,"done":`...)
	b = strconv.AppendBool(b, a.Done)
	b = append(b, `,"cached":`...)
	b = strconv.AppendBool(b, a.Cached)
	if a.Done {
		b = append(b, `,"finish_reason":`...)
		b = appendString(b, a.FinishReason)
	}
	return append(b, '}')
}

func appendError(b []byte, e *actors.ErrorFrame) []byte {
	b = append(b, `{"type":"error","code":`...)
	b = appendString(b, string(e.Code))
	b = append(b, `,"message":`...)
	b = appendString(b, e.Message)
	if e.ReplyTo != "" {
		b = append(b, `,"reply_to":`...)
		b = appendString(b, e.ReplyTo)
	}
	if e.Code == actors.CodeRateLimited {
		b = append(b, `,"retry_after":`...)
		b = strconv.AppendInt(b, int64(e.RetryAfter), 10)
	}
	return append(b, '}')
}

var pongFrame = []byte(`{"type":"pong"}`)

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// and U+2028/U+2029 are escaped, as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
