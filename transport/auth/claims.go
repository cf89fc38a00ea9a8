package auth

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// errBadClaim reports a registered claim of the wrong JSON type or out of
// range. The parser wraps it in jwt.ErrTokenMalformed; Verify reports it as
// invalid claims.
var errBadClaim = errors.New("claim has an invalid type or value")

// errSyntax reports a payload that is not a JSON object. encoding/json has
// already validated the payload when it calls UnmarshalJSON, so this only
// guards against direct misuse.
var errSyntax = errors.New("claims are not a JSON object")

// Dates outside years 0001 to 9999 are refused rather than risk overflow in
// time arithmetic.
const (
	minDateSeconds = -62135596800 // 0001-01-01T00:00:00Z
	maxDateSeconds = 253402300799 // 9999-12-31T23:59:59Z
)

// maxNumericUserID bounds the decimal form of a numeric user claim, so an
// exponent such as 1e999999 cannot expand into a huge string.
const maxNumericUserID = 64

// claims is the claim set Verify decodes. It implements jwt.Claims for the
// parser's validator, and json.Unmarshaler with one pass over the payload that
// matches claim names exactly (encoding/json matches struct fields without
// regard to case, so {"SUB": ...} would be read as sub), keeps the last of
// duplicate names as a map would, reads a numeric user id without float64
// rounding, and decodes only the claims the verifier checks. It is measured
// against jwt.MapClaims in the package benchmarks.
type claims struct {
	v *Verifier

	exp, nbf, iat          jwt.NumericDate
	hasExp, hasNbf, hasIat bool

	iss  string
	aud  jwt.ClaimStrings
	user string // empty when the user claim is missing or not a string or number
}

var _ jwt.Claims = (*claims)(nil)

// GetExpirationTime implements jwt.Claims.
func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return optDate(&c.exp, c.hasExp) }

// GetNotBefore implements jwt.Claims.
func (c *claims) GetNotBefore() (*jwt.NumericDate, error) { return optDate(&c.nbf, c.hasNbf) }

// GetIssuedAt implements jwt.Claims.
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error) { return optDate(&c.iat, c.hasIat) }

// GetIssuer implements jwt.Claims; iss is decoded only when an issuer is configured.
func (c *claims) GetIssuer() (string, error) { return c.iss, nil }

// GetAudience implements jwt.Claims; aud is decoded only when an audience is configured.
func (c *claims) GetAudience() (jwt.ClaimStrings, error) { return c.aud, nil }

// GetSubject implements jwt.Claims. The verifier never asks the parser to
// check the subject; the user claim is checked by Verify itself.
func (c *claims) GetSubject() (string, error) {
	if c.v.userClaim == "sub" {
		return c.user, nil
	}
	return "", nil
}

func optDate(d *jwt.NumericDate, ok bool) (*jwt.NumericDate, error) {
	if !ok {
		return nil, nil
	}
	return d, nil
}

// UnmarshalJSON decodes the top-level members of a JSON object.
func (c *claims) UnmarshalJSON(data []byte) error {
	s := scanner{b: data}
	s.space()
	if !s.take('{') {
		return errSyntax
	}
	s.space()
	if s.take('}') {
		return s.end()
	}
	for {
		key, ok := s.str()
		if !ok {
			return errSyntax
		}
		s.space()
		if !s.take(':') {
			return errSyntax
		}
		s.space()
		val, ok := s.value()
		if !ok {
			return errSyntax
		}
		if err := c.set(key, val); err != nil {
			return err
		}
		s.space()
		if s.take(',') {
			s.space()
			continue
		}
		if s.take('}') {
			return s.end()
		}
		return errSyntax
	}
}

// set records one member; rawKey is the quoted name, val the raw value.
func (c *claims) set(rawKey, val []byte) error {
	name, err := unquoteBytes(rawKey)
	if err != nil {
		return errSyntax
	}
	if string(name) == c.v.userClaim {
		c.user = userID(val)
	}
	switch string(name) {
	case "exp":
		c.exp, c.hasExp, err = parseDate(val)
	case "nbf":
		c.nbf, c.hasNbf, err = parseDate(val)
	case "iat":
		c.iat, c.hasIat, err = parseDate(val)
	case "iss":
		if c.v.issuer != "" {
			c.iss, err = parseString(val, c.v.issuer)
		}
	case "aud":
		if c.v.audience != "" {
			c.aud, err = parseStrings(val, c.v.audiences)
		}
	}
	return err
}

// parseDate reads a NumericDate: a JSON number of seconds since the epoch,
// truncated to jwt.TimePrecision as golang-jwt does. null counts as absent.
func parseDate(raw []byte) (jwt.NumericDate, bool, error) {
	if string(raw) == "null" {
		return jwt.NumericDate{}, false, nil
	}
	n, ok := parseNumber(raw)
	if !ok {
		return jwt.NumericDate{}, false, errBadClaim
	}
	var t time.Time
	if n.frac == nil && !n.hasExp && len(n.int) <= 18 {
		sec := int64(0)
		for _, d := range n.int {
			sec = sec*10 + int64(d-'0')
		}
		if n.neg {
			sec = -sec
		}
		if sec < minDateSeconds || sec > maxDateSeconds {
			return jwt.NumericDate{}, false, errBadClaim
		}
		t = time.Unix(sec, 0)
	} else {
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || f < minDateSeconds || f >= maxDateSeconds+1 {
			return jwt.NumericDate{}, false, errBadClaim
		}
		whole, frac := math.Modf(f)
		t = time.Unix(int64(whole), int64(frac*1e9))
	}
	return jwt.NumericDate{Time: t.Truncate(jwt.TimePrecision)}, true, nil
}

// parseString reads a string claim; null counts as absent. A value equal to
// want is returned as want itself, which saves copying it.
func parseString(raw []byte, want string) (string, error) {
	switch {
	case string(raw) == "null":
		return "", nil
	case len(raw) > 0 && raw[0] == '"':
		b, err := unquoteBytes(raw)
		if err != nil {
			return "", errBadClaim
		}
		if string(b) == want {
			return want, nil
		}
		return string(b), nil
	}
	return "", errBadClaim
}

// parseStrings reads aud: a string or an array of strings; null counts as
// absent. want holds the one expected audience; a single string equal to it
// is returned as want itself, which the validator only reads.
func parseStrings(raw []byte, want jwt.ClaimStrings) (jwt.ClaimStrings, error) {
	if len(raw) == 0 || raw[0] != '[' {
		s, err := parseString(raw, want[0])
		if err != nil || string(raw) == "null" {
			return nil, err
		}
		if s == want[0] {
			return want, nil
		}
		return jwt.ClaimStrings{s}, nil
	}
	s := scanner{b: raw, i: 1}
	var out jwt.ClaimStrings
	s.space()
	if s.take(']') {
		return out, s.end()
	}
	for {
		elem, ok := s.value()
		if !ok || elem[0] != '"' {
			return nil, errBadClaim
		}
		str, err := parseString(elem, want[0])
		if err != nil {
			return nil, err
		}
		out = append(out, str)
		s.space()
		if s.take(',') {
			s.space()
			continue
		}
		if s.take(']') && s.end() == nil {
			return out, nil
		}
		return nil, errBadClaim
	}
}

// userID reads the user claim: a non-empty string, or a JSON number written
// out in plain decimal. Anything else yields "".
func userID(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		b, err := unquoteBytes(raw)
		if err != nil {
			return ""
		}
		return string(b)
	}
	n, ok := parseNumber(raw)
	if !ok {
		return ""
	}
	if n.frac == nil && !n.hasExp && !n.neg && len(raw) <= maxNumericUserID {
		return string(raw) // a plain non-negative integer is already in decimal form
	}
	return n.decimal()
}

// unquoteBytes returns the contents of the JSON string literal raw. Plain
// ASCII without escapes, the usual case, is returned as a sub-slice of raw
// without copying; anything else is decoded by encoding/json.
func unquoteBytes(raw []byte) ([]byte, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, errSyntax
	}
	inner := raw[1 : len(raw)-1]
	for _, b := range inner {
		if b < 0x20 || b == '"' || b == '\\' || b >= utf8.RuneSelf {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, err
			}
			return []byte(s), nil
		}
	}
	return inner, nil
}

// scanner walks JSON text that encoding/json has already validated. It still
// fails cleanly, never panics, on anything else.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) take(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports an error unless only white space is left.
func (s *scanner) end() error {
	s.space()
	if s.i != len(s.b) {
		return errSyntax
	}
	return nil
}

// str returns the string literal at the cursor, quotes included.
func (s *scanner) str() ([]byte, bool) {
	start := s.i
	if !s.take('"') {
		return nil, false
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return s.b[start:s.i], true
		default:
			s.i++
		}
	}
	return nil, false
}

// value returns the raw JSON value at the cursor.
func (s *scanner) value() ([]byte, bool) {
	if s.i >= len(s.b) {
		return nil, false
	}
	switch s.b[s.i] {
	case '"':
		return s.str()
	case '{', '[':
		return s.composite()
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r', ':', '"', '{', '[':
			return s.b[start:s.i], s.i > start
		}
		s.i++
	}
	return s.b[start:s.i], s.i > start
}

// composite skips an object or array, strings inside it included.
func (s *scanner) composite() ([]byte, bool) {
	start, depth := s.i, 0
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			if _, ok := s.str(); !ok {
				return nil, false
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.i++
				return s.b[start:s.i], true
			}
		}
		s.i++
	}
	return nil, false
}

// number is a JSON number split into its parts.
type number struct {
	neg    bool
	int    []byte // integer digits
	frac   []byte // fraction digits; nil without a '.'
	hasExp bool
	exp    int // saturates at ±maxExp
}

const maxExp = 1 << 20

// parseNumber splits raw per the JSON number grammar; ok is false when raw
// is anything else (NaN, hex, a leading '+', leading zeros, ...).
func parseNumber(raw []byte) (n number, ok bool) {
	i := 0
	if i < len(raw) && raw[i] == '-' {
		n.neg = true
		i++
	}
	start := i
	for i < len(raw) && isDigit(raw[i]) {
		i++
	}
	n.int = raw[start:i]
	if len(n.int) == 0 || (len(n.int) > 1 && n.int[0] == '0') {
		return number{}, false
	}
	if i < len(raw) && raw[i] == '.' {
		i++
		start = i
		for i < len(raw) && isDigit(raw[i]) {
			i++
		}
		if i == start {
			return number{}, false
		}
		n.frac = raw[start:i]
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		n.hasExp = true
		negExp := false
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			negExp = raw[i] == '-'
			i++
		}
		start = i
		for ; i < len(raw) && isDigit(raw[i]); i++ {
			if n.exp < maxExp {
				n.exp = n.exp*10 + int(raw[i]-'0')
			}
		}
		if i == start {
			return number{}, false
		}
		if negExp {
			n.exp = -n.exp
		}
	}
	return n, i == len(raw)
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// decimal writes n exactly in plain decimal notation (1.5e3 -> "1500",
// 12e-1 -> "1.2", -0 -> "0"), or returns "" when that would be longer than
// maxNumericUserID.
func (n number) decimal() string {
	digits := make([]byte, 0, len(n.int)+len(n.frac))
	digits = append(append(digits, n.int...), n.frac...)
	point := len(n.int) + n.exp // position of the decimal point within digits
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
		point--
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' && len(digits) > point {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		return "0"
	}
	size := len(digits)
	switch {
	case point <= 0:
		size += 2 - point // "0." and leading zeros
	case point > len(digits):
		size = point // trailing zeros
	case point < len(digits):
		size++ // "."
	}
	if n.neg {
		size++
	}
	if size > maxNumericUserID {
		return ""
	}
	out := make([]byte, 0, size)
	if n.neg {
		out = append(out, '-')
	}
	switch {
	case point <= 0:
		out = append(out, "0."...)
		for range -point {
			out = append(out, '0')
		}
		out = append(out, digits...)
	case point >= len(digits):
		out = append(out, digits...)
		for range point - len(digits) {
			out = append(out, '0')
		}
	default:
		out = append(append(append(out, digits[:point]...), '.'), digits[point:]...)
	}
	return string(out)
}
