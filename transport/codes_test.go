package transport

import (
	"cmp"
	"slices"
	"testing"

	"github.com/wealthwarriors/wealthcoach/actors"
)

// specClose is one row of a SPEC close table: the close code, the exact
// reason ("" where SPEC allows any) and the code of the error frame sent
// before it ("" for none).
type specClose struct {
	close  uint16
	reason string
	frame  actors.Code
}

// specCloses is SPEC section 3's close table, by the code each close is
// sent for. Section 8.7's rows (1008 "Token expired" before it the error
// token_expired, 1008 "Session revoked" before it session_revoked) join it
// with their codes.
var specCloses = map[actors.Code]specClose{
	actors.CodeAuthRequired:    {1008, "Authentication required", "auth_required"},
	actors.CodeTokenMissing:    {1008, "Token missing", "token_missing"},
	actors.CodeInvalidToken:    {1008, "Invalid token", "invalid_token"},
	actors.CodeTokenExpired:    {1008, "Invalid token", "token_expired"}, // "expired" is among Invalid token's cases
	actors.CodeAuthFailed:      {1008, "Authentication failed", "auth_failed"},
	actors.CodeAuthTimeout:     {1008, "Authentication timeout", "auth_timeout"},
	actors.CodeMaxConnections:  {1008, "Max connections reached", "max_connections"},
	actors.CodeNodeUnavailable: {1013, "Try again later", "unavailable"},
	actors.CodeServerShutdown:  {1001, "Server shutting down", ""},
	// SPEC names no error frame here; internal tells the app as much as
	// the close does, in the form it already shows.
	actors.CodeSessionFailed:  {1011, "Internal error", "internal"},
	actors.CodeSessionRevoked: {1008, "Session revoked", "session_revoked"}, // 8.7
	actors.CodeSessionExpired: {1008, "Token expired", "token_expired"},     // 8.7
	codeBinaryFrame:           {1003, "Binary frames not supported", ""},
	codeFrameTooLarge:         {1009, "", ""},
}

// specKeepOpen is SPEC section 3's list of error codes that keep the
// connection open; 8.7 adds not_found, unavailable, budget_exceeded,
// token_expiring and session_revoked with their features.
var specKeepOpen = []actors.Code{
	"bad_request", "empty_message", "message_too_long", "busy", "rate_limited",
	"llm_unavailable", "already_authenticated", "shutting_down", "internal",
	"not_found", "unavailable", "token_expiring", "budget_exceeded",
	"invalid_token", // 8.6: a refused refresh; the session goes on
}

// transportCodes are the closes the transport sends on its own.
var transportCodes = []actors.Code{codeBinaryFrame, codeFrameTooLarge}

// TestEveryCodeHasAWireForm enumerates the codes a session can emit and
// the transport's own, not the wire table: a code the table forgot fails,
// as does one whose wire form is not SPEC's.
func TestEveryCodeHasAWireForm(t *testing.T) {
	codes := slices.Clone(transportCodes)
	for _, r := range actors.Codes {
		codes = append(codes, r.Code)
	}
	effect := func(code actors.Code) actors.Effect {
		for _, r := range actors.Codes {
			if r.Code == code {
				return r.Effect
			}
		}
		return actors.Closes // a transport close
	}
	seen := map[actors.Code]bool{}
	for _, code := range codes {
		t.Run(string(code), func(t *testing.T) {
			if seen[code] {
				t.Fatal("listed twice")
			}
			seen[code] = true
			w, ok := wireForms[code]
			if !ok {
				t.Fatal("no wire form: add it to wireForms")
			}
			switch effect(code) {
			case actors.KeepsOpen:
				if w.closes() || w.reason != "" || w.message != "" {
					t.Fatalf("keeps the connection open, but its wire form is %+v", w)
				}
				if wire := cmp.Or(w.frame, code); !slices.Contains(specKeepOpen, wire) {
					t.Fatalf("sent as %s, not an error code of SPEC's that keeps the connection open", wire)
				}
			case actors.Closes:
				checkClose(t, code, w)
			default:
				t.Fatalf("effect %v is neither KeepsOpen nor Closes", effect(code))
			}
		})
	}
	for code := range wireForms {
		if !seen[code] {
			t.Errorf("%s: in wireForms, but neither in actors.Codes nor a transport code", code)
		}
	}
}

func checkClose(t *testing.T, code actors.Code, w wireForm) {
	t.Helper()
	want, ok := specCloses[code]
	if !ok {
		t.Fatal("closes, but SPEC has no close for it: add the SPEC row to specCloses")
	}
	got, frame, ok := closeOf(code)
	if !ok || got != w {
		t.Fatalf("closeOf = %+v, %v; want its own wire form %+v", got, ok, w)
	}
	if w.close != want.close || (want.reason != "" && w.reason != want.reason) {
		t.Errorf("close %d %q, want %d %q", w.close, w.reason, want.close, want.reason)
	}
	if w.reason == "" || len(w.reason) > 123 { // RFC 6455: the reason fits a control frame
		t.Errorf("reason %q: want one of 1 to 123 bytes", w.reason)
	}
	switch {
	case want.frame == "" && w.message != "":
		t.Errorf("sends the error frame %s, want none", frame)
	case want.frame != "" && (w.message == "" || frame != want.frame):
		t.Errorf("sends the error frame %q (message %q), want %s", frame, w.message, want.frame)
	}
	if slices.Contains(transportCodes, code) && w.message != "" {
		t.Errorf("a transport close sends an error frame, with a code no client knows")
	}
}

// TestCloseWithAKeepOpenCodeStillCloses: a session that passes Close a
// code that keeps the connection open gets the failed session's close,
// never no close at all.
func TestCloseWithAKeepOpenCodeStillCloses(t *testing.T) {
	for _, code := range []actors.Code{actors.CodeInternal, actors.CodeBusy, "no_such_code"} {
		w, frame, ok := closeOf(code)
		if ok || w != wireForms[actors.CodeSessionFailed] || frame != actors.CodeInternal {
			t.Errorf("closeOf(%s) = %+v, %s, %v; want the 1011 close, internal, false", code, w, frame, ok)
		}
	}
}
