package auth

import "github.com/golang-jwt/jwt/v5"

// Error is what Verify returns for a token it refuses. Its message comes from
// a fixed set and never contains the token or any part of it, so it is safe to
// log. Unwrap yields the matching golang-jwt sentinel (jwt.ErrTokenExpired,
// jwt.ErrTokenSignatureInvalid, ...) for callers that test with errors.Is.
type Error struct {
	msg     string
	cause   error
	expired bool
}

// Error returns a short description of why the token was refused.
func (e *Error) Error() string { return e.msg }

// Expired reports whether the token was otherwise valid but past its exp
// claim (leeway included), so the caller can answer token_expired rather than
// invalid_token.
func (e *Error) Expired() bool { return e != nil && e.expired }

// Unwrap returns the golang-jwt sentinel error for the failure.
func (e *Error) Unwrap() error { return e.cause }

// The values Verify returns. They are immutable and shared, so refusing a
// token allocates nothing beyond what the parser already did.
var (
	errTooLong      = &Error{msg: "invalid token: too long", cause: jwt.ErrTokenMalformed}
	errMalformed    = &Error{msg: "invalid token: malformed", cause: jwt.ErrTokenMalformed}
	errAlgorithm    = &Error{msg: "invalid token: algorithm not allowed", cause: jwt.ErrTokenUnverifiable}
	errCritical     = &Error{msg: "invalid token: unsupported critical header", cause: jwt.ErrTokenUnverifiable}
	errSignature    = &Error{msg: "invalid token: bad signature", cause: jwt.ErrTokenSignatureInvalid}
	errExpired      = &Error{msg: "invalid token: expired", cause: jwt.ErrTokenExpired, expired: true}
	errNotYetValid  = &Error{msg: "invalid token: not valid yet", cause: jwt.ErrTokenNotValidYet}
	errIssuedFuture = &Error{msg: "invalid token: issued in the future", cause: jwt.ErrTokenUsedBeforeIssued}
	errNoExpiry     = &Error{msg: "invalid token: no expiry", cause: jwt.ErrTokenRequiredClaimMissing}
	errIssuer       = &Error{msg: "invalid token: wrong issuer", cause: jwt.ErrTokenInvalidIssuer}
	errAudience     = &Error{msg: "invalid token: wrong audience", cause: jwt.ErrTokenInvalidAudience}
	errNoUser       = &Error{msg: "invalid token: missing user claim", cause: jwt.ErrTokenRequiredClaimMissing}
	errClaims       = &Error{msg: "invalid token: invalid claims", cause: jwt.ErrTokenInvalidClaims}
	errUnverifiable = &Error{msg: "invalid token: unverifiable", cause: jwt.ErrTokenUnverifiable}
)
