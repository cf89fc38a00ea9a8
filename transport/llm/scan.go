package llm

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// scanChunk decodes the usual shape of a chunk by hand, without
// encoding/json's reflection and two passes over the input: a streamed
// answer decodes one chunk per token, and under load that was an eighth of
// the server's CPU.
//
// It reports false, leaving c in any state, for anything it does not
// handle fully: an error object, a key that matches a field only when case
// is ignored, a number that is not a plain integer, a string that is not
// valid UTF-8, malformed JSON. The caller then decodes with encoding/json,
// which remains the reference: whenever scanChunk reports true, c is what
// json.Unmarshal would have made of data (FuzzScanChunk checks it).
func scanChunk(data []byte, c *chunk) bool {
	s := scanner{b: data}
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "choices":
			return s.choices(c)
		case "usage":
			return s.usage(c)
		case "error":
			// The error object has a decoder of its own.
			return s.null()
		}
		return s.other(key, "choices", "usage", "error")
	})
	s.ws()
	return ok && s.i == len(s.b)
}

type scanner struct {
	b     []byte
	i     int
	depth int
}

// maxDepth bounds the nesting skipped by hand; deeper input is left to
// encoding/json.
const maxDepth = 32

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i == len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) lit(word string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return false
	}
	s.i += len(word)
	return true
}

// null consumes a null.
func (s *scanner) null() bool { return s.peek() == 'n' && s.lit("null") }

// object reads an object, calling field with each key; field reads the
// value.
func (s *scanner) object(field func(key []byte) bool) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		key, escaped, ok := s.str()
		if !ok || escaped { // an escaped key could spell a field's name
			return false
		}
		if s.peek() != ':' {
			return false
		}
		s.i++
		if !field(key) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// other skips the value of a key that is none of fields, unless the key
// matches one of them with case ignored, as encoding/json would.
func (s *scanner) other(key []byte, fields ...string) bool {
	for _, f := range fields {
		if bytes.EqualFold(key, []byte(f)) {
			return false
		}
	}
	return s.skip()
}

// str reads a string token and returns what is between its quotes,
// still escaped when escaped is true.
func (s *scanner) str() (raw []byte, escaped, ok bool) {
	if s.peek() != '"' {
		return nil, false, false
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], escaped, true
		case c == '\\':
			if !s.escape() {
				return nil, false, false
			}
			escaped = true
		case c < 0x20:
			return nil, false, false
		default:
			s.i++
		}
	}
	return nil, false, false
}

// escape checks and skips one escape sequence.
func (s *scanner) escape() bool {
	if s.i+1 >= len(s.b) {
		return false
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		if s.i+6 > len(s.b) {
			return false
		}
		for _, h := range s.b[s.i+2 : s.i+6] {
			if !isHex(h) {
				return false
			}
		}
		s.i += 6
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// text reads a string or null into *dst; null leaves *dst alone.
func (s *scanner) text(dst *string) bool {
	if s.null() {
		return true
	}
	start := s.i
	raw, escaped, ok := s.str()
	switch {
	case !ok:
		return false
	case escaped:
		// Rare enough to leave the unescaping to encoding/json.
		return json.Unmarshal(s.b[start:s.i], dst) == nil && utf8.ValidString(*dst)
	case !utf8.Valid(raw):
		return false // encoding/json would replace the bad bytes
	}
	*dst = string(raw)
	return true
}

// integer reads an int or null into *dst; null leaves *dst alone.
func (s *scanner) integer(dst *int) bool {
	if s.null() {
		return true
	}
	start := s.i
	if !s.number() {
		return false
	}
	n, err := strconv.Atoi(string(s.b[start:s.i]))
	if err != nil {
		return false
	}
	*dst = n
	return true
}

// number skips a JSON number.
func (s *scanner) number() bool {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return s.i > start
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// skip reads past any one value.
func (s *scanner) skip() bool {
	switch s.peek() {
	case '{':
		if s.depth++; s.depth > maxDepth {
			return false
		}
		ok := s.object(func([]byte) bool { return s.skip() })
		s.depth--
		return ok
	case '[':
		if s.depth++; s.depth > maxDepth {
			return false
		}
		ok := s.array(func(int) bool { return s.skip() })
		s.depth--
		return ok
	case '"':
		_, _, ok := s.str()
		return ok
	case 't':
		return s.lit("true")
	case 'f':
		return s.lit("false")
	case 'n':
		return s.lit("null")
	}
	return s.number()
}

// array reads an array, calling elem with each element's index; elem
// reads the element.
func (s *scanner) array(elem func(i int) bool) bool {
	if s.peek() != '[' {
		return false
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return true
	}
	for i := 0; ; i++ {
		if !elem(i) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// choices reads the choices array into c: its first element, as a
// one-element array does.
func (s *scanner) choices(c *chunk) bool {
	if s.null() {
		return true
	}
	ch := &c.Choices[0]
	empty := true
	ok := s.array(func(i int) bool {
		if i > 0 {
			return s.skip()
		}
		empty = false
		if s.null() {
			return true
		}
		return s.object(func(key []byte) bool {
			switch string(key) {
			case "delta":
				if s.null() {
					return true
				}
				return s.object(func(key []byte) bool {
					if string(key) == "content" {
						return s.text(&ch.Delta.Content)
					}
					return s.other(key, "content")
				})
			case "finish_reason":
				return s.text(&ch.FinishReason)
			}
			return s.other(key, "delta", "finish_reason")
		})
	})
	if empty {
		// encoding/json zeroes the elements an array does not fill.
		var zero chunk
		c.Choices[0] = zero.Choices[0]
	}
	return ok
}

// usage reads the usage object or null into c.
func (s *scanner) usage(c *chunk) bool {
	if s.null() {
		c.Usage = nil
		return true
	}
	if s.peek() != '{' {
		return false
	}
	if c.Usage == nil {
		c.Usage = &usage{}
	}
	u := c.Usage
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "prompt_tokens":
			return s.integer(&u.PromptTokens)
		case "completion_tokens":
			return s.integer(&u.CompletionTokens)
		}
		return s.other(key, "prompt_tokens", "completion_tokens")
	})
}
