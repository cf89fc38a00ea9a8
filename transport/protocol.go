package transport

import (
	"cmp"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/internal/jsonscan"
)

// wireForm is how a code reaches the client. A code that keeps the
// connection open is an error frame carrying the code itself and the
// session's message. A closing code is an error frame when message is set,
// then a close frame with close and reason.
type wireForm struct {
	close   uint16 // 0: the code keeps the connection open
	reason  string
	message string // the error frame's message; empty for no error frame
	// frame is the error frame's code when it is not the code's own: a
	// closing code may share its wire code with one that keeps the
	// connection open (session_failed is sent as internal), and the other
	// way round (a refused refresh is sent as invalid_token).
	frame actors.Code
}

// closes reports whether the code closes the connection.
func (w wireForm) closes() bool { return w.close != 0 }

// Codes of the closes the transport decides on its own: no session emits
// them and no error frame carries them. gws itself closes with 1007 for a
// text frame that is not UTF-8 and with 1009 for a frame past the read
// limit, with reasons of its own.
const (
	codeBinaryFrame   actors.Code = "binary_frame"
	codeFrameTooLarge actors.Code = "frame_too_large"
)

// Close codes the transport reads on closes it did not send.
const (
	closeNoStatus = 1005 // the client's close frame carried no status code
	closeAbnormal = 1006 // no close frame: the TCP connection dropped
)

// keepOpen is the wire form of the codes that keep the connection open and
// go on the wire as they are.
var keepOpen = wireForm{}

// wireForms maps every code to its wire form: each of actors.Codes, then
// the transport's own closes, so that every close this server sends is
// here. The reasons are part of the protocol (SPEC 3): clients match on
// them.
var wireForms = map[actors.Code]wireForm{
	actors.CodeBadRequest:           keepOpen,
	actors.CodeEmptyMessage:         keepOpen,
	actors.CodeMessageTooLong:       keepOpen,
	actors.CodeBusy:                 keepOpen,
	actors.CodeRateLimited:          keepOpen,
	actors.CodeBudgetExceeded:       keepOpen,
	actors.CodeLLMUnavailable:       keepOpen,
	actors.CodeAlreadyAuthenticated: keepOpen,
	actors.CodeShuttingDown:         keepOpen,
	actors.CodeInternal:             keepOpen,
	actors.CodeUnavailable:          keepOpen,
	actors.CodeNotFound:             keepOpen,
	actors.CodeTokenExpiring:        keepOpen,
	// A refused refresh keeps the connection open but is sent as the code
	// an invalid token closes with at authentication (SPEC 8.6).
	actors.CodeRefreshRefused: {frame: actors.CodeInvalidToken},

	actors.CodeAuthRequired:   {close: 1008, reason: "Authentication required", message: `the first frame must be {"type":"authenticate","token":"..."}`},
	actors.CodeTokenMissing:   {close: 1008, reason: "Token missing", message: "the authenticate frame needs a non-empty token"},
	actors.CodeInvalidToken:   {close: 1008, reason: "Invalid token", message: "the token is not valid; sign in again"},
	actors.CodeTokenExpired:   {close: 1008, reason: "Invalid token", message: "the token has expired; refresh it and reconnect"},
	actors.CodeAuthFailed:     {close: 1008, reason: "Authentication failed", message: "the account does not exist or is disabled"},
	actors.CodeAuthTimeout:    {close: 1008, reason: "Authentication timeout", message: "no authenticate frame arrived in time"},
	actors.CodeMaxConnections: {close: 1008, reason: "Max connections reached", message: "this account has too many open connections; close one and retry"},
	actors.CodeNodeUnavailable: {close: 1013, reason: "Try again later", message: "the server cannot take this connection right now; retry with backoff",
		frame: actors.CodeUnavailable},
	actors.CodeServerShutdown: {close: 1001, reason: "Server shutting down"},
	actors.CodeSessionFailed: {close: 1011, reason: "Internal error", message: "the session failed and cannot continue; reconnect",
		frame: actors.CodeInternal},
	actors.CodeSessionRevoked: {close: 1008, reason: "Session revoked", message: "an operator ended this session; sign in again to continue"},
	actors.CodeSessionExpired: {close: 1008, reason: "Token expired", message: "the token expired without a refresh; sign in again to continue",
		frame: actors.CodeTokenExpired},

	codeBinaryFrame:   {close: 1003, reason: "Binary frames not supported"},
	codeFrameTooLarge: {close: 1009, reason: "Frame too large"},
}

// closeOf returns the wire form of a closing code and the code its error
// frame carries. ok is false for a code that does not close, which no
// session should pass to Close: it closes as a failed session, since the
// connection must end either way.
func closeOf(code actors.Code) (w wireForm, frame actors.Code, ok bool) {
	w, ok = wireForms[code]
	if !ok || !w.closes() {
		code, ok = actors.CodeSessionFailed, false
		w = wireForms[code]
	}
	return w, cmp.Or(w.frame, code), ok
}

// maxIDChars is the longest message id a client may send.
const maxIDChars = 64

// Bounds of the history and resume frames (SPEC 8.2, 8.3).
const (
	maxHistoryLimit = 100 // most messages one history page may ask for
	maxRefBytes     = 128 // longest message or answer id those frames may name
)

// field numbers the keys a client frame may carry; frameFields gives each
// its exact name and JSON type. A new key is a constant here and a line in
// frameFields; a new frame type is a case in decodeFrame and the set of
// keys whose type it checks.
type field int8

const (
	fieldType field = iota
	fieldToken
	fieldContent
	fieldID
	fieldLimit
	fieldBefore
	fieldAfterSeq
	fieldCount
	noField field = -1
)

var frameFields = [fieldCount]struct {
	name string
	kind valueKind
}{
	fieldType:     {"type", kindString},
	fieldToken:    {"token", kindString},
	fieldContent:  {"content", kindString},
	fieldID:       {"id", kindString},
	fieldLimit:    {"limit", kindInteger},
	fieldBefore:   {"before", kindString},
	fieldAfterSeq: {"after_seq", kindInteger},
}

// fieldSet is a set of keys, bit k for field k.
type fieldSet uint64

// The keys whose type each frame type checks. A frame type refuses a
// wrongly typed value only among its own keys, so that a key added for a
// new frame type changes nothing for the others: {"type":"message",
// "limit":"x"} stays a message. The message frame checks the four keys of
// protocol 1.0, token included, as the decoder has always done.
const (
	messageFields fieldSet = 1<<fieldType | 1<<fieldToken | 1<<fieldContent | 1<<fieldID
	historyFields fieldSet = 1<<fieldLimit | 1<<fieldBefore
	resumeFields  fieldSet = 1<<fieldID | 1<<fieldAfterSeq
)

// valueKind is the JSON type a key's value must have. null is accepted for
// every kind and reads as a missing key.
type valueKind uint8

const (
	kindString valueKind = iota
	// kindInteger is a number without fraction or exponent within int32,
	// as encoding/json reads an int32: 1.0, 1e2 and 2147483648 are of the
	// wrong type, so that no client number is ever rounded.
	kindInteger
)

func (k valueKind) accepts(raw []byte) bool {
	switch k {
	case kindString:
		return raw[0] == '"'
	case kindInteger:
		_, ok := parseInteger(raw)
		return ok
	}
	return false
}

// String names the kind as a reason says it: `"limit" must be an integer`.
func (k valueKind) String() string {
	if k == kindInteger {
		return "an integer"
	}
	return "a string"
}

// parseInteger reads a value that the scanner has checked as a JSON value,
// and reports whether it is an integer of kindInteger: an optional minus
// and digits (the scanner has refused leading zeros), within int32.
func parseInteger(raw []byte) (int32, bool) {
	digits := raw
	neg := digits[0] == '-'
	if neg {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 10 { // 10 digits cannot overflow int64
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, false
	}
	return int32(n), true
}

const reasonNotObject = "frame is not a JSON object"

// inFrame is what decodeFrame reads of a client frame: the raw values of the
// known top-level keys, matched by their exact names after unescaping.
// Values stay raw until used, so a frame type pays only for its own fields.
type inFrame struct {
	raw [fieldCount][]byte // as sent; nil when the key is missing, null or of the wrong type
	// The keys whose value has the wrong type, in frame order, each once.
	mistyped    [fieldCount]field
	nMistyped   int8
	mistypedSet fieldSet
}

// read checks that b is one JSON value and records the known keys of its
// top-level object. It returns why the frame cannot be used, or "". null
// reads as an empty object, as encoding/json reads it.
func (f *inFrame) read(b []byte) string {
	s := jsonscan.New(b)
	s.Space()
	if !s.Take('{') {
		if s.Literal("null") && s.End() {
			return ""
		}
		return reasonNotObject
	}
	var seen uint64 // bit i: frameFields[i] was met
	var unknown keySet
	var dup []byte
	s.Space()
	if s.Take('}') {
		if s.End() {
			return ""
		}
		return reasonNotObject
	}
	for {
		rawKey, ok := s.Str()
		if !ok {
			return reasonNotObject
		}
		s.Space()
		if !s.Take(':') {
			return reasonNotObject
		}
		s.Space()
		start := s.Pos()
		if !s.Value(2) {
			return reasonNotObject
		}
		if dup == nil {
			key := jsonscan.KeyText(rawKey)
			if k := lookupField(key); k != noField {
				if seen&(1<<k) != 0 {
					dup = key
				}
				seen |= 1 << k
				f.set(k, b[start:s.Pos()])
			} else if !unknown.add(key) {
				dup = key
			}
		}
		s.Space()
		if s.Take(',') {
			s.Space()
			continue
		}
		if s.Take('}') && s.End() {
			break
		}
		return reasonNotObject
	}
	if dup != nil {
		// Which of two values counts is a guess any reader could make
		// differently, so the frame is refused.
		return "frame has a duplicate key " + strconv.Quote(truncate(string(dup), 32))
	}
	return ""
}

func lookupField(key []byte) field {
	for i := range frameFields {
		if string(key) == frameFields[i].name {
			return field(i)
		}
	}
	return noField
}

// set records the value of a known key.
func (f *inFrame) set(k field, val []byte) {
	switch {
	case string(val) == "null":
	case frameFields[k].kind.accepts(val):
		f.raw[k] = val
	case f.mistypedSet&(1<<k) == 0:
		f.mistypedSet |= 1 << k
		f.mistyped[f.nMistyped] = k
		f.nMistyped++
	}
}

// typeError returns why the frame cannot be used when one of the keys in
// among has a value of the wrong type, naming the first in frame order, or
// "".
func (f *inFrame) typeError(among fieldSet) string {
	for _, k := range f.mistyped[:f.nMistyped] {
		if among&(1<<k) != 0 {
			d := frameFields[k]
			return strconv.Quote(d.name) + " must be " + d.kind.String()
		}
	}
	return ""
}

// text returns a string field's decoded bytes, which may share memory with
// the frame, or nil when the frame does not carry it as a string.
func (f *inFrame) text(k field) []byte {
	if f.raw[k] == nil {
		return nil
	}
	return jsonscan.KeyText(f.raw[k])
}

// str returns a string field as a copy, and whether the frame carries it.
func (f *inFrame) str(k field) (string, bool) {
	if f.raw[k] == nil {
		return "", false
	}
	return jsonscan.Unquote(f.raw[k]), true
}

// integer returns an integer field's value, and whether the frame carries
// it.
func (f *inFrame) integer(k field) (int, bool) {
	if f.raw[k] == nil {
		return 0, false
	}
	n, _ := parseInteger(f.raw[k]) // set accepted it
	return int(n), true
}

// decodeFrame turns a client text frame into the message for its session.
// It never fails: a frame it cannot use becomes *actors.Invalid, which the
// session answers according to its state. Key names are exact (SPEC 3):
// {"TYPE":"ping"} has no type, and a key given twice makes the frame invalid.
// Nothing returned shares memory with b.
func decodeFrame(b []byte) any {
	var f inFrame
	if reason := f.read(b); reason != "" {
		return &actors.Invalid{Reason: reason}
	}
	typ := f.text(fieldType)
	if typ == nil {
		return &actors.Invalid{Reason: `frame needs a string "type"`}
	}
	switch string(typ) {
	case "authenticate":
		token, ok := f.str(fieldToken)
		return &actors.Authenticate{Token: token, TokenOK: ok}
	case "message":
		if reason := f.typeError(messageFields); reason != "" {
			return &actors.Invalid{Reason: reason}
		}
		id, _ := f.str(fieldID)
		if utf8.RuneCountInString(id) > maxIDChars {
			return &actors.Invalid{Reason: `"id" is longer than 64 characters`}
		}
		content, _ := f.str(fieldContent)
		return &actors.ChatMessage{ID: id, Content: content}
	case "cancel":
		return &actors.Cancel{}
	case "ping":
		return &actors.Ping{}
	case "history":
		return f.history()
	case "reset":
		return &actors.Reset{}
	case "resume":
		return f.resume()
	default:
		return &actors.Invalid{Reason: "unknown frame type " + strconv.Quote(truncate(string(typ), 32))}
	}
}

// history decodes {"type":"history","limit":N,"before":"<message id>"}
// (SPEC 8.2). Both keys are optional: a missing limit is 0, for the
// session's default, and a missing or empty before asks for the newest.
func (f *inFrame) history() any {
	if reason := f.typeError(historyFields); reason != "" {
		return &actors.Invalid{Reason: reason}
	}
	limit, given := f.integer(fieldLimit)
	if given && (limit < 1 || limit > maxHistoryLimit) {
		return &actors.Invalid{Reason: `"limit" must be from 1 to 100`}
	}
	before, _ := f.str(fieldBefore)
	if len(before) > maxRefBytes {
		return &actors.Invalid{Reason: `"before" is longer than 128 bytes`}
	}
	return &actors.HistoryRequest{Limit: limit, Before: before}
}

// resume decodes {"type":"resume","id":"<answer id>","after_seq":N}
// (SPEC 8.3): id is required, after_seq defaults to 0.
func (f *inFrame) resume() any {
	if reason := f.typeError(resumeFields); reason != "" {
		return &actors.Invalid{Reason: reason}
	}
	id, _ := f.str(fieldID)
	switch {
	case id == "":
		return &actors.Invalid{Reason: `frame needs a non-empty string "id"`}
	case len(id) > maxRefBytes:
		return &actors.Invalid{Reason: `"id" is longer than 128 bytes`}
	}
	afterSeq, _ := f.integer(fieldAfterSeq)
	if afterSeq < 0 {
		return &actors.Invalid{Reason: `"after_seq" must be 0 or more`}
	}
	return &actors.Resume{ID: id, AfterSeq: afterSeq}
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

// protocolVersion is the connected frame's protocol: 1.1 adds fields and
// frame types a 1.0 client ignores.
const protocolVersion = "1.1"

func appendConnected(b []byte, w *actors.Welcome) []byte {
	b = append(b, `{"type":"connected","session_id":`...)
	b = appendString(b, w.SessionID)
	b = append(b, `,"user_id":`...)
	b = appendString(b, w.UserID)
	b = append(b, `,"protocol":"`+protocolVersion+`","conversation_id":`...)
	b = appendString(b, w.ConversationID)
	b = append(b, `,"history":`...)
	b = strconv.AppendInt(b, int64(w.History), 10)
	b = append(b, `,"pending":[`...)
	for i, p := range w.Pending {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, p.ID)
		if p.ReplyTo != "" {
			b = append(b, `,"reply_to":`...)
			b = appendString(b, p.ReplyTo)
		}
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, int64(p.Seq), 10)
		b = append(b, `,"done":`...)
		b = strconv.AppendBool(b, p.Done)
		b = append(b, '}')
	}
	b = append(b, ']')
	if w.Notice != "" {
		b = append(b, `,"notice":`...)
		b = appendString(b, w.Notice)
	}
	return append(b, '}')
}

func appendHistory(b []byte, p *actors.HistoryPage) []byte {
	b = append(b, `{"type":"history","conversation_id":`...)
	b = appendString(b, p.ConversationID)
	b = append(b, `,"messages":[`...)
	for i, m := range p.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, m.ID)
		b = append(b, `,"role":`...)
		b = appendString(b, m.Role)
		b = append(b, `,"content":`...)
		b = appendString(b, m.Content)
		b = append(b, `,"at":"`...)
		b = m.At.UTC().AppendFormat(b, time.RFC3339)
		b = append(b, '"')
		if m.Role == "assistant" {
			if m.ReplyTo != "" {
				b = append(b, `,"reply_to":`...)
				b = appendString(b, m.ReplyTo)
			}
			b = append(b, `,"cached":`...)
			b = strconv.AppendBool(b, m.Cached)
		}
		b = append(b, '}')
	}
	b = append(b, `],"more":`...)
	b = strconv.AppendBool(b, p.More)
	return append(b, '}')
}

func appendReset(b []byte, conversationID string) []byte {
	b = append(b, `{"type":"reset","conversation_id":`...)
	b = appendString(b, conversationID)
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
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, int64(a.Seq), 10)
	if a.Resumed {
		b = append(b, `,"resumed":true`...)
	}
	if a.Done {
		b = append(b, `,"finish_reason":`...)
		b = appendString(b, a.FinishReason)
		if a.Model != "" {
			b = append(b, `,"model":`...)
			b = appendString(b, a.Model)
		}
		if u := a.Usage; u != nil {
			b = append(b, `,"usage":{"prompt_tokens":`...)
			b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
			b = append(b, `,"completion_tokens":`...)
			b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
			b = append(b, '}')
		}
	}
	return append(b, '}')
}

func appendError(b []byte, e *actors.ErrorFrame) []byte {
	b = append(b, `{"type":"error","code":`...)
	b = appendString(b, string(cmp.Or(wireForms[e.Code].frame, e.Code)))
	b = append(b, `,"message":`...)
	b = appendString(b, e.Message)
	if e.ReplyTo != "" {
		b = append(b, `,"reply_to":`...)
		b = appendString(b, e.ReplyTo)
	}
	if e.Code == actors.CodeRateLimited || e.Code == actors.CodeBudgetExceeded {
		b = append(b, `,"retry_after":`...)
		b = strconv.AppendInt(b, int64(e.RetryAfter), 10)
	}
	if e.Code == actors.CodeTokenExpiring {
		b = append(b, `,"expires_in":`...)
		b = strconv.AppendInt(b, int64(e.ExpiresIn), 10)
	}
	return append(b, '}')
}

// appendReauthenticated is the answer to a refresh (SPEC 8.6).
func appendReauthenticated(b []byte, expiresAt time.Time) []byte {
	b = append(b, `{"type":"reauthenticated","expires_at":`...)
	b = strconv.AppendInt(b, expiresAt.Unix(), 10)
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
