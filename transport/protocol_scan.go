package transport

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth is encoding/json's nesting limit, kept so that the frames
// refused as too deep are the same as before: the top-level object is level 1.
const maxJSONDepth = 10000

// jsonScanner walks a client frame and checks its JSON syntax as it goes
// (RFC 8259, as encoding/json reads it: any byte but '"', '\\' and control
// characters may appear raw in a string). It never recurses, so no nesting
// depth can exhaust the goroutine stack, and it fails cleanly, never panics,
// on any input.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) take(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// literal moves past lit if it is at the cursor.
func (s *jsonScanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *jsonScanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// str checks the string literal at the cursor and returns it, quotes
// included.
func (s *jsonScanner) str() ([]byte, bool) {
	start := s.i
	if !s.take('"') {
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
func (s *jsonScanner) escape() bool {
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

// value checks the JSON value at the cursor and moves past it. depth is the
// nesting level an object or array there would open.
func (s *jsonScanner) value(depth int) bool {
	if s.i < len(s.b) && (s.b[s.i] == '{' || s.b[s.i] == '[') {
		return s.composite(depth)
	}
	return s.scalar()
}

// scalar checks the string, number, true, false or null at the cursor.
func (s *jsonScanner) scalar() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

// number checks the JSON number at the cursor:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() bool {
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
func (s *jsonScanner) composite(depth int) bool {
	var small [4]uint64
	kinds := small[:]
	open := 0
	for {
		// At the start of a value.
		if c := s.b[s.i]; c == '{' || c == '[' {
			if depth+open > maxJSONDepth {
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
			s.space()
			switch {
			case s.take(closer(isObject)):
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
		} else if !s.scalar() {
			return false
		}
		// After a value: close containers until one takes another member.
		for {
			if open == 0 {
				return true
			}
			s.space()
			isObject := kinds[(open-1)/64]&(1<<((open-1)%64)) != 0
			if s.take(',') {
				s.space()
				if isObject && !s.key() {
					return false
				}
				if s.i == len(s.b) {
					return false
				}
				break
			}
			if !s.take(closer(isObject)) {
				return false
			}
			open--
		}
	}
}

// key checks an object member's name and colon, and the white space after.
func (s *jsonScanner) key() bool {
	if _, ok := s.str(); !ok {
		return false
	}
	s.space()
	if !s.take(':') {
		return false
	}
	s.space()
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

// unquote returns the text of a string literal that str has checked, quotes
// included, decoded as encoding/json decodes it: invalid UTF-8 and unpaired
// surrogates become U+FFFD. The result never shares memory with raw, so it
// outlives the read buffer.
func unquote(raw []byte) string {
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

// unescape writes the escape sequence at inner[i], which str has checked, and
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

// keyText returns the text of an object member's name: raw's own bytes when
// it needs no decoding, the usual case, so that matching it costs nothing.
func keyText(raw []byte) []byte {
	inner := raw[1 : len(raw)-1]
	if plainString(inner) {
		return inner
	}
	return []byte(unquote(raw))
}

// keySet remembers the unknown keys of one frame, to refuse a repeated one.
// Frames carry few keys, so a short list searched in order serves; past
// that a map keeps a frame made of thousands of keys linear.
type keySet struct {
	list [8][]byte
	n    int
	m    map[string]struct{}
}

// add records key and reports whether it was new.
func (k *keySet) add(key []byte) bool {
	if k.m != nil {
		if _, ok := k.m[string(key)]; ok {
			return false
		}
		k.m[string(key)] = struct{}{}
		return true
	}
	for _, seen := range k.list[:k.n] {
		if bytes.Equal(seen, key) {
			return false
		}
	}
	if k.n < len(k.list) {
		k.list[k.n] = key
		k.n++
		return true
	}
	k.m = make(map[string]struct{}, 4*len(k.list))
	for _, seen := range k.list {
		k.m[string(seen)] = struct{}{}
	}
	k.m[string(key)] = struct{}{}
	return true
}
