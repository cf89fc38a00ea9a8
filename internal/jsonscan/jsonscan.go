// Package jsonscan reads JSON by hand where encoding/json's reflection and
// second pass cost too much: client frames (package transport) and the
// model's stream chunks (package llm). Its Scanner checks syntax as
// encoding/json does, without recursion, and its Unquote decodes strings as
// encoding/json does, so a reader built on it can be held to
// encoding/json's result.
package jsonscan

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is encoding/json's nesting limit, kept so that what is refused as
// too deep is what encoding/json refuses: the top-level value is level 1.
const MaxDepth = 10000

// Scanner walks a JSON document and checks its syntax as it goes
// (RFC 8259, as encoding/json reads it: any byte but '"', '\\' and control
// characters may appear raw in a string). It never recurses, so no nesting
// depth can exhaust the goroutine stack, and it fails cleanly, never panics,
// on any input.
type Scanner struct {
	b []byte
	i int
}

// New returns a scanner at the start of b.
func New(b []byte) Scanner { return Scanner{b: b} }

// Pos is the cursor's offset in the document.
func (s *Scanner) Pos() int { return s.i }

// Bytes returns the document.
func (s *Scanner) Bytes() []byte { return s.b }

// Peek returns the byte at the cursor, or 0 at the end.
func (s *Scanner) Peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// Space moves past white space.
func (s *Scanner) Space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Take moves past c if it is at the cursor.
func (s *Scanner) Take(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// Literal moves past lit if it is at the cursor.
func (s *Scanner) Literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// End reports whether only white space is left.
func (s *Scanner) End() bool {
	s.Space()
	return s.i == len(s.b)
}

// Str checks the string literal at the cursor and returns it, quotes
// included.
func (s *Scanner) Str() ([]byte, bool) {
	start := s.i
	if !s.Take('"') {
		return nil, false
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start:s.i], true
		case c == '\\':
			if !s.escape() {
				return nil, false
			}
		case c < 0x20:
			return nil, false
		default:
			s.i++
		}
	}
	return nil, false
}

// escape checks the escape sequence at the cursor and moves past it.
func (s *Scanner) escape() bool {
	if s.i+1 >= len(s.b) {
		return false
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		if hex4(s.b[s.i+2:]) < 0 {
			return false
		}
		s.i += 6
		return true
	}
	return false
}

// Value checks the JSON value at the cursor and moves past it. depth is the
// nesting level an object or array there would open.
func (s *Scanner) Value(depth int) bool {
	if s.i < len(s.b) && (s.b[s.i] == '{' || s.b[s.i] == '[') {
		return s.composite(depth)
	}
	return s.Scalar()
}

// Scalar checks the string, number, true, false or null at the cursor.
func (s *Scanner) Scalar() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.Str()
		return ok
	case 't':
		return s.Literal("true")
	case 'f':
		return s.Literal("false")
	case 'n':
		return s.Literal("null")
	}
	return s.Number()
}

// Number checks the JSON number at the cursor:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *Scanner) Number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	s.i = i
	return true
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// composite checks the object or array at the cursor, which opens nesting
// level depth. The kinds of the open containers live in a bit stack (1 for
// an object), on the goroutine stack for the first 256 levels.
func (s *Scanner) composite(depth int) bool {
	var small [4]uint64
	kinds := small[:]
	open := 0
	for {
		// At the start of a value.
		if c := s.b[s.i]; c == '{' || c == '[' {
			if depth+open > MaxDepth {
				return false
			}
			word, bit := open/64, uint64(1)<<(open%64)
			if word == len(kinds) {
				kinds = append(kinds, 0)
			}
			isObject := c == '{'
			if isObject {
				kinds[word] |= bit
			} else {
				kinds[word] &^= bit
			}
			open++
			s.i++
			s.Space()
			switch {
			case s.Take(closer(isObject)):
				open--
			case isObject:
				if !s.key() {
					return false
				}
				continue
			case s.i < len(s.b):
				continue
			default:
				return false
			}
		} else if !s.Scalar() {
			return false
		}
		// After a value: close containers until one takes another member.
		for {
			if open == 0 {
				return true
			}
			s.Space()
			isObject := kinds[(open-1)/64]&(1<<((open-1)%64)) != 0
			if s.Take(',') {
				s.Space()
				if isObject && !s.key() {
					return false
				}
				if s.i == len(s.b) {
					return false
				}
				break
			}
			if !s.Take(closer(isObject)) {
				return false
			}
			open--
		}
	}
}

// key checks an object member's name and colon, and the white space after.
func (s *Scanner) key() bool {
	if _, ok := s.Str(); !ok {
		return false
	}
	s.Space()
	if !s.Take(':') {
		return false
	}
	s.Space()
	return s.i < len(s.b)
}

func closer(isObject bool) byte {
	if isObject {
		return '}'
	}
	return ']'
}

// hex4 reads the four hex digits of a \u escape from the start of b, or
// returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// plainString reports whether a string literal's contents need no decoding:
// no escapes and valid UTF-8.
func plainString(inner []byte) bool {
	return bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner)
}

// Unquote returns the text of a string literal that Str has checked, quotes
// included, decoded as encoding/json decodes it: invalid UTF-8 and unpaired
// surrogates become U+FFFD. The result never shares memory with raw, so it
// outlives the read buffer.
func Unquote(raw []byte) string {
	inner := raw[1 : len(raw)-1]
	if plainString(inner) {
		return string(inner)
	}
	var sb strings.Builder
	sb.Grow(len(inner))
	for i := 0; i < len(inner); {
		c := inner[i]
		switch {
		case c == '\\':
			i = unescape(&sb, inner, i)
		case c < utf8.RuneSelf:
			sb.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRune(inner[i:])
			sb.WriteRune(r)
			i += size
		}
	}
	return sb.String()
}

// unescape writes the escape sequence at inner[i], which Str has checked, and
// returns the index after it.
func unescape(sb *strings.Builder, inner []byte, i int) int {
	c := inner[i+1]
	switch c {
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		r := hex4(inner[i+2:])
		i += 6
		if utf16.IsSurrogate(r) {
			var r2 rune = -1
			if i+1 < len(inner) && inner[i] == '\\' && inner[i+1] == 'u' {
				r2 = hex4(inner[i+2:])
			}
			if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
				r = pair
				i += 6
			} else {
				r = utf8.RuneError
			}
		}
		sb.WriteRune(r)
		return i
	}
	sb.WriteByte(c) // '"', '\\', '/' stand for themselves
	return i + 2
}

// KeyText returns the text of an object member's name: raw's own bytes when
// it needs no decoding, the usual case, so that matching it costs nothing.
func KeyText(raw []byte) []byte {
	inner := raw[1 : len(raw)-1]
	if plainString(inner) {
		return inner
	}
	return []byte(Unquote(raw))
}
