package llm

import (
	"bytes"
	"strconv"

	"github.com/wealthwarriors/wealthcoach/internal/jsonscan"
)

// scanChunk decodes the usual shape of a chunk by hand, without
// encoding/json's reflection and two passes over the input: a streamed
// answer decodes one chunk per token, and under load that was an eighth of
// the server's CPU.
//
// It reports false, leaving c in any state, for anything it does not
// handle fully: an error object, a key that matches a field only when case
// is ignored, a number that is not a plain integer, malformed JSON. The caller then decodes with encoding/json, which remains
// the reference: whenever scanChunk reports true, c is what json.Unmarshal
// would have made of data (FuzzScanChunk checks it).
func scanChunk(data []byte, c *chunk) bool {
	s := chunkScanner{jsonscan.New(data)}
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
		return s.other(key, 2, "choices", "usage", "error")
	})
	return ok && s.End()
}

// chunkScanner reads a chunk's fields on top of jsonscan's syntax checks.
type chunkScanner struct{ jsonscan.Scanner }

// null moves past a null.
func (s *chunkScanner) null() bool {
	s.Space()
	return s.Literal("null")
}

// object reads an object, calling field with each key; field reads the
// value.
func (s *chunkScanner) object(field func(key []byte) bool) bool {
	s.Space()
	if !s.Take('{') {
		return false
	}
	s.Space()
	if s.Take('}') {
		return true
	}
	for {
		raw, ok := s.Str()
		if !ok {
			return false
		}
		s.Space()
		if !s.Take(':') || !field(jsonscan.KeyText(raw)) {
			return false
		}
		s.Space()
		switch {
		case s.Take(','):
			s.Space()
		case s.Take('}'):
			return true
		default:
			return false
		}
	}
}

// other skips the value, at nesting level depth, of a key that is none of
// fields, unless the key matches one of them with case ignored, as
// encoding/json would.
func (s *chunkScanner) other(key []byte, depth int, fields ...string) bool {
	for _, f := range fields {
		if bytes.EqualFold(key, []byte(f)) {
			return false
		}
	}
	s.Space()
	return s.Value(depth)
}

// text reads a string or null into *dst; null leaves *dst alone.
func (s *chunkScanner) text(dst *string) bool {
	if s.null() {
		return true
	}
	raw, ok := s.Str()
	if ok {
		*dst = jsonscan.Unquote(raw)
	}
	return ok
}

// integer reads an int or null into *dst; null leaves *dst alone.
func (s *chunkScanner) integer(dst *int) bool {
	if s.null() {
		return true
	}
	start := s.Pos()
	if !s.Number() {
		return false
	}
	n, err := strconv.Atoi(string(s.Bytes()[start:s.Pos()]))
	if err != nil {
		return false
	}
	*dst = n
	return true
}

// array reads an array, calling elem with each element's index; elem
// reads the element.
func (s *chunkScanner) array(elem func(i int) bool) bool {
	s.Space()
	if !s.Take('[') {
		return false
	}
	s.Space()
	if s.Take(']') {
		return true
	}
	for i := 0; ; i++ {
		if !elem(i) {
			return false
		}
		s.Space()
		switch {
		case s.Take(','):
			s.Space()
		case s.Take(']'):
			return true
		default:
			return false
		}
	}
}

// choices reads the choices array into c: its first element, as a
// one-element array does.
func (s *chunkScanner) choices(c *chunk) bool {
	if s.null() {
		return true
	}
	ch := &c.Choices[0]
	empty := true
	ok := s.array(func(i int) bool {
		if i > 0 {
			s.Space()
			return s.Value(3)
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
					return s.other(key, 5, "content")
				})
			case "finish_reason":
				return s.text(&ch.FinishReason)
			}
			return s.other(key, 4, "delta", "finish_reason")
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
func (s *chunkScanner) usage(c *chunk) bool {
	if s.null() {
		c.Usage = nil
		return true
	}
	s.Space()
	if s.Peek() != '{' {
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
		return s.other(key, 3, "prompt_tokens", "completion_tokens")
	})
}
